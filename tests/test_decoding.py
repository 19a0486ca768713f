"""Decoding options in the graph: n-gram blocking, minimum length, sampling, MMI-antiLM, bounds."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import features
from common.decode_options import GREEDY, MAX_BEAM_WIDTH, DecodeOptions
from evaluator.sequence_metrics import has_repeated_ngram
from tests.conftest import tiny_params
from trainer import decoding
from trainer.model import build_model

VOCAB, STEPS = 12, 10
ENCODER = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 4, 5]], tf.int64)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    net = build_model(
        tiny_params(vocab_size=VOCAB, embedding_dim=8, units=16, attention=True, copy=True, tie_embeddings=True), 1e-3, 1.0
    )
    net((ENCODER, tf.constant([[features.BOS_ID, 5]] * 3, tf.int64)))
    # A strong bias towards one word makes an undecided random network loop on it.
    net.logit_bias.assign(tf.one_hot(6, VOCAB) * 4.0)
    return net


def _decode(model, **overrides):
    opts = dataclasses.replace(GREEDY, **{"no_repeat_ngram": 0, "no_repeat_word": 0, **overrides})
    ids, lengths, scores, log_probs = decoding.decode(model, ENCODER, STEPS, tf.constant(VOCAB), decoding.option_tensors(opts))
    return ids.numpy(), lengths.numpy(), scores.numpy(), log_probs.numpy()


def _replies(ids):
    """Each hypothesis as a list of ids, cut before <eos>."""
    out = []
    for row in ids.reshape(-1, ids.shape[-1]):
        reply = []
        for i in row:
            if i in (features.EOS_ID, features.PAD_ID):
                break
            reply.append(int(i))
        out.append(reply)
    return out


def test_repeated_ngram_penalty_bans_exactly_the_repeating_tokens():
    seqs = tf.constant([[5, 6, 5, 0, 0], [5, 6, 7, 5, 6]], tf.int64)

    def banned(t, n):
        penalty = decoding.repeated_ngram_penalty(seqs, tf.constant(t), tf.constant(n), 9).numpy()
        return [set(np.flatnonzero(row < 0)) for row in penalty]

    assert banned(3, 2) == [{6}, set()]  # row 1 ends in 5 and "5 6" was seen; row 2 ends in 7, seen first
    assert banned(5, 3) == [set(), {7}]  # row 2 ends "5 6", and "5 6 7" was seen
    assert banned(3, 1) == [{5, 6}, {5, 6, 7}]  # unigrams: nothing generated may come again
    assert banned(3, 0) == [set(), set()]  # off


def test_without_blocking_the_looping_model_repeats_itself(model):
    ids, *_ = _decode(model)
    assert any(has_repeated_ngram(r, 3) for r in _replies(ids))


@pytest.mark.parametrize("width", [1, 3])
def test_no_reply_repeats_a_trigram_when_blocked(model, width):
    ids, *_ = _decode(model, no_repeat_ngram=3, beam_width=width)
    replies = _replies(ids)
    assert len(replies) == 3 * width and not any(has_repeated_ngram(r, 3) for r in replies)


@pytest.mark.parametrize("overrides", [{"beam_width": 1}, {"beam_width": 3}, {"beam_width": 4, "temperature": 1.0, "top_p": 0.9}])
def test_no_word_follows_itself_when_blocked(model, overrides):
    def twice(ids):
        return [r for r in _replies(ids) if any(a == b for a, b in zip(r, r[1:]))]

    assert twice(_decode(model, **overrides)[0])  # this looping network says words twice in a row
    assert not twice(_decode(model, no_repeat_word=1, **overrides)[0])


def test_min_length_holds_back_eos(model):
    ids, lengths, *_ = _decode(model, min_length=4, beam_width=2)
    assert all(len(r) >= 4 for r in _replies(ids))
    assert np.all(lengths >= 4)


def test_sampling_is_reproducible_by_seed_and_top_k_1_is_greedy(model):
    a = _decode(model, temperature=1.0, seed=7, beam_width=4)[0]
    b = _decode(model, temperature=1.0, seed=7, beam_width=4)[0]
    c = _decode(model, temperature=1.0, seed=8, beam_width=4)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    greedy = _decode(model, min_length=2)[0]
    top1 = _decode(model, min_length=2, temperature=0.7, top_k=1, seed=5)[0]
    np.testing.assert_array_equal(greedy, top1)


def test_top_p_keeps_the_nucleus_and_always_the_best_token():
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]]))
    keep = lambda **kw: np.isfinite(decoding._filter_top_k_top_p(logits, **kw).numpy()).tolist()[0]  # noqa: E731
    assert keep(top_k=tf.constant(0), top_p=tf.constant(0.7)) == [True, True, False, False]
    assert keep(top_k=tf.constant(0), top_p=tf.constant(0.01)) == [True, False, False, False]
    assert keep(top_k=tf.constant(3), top_p=tf.constant(1.0)) == [True, True, True, False]


def test_antilm_changes_the_ranking_score_not_the_reported_log_prob(model):
    plain = _decode(model, beam_width=2)
    anti = _decode(model, beam_width=2, antilm_weight=0.5, antilm_steps=3)
    assert not np.allclose(plain[2], anti[2])
    # log_probs are the model's own: equal wherever the chosen replies are equal.
    same = np.all(plain[0] == anti[0], axis=-1)
    np.testing.assert_allclose(plain[3][same], anti[3][same], rtol=1e-5)


def _reply_lm_log_prob(model, reply: list[int]) -> float:
    """log p(reply + <eos>) under the decoder started from an empty input, one step at a time."""
    state, memory = model.encode(tf.zeros([1, 1], tf.int64))
    token, total = features.BOS_ID, 0.0
    for next_token in [*reply, features.EOS_ID]:
        logits, state = model.decode_step(tf.constant([token], tf.int64), state, memory)
        total += float(tf.nn.log_softmax(tf.cast(logits, tf.float32))[0, next_token])
        token = next_token
    return total


def test_mmi_reranking_subtracts_the_reply_language_models_log_prob_of_each_sample(model):
    sampled = {"beam_width": 4, "temperature": 1.0, "top_p": 1.0, "seed": 5, "length_penalty": 0.0}
    plain, reranked = _decode(model, **sampled), _decode(model, **sampled, mmi_rerank=0.7)
    for row in range(ENCODER.shape[0]):
        before = {tuple(r): s for r, s in zip(_replies(plain[0][row]), plain[2][row])}
        after = {tuple(r): s for r, s in zip(_replies(reranked[0][row]), reranked[2][row])}
        assert set(before) == set(after)  # the same samples, ranked anew
        for reply, score in before.items():
            if len(reply) < STEPS:  # ended by <eos>
                assert after[reply] == pytest.approx(score - 0.7 * _reply_lm_log_prob(model, list(reply)), abs=1e-3)
        assert np.all(np.diff(reranked[2][row]) <= 1e-6)


def test_scores_are_sorted_best_first(model):
    _, _, scores, _ = _decode(model, beam_width=4, length_penalty=1.0)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize(
    "name, value",
    [("beam_width", 0), ("beam_width", MAX_BEAM_WIDTH + 1), ("top_p", 0.0), ("temperature", -1.0), ("no_repeat_ngram", -1)],
)
def test_options_out_of_bounds_are_invalid_arguments(name, value):
    opts = decoding.option_tensors(DecodeOptions())
    opts[name] = tf.constant(value, opts[name].dtype)
    with pytest.raises(tf.errors.InvalidArgumentError, match=name):
        decoding.check_options(opts)
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(DecodeOptions(), **{name: value}).validate()


def test_a_sampled_reply_does_not_depend_on_the_rest_of_the_batch(model):
    opts = decoding.option_tensors(DecodeOptions(temperature=1.0, seed=3, beam_width=2))
    together = decoding.decode(model, ENCODER, STEPS, tf.constant(VOCAB), opts)[0].numpy()
    for i in range(ENCODER.shape[0]):
        alone = decoding.decode(model, ENCODER[i : i + 1], STEPS, tf.constant(VOCAB), opts)[0].numpy()
        np.testing.assert_array_equal(alone[0], together[i])


@pytest.mark.parametrize("top_k, top_p", [(0, 0.9), (0, 0.5), (5, 1.0), (40, 0.95), (200, 0.9)])
@pytest.mark.parametrize("candidates", [64, 3, (3, 10), (3, 64)])
def test_the_candidate_sampler_draws_what_the_full_sort_draws(top_k, top_p, candidates):
    # Peaked and flat rows: with 3 candidates the flat rows' nucleus does not fit and the step
    # falls back to sorting the whole vocabulary; either way the same token is drawn for the seed.
    rng = np.random.default_rng(7)
    logits = tf.constant(np.concatenate([rng.normal(0, 8, (6, 3000)), rng.normal(0, 0.1, (2, 3000))]), tf.float32)
    row_seeds = tf.constant(rng.integers(0, 2**31, 8), tf.int64)
    k, p = tf.constant(top_k), tf.constant(top_p)
    for t in range(5):
        temperature = tf.constant([1.0, 0.7][t % 2])
        full = decoding._sample(
            decoding._filter_top_k_top_p(logits / temperature, k, p), row_seeds, tf.constant(t), tf.constant(11)
        )
        drawn, wide = decoding.sample_filtered(logits, temperature, k, p, row_seeds, tf.constant(t), tf.constant(11), candidates)
        np.testing.assert_array_equal(drawn.numpy(), full.numpy())
        # Only the rows whose candidates hold less than top_p of the mass sort the whole vocabulary.
        probs = tf.nn.softmax(logits / temperature).numpy()
        first = candidates[0] if isinstance(candidates, tuple) else candidates
        mass = np.sort(probs, axis=1)[:, ::-1][:, : min(top_k or first, first)].sum(axis=1)
        assert int(wide) == (0 if 0 < top_k <= first else int(np.sum(mass < top_p)))
    assert candidates == 64 or int(wide) >= 2  # the flat rows at least
    peaked = logits[:6]  # here the 0.9 nucleus fits in 64 candidates: no row sorts the vocabulary
    assert (
        int(
            decoding.sample_filtered(
                peaked, tf.constant(1.0), tf.constant(0), tf.constant(0.9), row_seeds[:6], tf.constant(0), tf.constant(1)
            )[1]
        )
        == 0
    )


@pytest.mark.parametrize("candidates", [decoding.CANDIDATES, 1])
def test_the_nucleus_ends_exactly_where_the_mass_reaches_top_p(candidates):
    # p = 0.5, 0.41, 0.02, then 0.07 spread thin: the 0.9 nucleus is the first two tokens (the third
    # starts at 0.91), so over 400 seeds both of those are drawn and never the third.
    probs = np.full(3000, 0.07 / 2997)
    probs[:3] = [0.5, 0.41, 0.02]
    logits = tf.constant(np.log(np.tile(probs, (400, 1))), tf.float32)
    row_seeds = tf.range(400, dtype=tf.int64) * 7919
    drawn, _ = decoding.sample_filtered(
        logits, tf.constant(1.0), tf.constant(0), tf.constant(0.9), row_seeds, tf.constant(0), tf.constant(5), candidates
    )
    assert set(np.unique(drawn.numpy())) == {0, 1}


@pytest.mark.parametrize("temperature", [1e-9, 1e-30, 1.2e-38])
@pytest.mark.parametrize("candidates", [decoding.CANDIDATES, 1])
def test_a_tiny_temperature_samples_the_greedy_reply_not_padding(model, temperature, candidates):
    # #24, finding 1: scaled by a tiny temperature, real tokens fell below the finite mask value
    # whenever the best token's probability was under 1/e, as it is in this undecided network.
    bias = model.logit_bias.numpy()
    model.logit_bias.assign(tf.zeros_like(bias))
    try:
        opts = dataclasses.replace(GREEDY, no_repeat_ngram=0, min_length=2)
        greedy = _decode(model, **dataclasses.asdict(opts))[0]
        sampled = decoding.decode(
            model, ENCODER, STEPS, tf.constant(VOCAB),
            decoding.option_tensors(dataclasses.replace(opts, temperature=temperature, top_p=0.9)), candidates=candidates,
        )[0].numpy()  # fmt: skip
    finally:
        model.logit_bias.assign(bias)
    np.testing.assert_array_equal(sampled, greedy)


def _reference_beam(
    net, encoder_row, width: int, steps: int, antilm: tuple[float, int] = (0.0, 0)
) -> list[tuple[list[int], float]]:
    """Beam search the plain way, one input, in Python: every beam's every continuation scored,
    the best ``width`` kept; <pad>/<unk>/<bos> never, <eos> not first. ``antilm`` (weight, steps):
    for the first steps, minus weight x the reply language model's log-probability (the decoder
    from an empty input), run for each beam on its own, except for the words the beam has said
    already. (tokens, score) best first."""
    weight, antilm_steps = antilm
    state, memory = net.encode(encoder_row[tf.newaxis, :])
    lm_state, lm_memory = net.encode(tf.zeros([1, 1], tf.int64))
    beams = [([], 0.0, state, lm_state, False)]
    for t in range(steps):
        candidates = []
        for tokens, score, beam_state, beam_lm, done in beams:
            if done:
                candidates.append((tokens + [features.PAD_ID], score, beam_state, beam_lm, True))
                continue
            last = tf.constant([tokens[-1] if tokens else features.BOS_ID], tf.int64)
            log_probs, next_state = decoding._log_probs(net, last, beam_state, memory)
            log_probs = log_probs.numpy()[0].astype(np.float64)
            next_lm = beam_lm
            if t < antilm_steps:
                lm_log_probs, next_lm = decoding._log_probs(net, last, beam_lm, lm_memory)
                adjusted = log_probs - weight * lm_log_probs.numpy()[0].astype(np.float64)
                adjusted[tokens] = log_probs[tokens]  # a word already said: no second bonus
                log_probs = adjusted
            log_probs[[features.PAD_ID, features.UNK_ID, features.BOS_ID]] = -np.inf
            if t == 0:
                log_probs[features.EOS_ID] = -np.inf
            for token in np.argsort(-log_probs, kind="stable")[:width]:
                candidates.append(
                    (tokens + [int(token)], score + log_probs[token], next_state, next_lm, token == features.EOS_ID)
                )
        beams = sorted(candidates, key=lambda c: -c[1])[:width]
        if all(b[4] for b in beams):
            break
    return [(b[0], b[1]) for b in beams]


def _six_inputs_net(seed: int, eos_bias: float):
    """A tiny attention + copy network (seeded) and six inputs of different lengths; ``eos_bias``
    on <eos> makes the inputs' replies end at different steps."""
    keras.utils.set_random_seed(seed)
    params = tiny_params(vocab_size=VOCAB, embedding_dim=8, units=16, attention=True, copy=True, tie_embeddings=True)
    net = build_model(params, 1e-3, 1.0)
    encoder = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 4, 5], [4, 0, 0, 0], [7, 7, 9, 11], [6, 0, 0, 0]], tf.int64)
    net((encoder, tf.constant([[features.BOS_ID, 5]] * 6, tf.int64)))
    net.logit_bias.assign(tf.one_hot(features.EOS_ID, VOCAB) * eos_bias)
    return net, encoder


