"""The sequence metrics both the Evaluator and `s2s evaluate` compute, on hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common import features
from evaluator import sequence_metrics as sm

# Two examples: targets "5 6 <eos>" and "7 <eos>", padded; 0 = <pad>, 3 = <eos>.
LABELS = np.array([[5, 6, 3, 0], [7, 3, 0, 0]])
LOG_PROBS = np.log(np.array([[0.5, 0.25, 0.5, 0.9], [0.125, 1.0, 0.9, 0.9]]))
PREDICTED = np.array([[5, 9, 3, 3], [8, 3, 3, 0]])  # right: 5, <eos>; wrong: 9; right: <eos>; wrong: 8


def test_token_stats_count_only_non_padding_positions():
    stats = sm.token_stats(LABELS, LOG_PROBS, PREDICTED)
    nll = -(math.log(0.5) + math.log(0.25) + math.log(0.5) + math.log(0.125) + math.log(1.0))
    np.testing.assert_allclose(stats, [3, 5, nll])
    assert sm.masked_accuracy(stats) == pytest.approx(3 / 5)
    assert sm.perplexity(stats) == pytest.approx(math.exp(nll / 5))
    # One example at a time adds up to the batch.
    np.testing.assert_allclose(sum(sm.token_stats(*rows) for rows in zip(LABELS, LOG_PROBS, PREDICTED)), stats)


def test_no_target_token_gives_nan_not_a_division_error():
    empty = sm.token_stats(np.zeros((1, 4), int), np.zeros((1, 4)), np.zeros((1, 4), int))
    assert empty.tolist() == [0, 0, 0]
    assert math.isnan(sm.masked_accuracy(empty)) and math.isnan(sm.perplexity(empty))


def test_distinct_n_counts_distinct_over_all_ngrams():
    replies = [["a", "b", "a"], ["a", "b"], []]
    assert sm.distinct_n(replies, 1) == pytest.approx(2 / 5)  # a b a a b
    assert sm.distinct_n(replies, 2) == pytest.approx(2 / 3)  # ab ba ab
    assert sm.distinct_n(replies, 3) == pytest.approx(1.0)  # aba
    assert sm.distinct_n([["a"]], 2) == 0.0  # no bigram at all


def test_corpus_bleu_on_known_cases():
    assert sm.corpus_bleu(["a b c d"], ["a b c d"], 2) == pytest.approx(100.0)
    # Unigram precision 3/4, bigram precision 2/3, same length: BLEU-2 = sqrt(3/4 * 2/3) = sqrt(1/2).
    assert sm.corpus_bleu(["a b c d"], ["a b c e"], 2) == pytest.approx(100 * math.sqrt(0.5), rel=1e-6)
    assert sm.corpus_bleu(["a b c d"], ["a b c e"], 1) == pytest.approx(75.0)
    assert sm.corpus_bleu(["x y"], ["a b"], 2) == pytest.approx(0.0)
    # A one-word reply has no bigram: BLEU-2 uses the orders it has (effective order), so a right
    # one-word reply scores 100, not 0.
    assert sm.corpus_bleu(["yes"], ["yes"], 2) == pytest.approx(100.0)
    # Tokens are taken as they are (ids or cleaned words): no tokenizer splits "go." into "go ."
    assert sm.corpus_bleu(["go."], ["go ."], 1) == pytest.approx(0.0)
    assert sm.corpus_bleu(["don't ?"], ["don ' t ?"], 1) == pytest.approx(100 * 0.5 * math.exp(1 - 4 / 2), rel=1e-6)


def test_id_text_stops_at_eos_or_padding():
    assert sm.id_text([5, 6, 3, 7, 0]) == "5 6"
    assert sm.id_text([5, 0, 6]) == "5"
    assert sm.id_text([3, 5]) == ""


def test_top_reply_share_and_repeated_ngrams():
    assert sm.top_reply_share([["x"], ["x"], ["y"], ["x", "y"]]) == pytest.approx(2 / 4)
    assert math.isnan(sm.top_reply_share([]))
    assert sm.has_repeated_ngram(["a", "b", "a", "b"], 2) and not sm.has_repeated_ngram(["a", "b", "a", "b"], 3)
    assert sm.has_word_repeat(["a", "b", "b"]) and not sm.has_word_repeat(["a", "b", "a", "b"]) and not sm.has_word_repeat([])
    assert not sm.has_repeated_ngram(["a", "b", "c"], 1) and sm.has_repeated_ngram(["a", "b", "a"], 1)


def test_reply_measures_on_a_small_set():
    replies = [["i", "know"], ["i", "know"], ["go", "go", "go", "go"]]
    references = [["i", "know"], ["you", "know", "it"], ["go", "away"]]
    got = sm.reply_measures(replies, references)
    assert {k: v for k, v in got.items() if not k.startswith("bleu")} == pytest.approx(
        {
            "replies": 3,
            "distinct1": 3 / 8,  # i know i know go go go go
            "distinct2": 2 / 5,  # "i know" x2, "go go" x3
            "top_reply_share": 2 / 3,
            "top_reply": "i know",
            "repeated_2gram_share": 1 / 3,  # "go go" comes again
            "repeated_3gram_share": 1 / 3,  # "go go go" comes again
            "word_repeat_share": 1 / 3,  # "go go"
            "reference_repeated_2gram_share": 0.0,
            "reference_word_repeat_share": 0.0,
            "mean_length": 8 / 3,
            "reference_mean_length": 7 / 3,
        }
    )
    hyps, refs = [" ".join(r) for r in replies], [" ".join(r) for r in references]
    assert got["bleu1"] == pytest.approx(sm.corpus_bleu(hyps, refs, 1)) and got["bleu2"] == pytest.approx(
        sm.corpus_bleu(hyps, refs, 2)
    )
    assert 0 < got["bleu2"] < got["bleu1"] < 100
    empty = sm.reply_measures([], [])
    assert empty["replies"] == 0 and empty["top_reply"] == "" and math.isnan(empty["mean_length"])
    assert math.isnan(empty["bleu2"])  # no reply at all (every input refused): NaN, not a crash


def test_fluency_is_the_mean_log_probability_under_the_reply_model_beside_the_references():
    from evaluator import ngram

    words = {"<eos>": features.EOS_ID, "i": 4, "know": 5, "go": 6}
    lm = ngram.KneserNeyTrigramLM([[4, 5, features.EOS_ID]] * 20 + [[6, features.EOS_ID]], vocab_size=8)

    def fluency(reply):
        return ngram.mean_log_prob(lm, [words[w] for w in reply] + [features.EOS_ID])

    got = sm.reply_measures([["i", "know"], ["know", "i"]], [["i", "know"], ["i", "know"]], fluency)
    ids = [[4, 5, features.EOS_ID], [5, 4, features.EOS_ID]]
    assert got["fluency"] == pytest.approx(np.mean([ngram.mean_log_prob(lm, r) for r in ids]))
    assert ngram.mean_log_prob(lm, [4, 5, features.EOS_ID]) > ngram.mean_log_prob(
        lm, [5, 4, features.EOS_ID]
    )  # salad scores lower
    assert got["reference_fluency"] > got["fluency"]
    assert math.exp(-ngram.mean_log_prob(lm, [4, 5, features.EOS_ID])) == pytest.approx(
        ngram.perplexity(lm, [[4, 5, features.EOS_ID]])
    )


def test_input_dependence_is_the_perplexity_with_shuffled_inputs_over_the_true_one():
    labels = [[5, 6, 0]]
    true = sm.token_stats(labels, np.log([[0.5, 0.25, 1.0]]), [[5, 1, 0]])
    shuffled = sm.token_stats(labels, np.log([[0.25, 0.125, 1.0]]), [[1, 1, 0]])
    assert sm.input_dependence(true, shuffled) == pytest.approx(2.0)  # sqrt(32) / sqrt(8)
    order = sm.shuffled_order(50)
    assert sorted(order) == list(range(50)) and list(order) != list(range(50))
    assert list(order) == list(sm.shuffled_order(50))  # one fixed permutation: figures comparable across runs
