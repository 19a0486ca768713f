"""The previous turn as context (the Transform's ``context_len``): the encoder's ids, the
``serving_context`` signature, and that plain ``text`` keeps working."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common import features, names
from common.examples import Pair, pair_to_example
from serving import dev_server
from serving.client import ChatbotClient, ChatbotError

from .conftest import analyze_and_transform, run_trainer

MESSAGES = ["Where are you going?", "Hi, how are you?"]


def test_the_encoder_reads_the_previous_lines_last_tokens_then_eos_then_the_input(tmp_path):
    rows = [
        {features.CONTEXT_TEXT: b"i am bob hi", features.INPUT_TEXT: b"hi bob bob", features.TARGET_TEXT: b"bob hi"},
        {features.CONTEXT_TEXT: b"", features.INPUT_TEXT: b"hi", features.TARGET_TEXT: b"bob"},
        {features.CONTEXT_TEXT: b"am i", features.INPUT_TEXT: b"bob", features.TARGET_TEXT: b"hi"},
    ]
    out = analyze_and_transform(rows, {"vocab_size": 10, "max_len": 4, "context_len": 2}, tmp_path)
    # The vocabulary is the inputs' and replies' (bob 5, hi 4): "i" and "am", only in the
    # previous lines, stay out of it, so the model's token space is the one without context.
    vocab = (tmp_path / "transform" / "transform_fn" / "assets" / features.VOCABULARY_NAME).read_text().split()
    assert vocab == ["bob", "hi"]
    bob, hi, eos, unk = 4, 5, features.EOS_ID, features.UNK_ID
    assert [np.asarray(r[features.ENCODER_INPUT_IDS]).tolist() for r in out] == [
        [bob, hi, eos, hi, bob, bob, 0],  # the previous line's last 2 tokens, <eos>, the input; max_len + 1 + 2
        [hi, 0, 0, 0, 0, 0, 0],  # no previous line: the input alone, as without context
        [unk, unk, eos, bob, 0, 0, 0],
    ]
    assert [int(r[features.INPUT_LENGTH]) for r in out] == [3, 1, 1]  # the input's own length (long-pair rule)
    assert [np.asarray(r[features.DECODER_TARGET_IDS]).tolist() for r in out][0] == [bob, hi, eos, 0]


@pytest.fixture(scope="module")
def context_model(tmp_path_factory):
    """One training step on 96 pairs of the embedded sample with context_len 6: model dirs."""
    from components.cornell import load_corpus
    from pipeline.config import SAMPLE_DATA_DIR

    pairs, _ = load_corpus(SAMPLE_DATA_DIR)
    rows = [
        {
            features.INPUT_TEXT: p.input_text.encode(),
            features.TARGET_TEXT: p.target_text.encode(),
            features.CONTEXT_TEXT: p.context_text.encode(),
        }
        for p in pairs[:96]
    ]
    transform = tmp_path_factory.mktemp("context_transform")
    analyze_and_transform(rows, {"vocab_size": 300, "max_len": 8, "context_len": 6}, transform)
    config = {"embedding_dim": 8, "units": 16, "batch_size": 32, "train_steps": 1, "eval_steps": 1}
    return run_trainer(transform, tmp_path_factory.mktemp("context_trainer"), config)


@pytest.fixture(scope="module")
def signatures(context_model):
    return tf.saved_model.load(str(context_model / "serving_model")).signatures


def test_only_a_model_that_reads_context_exports_serving_context(signatures, tiny_model):
    assert names.CONTEXT_SIGNATURE in signatures
    plain = tf.saved_model.load(str(tiny_model / "serving_model"))
    assert names.CONTEXT_SIGNATURE not in plain.signatures and not hasattr(plain, "serve_context")  # not even traced


def test_no_previous_line_is_the_plain_text_signature(signatures):
    plain = signatures[names.SERVING_SIGNATURE](text=tf.constant(MESSAGES))
    empty = signatures[names.CONTEXT_SIGNATURE](text=tf.constant(MESSAGES), context=tf.constant(["", ""]))
    assert np.array_equal(plain["reply_ids"].numpy(), empty["reply_ids"].numpy())
    assert np.allclose(plain["score"].numpy(), empty["score"].numpy())


def test_the_previous_line_reaches_the_encoder_and_the_reply(signatures):
    context = ["Get out of my house, now.", "You never call me anymore."]
    with_context = signatures[names.CONTEXT_SIGNATURE](text=tf.constant(MESSAGES), context=tf.constant(context))
    plain = signatures[names.SERVING_SIGNATURE](text=tf.constant(MESSAGES))
    assert not np.allclose(with_context["score"].numpy(), plain["score"].numpy())  # another input, another reply score
    examples = [
        pair_to_example(Pair(m, "fine.", "m0", "c", "L1", "L2", (), c)).SerializeToString() for m, c in zip(MESSAGES, context)
    ]
    ids = signatures[names.TRANSFORM_SIGNATURE](examples=tf.constant(examples))[features.ENCODER_INPUT_IDS].numpy()
    assert ids.shape == (2, 8 + 1 + 6) and all(features.EOS_ID in row for row in ids)


def test_a_tf_example_without_the_previous_line_still_parses(signatures):
    example = pair_to_example(Pair("Where are you going?", "home.", "m0", "c", "L1", "L2"))
    del example.features.feature[features.CONTEXT_TEXT]  # written before the feature existed
    ids = signatures[names.TRANSFORM_SIGNATURE](examples=tf.constant([example.SerializeToString()]))
    plain = signatures[names.TRANSFORM_SIGNATURE](
        examples=tf.constant([pair_to_example(Pair("Where are you going?", "home.", "m0", "c", "L1", "L2")).SerializeToString()])
    )
    assert np.array_equal(ids[features.ENCODER_INPUT_IDS].numpy(), plain[features.ENCODER_INPUT_IDS].numpy())
    assert features.EOS_ID not in ids[features.ENCODER_INPUT_IDS].numpy()


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (["only one"], "one per message"),
        (["fine", "x" * (names.MAX_INPUT_BYTES + 1)], "context: message is longer than"),
        ([b"\xff\xfe", "fine"], "context: message is not valid UTF-8"),
    ],
)
def test_a_bad_context_is_invalid_argument_naming_it(signatures, context, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signatures[names.CONTEXT_SIGNATURE](text=tf.constant(MESSAGES), context=tf.constant(context))


def test_the_client_sends_the_previous_line_over_grpc(context_model, tmp_path):
    shutil.copytree(context_model / "serving_model", tmp_path / names.MODEL_NAME / "1")
    local = tf.saved_model.load(str(context_model / "serving_model")).signatures[names.CONTEXT_SIGNATURE]
    expected = local(text=tf.constant(MESSAGES), context=tf.constant(["Go away.", ""]))["reply"].numpy()
    server = dev_server.start(tmp_path / names.MODEL_NAME, port=0, poll_seconds=0.3)
    try:
        with ChatbotClient(f"127.0.0.1:{server.port}", timeout=30) as client:
            assert [r.text for r in client.reply_in_context(MESSAGES, ["Go away.", ""])] == [t.decode() for t in expected]
            with pytest.raises(ChatbotError, match="one per message"):
                client.reply_in_context(MESSAGES, ["Go away."])
        # Interactively, each message goes with the conversation's last lines as its context (two,
        # as many as a training pair's): the previous message and the bot's reply to it.
        said = ["Hello.", "Where are you going?", "Why?"]
        chat = subprocess.run(
            [sys.executable, "-m", "s2s.cli", "chat", "--server", f"127.0.0.1:{server.port}"],
            input="".join(f"{m}\n" for m in said),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert chat.returncode == 0, chat.stderr
        replies = [line.split("bot> ")[1].split("   [score")[0] for line in chat.stdout.splitlines() if "bot> " in line]
        contexts = ["", f"{said[0]} {replies[0]}", f"{said[1]} {replies[1]}"]
        in_context = local(text=tf.constant(said), context=tf.constant(contexts))["reply"]
        assert replies == [t.decode() for t in in_context.numpy()]
    finally:
        server.stop()


def test_interactive_chat_sends_the_conversations_last_lines_as_context(monkeypatch, tmp_path):
    # What the chat sends, seen by a client stand-in: the conversation's last CONTEXT_LINES lines
    # (2 by default, as a training pair's context), oldest first, joined by a space.
    import io

    import serving.client
    from s2s.cli import chat, make_parser
    from serving.client import Reply

    sent: list[tuple[str, str]] = []

    class Recording:
        def __init__(self, *args, **kwargs):
            pass

        def reply_in_context(self, messages, contexts):
            sent.append((messages[0], contexts[0]))
            return [Reply(f"reply {len(sent)}", 0.0)]

        def close(self):
            pass

    monkeypatch.setattr(serving.client, "ChatbotClient", Recording)
    monkeypatch.setattr(chat, "HISTORY_FILE", str(tmp_path / "history"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\ntwo\nthree\n"))
    assert chat.CONTEXT_LINES == 2
    assert chat.main(make_parser().parse_args(["chat"])) == 0
    assert sent == [("one", ""), ("two", "one reply 1"), ("three", "two reply 2")]