def test_beam_search_finds_the_beams_of_a_plain_search_and_drops_inputs_that_ended():
    """The compacted beam search (per-row selection, inputs leaving once all their beams ended),
    in a graph with a static batch (where Grappler folds sizes it can see), keeps the beams a
    plain search keeps, input by input."""
    net, encoder = _six_inputs_net(seed=5, eos_bias=1.8)
    options = DecodeOptions(
        beam_width=3, temperature=0.0, no_repeat_ngram=0, no_repeat_word=0, min_length=1, length_penalty=0.0, antilm_weight=0.0
    )
    decode = tf.function(lambda x: decoding.decode(net, x, STEPS, tf.constant(VOCAB), decoding.option_tensors(options)))
    ids, lengths, scores, _ = (x.numpy() for x in decode(encoder))
    assert len(set(lengths.max(axis=1))) > 1, lengths  # inputs end at different steps: some leave early
    for i in range(6):
        reference = _reference_beam(net, encoder[i], 3, STEPS)
        assert [r[0] for r in reference] == [list(row[: len(r[0])]) for row, r in zip(ids[i], reference)], i
        np.testing.assert_allclose(scores[i], [r[1] for r in reference], rtol=1e-4)
    # Only open beams ran the network: fewer rows than k per input for every step it stayed.
    stats: dict = {}
    decoding.decode(net, encoder, STEPS, tf.constant(VOCAB), decoding.option_tensors(options), stats)
    assert int(stats["row_steps"]) < 3 * int(lengths.max(axis=1).sum()), (int(stats["row_steps"]), lengths)


