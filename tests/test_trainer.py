"""The Trainer: one training step through run_fn, the export, and its three signatures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from s2s import config as C
from trainer.model import MaskedPerplexity, MaskedTokenAccuracy, ModelParams, build_model


def test_run_fn_trains_and_writes_logs(tiny_model):
    history = json.loads((tiny_model / "model_run" / "history.json").read_text())
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert {"masked_accuracy", "perplexity", "val_loss"} <= set(history)
    assert list((tiny_model / "model_run" / "logs").rglob("events.out.tfevents*"))


def test_serving_default_returns_reply_strings(tiny_model):
    model = tf.saved_model.load(str(tiny_model / "serving_model"))
    assert {C.SERVING_SIGNATURE, C.TF_EXAMPLE_SIGNATURE, C.TRANSFORM_SIGNATURE} <= set(model.signatures)
    out = model.signatures[C.SERVING_SIGNATURE](text=tf.constant(["Hi, how are you?", "?!", "Where are you going?"]))
    assert out["reply"].dtype == tf.string and out["reply"].shape == (3,)
    ids, lengths = out["reply_ids"].numpy(), out["reply_length"].numpy()
    assert ids.shape == (3, 8) and np.all((lengths >= 0) & (lengths <= 8))
    for row, n, reply in zip(ids, lengths, out["reply"].numpy()):
        assert C.EOS_ID not in row[:n] and np.all(row[n:] == 0)  # ids stop before <eos>
        assert len(reply.decode().split()) == n  # one word per id
    assert np.all(out["score"].numpy() <= 0.0)  # a mean log-probability
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty or only whitespace"):
        model.signatures[C.SERVING_SIGNATURE](text=tf.constant(["hello", " \t"]))


def test_tf_example_signature_gives_per_token_outputs(tiny_model):
    model = tf.saved_model.load(str(tiny_model / "serving_model"))
    feature = lambda s: tf.train.Feature(bytes_list=tf.train.BytesList(value=[s]))  # noqa: E731
    example = tf.train.Example(
        features=tf.train.Features(feature={C.INPUT_TEXT: feature(b"Hi there."), C.TARGET_TEXT: feature(b"Hello.")})
    ).SerializeToString()
    out = model.signatures[C.TF_EXAMPLE_SIGNATURE](examples=tf.constant([example, example]))
    assert out["target_log_probs"].shape == (2, 8) and out["predicted_ids"].shape == (2, 8)
    assert np.all(out["target_log_probs"].numpy() <= 0.0)
    features = model.signatures[C.TRANSFORM_SIGNATURE](examples=tf.constant([example]))
    assert features[C.DECODER_INPUT_IDS].numpy()[0, 0] == C.BOS_ID
    assert features[C.DECODER_TARGET_IDS].numpy()[0, 1] == C.EOS_ID  # "hello" then <eos>


def test_loss_and_metrics_ignore_padding():
    model = build_model(ModelParams(vocab_size=10, embedding_dim=4, units=4))
    y_true = tf.constant([[5, 6, 0, 0]])
    logits = tf.one_hot([[5, 1, 7, 7]], 10) * 20.0  # right, wrong, then padding positions
    acc, ppl = MaskedTokenAccuracy(), MaskedPerplexity()
    acc.update_state(y_true, logits)
    ppl.update_state(y_true, logits)
    assert acc.result().numpy() == pytest.approx(0.5)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true[:, :2], logits=logits[:, :2]).numpy()
    assert ppl.result().numpy() == pytest.approx(np.exp(ce.mean()), rel=1e-5)
    # The compiled loss is the mean over the two real tokens, not over all four.
    loss = model.loss(y_true, logits).numpy()
    assert loss == pytest.approx(ce.mean(), rel=1e-5)


def test_long_pairs_are_truncated_or_dropped_and_counted(tiny_transform, tiny_model):
    import tensorflow_transform as tft

    from trainer import task

    report = json.loads((tiny_model / "model_run" / task.DATA_REPORT).read_text())
    assert report["long_pairs"] == "truncated" and report["vocabulary_size"] > C.NUM_RESERVED
    train = report["train"]
    assert train["pairs"] == 96 and 0 < train["pairs_longer_than_max_len"] < 96  # max_len 8
    assert 0.0 <= train["oov_share"] < 1.0
    output = tft.TFTransformOutput(str(tiny_transform / "transform"))
    files = [str(tiny_transform / "transformed" / "*")]

    def count(drop):
        return sum(int(x[0][0].shape[0]) for x in task.make_dataset(files, output, 10, shuffle=False, drop_long=drop))

    assert count(False) == 96
    assert count(True) == 96 - train["pairs_longer_than_max_len"]
