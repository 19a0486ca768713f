"""The decoding options: one definition, with bounds and help, free of TensorFlow.

The graph (:mod:`trainer.decoding`), the exported ``generate`` signature, the gRPC client and
the chat command all take their option names, defaults, dtypes and bounds from here.
"""

from __future__ import annotations

import dataclasses

MAX_BEAM_WIDTH = 16


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """A decoder: every field is a request parameter of the ``generate`` signature, and the
    defaults are what ``serving_default`` answers with (and what the Evaluator's BLEU and
    distinct-n score). Chosen on the eval split of the Cornell copy (README, "Decoding"):
    four samples at temperature 0.7 from the 0.9 nucleus, at least 4 words, no repeated
    trigram, the best of them by length-normalised log-probability (GNMT penalty 2). Of the
    decoders tried it met every reply goal (most frequent reply, distinct-2, loops, length)
    with the BLEU-2 closest to plain greedy decoding's."""

    beam_width: int = 4
    temperature: float = 0.7
    top_k: int = 0
    top_p: float = 0.9
    seed: int = 0
    no_repeat_ngram: int = 3
    min_length: int = 4
    length_penalty: float = 2.0
    antilm_weight: float = 0.0
    antilm_steps: int = 0

    def validate(self) -> None:
        """Raises ValueError naming the first field out of its bounds (the graph checks the same)."""
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")



# Greedy decoding with trigram blocking: the model's single most likely reply, with no chance
# involved. The Evaluator's collapse check (the most frequent reply's share) reads these
# replies: sampling would hide a model that says the same thing to everyone.
GREEDY = DecodeOptions(beam_width=1, temperature=0.0, top_p=1.0, no_repeat_ngram=3, min_length=1, length_penalty=0.0)

# The dtype of each option in the generate signature.
DTYPES = {f.name: "float32" if f.type in ("float", float) else "int32" for f in dataclasses.fields(DecodeOptions)}
BOUNDS = {
    "beam_width": (1, MAX_BEAM_WIDTH),
    "temperature": (0.0, 10.0),
    "top_k": (0, 1_000_000),
    "top_p": (1e-6, 1.0),
    "seed": (-(2**31), 2**31 - 1),
    "no_repeat_ngram": (0, 100),
    "min_length": (0, 100),
    "length_penalty": (0.0, 10.0),
    "antilm_weight": (0.0, 10.0),
    "antilm_steps": (0, 100),
}
HELP = {
    "beam_width": "hypotheses per message: the beam's width, or the number of samples when sampling",
    "temperature": "0 = search (greedy / beam); > 0 samples from the softmax at that temperature",
    "top_k": "when sampling, only the k most likely tokens (0 = all)",
    "top_p": "when sampling, only the smallest set of tokens whose probability reaches p (1 = all)",
    "seed": "when sampling, the random seed (the same seed gives the same reply)",
    "no_repeat_ngram": "never repeat an n-gram of this size within a reply (0 = off)",
    "min_length": "no <eos> before this many reply tokens",
    "length_penalty": "GNMT length normalisation exponent of the final ranking (0 = plain sum)",
    "antilm_weight": "MMI-antiLM: weight of the reply language model subtracted from the score (0 = off)",
    "antilm_steps": "MMI-antiLM: how many first reply tokens the penalty applies to",
}
