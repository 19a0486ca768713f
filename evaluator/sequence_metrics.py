"""Sequence metrics, one implementation for both callers: the TFMA metrics of the Evaluator
(:mod:`evaluator.metrics`) and ``s2s evaluate`` (:mod:`s2s.evaluation`). Padding never counts.

Teacher-forced token statistics come from what the model's ``serving_tf_example``
signature returns: per target position, the log-probability of the reference token
and the arg-max token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from common import features
from common.ids import top_reply_share, until_eos

# Accumulator layout: [right arg-max tokens, non-padding target tokens, negative log-likelihood].
RIGHT, TOKENS, NLL = range(3)


def token_stats(labels, target_log_probs, predicted_ids) -> np.ndarray:
    """[right, tokens, nll] over the non-padding positions of one example or a batch."""
    labels = np.asarray(labels).reshape(-1)
    log_probs = np.asarray(target_log_probs, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted_ids).reshape(-1)
    mask = labels != features.PAD_ID
    return np.array([np.sum((predicted == labels) & mask), np.sum(mask), -np.sum(log_probs[mask])], dtype=np.float64)


# Input dependence: the perplexity of the references with every input swapped for another pair's
# (one fixed permutation), over the perplexity with their own inputs. 1 means the model ignores
# what it is told.
SHUFFLE_SEED = 20_161_127


def shuffled_order(pairs: int) -> np.ndarray:
    """The fixed permutation of ``pairs`` inputs behind the input-dependence figure."""
    return np.random.default_rng(SHUFFLE_SEED).permutation(pairs)


def input_dependence(stats: np.ndarray, shuffled: np.ndarray) -> float:
    """Perplexity with the inputs shuffled (:func:`shuffled_order`) over perplexity with their own."""
    return perplexity(shuffled) / perplexity(stats)


def masked_accuracy(stats: np.ndarray) -> float:
    return float(stats[RIGHT] / stats[TOKENS]) if stats[TOKENS] else float("nan")


def perplexity(stats: np.ndarray) -> float:
    """exp of the mean cross-entropy per non-padding target token."""
    return float(np.exp(stats[NLL] / stats[TOKENS])) if stats[TOKENS] else float("nan")


def distinct_n(replies: Iterable[Sequence[str]], n: int) -> float:
    """Distinct n-grams / all n-grams over the replies (0 when there are none)."""
    grams: Counter = Counter()
    for tokens in replies:
        grams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_order: int) -> float:
    """Corpus BLEU-``max_order`` (sacrebleu) of tokenized, space-joined texts, on a 0-100 scale
    (NaN for no text at all)."""
    from sacrebleu.metrics import BLEU

    if not hypotheses:
        return float("nan")

    bleu = BLEU(max_ngram_order=max_order, tokenize="none", effective_order=True)
    return float(bleu.corpus_score(list(hypotheses), [list(references)]).score)


def id_text(ids) -> str:
    """Token ids up to the first <eos>/<pad>, as a space-joined string (BLEU works on ids
    as well as on words: the id <-> word mapping is one to one)."""
    return " ".join(str(i) for i in until_eos(ids))


def has_repeated_ngram(tokens: Sequence[str], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def has_word_repeat(tokens: Sequence[str]) -> bool:
    """Whether a word follows itself ("dioxide dioxide"), which n-gram blocking of 3 lets through."""
    return any(a == b for a, b in zip(tokens, tokens[1:]))


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def reply_measures(
    replies: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]],
    fluency: Callable[[Sequence[str]], float] | None = None,
) -> dict:
    """What a user sees of a decoder, over a set of replies and their reference replies:
    diversity (distinct-1/2, the most frequent reply's share), loops (the share of replies
    that repeat a 2-gram / 3-gram, or a word back to back), length against the references', and
    BLEU-1/2; the references' own repeat shares beside them, as the target.

    Args:
      replies: the decoder's replies, as words.
      references: the reference replies, as words.
      fluency: optional; a reply's mean per-token log-probability under a reply language model
        (:func:`evaluator.ngram.mean_log_prob`). When given, ``fluency`` and ``reference_fluency``
        are the means over the replies and over the references: far below the references' is word
        salad, far above is generic.

    Returns:
      A dict of the measures by name.
    """
    hyps = [" ".join(r) for r in replies]
    refs = [" ".join(r) for r in references]
    out = {
        "replies": len(replies),
        "distinct1": distinct_n(replies, 1),
        "distinct2": distinct_n(replies, 2),
        "top_reply_share": top_reply_share(replies),
        "top_reply": " ".join(Counter(tuple(r) for r in replies).most_common(1)[0][0]) if replies else "",
        "repeated_2gram_share": _share([has_repeated_ngram(r, 2) for r in replies]),
        "repeated_3gram_share": _share([has_repeated_ngram(r, 3) for r in replies]),
        "word_repeat_share": _share([has_word_repeat(r) for r in replies]),
        "reference_repeated_2gram_share": _share([has_repeated_ngram(r, 2) for r in references]),
        "reference_word_repeat_share": _share([has_word_repeat(r) for r in references]),
        "mean_length": float(np.mean([len(r) for r in replies])) if replies else float("nan"),
        "reference_mean_length": float(np.mean([len(r) for r in references])) if references else float("nan"),
        "bleu1": corpus_bleu(hyps, refs, 1),
        "bleu2": corpus_bleu(hyps, refs, 2),
    }
    if fluency is not None:
        out["fluency"] = float(np.mean([fluency(r) for r in replies])) if replies else float("nan")
        out["reference_fluency"] = float(np.mean([fluency(r) for r in references])) if references else float("nan")
    return out
