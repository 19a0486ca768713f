"""Sequence metrics for TFMA (the Evaluator): padding never counts.

The arithmetic is :mod:`evaluator.sequence_metrics`, shared with ``s2s evaluate``. Both read what the model's ``serving_tf_example`` signature returns for each example,
``target_log_probs`` ([steps]: log-probability the model gives the reference token at
each step) and ``predicted_ids`` ([steps]: the arg-max token), and the label
``decoder_target_ids`` ([steps], 0 = padding) from the Transform graph.

* ``masked_token_accuracy``: right arg-max tokens / non-padding target tokens.
* ``perplexity``: exp(-sum of target log-probabilities / non-padding target tokens).
* ``bleu2`` (``CorpusBleu``): corpus BLEU of the default decoder's replies (``reply_ids``)
  against the reference replies; ``distinct1`` / ``distinct2`` (``DistinctN``) of those
  replies; ``top_reply_share`` (``TopReplyShare``): the share of the most frequent greedy
  reply (``greedy_ids``); ``word_repeat_share`` and ``repeated_2gram_share`` (``RepeatShare``):
  the share of the default decoder's replies that say a word twice in a row, or repeat a
  bigram (word salad), with the reference replies' own share beside each
  (``reference_word_repeat_share``, ``reference_repeated_2gram_share``); ``fluency``
  (``Fluency``): the default decoder's replies' mean log-probability per token under the
  Kneser-Ney trigram of the train split's replies (:mod:`evaluator.ngram`, built from the replies
  the Trainer saves beside the model, :mod:`common.reply_corpus`), with the reference replies'
  own (``reference_fluency``): far below it is word salad, far above it generic.

Referenced from the EvalConfig by module path (``evaluator.metrics``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from common import features, names, reply_corpus
from evaluator import ngram
from evaluator.sequence_metrics import (
    corpus_bleu,
    distinct_n,
    has_repeated_ngram,
    has_word_repeat,
    id_text,
    masked_accuracy,
    perplexity,
    token_stats,
    top_reply_share,
)

MASKED_TOKEN_ACCURACY, PERPLEXITY, TOP_REPLY_SHARE = names.MASKED_TOKEN_ACCURACY, names.PERPLEXITY, names.TOP_REPLY_SHARE


def _output(value, model_name: str, output_name: str):
    for key in (model_name, output_name):
        if isinstance(value, dict) and key and key in value:
            value = value[key]
    return value


class _TokenStatsCombiner(beam.CombineFn):
    """Accumulates [right tokens, non-padding tokens, negative log-likelihood]."""

    def __init__(self, key: metric_types.MetricKey, model_name: str, output_name: str, kind: str):
        self._key, self._model_name, self._output_name, self._kind = key, model_name, output_name, kind

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(3, dtype=np.float64)

    def add_input(self, accumulator: np.ndarray, element: metric_types.StandardMetricInputs) -> np.ndarray:
        label = _output(element.label, self._model_name, self._output_name)
        prediction = _output(element.prediction, self._model_name, self._output_name)
        if not isinstance(prediction, dict) or "target_log_probs" not in prediction:
            raise ValueError(
                f"{self._key.name} needs the model outputs 'target_log_probs' and 'predicted_ids' "
                f"(the {names.TF_EXAMPLE_SIGNATURE} signature); got {type(prediction).__name__}"
            )
        return accumulator + token_stats(label, prediction["target_log_probs"], prediction["predicted_ids"])

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator: np.ndarray) -> dict[metric_types.MetricKey, float]:
        value = masked_accuracy(accumulator) if self._kind == MASKED_TOKEN_ACCURACY else perplexity(accumulator)
        return {self._key: value}


def _computations(
    name: str,
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    kind: str = MASKED_TOKEN_ACCURACY,
) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
    return [
        metric_types.MetricComputation(
            keys=[key], preprocessors=None, combiner=_TokenStatsCombiner(key, model_name, output_name, kind)
        )
    ]


class MaskedTokenAccuracy(metric_types.Metric):
    """Token accuracy over non-padding target positions (teacher forced)."""

    def __init__(self, name: str | None = MASKED_TOKEN_ACCURACY):
        super().__init__(metric_util.merge_per_key_computations(_computations), name=name, kind=MASKED_TOKEN_ACCURACY)

    def get_config(self):
        return {"name": self.name}


class Perplexity(metric_types.Metric):
    """exp of the mean cross-entropy over non-padding target positions (teacher forced)."""

    def __init__(self, name: str | None = PERPLEXITY):
        super().__init__(metric_util.merge_per_key_computations(_computations), name=name, kind=PERPLEXITY)

    def get_config(self):
        return {"name": self.name}


class _RepliesCombiner(beam.CombineFn):
    """Collects (reply, reference) id strings (greedy replies for the collapse check, the default decoder's otherwise); the figure at the end."""

    def __init__(
        self, key: metric_types.MetricKey, model_name: str, output_name: str, kind: str, order: int, model_dir: str = ""
    ):
        self._key, self._model_name, self._output_name = key, model_name, output_name
        self._kind, self._order, self._model_dir = kind, order, model_dir
        # The collapse check reads the greedy replies; BLEU and distinct-n the default decoder's.
        self._replies = "greedy_ids" if kind == "top_reply" else "reply_ids"

    def create_accumulator(self) -> list:
        return []

    def add_input(self, accumulator: list, element: metric_types.StandardMetricInputs) -> list:
        label = _output(element.label, self._model_name, self._output_name)
        prediction = _output(element.prediction, self._model_name, self._output_name)
        if not isinstance(prediction, dict) or self._replies not in prediction:
            raise ValueError(
                f"{self._key.name} needs the model output {self._replies!r} (the {names.TF_EXAMPLE_SIGNATURE} signature)"
            )
        accumulator.append((id_text(prediction[self._replies]), id_text(label)))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list]) -> list:
        return [item for acc in accumulators for item in acc]

    def extract_output(self, accumulator: list) -> dict[metric_types.MetricKey, float]:
        if not accumulator:
            return {self._key: float("nan")}
        hypotheses, references = zip(*accumulator)
        if self._kind == "bleu":
            return {self._key: corpus_bleu(hypotheses, references, self._order)}
        if self._kind == "top_reply":
            return {self._key: top_reply_share([h.split() for h in hypotheses])}
        if self._kind == "repeat":
            return _repeat_shares(self._key, hypotheses, references, self._order)
        if self._kind == "fluency":
            return _fluencies(self._key, hypotheses, references, self._model_dir)
        return {self._key: distinct_n([h.split() for h in hypotheses], self._order)}