@pytest.mark.parametrize("width, weight, steps", [(3, 0.5, 3), (1, 0.6, 4), (3, 0.4, STEPS)])
def test_antilm_scores_the_first_steps_as_a_language_model_run_for_each_hypothesis_alone(width, weight, steps):
    """MMI-antiLM in the graph runs the reply language model once per distinct reply so far and
    not at all past its steps; the reference runs it for every hypothesis on its own: the same
    replies and scores, greedy (width 1) and beam, stopping early or covering the whole reply."""
    net, encoder = _six_inputs_net(seed=7, eos_bias=1.5)
    options = DecodeOptions(
        beam_width=width, temperature=0.0, no_repeat_ngram=0, no_repeat_word=0, min_length=1, length_penalty=0.0,
        antilm_weight=weight, antilm_steps=steps,
    )  # fmt: skip
    ids, _, scores, _ = (
        x.numpy() for x in decoding.decode(net, encoder, STEPS, tf.constant(VOCAB), decoding.option_tensors(options))
    )
    for i in range(6):
        reference = _reference_beam(net, encoder[i], width, STEPS, antilm=(weight, steps))
        assert [r[0] for r in reference] == [list(row[: len(r[0])]) for row, r in zip(ids[i], reference)], i
        np.testing.assert_allclose(scores[i], [r[1] for r in reference], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("vocab, k, blocks", [(11457, 4, 128), (37, 3, 8), (40, 8, 5), (9, 2, 16)])
def test_top_k_by_blocks_is_top_k_ties_included(vocab, k, blocks):
    rng = np.random.default_rng(vocab)
    scores = rng.normal(size=(6, vocab)).astype(np.float32)
    scores[1] = np.round(scores[1])  # many ties: the lower index comes first, as top_k has it
    scores[2, :] = decoding.NEG_INF  # a row of banned tokens but a few
    scores[2, [3, vocab - 1]] = 0.5
    scores[3] = 0.0  # all equal
    want_values, want_ids = tf.math.top_k(scores, k=k)
    values, ids = decoding.top_k_by_blocks(tf.constant(scores), tf.constant(k), blocks)
    np.testing.assert_array_equal(ids.numpy(), want_ids.numpy())
    np.testing.assert_array_equal(values.numpy(), want_values.numpy())


def test_each_decoding_loop_is_built_for_one_decoder():
    # A flag known as the graph is built picks its variant there; one known at run time becomes a
    # tf.cond between the variants (outside the loop), and both variants give their own result.
    built = []

    def variant(sampling, use_lm):
        built.append((sampling, use_lm))
        return tf.constant(10 * int(sampling) + int(use_lm))

    assert int(decoding._specialised(variant, sampling=True, use_lm=False)) == 10 and built == [(True, False)]

    @tf.function
    def choose(sampling):
        return decoding._specialised(variant, sampling=sampling, use_lm=decoding._known(tf.constant(0.5), lambda x: x > 0))

    built.clear()
    assert [int(choose(tf.constant(flag))) for flag in (True, False)] == [11, 1]
    assert sorted(built) == [(False, True), (True, True)]  # traced once each; use_lm fixed when built


def test_the_sampling_noise_draws_the_softmax_distribution_independently_per_step():
    # 20,000 hypotheses draw from p = softmax(logits) at two steps: each step's frequencies match p
    # (chi-square, 5 degrees of freedom, p-value 0.001 at 20.5) and the two steps' draws are
    # independent (6 x 6 contingency table, 25 degrees of freedom, 52.6).
    probs = np.array([0.4, 0.25, 0.15, 0.1, 0.07, 0.03])
    rows = 20_000
    logits = tf.constant(np.log(np.tile(probs, (rows, 1))), tf.float32)
    row_seeds = tf.range(rows, dtype=tf.int64) * 31 + 5
    draws = [decoding._sample(logits, row_seeds, tf.constant(t), tf.constant(3)).numpy() for t in (0, 1)]
    for drawn in draws:
        counts = np.bincount(drawn, minlength=6)
        assert np.sum((counts - rows * probs) ** 2 / (rows * probs)) < 20.5, counts
    joint = np.zeros((6, 6))
    np.add.at(joint, (draws[0], draws[1]), 1)
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0)) / rows
    assert np.sum((joint - expected) ** 2 / expected) < 52.6


def test_the_encoder_reads_the_batch_up_to_its_longest_input_and_decodes_the_same(model):
    ids = tf.constant([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]], tf.int64)
    np.testing.assert_array_equal(decoding._without_padding(ids).numpy(), [[5, 6], [7, 0]])
    assert decoding._without_padding(tf.zeros([2, 5], tf.int64)).shape == (2, 1)  # all padding: one column
    padded = tf.pad(ENCODER, [[0, 0], [0, 6]])  # the same inputs with more padding
    for options in (GREEDY, DecodeOptions(beam_width=3, temperature=0.0)):  # (a sample's seed hashes all its ids)
        opts = decoding.option_tensors(options)
        same = [decoding.decode(model, x, STEPS, tf.constant(VOCAB), opts)[0].numpy() for x in (ENCODER, padded)]
        np.testing.assert_array_equal(*same)
