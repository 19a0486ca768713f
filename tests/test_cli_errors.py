"""Bad arguments and bad models give one clear line and a non-zero exit, never a stack trace."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _s2s(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "s2s.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args, words",
    [
        (["evaluate", "--batch-size", "0"], "--batch-size: must be between 1"),
        (["evaluate", "--batch-size", "-1"], "--batch-size: must be between 1"),
        (["evaluate", "--beam", "17"], "--beam: must be between 0 and 16"),
        (["evaluate", "--beam", "-1"], "--beam: must be between 0 and 16"),
        (["chat", "--beam", "99999999999"], "--beam: beam_width must be in [1, 16]"),
        (["chat", "--beam", "0"], "--beam: beam_width must be in [1, 16]"),
        (["chat", "--beam", "-1"], "--beam: beam_width must be in [1, 16]"),
        (["bench", "serve", "--requests", "0"], "--requests: must be between 1"),
        (["bench", "serve", "--concurrency", "-3"], "--concurrency: must be between 1"),
        (["serve", "--port", "99999"], "--port: must be between 1 and 65,535"),
        (["status", "--runs", "0"], "--runs: must be between 1"),
    ],
)
def test_bad_values_are_refused_at_parse_time(args, words):
    out = _s2s(*args, timeout=60)
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_paths_that_must_be_directories(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a directory")
    out = _s2s("evaluate", "--out", str(a_file), timeout=60)
    assert out.returncode == 2 and "not a directory" in out.stderr and "Traceback" not in out.stderr
    out = _s2s("run", "--work-dir", str(a_file), timeout=60)
    assert out.returncode == 2 and "work_dir" in out.stderr and "not a directory" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture
def corrupt_model(tmp_path):
    version = tmp_path / "chatbot" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"\x00not a SavedModel")
    return version


def test_evaluate_and_bench_serve_on_a_corrupt_model_are_one_line(corrupt_model, tiny_corpus, tmp_path):
    for args in (
        ["evaluate", "--model", str(corrupt_model), "--data", str(tiny_corpus), "--out", str(tmp_path / "out")],
        ["bench", "serve", "--model-dir", str(corrupt_model.parent)],
    ):
        out = _s2s(*args)
        assert out.returncode == 2, out.stderr
        assert "not a loadable SavedModel" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_bench_serve_on_a_model_without_the_signatures_is_one_line(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "chatbot" / "1"), signatures={"other": module.f})
    out = _s2s("bench", "serve", "--model-dir", str(tmp_path / "chatbot"))
    assert out.returncode == 2 and "no signature serving_default" in out.stderr and "Traceback" not in out.stderr
