"""ServedBaseline's executor, called directly: the served model is the baseline when it can be
scored the way the Evaluator asks a baseline (teacher forcing only), the candidate otherwise."""

from __future__ import annotations

import shutil

import tensorflow as tf
from tfx.types import standard_artifacts

from common import names
from components import baseline


def _run(candidate_dir, serving_dir, tmp_path):
    candidate, out = standard_artifacts.Model(), standard_artifacts.Model()
    candidate.uri, out.uri = str(tmp_path / "candidate"), str(tmp_path / "baseline")
    shutil.copytree(candidate_dir, tmp_path / "candidate" / "Format-Serving")
    baseline.Executor().Do(
        {baseline.MODEL_KEY: [candidate]},
        {baseline.BASELINE_KEY: [out]},
        {baseline.SERVING_DIR_KEY: str(serving_dir), baseline.SERVED_VERSION_KEY: ""},
    )
    return out


def test_the_newest_served_version_is_the_baseline(tiny_model, tmp_path):
    serving = tmp_path / "serving"
    shutil.copytree(tiny_model / "serving_model", serving / "17")
    out = _run(tiny_model / "serving_model", serving, tmp_path)
    assert out.get_string_custom_property("baseline_source") == "served"
    assert out.get_int_custom_property("served_version") == 17
    assert names.SCORE_SIGNATURE in baseline.signatures(str(tmp_path / "baseline" / "Format-Serving"))


def test_a_served_version_without_the_scoring_signature_is_not_the_baseline(tiny_model, tmp_path):
    old = tf.Module()
    old.f = tf.function(lambda text: {"reply": text}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(old, str(tmp_path / "serving" / "3"), signatures={names.SERVING_SIGNATURE: old.f})
    out = _run(tiny_model / "serving_model", tmp_path / "serving", tmp_path)
    assert out.get_string_custom_property("baseline_source") == "candidate"
    assert "served version 3 has no score_tf_example signature" in out.get_string_custom_property("baseline_note")
    assert baseline.signatures(str(tmp_path / "baseline" / "Format-Serving")) == baseline.signatures(
        str(tiny_model / "serving_model")
    )
