"""GloVe: alignment to the Transform vocabulary, coverage, clear errors, frozen or fine-tuned."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from common import features
from pipeline.config import REPO_ROOT, PipelineConfig
from s2s import cli
from s2s.cli.common import settings_from_args
from trainer.glove import GloveError, aligned_matrix, read_glove
from trainer.params import BUILTIN_GLOVE

from .conftest import TESTS, run_trainer

GLOVE = TESTS / "fixtures" / "tiny_glove.8d.txt"


def test_matrix_rows_follow_the_vocabulary_ids():
    vectors = read_glove(GLOVE)
    id_to_token = list(features.RESERVED_TOKENS) + ["you", "not-in-glove", "i", "hello"]
    glove = aligned_matrix(GLOVE, id_to_token)
    assert glove.matrix.shape == (8, 8) and glove.dim == 8
    assert np.all(glove.matrix[features.PAD_ID] == 0)
    for i, word in enumerate(id_to_token):
        if word in vectors:
            np.testing.assert_array_equal(glove.matrix[i], vectors[word])
    assert (glove.found, glove.words) == (3, 4) and glove.coverage == pytest.approx(0.75)
    assert np.any(glove.matrix[features.NUM_RESERVED + 1] != 0)  # an unknown word gets a random row


@pytest.mark.parametrize(
    "content, message",
    [
        ("a 1 2 3\nb 1 2\n", r"glove.txt:2: 2 values for 'b', expected 3"),
        ("a 1 2 3\nb 1 x 3\n", r"glove.txt:2: 'x' is not a number \(word 'b'\)"),
        ("", r"glove.txt: empty GloVe file"),
    ],
)
def test_bad_glove_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "glove.txt"
    path.write_text(content)
    with pytest.raises(GloveError, match=message):
        aligned_matrix(path, list(features.RESERVED_TOKENS) + ["a", "b"])


def test_missing_glove_file(tmp_path):
    with pytest.raises(GloveError, match="GloVe file not found"):
        read_glove(tmp_path / "nope.txt")


@pytest.mark.parametrize("trainable", [False, True])
def test_trainer_freezes_or_fine_tunes_the_glove_embedding(tiny_transform, tmp_path, trainable):
    config = {
        "units": 16,
        "batch_size": 32,
        "train_steps": 3,
        "eval_steps": 1,
        "learning_rate": 0.05,
        "glove_path": str(GLOVE),
        "glove_trainable": int(trainable),
    }
    run_trainer(tiny_transform, tmp_path, config)
    report = json.loads((tmp_path / "model_run" / "glove.json").read_text())
    assert report["dim"] == 8 and report["trainable"] is trainable and 0 < report["found"] <= 10
    loaded = tf.saved_model.load(str(tmp_path / "serving_model"))
    trained = loaded.model.embedding._embeddings.numpy()
    id_to_token = [t.decode() for t in loaded.id_to_token.numpy()]
    initial = aligned_matrix(GLOVE, id_to_token).matrix
    assert trained.shape == initial.shape
    assert np.array_equal(trained, initial) is not trainable


def test_the_shipped_glove_file_is_the_default_and_resolves_from_anywhere(tmp_path, monkeypatch):
    from trainer.glove import resolve

    default = PipelineConfig().trainer.glove_path
    assert default == BUILTIN_GLOVE
    args = cli.make_parser().parse_args(["run"])
    assert settings_from_args(args).trainer.glove_path == default  # stays relative: it resolves in the image too
    monkeypatch.chdir(tmp_path)  # as in a pipeline container, whose working directory is elsewhere
    path = resolve(default)
    assert path == str(REPO_ROOT / default)
    vectors = read_glove(path, {"the", "hello", "goodbye"})  # gzip-compressed
    assert set(vectors) == {"the", "hello", "goodbye"} and vectors["the"].shape == (50,)
    assert resolve("no/such/file.txt") == "no/such/file.txt"  # left for read_glove's clear error
