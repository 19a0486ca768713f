"""The Evaluator's TFMA metric combiners, run as Beam does (``assert_that``), and the blessing bound."""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from apache_beam.testing.util import BeamAssertException, assert_that
from tensorflow_model_analysis.metrics import metric_types

from common import names
from common.settings import ConfigError
from evaluator import metrics
from evaluator.config import eval_config
from pipeline.config import PipelineConfig


def _inputs(reply_ids, label, greedy_ids):
    prediction = {
        "reply_ids": np.array(reply_ids),
        "greedy_ids": np.array(greedy_ids),
        "target_log_probs": np.log(np.full(len(label), 0.5)),
        "predicted_ids": np.array(label),
    }
    return metric_types.StandardMetricInputs(label=np.array(label), prediction=prediction, example_weight=np.array([1.0]))


# Three default-decoder replies "5 6", "5 6", "7" (ids, <eos>=3 then padding) against references;
# the greedy replies, which only the collapse check reads, are "5 6" every time.
GREEDY = [5, 6, 3, 0]
ELEMENTS = [
    _inputs([5, 6, 3, 0], [5, 6, 3, 0], GREEDY),
    _inputs([5, 6, 3, 0], [8, 3, 0, 0], GREEDY),
    _inputs([7, 3, 0, 0], [7, 9, 3, 0], GREEDY),
]


def _check(metric, expected: float) -> None:
    """Runs the metric's combiner over ELEMENTS in a Beam pipeline and asserts its value."""
    [computation] = metric.computations()
    key = computation.keys[0]

    def matches(got):
        if len(got) != 1 or got[0][key] != pytest.approx(expected):
            raise BeamAssertException(f"{key.name}: expected {expected}, got {got}")

    with beam.Pipeline() as pipeline:
        out = pipeline | beam.Create(ELEMENTS) | beam.CombineGlobally(computation.combiner)
        assert_that(out, matches)


def test_top_reply_share_is_the_most_frequent_greedy_replys_share():
    # The greedy replies collapse (one reply for all three); the sampled ones (2 of 3 alike) would
    # hide it, which is why the check must read the greedy ones.
    _check(metrics.TopReplyShare(), 1.0)
    with pytest.raises(Exception, match="expected 0.5"):  # the check itself can fail
        _check(metrics.TopReplyShare(), 0.5)


def test_distinct_and_token_metrics():
    # Distinct-n reads the default decoder's replies (greedy's would give 2 / 6 and 1 / 3).
    _check(metrics.DistinctN(n=1), 3 / 5)  # 5, 6, 7 of five tokens
    _check(metrics.DistinctN(n=2), 1 / 2)  # "5 6" twice
    _check(metrics.Perplexity(), 2.0)  # every target token at p = 0.5
    _check(metrics.MaskedTokenAccuracy(), 1.0)


def test_repeat_shares_read_the_default_replies_and_the_references():
    # Replies "5 5 6 5 6", "5 6", "7" against "5 6", "8", "7 7 9": one reply says a word twice in a
    # row and repeats a bigram ("5 6"); one reference says a word twice in a row.
    elements = [
        _inputs([5, 5, 6, 5, 6, 3], [5, 6, 3, 0, 0, 0], GREEDY + [0, 0]),
        _inputs([5, 6, 3, 0, 0, 0], [8, 3, 0, 0, 0, 0], GREEDY + [0, 0]),
        _inputs([7, 3, 0, 0, 0, 0], [7, 7, 9, 3, 0, 0], GREEDY + [0, 0]),
    ]
    for metric, ours, references in ((metrics.RepeatShare(n=1), 1 / 3, 1 / 3), (metrics.RepeatShare(n=2), 1 / 3, 0.0)):
        [computation] = metric.computations()
        key, reference_key = computation.keys
        assert (key.name, reference_key.name) == (metric.name, f"reference_{metric.name}")

        def matches(got, key=key, reference_key=reference_key, ours=ours, references=references):
            if len(got) != 1 or (got[0][key], got[0][reference_key]) != pytest.approx((ours, references)):
                raise BeamAssertException(f"{key.name}: expected {ours}, {references}; got {got}")

        with beam.Pipeline() as pipeline:
            out = pipeline | beam.Create(elements) | beam.CombineGlobally(computation.combiner)
            assert_that(out, matches)
    assert [m.name for m in (metrics.RepeatShare(n=1), metrics.RepeatShare(n=2))] == ["word_repeat_share", "repeated_2gram_share"]


