"""Decoding in the TensorFlow graph: beam search and sampling, with the options a chatbot needs.

One loop serves every decoder the export offers (core TF ops only, so TF Serving runs it):

* ``beam_width`` hypotheses per input. Without sampling this is beam search (width 1 is
  greedy decoding); with sampling (``temperature`` > 0) each of the ``beam_width`` rows draws
  its own reply, so ``beam_width`` is the number of samples.
* ``temperature``, ``top_k``, ``top_p``: sampling from the softmax at that temperature,
  restricted to the ``top_k`` most likely tokens (0 = all) and to the smallest set whose
  probability reaches ``top_p`` (1 = all). ``seed`` makes it reproducible: each hypothesis
  draws from its own stream, seeded by the request's ``seed`` and the message, so the same
  message with the same seed gets the same reply, alone or in any batch.
* ``no_repeat_ngram``: a token that would repeat an n-gram already in the reply is never
  chosen (0 = off). It stops loops like "of the few tough of the few tough".
* ``no_repeat_word``: the previous token is never chosen again ("dioxide dioxide"), which
  trigram blocking lets through twice (0 = off).
* ``min_length``: ``<eos>`` is not allowed before this many reply tokens.
* ``length_penalty``: GNMT length normalisation (Wu et al. 2016) of the final ranking,
  ``score / ((5 + length) / 6) ** length_penalty``; 0 ranks by the plain sum.
* ``antilm_weight``, ``antilm_steps``: MMI-antiLM (Li et al. 2016). For the first
  ``antilm_steps`` tokens each candidate's score is ``log p(y_t | x, y_<t) - antilm_weight *
  log p(y_t | empty input, y_<t)``: the same decoder run from an empty input is a language
  model of replies, and subtracting it penalises the replies that fit every input ("i do not
  know"); a word the reply already has is scored by the model alone (no second bonus). 0 = off
  (and the second decoder run is skipped).
* ``mmi_rerank``: MMI reranking of the finished hypotheses (Li et al. 2016's reranking form):
  each hypothesis' score minus ``mmi_rerank`` times its whole log-probability under that reply
  language model (one teacher-forced pass over the k hypotheses), before the length
  normalisation. It chooses among the samples (or beams) the one least likely without the input.

Scores returned: ``scores``, the ranking score (antiLM-adjusted, length-normalised), and
``log_probs``, the model's own mean log-probability per token of each reply (its closing
``<eos>`` included), which does not depend on the decoding options.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from common import features
from common.decode_options import BOUNDS, DTYPES, DecodeOptions
from trainer.model import teacher_forced

NEG_INF = -1e9


def option_tensors(options: DecodeOptions) -> dict[str, tf.Tensor]:
    """Each option as a scalar tensor of the dtype the ``generate`` signature takes."""
    return {name: tf.constant(getattr(options, name), dtype=tf.as_dtype(DTYPES[name])) for name in DTYPES}


def check_options(opts: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """In-graph bounds checks: a value out of bounds is an InvalidArgumentError naming it."""
    checks = []
    for name, (low, high) in BOUNDS.items():
        value = opts[name]
        checks.append(
            tf.debugging.Assert(
                tf.logical_and(value >= tf.cast(low, value.dtype), value <= tf.cast(high, value.dtype)),
                [f"{name}: must be between {low} and {high}, got", value],
            )
        )
    with tf.control_dependencies(checks):
        return {k: tf.identity(v) for k, v in opts.items()}


def repeated_ngram_bans(seqs: tf.Tensor, t: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """[m, 2] int64 (row, token): the tokens that, appended at step ``t``, would repeat an n-gram
    already in the row's first ``t`` tokens (``seqs`` [rows, steps]). Work of [rows, steps, n],
    never of the vocabulary's size."""
    steps = tf.shape(seqs)[1]
    start = tf.range(steps)  # where an earlier n-gram starts
    offsets = tf.range(tf.maximum(n - 1, 0))
    prefix = tf.gather(seqs, tf.clip_by_value(start[:, tf.newaxis] + offsets, 0, steps - 1), axis=1)
    suffix = tf.gather(seqs, tf.clip_by_value(t - (n - 1) + offsets, 0, steps - 1), axis=1)
    same = tf.reduce_all(tf.equal(prefix, suffix[:, tf.newaxis, :]), axis=2)  # [rows, steps]
    complete = start + n - 1 < t  # the earlier n-gram's last token is already generated
    match = tf.logical_and(tf.logical_and(same, complete[tf.newaxis, :]), n > 0)
    banned = tf.gather(seqs, tf.clip_by_value(start + n - 1, 0, steps - 1), axis=1)
    where = tf.where(match)
    return tf.stack([tf.cast(where[:, 0], tf.int64), tf.cast(tf.gather_nd(banned, where), tf.int64)], axis=1)


