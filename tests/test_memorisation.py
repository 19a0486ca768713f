"""The conditioning path, end to end: a model that memorises pairs whose replies depend only on
their inputs must answer each input with its own reply through the *exported* signatures.

If the encoder's state or attention memory were lost anywhere between training, the decoding
loop and the export, every input would get the same reply and this test would fail."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from common import features, names
from evaluator.sequence_metrics import has_word_repeat

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
# 30 inputs "x y" (x != y); the reply is the input reversed plus a word that depends on both.
PAIRS = [(f"{x} {y}", f"{y} {x} {WORDS[(i + j) % len(WORDS)]}") for (i, x), (j, y) in itertools.permutations(enumerate(WORDS), 2)]


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
    import tensorflow_transform as tft

    from trainer import export, task

    from .conftest import analyze_and_transform

    out = tmp_path_factory.mktemp("memorise")
    rows = [{features.INPUT_TEXT: a.encode(), features.TARGET_TEXT: b.encode()} for a, b in PAIRS]
    analyze_and_transform(rows, {"vocab_size": 100, "min_frequency": 1, "max_len": 6, "context_len": 0}, out)
    files = [str(out / "transformed" / "*")]
    output = tft.TFTransformOutput(str(out / "transform"))
    # The default architecture, trained long enough to memorise 30 pairs.
    cfg = task.trainer_settings(
        {
            "embedding_dim": 32,
            "units": 64,
            "dropout": 0.0,
            "word_dropout": 0.0,
            "batch_size": 10,
            "learning_rate": 0.01,
            "epochs": 150,
            "early_stopping_patience": 0,
            "eval_steps": 1,
            "collapse_check": 0,  # 150 epochs: not 150 greedy decodes of the eval batch
            "finetune_epochs": 0,  # what is memorised is the 150 epochs' work
        }
    )
    model, _, history = task.train(cfg, output, files, files, str(out / "run"), verbose=0)
    export.export(model, output, 6, str(out / "model"))
    return tf.saved_model.load(str(out / "model")), history


def test_training_memorises_the_pairs(memorised):
    _, history = memorised
    assert history["masked_token_accuracy"][-1] > 0.95, history["masked_token_accuracy"][-5:]


def _options(**overrides):
    from common.decode_options import GREEDY
    from trainer.decoding import option_tensors

    # Some memorised replies say a word twice in a row ("alpha bravo bravo"): not blocked here.
    return {**option_tensors(GREEDY), "no_repeat_word": tf.constant(0), **overrides}


def test_exported_decoders_give_each_input_its_own_reply(memorised):
    model, _ = memorised
    inputs = tf.constant([a for a, _ in PAIRS])
    expected = [b for _, b in PAIRS]
    greedy = model.signatures[names.GENERATE_SIGNATURE](
        text=inputs, **_options(beam_width=tf.constant(1), no_repeat_ngram=tf.constant(0))
    )
    beam = model.signatures[names.GENERATE_SIGNATURE](text=inputs, **_options(beam_width=tf.constant(4)))
    default = model.signatures[names.SERVING_SIGNATURE](text=inputs)
    for name, out in (("greedy", greedy), ("beam", beam), ("default", default)):
        replies = [r.decode() for r in out["reply"].numpy()]
        # The default decoder samples and says at least four words: the memorised reply comes first.
        # It never says a word twice in a row (no_repeat_word), so it is judged on the other replies.
        pairs = [(r, e) for r, e in zip(replies, expected) if name != "default" or not has_word_repeat(e.split())]
        right = np.mean([r == e or (name == "default" and r.startswith(e + " ")) for r, e in pairs])
        assert right >= 0.9, (name, list(zip(replies, expected))[:10])
        assert len(set(replies)) >= 0.9 * len(PAIRS), name  # not one reply for everything