def test_blessing_needs_the_top_reply_share_under_its_bound():
    cfg = PipelineConfig.of(max_top_reply_share=0.15)
    [top] = [m for spec in eval_config(cfg.evaluator).metrics_specs for m in spec.metrics if m.class_name == "TopReplyShare"]
    [overall] = top.per_slice_thresholds  # the whole test split, not each genre slice
    assert list(overall.slicing_specs) == [tfma.SlicingSpec()]
    assert overall.threshold.value_threshold.upper_bound.value == pytest.approx(0.15)
    with pytest.raises(ConfigError, match="max_top_reply_share"):
        PipelineConfig().replace(max_top_reply_share=0.0)


def test_the_baseline_is_scored_without_decoding_and_the_reply_metrics_are_the_candidates():
    config = eval_config(PipelineConfig().evaluator, "/a/model")
    signatures = {spec.name: spec.signature_name for spec in config.model_specs}
    assert signatures == {"candidate": names.TF_EXAMPLE_SIGNATURE, "baseline": names.SCORE_SIGNATURE}
    by_spec = [({m.class_name for m in spec.metrics}, list(spec.model_names)) for spec in config.metrics_specs]
    replies = {"CorpusBleu", "DistinctN", "TopReplyShare", "RepeatShare", "Fluency"}
    for classes, models in by_spec:  # a reply metric only where the baseline is not asked for it
        assert not classes & replies or models == ["candidate"], (classes, models)
    assert any("Perplexity" in classes and not models for classes, models in by_spec)  # both models: the change threshold


def test_fluency_scores_replies_and_references_under_the_train_replies_trigram(tmp_path):
    from common import reply_corpus
    from evaluator import ngram

    train = [[5, 6, 3], [5, 6, 3], [7, 3], [8, 9, 3]]
    assert reply_corpus.write(str(tmp_path), train, vocab_size=10) == 4
    assert reply_corpus.read(str(tmp_path)) == (train, 10)
    lm = ngram.KneserNeyTrigramLM(train, 10)
    replies, references = [[5, 6, 3], [5, 6, 3], [7, 3]], [[5, 6, 3], [8, 3], [7, 9, 3]]  # ELEMENTS', closed by <eos>
    [computation] = metrics.Fluency(model_dir=str(tmp_path)).computations()
    key, reference_key = computation.keys
    expected = (np.mean([ngram.mean_log_prob(lm, r) for r in replies]), np.mean([ngram.mean_log_prob(lm, r) for r in references]))
    assert expected[0] > expected[1]  # the replies are the train replies; "8" then "7 9" are rarer

    def matches(got):
        if len(got) != 1 or (got[0][key], got[0][reference_key]) != pytest.approx(expected):
            raise BeamAssertException(f"fluency: expected {expected}, got {got}")

    with beam.Pipeline() as pipeline:
        assert_that(pipeline | beam.Create(ELEMENTS) | beam.CombineGlobally(computation.combiner), matches)
    assert (key.name, reference_key.name) == ("fluency", "reference_fluency")


def test_fluency_is_measured_when_the_model_has_its_train_replies(tmp_path):
    def fluency_metrics(model_dir):
        config = eval_config(PipelineConfig().evaluator, model_dir)
        return [m for spec in config.metrics_specs for m in spec.metrics if m.class_name == "Fluency"]

    assert fluency_metrics("") == []  # a model exported before the replies were saved beside it
    [metric] = fluency_metrics(str(tmp_path))
    assert json.loads("{" + metric.config + "}") == {"model_dir": str(tmp_path)}
    [computation] = metrics.Fluency(model_dir=str(tmp_path / "none")).computations()
    with pytest.raises(ValueError, match="no train replies beside the model"):
        computation.combiner.extract_output([("5 6", "5 6")])