def repeated_ngram_penalty(seqs: tf.Tensor, t: tf.Tensor, n: tf.Tensor, vocab: tf.Tensor) -> tf.Tensor:
    """[rows, vocab]: NEG_INF for every token :func:`repeated_ngram_bans` bans, 0 elsewhere."""
    return _forbid(tf.zeros([tf.shape(seqs)[0], vocab]), repeated_ngram_bans(seqs, t, n))


def _forbid(scores: tf.Tensor, bans: tf.Tensor) -> tf.Tensor:
    """``scores`` [rows, vocab] with NEG_INF at the (row, token) pairs ``bans`` [m, 2]: one sparse
    update, not a pass over the vocabulary per rule."""
    return tf.tensor_scatter_nd_update(scores, bans, tf.fill([tf.shape(bans)[0]], tf.constant(NEG_INF, scores.dtype)))


def _never(rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The (row, token) pairs banned at every step for rows 0..``rows``-1, as [rows x 3, 2]:
    padding, ``<bos>`` and ``<unk>`` (a reply that says "<unk>" reads as broken); and the
    ``<eos>`` pairs [rows, 2], banned before ``min_length``. Built once per call: a step with n
    rows takes the first 3n and n pairs (no per-step index building, no pass over the vocabulary)."""
    row = tf.range(tf.cast(rows, tf.int64))
    never = tf.constant([features.PAD_ID, features.UNK_ID, features.BOS_ID], tf.int64)
    always = tf.stack([tf.repeat(row, tf.size(never)), tf.tile(never, [rows])], axis=1)
    return always, tf.stack([row, tf.fill([rows], tf.constant(features.EOS_ID, tf.int64))], axis=1)


def _bans(seqs: tf.Tensor, token: tf.Tensor, t: tf.Tensor, opts: dict[str, tf.Tensor], never) -> tf.Tensor:
    """Every (row, token) not allowed at step ``t`` for the rows ``seqs`` [rows, steps] (``token``
    [rows]: their last tokens): the ``never`` pairs (:func:`_never`), ``<eos>`` before
    ``min_length``, the previous token (``no_repeat_word``; at step 0 that is ``<bos>``, banned
    anyway) and the tokens that would repeat an n-gram."""
    rows = tf.shape(token)[0]
    always, eos = never
    no_eos = eos[: tf.where(t < opts["min_length"], rows, 0)]
    again = eos[: tf.where(opts["no_repeat_word"] > 0, rows, 0), 0]
    previous = tf.stack([again, token[: tf.shape(again)[0]]], axis=1)
    ngrams = repeated_ngram_bans(seqs, t, opts["no_repeat_ngram"])
    return tf.concat([always[: rows * 3], no_eos, previous, ngrams], axis=0)


def _log_probs(model, token: tf.Tensor, state, memory):
    """One decoder step: ([rows, vocab] float32 log-probabilities, new state)."""
    logits, state = model.decode_step(token, state, memory)
    logits = tf.cast(logits, tf.float32)
    return (logits if getattr(model, "logits_normalized", False) else tf.nn.log_softmax(logits)), state


def _row_seeds(encoder_ids: tf.Tensor, k: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """[batch * k] int64 seeds, one per hypothesis: from the request's seed, the input's ids and
    the hypothesis' index, so a message gets the same samples whatever else is in its batch."""
    text = tf.strings.reduce_join(tf.strings.as_string(encoder_ids), axis=1, separator=",")
    per_input = tf.strings.to_hash_bucket_fast(tf.strings.join([tf.strings.as_string(seed), text], "|"), 2**31 - 1)
    return tf.reshape(per_input[:, tf.newaxis] * 31 + tf.range(tf.cast(k, tf.int64))[tf.newaxis, :], [-1])


# The partial selections (top_k) tried before the nucleus filter, instead of sorting the whole
# vocabulary every step: the 128 most likely tokens; for the rows whose nucleus does not fit in
# them, the 1,024 most likely; only the rows whose nucleus does not fit in those either sort the
# whole vocabulary. Exact at every level (the token drawn is the one the whole vocabulary would
# give, noise included). (128, 1024) was the fastest of (32, 512), (64, 512), (64, 1024), (128, 1024),
# (256,) and (256, 2048) on the shared corpus's model (vocabulary 11,457); how often a row needs the
# wider levels: ``s2s bench decode``.
CANDIDATES = (128, 1024)


_GOLDEN = 0x9E3779B9  # 2^32 / golden ratio: spreads consecutive keys over the 32-bit range


def _mix(x: tf.Tensor) -> tf.Tensor:
    """A 32-bit avalanche hash of ``x`` (uint32): MurmurHash3's finaliser, in core TF ops."""
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift, tf.uint32))) * tf.constant(factor, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def _u32(x: tf.Tensor) -> tf.Tensor:
    """The low 32 bits of an integer tensor, mixed with its high 32 bits when it has them."""
    if x.dtype == tf.int64:
        return tf.bitwise.bitwise_xor(tf.cast(x, tf.uint32), _mix(tf.cast(tf.bitwise.right_shift(x, 32), tf.uint32)))
    return tf.cast(x, tf.uint32)


def _noise(ids: tf.Tensor, row_seeds: tf.Tensor, t: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Gumbel noise [rows, n] for the token ``ids`` [rows, n] of each row, computed for those
    tokens only: a hash of (request seed, step, row seed, token id), so a token's noise depends on
    its message, hypothesis, step and id only, never on the batch or on which other tokens are
    read, and the noise of different tokens, rows and steps is independent. Uniform on 24 bits
    (strictly inside (0, 1)), then ``-log(-log(u))``."""
    step = _mix(_u32(seed) + _u32(t) * tf.constant(_GOLDEN, tf.uint32))
    row = _mix(tf.bitwise.bitwise_xor(_u32(row_seeds), step))
    bits = _mix(tf.bitwise.bitwise_xor(row[:, tf.newaxis], _mix(_u32(ids) * tf.constant(_GOLDEN, tf.uint32))))
    uniform = (tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32) + 0.5) * 2.0**-24
    return -tf.math.log(-tf.math.log(uniform))


def _sample(logits: tf.Tensor, row_seeds: tf.Tensor, t: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One token per row drawn from softmax(logits) over the whole vocabulary (Gumbel-max)."""
    ids = tf.range(tf.shape(logits, out_type=tf.int64)[1])[tf.newaxis, :]
    return tf.argmax(logits + _noise(ids, row_seeds, t, seed), axis=1, output_type=tf.int64)


def sample_filtered(scores, temperature, top_k, top_p, row_seeds, t, seed, candidates=CANDIDATES, filtered=None):
    """One token per row from softmax(scores / temperature) restricted to the ``top_k`` most likely
    tokens (0 = all) and the ``top_p`` nucleus of that whole-vocabulary distribution.

    The token is drawn among the ``candidates[0]`` most likely tokens, found by a partial selection,
    with their probabilities read from one softmax over the vocabulary, so the nucleus is exact for
    every row whose candidates hold ``top_p`` of the mass. The other rows try the next selection of
    ``candidates``, and after the last one sort the whole vocabulary (:func:`_filter_top_k_top_p`).
    Each row reads the same noise per token on every path, so the token drawn does not depend on the
    path: it is the one the whole sorted vocabulary gives.

    Args:
      scores: [rows, vocab] float32 scores (log-probabilities; banned tokens at NEG_INF).
      temperature, top_k, top_p: the decoding options (scalars; temperature > 0).
      row_seeds, t, seed: the noise's seeds (:func:`_noise`).
      candidates: the partial selections' sizes, in order.
      filtered: whether ``top_k`` or ``top_p`` restricts the draw (a Python bool when the options
        are known as the graph is built; default: from the options, at run time).

    Returns:
      (tokens [rows] int64, how many rows did not fit in the first selection).
    """
    scaled = scores / temperature
    if filtered is None:
        filtered = tf.logical_or(top_k > 0, top_p < 1.0)
    if not filtered:  # no filter: the whole softmax
        return _sample(scaled, row_seeds, t, seed), tf.constant(0)
    levels = tuple(candidates) if isinstance(candidates, (tuple, list)) else (candidates,)
    return _sample_level(scaled, tf.nn.softmax(scaled), top_k, top_p, row_seeds, t, seed, levels)


def _sample_level(scaled, probs, top_k, top_p, row_seeds, t, seed, levels):
    """:func:`sample_filtered` at the selection ``levels[0]``, for the tempered scores ``scaled`` and
    their softmax ``probs`` [rows, vocab]."""
    vocab = tf.shape(scaled)[1]
    c = tf.minimum(tf.where(top_k > 0, tf.minimum(top_k, levels[0]), levels[0]), vocab)
    values, ids = tf.math.top_k(scaled, k=c)
    mass = tf.gather(probs, ids, batch_dims=1)
    before = tf.cumsum(mass, axis=1, exclusive=True)  # mass of the tokens ranked above
    keep = tf.logical_or(before < top_p, tf.range(c)[tf.newaxis, :] == 0)
    fits = tf.logical_or(tf.logical_and(top_k > 0, top_k <= c), tf.reduce_sum(mass, axis=1) >= top_p)
    noisy = tf.where(keep, values + _noise(ids, row_seeds, t, seed), tf.constant(-float("inf")))
    token = tf.gather(tf.cast(ids, tf.int64), tf.argmax(noisy, axis=1, output_type=tf.int32), batch_dims=1)
    wide = tf.where(tf.logical_not(fits))[:, 0]
    if tf.size(wide) > 0:
        rows, seeds = tf.gather(scaled, wide), tf.gather(row_seeds, wide)
        if len(levels) > 1:  # the next, wider selection
            drawn, _ = _sample_level(rows, tf.gather(probs, wide), top_k, top_p, seeds, t, seed, levels[1:])
        else:
            drawn = _sample(_filter_top_k_top_p(rows, top_k, top_p), seeds, t, seed)
        token = tf.tensor_scatter_nd_update(token, wide[:, tf.newaxis], drawn)
    return token, tf.size(wide)


def _filter_top_k_top_p(logits: tf.Tensor, top_k: tf.Tensor, top_p: tf.Tensor) -> tf.Tensor:
    """Logits outside the top-k / nucleus set become -inf (the most likely token always stays)."""
    vocab = tf.shape(logits)[1]
    ordered = tf.sort(logits, axis=1, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = ordered[:, k - 1 : k]
    probs = tf.nn.softmax(ordered, axis=1)
    before = tf.cumsum(probs, axis=1, exclusive=True)  # mass of the tokens ranked above
    in_nucleus = tf.logical_or(before < top_p, tf.range(vocab)[tf.newaxis, :] == 0)
    pth = tf.reduce_min(tf.where(in_nucleus, ordered, tf.fill(tf.shape(ordered), tf.reduce_max(ordered))), axis=1, keepdims=True)
    threshold = tf.maximum(kth, pth)
    # -inf, not NEG_INF: at a tiny temperature the kept tokens' scaled logits can lie far below
    # NEG_INF, and a finite mask would then outrank them (a reply of <pad>s).
    return tf.where(logits >= threshold, logits, tf.constant(-float("inf")))


def decode(
    model,
    encoder_ids: tf.Tensor,
    max_len: int,
    vocab: tf.Tensor,
    opts: dict[str, tf.Tensor],
    stats: dict | None = None,
    candidates: int | tuple[int, ...] = CANDIDATES,
):
    """Decodes a batch; returns (ids [batch, k, max_len] with 0 after ``<eos>``, lengths [batch, k],
    scores [batch, k], log_probs [batch, k]), the k hypotheses of each input best first.

    Sampling and greedy decoding (width 1) draw every row on its own (:func:`_decode_rows`: a row
    that has emitted ``<eos>`` costs nothing more); beam search ranks each input's rows together
    (:func:`_decode_beams`). Each decoding loop is built for one decoder (sampling or not,
    antiLM or not: :func:`_specialised`), so its steps run no branch on the options (but one: an
    antiLM that stops before the reply does skips the language model past its `antilm_steps`).
    ``stats``, when given, receives ``steps`` (steps run), ``row_steps`` (rows x steps the network
    ran), ``sampled`` (rows x steps sampled) and ``fallbacks`` (of those, the ones whose nucleus
    did not fit in the first of the ``candidates``: 1 sorts every row, as before the candidates)."""
    batch, k = tf.shape(encoder_ids)[0], opts["beam_width"]
    sampling = _known(opts["temperature"], lambda x: x > 0.0)
    settings = {"model": model, "encoder_ids": encoder_ids, "steps": max_len, "opts": opts, "never": _never(batch * k)}
    settings["counting"] = stats is not None

    def rows(sampling, use_lm):
        return _decode_rows(**settings, sampling=sampling, use_lm=use_lm, candidates=candidates)

    def either(by_rows, use_lm):
        if by_rows:
            return _specialised(functools.partial(rows, use_lm=use_lm), sampling=sampling)
        return _decode_beams(**settings, use_lm=use_lm)

    by_rows = _either(sampling, _known(k, lambda x: x == 1))
    use_lm = _known(opts["antilm_weight"], lambda x: x > 0.0)
    seqs, lengths, scores, model_scores, counts = _specialised(either, by_rows=by_rows, use_lm=use_lm)
    if stats is not None:
        stats.update(zip(("steps", "row_steps", "sampled", "fallbacks"), counts))
    rerank = _known(opts["mmi_rerank"], lambda w: w > 0.0)
    scores = _specialised(functools.partial(_reranked, model, seqs, lengths, scores, opts["mmi_rerank"]), rerank=rerank)
    seqs = tf.reshape(seqs, [batch, k, max_len])
    lengths, scores, model_scores = (tf.reshape(x, [batch, k]) for x in (lengths, scores, model_scores))
    norm = tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, opts["length_penalty"])
    ranked = scores / norm
    order = tf.argsort(ranked, axis=1, direction="DESCENDING", stable=True)
    ids = tf.gather(seqs, order, batch_dims=1)
    lengths = tf.gather(lengths, order, batch_dims=1)  # tokens emitted, <eos> included when emitted
    mean_log_prob = tf.gather(model_scores, order, batch_dims=1) / tf.cast(tf.maximum(lengths, 1), tf.float32)
    return ids, lengths, tf.gather(ranked, order, batch_dims=1), mean_log_prob


def _reranked(model, seqs: tf.Tensor, lengths: tf.Tensor, scores: tf.Tensor, weight: tf.Tensor, rerank: bool) -> tf.Tensor:
    """``scores`` [rows] minus ``weight`` times each hypothesis' log-probability (``seqs`` [rows,
    steps], its first ``lengths`` tokens) under the reply language model, the decoder from an empty
    input, teacher-forced (MMI reranking); ``scores`` itself without ``rerank``."""
    if not rerank:
        return scores
    rows, steps = tf.shape(seqs)[0], tf.shape(seqs)[1]
    decoder_ids = tf.concat([tf.fill([rows, 1], tf.constant(features.BOS_ID, seqs.dtype)), seqs[:, :-1]], axis=1)
    token_log_probs, _ = teacher_forced(model, tf.zeros([rows, 1], seqs.dtype), decoder_ids, seqs)
    in_reply = tf.sequence_mask(lengths, steps)
    return scores - weight * tf.reduce_sum(tf.where(in_reply, token_log_probs, 0.0), axis=1)


def _known(value: tf.Tensor, test) -> bool | tf.Tensor:
    """``test(value)``: a Python bool when ``value`` is known as the graph is built (an option the
    signature fixes, as ``serving_default`` fixes all of them), else a boolean tensor."""
    static = tf.get_static_value(value)
    return bool(test(static)) if static is not None else test(value)


def _either(a: bool | tf.Tensor, b: bool | tf.Tensor) -> bool | tf.Tensor:
    """``a or b`` for flags that are Python bools or boolean tensors."""
    if a is True or b is True:
        return True
    if a is False or b is False:
        return b if a is False else a
    return tf.logical_or(a, b)


def _specialised(fn, **flags):
    """``fn(**flags)`` with every flag a Python bool, so that the loop ``fn`` builds holds no branch
    on a flag: a flag known as the graph is built picks its variant there; a flag known only at run
    time becomes one ``tf.cond`` between the variants, outside the loop."""
    if not flags:
        return fn()
    name = next(iter(flags))
    flag, rest = flags[name], {key: value for key, value in flags.items() if key != name}
    if isinstance(flag, bool):
        return _specialised(functools.partial(fn, **{name: flag}), **rest)
    return tf.cond(
        flag,
        lambda: _specialised(functools.partial(fn, **{name: True}), **rest),
        lambda: _specialised(functools.partial(fn, **{name: False}), **rest),
    )


def _start(model, encoder_ids: tf.Tensor, k: tf.Tensor, use_lm: bool):
    """The decoder's start: (state, memory) of each input repeated ``k`` times, and with
    ``use_lm`` those of the reply language model (the same decoder from an empty input) for
    MMI-antiLM (else empty)."""
    state, memory = model.encode(_without_padding(encoder_ids))
    state, memory = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), (state, memory))
    if not use_lm:
        return state, memory, (), ()
    rows = tf.shape(encoder_ids)[0] * k
    lm_state, lm_memory = model.encode(tf.zeros([1, 1], encoder_ids.dtype))
    lm_state, lm_memory = tf.nest.map_structure(lambda x: tf.repeat(x, rows, axis=0), (lm_state, lm_memory))
    return state, memory, lm_state, lm_memory