def _reference_key(key: metric_types.MetricKey) -> metric_types.MetricKey:
    """The key of the references' own figure beside ``key``'s."""
    return metric_types.MetricKey(name=f"reference_{key.name}", model_name=key.model_name, output_name=key.output_name)


def _repeat_shares(key, hypotheses, references, n: int) -> dict[metric_types.MetricKey, float]:
    """The share of replies, and of references, that say a word twice in a row (``n`` 1) or repeat
    an n-gram (``n`` > 1)."""

    def share(texts) -> float:
        flags = [has_word_repeat(t.split()) if n == 1 else has_repeated_ngram(t.split(), n) for t in texts]
        return float(np.mean(flags))

    return {key: share(hypotheses), _reference_key(key): share(references)}


@functools.lru_cache(maxsize=4)
def _reply_lm(model_dir: str) -> ngram.KneserNeyTrigramLM:
    """The Kneser-Ney trigram of the train replies saved beside the model in ``model_dir``, built
    once per process (every slice reads it)."""
    saved = reply_corpus.read(model_dir)
    if saved is None:
        raise ValueError(
            f"fluency: no train replies beside the model in {model_dir} ({reply_corpus.FILE}; the Trainer saves them)"
        )
    replies, vocab_size = saved
    return ngram.KneserNeyTrigramLM(replies, vocab_size)


