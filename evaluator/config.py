"""The Evaluator's configuration: which model outputs it reads, how it slices, what blesses.

The metrics themselves are in :mod:`evaluator.metrics` (TFMA) over the arithmetic of
:mod:`evaluator.sequence_metrics`; the bounds are :class:`evaluator.params.EvaluatorSettings`.
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from common import features, names
from common.code_version import code_version
from evaluator import metrics as seq_metrics
from evaluator.params import EvaluatorSettings

CANDIDATE, BASELINE = "candidate", "baseline"


MODULE = seq_metrics.__name__


def _spec(name: str, signature: str, baseline: bool = False) -> tfma.ModelSpec:
    return tfma.ModelSpec(
        name=name,
        signature_name=signature,
        label_key=features.LABEL_KEY,
        preprocessing_function_names=[names.TRANSFORM_SIGNATURE],
        is_baseline=baseline,
    )


def _both_models(bounds: EvaluatorSettings) -> tfma.MetricsSpec:
    """Token metrics of candidate and baseline: the absolute bounds, and perplexity's change
    threshold against the baseline."""
    return tfma.MetricsSpec(
        metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="MaskedTokenAccuracy",
                module=MODULE,
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(lower_bound={"value": bounds.min_masked_accuracy})
                ),
            ),
            tfma.MetricConfig(
                class_name="Perplexity",
                module=MODULE,
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(upper_bound={"value": bounds.max_perplexity}),
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.LOWER_IS_BETTER,
                        relative={"value": bounds.max_perplexity_increase},
                    ),
                ),
            ),
        ],
    )


def _fluency(model_dir: str) -> list[tfma.MetricConfig]:
    """The Fluency metric of the replies when the model in ``model_dir`` has its train replies
    beside it (models exported before they were saved have none: no fluency, nothing else lost)."""
    if not model_dir:
        return []
    return [tfma.MetricConfig(class_name="Fluency", module=MODULE, config=json.dumps({"model_dir": model_dir})[1:-1])]


def _candidate_replies(bounds: EvaluatorSettings, model_dir: str = "") -> tfma.MetricsSpec:
    """The candidate's reply metrics: BLEU-2, distinct-1/2, the shares of replies that say a word
    twice in a row or repeat a bigram, and the most frequent reply's share, bounded over all
    test replies only (a genre slice of a few dozen pairs is too small to call
    a model collapsed)."""
    top_reply_bound = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": bounds.max_top_reply_share})
    )
    return tfma.MetricsSpec(
        model_names=[CANDIDATE],
        metrics=[
            tfma.MetricConfig(class_name="CorpusBleu", module=MODULE, config='"max_order": 2'),
            tfma.MetricConfig(class_name="DistinctN", module=MODULE, config='"n": 1'),
            tfma.MetricConfig(class_name="DistinctN", module=MODULE, config='"n": 2'),
            tfma.MetricConfig(class_name="RepeatShare", module=MODULE, config='"n": 1'),
            tfma.MetricConfig(class_name="RepeatShare", module=MODULE, config='"n": 2'),
            *_fluency(model_dir),
            tfma.MetricConfig(
                class_name="TopReplyShare",
                module=MODULE,
                config=f'"code_version": "{code_version(MODULE + ".TopReplyShare")}"',
                per_slice_thresholds=[
                    tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=top_reply_bound)
                ],
            ),
        ],
    )


def eval_config(bounds: EvaluatorSettings, model_dir: str = "") -> tfma.EvalConfig:
    """Sequence metrics overall and per movie genre; blessing needs the absolute bounds
    (masked token accuracy, perplexity, the most frequent reply's share) and, once a model was blessed before, a perplexity
    at most ``max_perplexity_increase`` (relative) worse than that baseline's. The reply metrics
    (BLEU, distinct-n, the most frequent reply) are the candidate's alone.

    Args:
        bounds: the blessing bounds.
        model_dir: the candidate's SavedModel, when its train replies are beside it
            (:mod:`common.reply_corpus`): the replies' fluency is measured with them.

    Returns:
        The Evaluator's config.
    """
    # The baseline only answers the change threshold (perplexity): it is teacher-forced
    # (score_tf_example) and decodes nothing; the candidate's replies are scored as well.
    return tfma.EvalConfig(
        model_specs=[_spec(CANDIDATE, names.TF_EXAMPLE_SIGNATURE), _spec(BASELINE, names.SCORE_SIGNATURE, baseline=True)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.GENRES])],
        metrics_specs=[_both_models(bounds), _candidate_replies(bounds, model_dir)],
    )