def _without_padding(encoder_ids: tf.Tensor) -> tf.Tensor:
    """``encoder_ids`` [batch, MAX_LEN] without the trailing columns that are padding in every row
    (at least one column): the encoder runs over the batch's longest input, not over MAX_LEN. The
    inputs are right-padded and masked, so the states and the attention over the inputs are the
    same."""
    position = tf.range(1, tf.shape(encoder_ids)[1] + 1)[tf.newaxis, :]
    longest = tf.reduce_max(tf.where(tf.not_equal(encoder_ids, features.PAD_ID), position, 1))
    return encoder_ids[:, :longest]


def _invariants(**tensors):
    """Loop shape invariants: the first dimension of every tensor (rows) may change."""
    return [
        (x, tf.nest.map_structure(lambda t: tf.TensorShape([None, *t.shape[1:]]), x))
        for x in tensors.values()
        if tf.nest.flatten(x)
    ]


def _adjusted(model, log_probs, token, lm, seqs, t, opts, never):
    """The step's ranking scores [rows, vocab]: the model's log-probabilities, minus the reply
    language model's (MMI-antiLM, when ``lm`` holds its (state, memory)) for the first
    ``antilm_steps`` tokens, with the banned tokens (:func:`_bans`) at NEG_INF; and the language
    model's new state."""
    adjusted, lm_state = log_probs, ()
    if lm:
        antilm = functools.partial(_antilm, model, log_probs, token, lm, opts["antilm_weight"], seqs, t)
        if _known(opts["antilm_steps"], lambda s: s >= seqs.shape[-1]) is True:  # the whole reply: no branch
            adjusted, lm_state = antilm()
        else:
            adjusted, lm_state = tf.cond(t < opts["antilm_steps"], antilm, lambda: (log_probs, lm[0]))
    return _forbid(adjusted, _bans(seqs, token, t, opts, never)), lm_state


