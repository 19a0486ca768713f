"""The decoding options: one definition, with bounds and help, free of TensorFlow.

The graph (:mod:`trainer.decoding`), the exported ``generate`` signature, the gRPC client and
the chat command all take their option names, defaults, dtypes and bounds from here.
"""

from __future__ import annotations

import dataclasses

from common.settings import check, kind, setting

MAX_BEAM_WIDTH = 16
# Rows one request may decode at once (messages x hypotheses, twice with MMI-antiLM): the
# production batch (64 messages) at the widest beam, or at half of it with MMI-antiLM.
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
    distinct-n score). Chosen on the eval split of the Cornell copy (README, "Decoding"):
    two samples at temperature 0.7 from the 0.9 nucleus, at least 4 words, no repeated bigram
    and no word twice in a row, the better of them by length-normalised log-probability (GNMT
    penalty 2). Two samples, not four (#22, #25): on the eval split distinct-2 went up, the most
    frequent reply and the distance of fluency from the references' down, BLEU-2 down by a
    sixth, and at batch 64 the decoder costs 3.6x greedy instead of 6x."""

    beam_width: int = setting(
        2, "hypotheses per message: the beam's width, or the number of samples when sampling", low=1, high=MAX_BEAM_WIDTH
    )
    temperature: float = setting(
        0.7, "0 = search (greedy / beam); > 0 samples from the softmax at that temperature", low=0.0, high=10.0
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
        0.0, "MMI-antiLM: weight of the reply language model subtracted from the score (0 = off)", low=0.0, high=10.0
    )
    antilm_steps: int = setting(0, "MMI-antiLM: how many first reply tokens the penalty applies to", low=0, high=100)
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
# involved. The Evaluator's collapse check (the most frequent reply's share) reads these
# replies: sampling would hide a model that says the same thing to everyone.
GREEDY = DecodeOptions(beam_width=1, temperature=0.0, top_p=1.0, no_repeat_ngram=3, min_length=1, length_penalty=0.0)

# The dtype of each option in the generate signature, its bounds and its help.
_FIELDS = dataclasses.fields(DecodeOptions)
DTYPES = {f.name: "float32" if kind(DecodeOptions, f.name) is float else "int32" for f in _FIELDS}
BOUNDS = {f.name: (f.metadata["low"], f.metadata["high"]) for f in _FIELDS}
HELP = {f.name: f.metadata["help"] for f in _FIELDS}
# The beam_search signature's default width (and `s2s evaluate`'s, the quality bench's beam):
# wider than the default decoder's two samples, because a beam's hypotheses are ranked together.
DEFAULT_BEAM_WIDTH = 4
# Beam search as the beam_search signature runs it (the request sets the width): the default
# decoder's bans, no sampling. Session 11 added MMI-antiLM (weight 0.35 over the whole reply): on a
# model that read one line, plain beam search gave "i do not know" to 59 % of held-out inputs. The
# model that reads the previous line as well (the Transform's context_len, the default since
# session 12) gives its most frequent beam reply to 6.0 % of the eval split's inputs (5.0 % of the
# test split's) without antiLM, and antiLM 0.35 turned its beams into salad (fluency -5.41 against
# the references' -4.82: "police department police officer investigator ..."), so beam search is
# plain again: one row per beam (README, "Context").
BEAM_SEARCH = DecodeOptions(beam_width=DEFAULT_BEAM_WIDTH, temperature=0.0)
# Rows the default decoder (serving_default) decodes per message.
DEFAULT_SAMPLES = DecodeOptions().beam_width