def _fluencies(key, hypotheses, references, model_dir: str) -> dict[metric_types.MetricKey, float]:
    """The mean fluency (:func:`evaluator.ngram.mean_log_prob`, each reply closed by ``<eos>``) of
    the replies, and of the references."""
    lm = _reply_lm(model_dir)

    def mean(texts) -> float:
        return float(np.mean([ngram.mean_log_prob(lm, [*map(int, t.split()), features.EOS_ID]) for t in texts]))

    return {key: mean(hypotheses), _reference_key(key): mean(references)}


def _reply_computations(
    name: str,
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    kind: str = "bleu",
    order: int = 2,
    model_dir: str = "",
) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
    keys = [key, _reference_key(key)] if kind in ("repeat", "fluency") else [key]
    return [
        metric_types.MetricComputation(
            keys=keys, preprocessors=None, combiner=_RepliesCombiner(key, model_name, output_name, kind, order, model_dir)
        )
    ]


class CorpusBleu(metric_types.Metric):
    """Corpus BLEU-``max_order`` (0-100) of the default decoder's replies against the reference replies."""

    def __init__(self, name: str | None = None, max_order: int = 2):
        super().__init__(
            metric_util.merge_per_key_computations(_reply_computations),
            name=name or f"bleu{max_order}",
            kind="bleu",
            order=max_order,
        )
        self.max_order = max_order

    def get_config(self):
        return {"name": self.name, "max_order": self.max_order}


class DistinctN(metric_types.Metric):
    """Distinct n-grams / all n-grams of the default decoder's replies."""

    def __init__(self, name: str | None = None, n: int = 1):
        super().__init__(
            metric_util.merge_per_key_computations(_reply_computations), name=name or f"distinct{n}", kind="distinct", order=n
        )
        self.n = n

    def get_config(self):
        return {"name": self.name, "n": self.n}


class TopReplyShare(metric_types.Metric):
    """The share of the greedy replies (``greedy_ids``: no sampling, which would hide it) that
    are the single most frequent one. A model that answers everything the same way scores
    1.0; the Evaluator's upper bound on it keeps such a model from being blessed, however
    low its perplexity."""

    def __init__(self, name: str | None = TOP_REPLY_SHARE, code_version: str = ""):
        """``code_version`` (of this module, set by :func:`evaluator.config.eval_config`) only
        makes the eval config, and so the Evaluator's cache key, change with this code."""
        super().__init__(metric_util.merge_per_key_computations(_reply_computations), name=name, kind="top_reply", order=0)
        self.code_version = code_version

    def get_config(self):
        return {"name": self.name, "code_version": self.code_version}


class RepeatShare(metric_types.Metric):
    """The share of the default decoder's replies that say a word twice in a row (``n`` 1:
    ``word_repeat_share``) or repeat an n-gram (``n`` > 1: ``repeated_2gram_share``), and the
    reference replies' own share (``reference_`` + the name): replies that read as salad."""

    def __init__(self, name: str | None = None, n: int = 1):
        default = "word_repeat_share" if n == 1 else f"repeated_{n}gram_share"
        super().__init__(
            metric_util.merge_per_key_computations(_reply_computations), name=name or default, kind="repeat", order=n
        )
        self.n = n

    def get_config(self):
        return {"name": self.name, "n": self.n}


class Fluency(metric_types.Metric):
    """The default decoder's replies' mean log-probability per token under the Kneser-Ney trigram
    of the train split's replies (``fluency``), and the reference replies' (``reference_fluency``):
    the language model is built from the replies the Trainer saved beside the model in
    ``model_dir`` (:mod:`common.reply_corpus`)."""

    def __init__(self, name: str | None = "fluency", model_dir: str = ""):
        super().__init__(
            metric_util.merge_per_key_computations(_reply_computations), name=name, kind="fluency", order=0, model_dir=model_dir
        )
        self.model_dir = model_dir

    def get_config(self):
        return {"name": self.name, "model_dir": self.model_dir}