def _antilm(model, log_probs, token, lm, weight, seqs, t):
    """``log_probs`` minus ``weight`` times the reply language model's step from ``lm`` (its
    (state, memory)), and that model's new state. Run only for the first ``antilm_steps`` tokens:
    past them the language model's state is never read again, so its step is skipped.

    The language model sees the reply so far and nothing else, so the rows whose replies so far
    (``seqs``' first ``t`` tokens) are the same have the same state and step: it runs once per
    distinct reply so far (one row at the first step, a few dozen at the second in a batch of 64).
    A word the reply already has gets no bonus (:func:`_no_bonus_again`)."""
    so_far = tf.strings.reduce_join(tf.strings.as_string(seqs[:, :t]), axis=1, separator=" ")
    distinct, row_of = tf.unique(so_far, out_idx=tf.int32)
    first = tf.math.unsorted_segment_min(tf.range(tf.shape(so_far)[0]), row_of, tf.shape(distinct)[0])
    lm_log_probs, lm_state = _log_probs(model, tf.gather(token, first), *_rows(first, lm))
    adjusted = _no_bonus_again(log_probs - weight * tf.gather(lm_log_probs, row_of), log_probs, seqs, t)
    return adjusted, _rows(row_of, lm_state)


def _no_bonus_again(adjusted, log_probs, seqs, t):
    """``adjusted`` with the model's own ``log_probs`` back for every word of the reply so far
    (``seqs``' first ``t`` tokens). The antiLM rewards what the language model finds unlikely,
    the input's own words above all, and rewarded them again and again: 63 % of the default
    decoder's eval replies said a content word twice ("police officer police detective"), the
    references 17 %. Saying it once is what the antiLM is for; saying it again is the model's call."""
    rows = tf.shape(seqs)[0]
    said = tf.stack([tf.repeat(tf.range(rows), t), tf.reshape(tf.cast(seqs[:, :t], tf.int32), [-1])], axis=1)
    return tf.tensor_scatter_nd_update(adjusted, said, tf.gather_nd(log_probs, said))


def _tally(counts, rows, sampled, wide):
    """The counters (steps, row_steps, sampled, fallbacks) after a step; ``()`` when not counting."""
    if not counts:
        return counts
    return (counts[0] + 1, counts[1] + rows, counts[2] + sampled, counts[3] + wide)


def _rows(index: tf.Tensor, tensors):
    """The rows ``index`` of every tensor in the structure ``tensors``."""
    return tf.nest.map_structure(lambda x: tf.gather(x, index), tensors)


def _decode_rows(model, encoder_ids, steps: int, opts, never, candidates, sampling: bool, use_lm: bool, counting: bool):
    """Every row decoded on its own, sampled (``sampling``) or greedy. Only the live rows (no
    ``<eos>`` yet) run: the state, the attention memory and the row seeds shrink as rows finish.
    Returns (seqs [rows, steps], lengths, scores, model_scores [rows], counts)."""
    rows = tf.shape(encoder_ids)[0] * opts["beam_width"]
    state, memory, lm_state, lm_memory = _start(model, encoder_ids, opts["beam_width"], use_lm)
    row_seeds = _row_seeds(encoder_ids, opts["beam_width"], opts["seed"]) if sampling else ()
    filtered = _either(_known(opts["top_k"], lambda k: k > 0), _known(opts["top_p"], lambda p: p < 1.0))
    live = tf.range(rows)  # the row of each live hypothesis
    token = tf.fill([rows], tf.constant(features.BOS_ID, tf.int64))
    seqs = tf.zeros([rows, steps], tf.int64)
    lengths = tf.zeros([rows], tf.int32)
    scores, model_scores = tf.zeros([rows]), tf.zeros([rows])
    counts = (tf.constant(0),) * 4 if counting else ()
    for t in tf.range(steps):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=_invariants(
                live=live, token=token, state=state, memory=memory, lm_state=lm_state, lm_memory=lm_memory, seeds=row_seeds
            )
        )
        log_probs, state = _log_probs(model, token, state, memory)
        lm = (lm_state, lm_memory) if use_lm else ()
        adjusted, lm_state = _adjusted(model, log_probs, token, lm, tf.gather(seqs, live), t, opts, never)
        if sampling:
            token, wide = sample_filtered(
                adjusted, opts["temperature"], opts["top_k"], opts["top_p"], row_seeds, t, opts["seed"], candidates, filtered
            )
            counts = _tally(counts, tf.shape(live)[0], tf.shape(live)[0], wide)
        else:
            token = tf.argmax(adjusted, axis=1, output_type=tf.int64)
            counts = _tally(counts, tf.shape(live)[0], 0, 0)
        at = live[:, tf.newaxis]
        scores = tf.tensor_scatter_nd_add(scores, at, tf.gather(adjusted, token, batch_dims=1))
        model_scores = tf.tensor_scatter_nd_add(model_scores, at, tf.gather(log_probs, token, batch_dims=1))
        lengths = tf.tensor_scatter_nd_add(lengths, at, tf.ones_like(live))
        seqs = tf.tensor_scatter_nd_update(seqs, tf.stack([live, tf.fill(tf.shape(live), t)], axis=1), token)
        going = tf.where(tf.not_equal(token, features.EOS_ID))[:, 0]
        live, token, state, memory, row_seeds, lm_state, lm_memory = _rows(
            going, (live, token, state, memory, row_seeds, lm_state, lm_memory)
        )
        if tf.shape(live)[0] == 0:
            break
    return seqs, lengths, scores, model_scores, counts or (tf.constant(0),) * 4


def top_k_by_blocks(scores: tf.Tensor, k: tf.Tensor, blocks: int = 128) -> tuple[tf.Tensor, tf.Tensor]:
    """``tf.math.top_k(scores, k)`` for a small k, ties broken the same way (lower index first),
    reading the row once: the maximum of each of ``blocks`` blocks of the vocabulary, the k best
    blocks (in index order), then the k best of their entries. The k best entries lie in the k
    blocks with the best maxima, so this is exact; it is faster than TopKV2 over the whole row."""
    rows, vocab = tf.shape(scores)[0], tf.shape(scores)[1]
    blocks = tf.maximum(blocks, k)  # at least k blocks to choose from
    width = (vocab + blocks - 1) // blocks
    padded = tf.pad(scores, [[0, 0], [0, blocks * width - vocab]], constant_values=scores.dtype.min)
    grid = tf.reshape(padded, [rows, blocks, width])
    _, best_blocks = tf.math.top_k(tf.reduce_max(grid, axis=2), k=k)
    best_blocks = tf.sort(best_blocks, axis=1)  # index order: ties keep the lower index first
    candidates = tf.reshape(tf.gather(grid, best_blocks, batch_dims=1), [rows, k * width])
    values, at = tf.math.top_k(candidates, k=k)
    return values, tf.gather(best_blocks, at // width, batch_dims=1) * width + at % width


def _best_continuations(adjusted, open_rows, scores, pad_only):
    """The best k of each input's k beams x vocabulary continuations: (their scores [inputs, k],
    the beam each continues, the token each adds). They are among each beam's own best k: a
    selection per open row (``adjusted`` [open rows, vocab]; ``open_rows``: their place in the
    [inputs x k] grid), then one over the k x k, instead of passes over [inputs, k x vocab].
    A finished beam continues with <pad> alone, at no cost."""
    n, k = tf.shape(scores)[0], tf.shape(scores)[1]
    values, ids = top_k_by_blocks(adjusted, k)
    at = open_rows[:, tf.newaxis]
    values = tf.tensor_scatter_nd_update(tf.tile(pad_only, [n * k, 1]), at, values)
    ids = tf.tensor_scatter_nd_update(tf.fill([n * k, k], tf.constant(features.PAD_ID, tf.int32)), at, ids)
    total = tf.reshape(scores[:, :, tf.newaxis] + tf.reshape(values, [n, k, k]), [n, k * k])
    best, top = tf.math.top_k(total, k=k)
    return best, top // k, tf.cast(tf.gather(tf.reshape(ids, [n, k * k]), top, batch_dims=1), tf.int64)


def _empty_beams(batch, k, steps: int):
    """(scores, model scores, finished, lengths [batch, k], seqs [batch, k, steps]) before the
    first step: only beam 0 is live (the others would duplicate it)."""
    scores = tf.tile(tf.where(tf.range(k) == 0, 0.0, NEG_INF)[tf.newaxis, :], [batch, 1])
    return (
        scores,
        tf.zeros([batch, k]),
        tf.zeros([batch, k], tf.bool),
        tf.zeros([batch, k], tf.int32),
        tf.zeros([batch, k, steps], tf.int64),
    )


def _open_rows(finished):
    """The open beams of ``finished`` [inputs, k]: their places in the [inputs x k] grid, and the
    place of each grid row among them (meaningful for open rows only)."""
    is_open = tf.logical_not(tf.reshape(finished, [-1]))
    return tf.where(is_open)[:, 0], tf.cumsum(tf.cast(is_open, tf.int64)) - 1


def _still_open(finished, rows, position):
    """The inputs with a beam still open (``going``), their open beams' tokens' places in the
    step's new tokens (``kept``: [inputs x k] grid), and, for each of those beams, the open row of
    the previous step it continues (its state, memory and log-probabilities)."""
    k = tf.shape(finished)[1]
    going = tf.where(tf.logical_not(tf.reduce_all(finished, axis=1)))[:, 0]
    kept = tf.reshape(tf.cast(going, tf.int32)[:, tf.newaxis] * k + tf.range(k)[tf.newaxis, :], [-1])
    open_kept = tf.gather(kept, _open_rows(tf.gather(finished, going))[0])
    return going, open_kept, tf.gather(position, tf.gather(rows, open_kept))


def _decode_beams(model, encoder_ids, steps: int, opts, never, use_lm: bool, counting: bool):
    """Beam search of width ``beam_width`` (> 1): each step keeps the best ``beam_width`` of every
    input's hypotheses x tokens. Only open beams run the network: a finished beam (it emitted
    ``<eos>``) would only add ``<pad>`` at no cost, so the state, the attention memory and the
    step's log-probabilities are kept for the open beams alone, and an input whose beams have all
    finished leaves the loop. Returns (seqs [rows, steps], lengths, scores, model_scores [rows], counts)."""
    batch, k = tf.shape(encoder_ids)[0], opts["beam_width"]
    state, memory, lm_state, lm_memory = _start(model, encoder_ids, k, use_lm)
    live = tf.range(batch)  # the inputs still decoding
    token = tf.fill([batch * k], tf.constant(features.BOS_ID, tf.int64))  # of the open beams, in grid order
    scores, model_scores, finished, lengths, seqs = _empty_beams(batch, k, steps)
    pad_only = tf.where(tf.range(k) == 0, 0.0, NEG_INF)[tf.newaxis, :]  # a finished beam's k continuations
    counts = (tf.constant(0),) * 4 if counting else ()
    for t in tf.range(steps):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=_invariants(
                live=live, token=token, state=state, memory=memory, lm_state=lm_state, lm_memory=lm_memory
            )
        )
        n = tf.shape(live)[0]  # not tf.size: with a static batch, Grappler folds it to the first size
        live_finished = tf.gather(finished, live)
        open_rows, position = _open_rows(live_finished)
        counts = _tally(counts, tf.shape(open_rows)[0], 0, 0)
        log_probs, state = _log_probs(model, token, state, memory)
        live_seqs = tf.gather(seqs, live)
        open_seqs = tf.gather(tf.reshape(live_seqs, [n * k, steps]), open_rows)
        lm = (lm_state, lm_memory) if use_lm else ()
        adjusted, lm_state = _adjusted(model, log_probs, token, lm, open_seqs, t, opts, never)
        live_scores, parent, new_token = _best_continuations(adjusted, open_rows, tf.gather(scores, live), pad_only)
        parent_finished = tf.gather(live_finished, parent, batch_dims=1)
        rows = tf.reshape(parent + (tf.range(n) * k)[:, tf.newaxis], [-1])  # the grid row each new beam continues
        chosen = tf.stack([tf.maximum(tf.gather(position, rows), 0), tf.reshape(new_token, [-1])], axis=1)
        model_step = tf.where(parent_finished, 0.0, tf.reshape(tf.gather_nd(log_probs, chosen), [n, k]))
        at = live[:, tf.newaxis]
        scores = tf.tensor_scatter_nd_update(scores, at, live_scores)
        model_scores = tf.tensor_scatter_nd_update(
            model_scores, at, tf.gather(tf.gather(model_scores, live), parent, batch_dims=1) + model_step
        )
        step_token = tf.one_hot(t, steps, dtype=tf.int64)[tf.newaxis, tf.newaxis, :] * new_token[:, :, tf.newaxis]
        seqs = tf.tensor_scatter_nd_update(seqs, at, tf.gather(live_seqs, parent, batch_dims=1) + step_token)
        live_lengths = tf.gather(tf.gather(lengths, live), parent, batch_dims=1)
        lengths = tf.tensor_scatter_nd_update(lengths, at, live_lengths + tf.cast(tf.logical_not(parent_finished), tf.int32))
        live_finished = tf.logical_or(parent_finished, tf.equal(new_token, features.EOS_ID))
        finished = tf.tensor_scatter_nd_update(finished, at, live_finished)
        going, kept, previous = _still_open(live_finished, rows, position)
        live, token = tf.gather(live, going), tf.gather(tf.reshape(new_token, [-1]), kept)
        state, memory, lm_state, lm_memory = _rows(previous, (state, memory, lm_state, lm_memory))
        if tf.shape(live)[0] == 0:
            break
    counts = counts or (tf.constant(0),) * 4
    return (
        tf.reshape(seqs, [batch * k, steps]),
        tf.reshape(lengths, [-1]),
        tf.reshape(scores, [-1]),
        tf.reshape(model_scores, [-1]),
        counts,
    )
