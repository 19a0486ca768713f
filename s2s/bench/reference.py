"""The tutorial's preprocessing in plain Python, for parity tests and benchmarks ONLY.

The pipeline never calls this module: its preprocessing is the Transform graph
(:mod:`transforms.preprocessing`). This is the in-memory way the tutorial does it —
``clean_text``, ``<bos>``/``<eos>`` tagging, a frequency-ranked vocabulary cut at VOCAB_SIZE,
words to ids, post-padding and truncation — written so that it must agree with the graph
token for token and id for id (``tests/test_parity.py``). It shares the contraction list with
the graph (one list, two regex engines: Python's ``regex`` here, RE2 in TensorFlow) and mirrors
RE2's semantics where Python's differ: ``\\b``/``\\B`` and ``\\s`` are ASCII-only, ``$`` is the end
of the text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import regex

from common import features
from transforms.preprocessing import APOSTROPHES, CONTRACTIONS, CONTROL, NOT_WORD


def _py(pattern: str) -> regex.Pattern:
    """An RE2 pattern of transforms.preprocessing in Python's regex syntax."""
    pattern = regex.sub(r"\\x\{([0-9a-fA-F]+)\}", lambda m: f"\\U{int(m.group(1), 16):08x}", pattern)
    pattern = pattern.replace(r"\b", r"(?a:\b)").replace(r"\B", r"(?a:\B)")  # RE2's are ASCII-only
    return regex.compile(pattern.replace("$", r"\Z"), flags=regex.V0)


_CONTROL = _py(CONTROL)
_APOSTROPHES = _py(APOSTROPHES)
_CONTRACTIONS = [(_py(p), r.replace("\\1", r"\1")) for p, r in CONTRACTIONS]
_NOT_WORD = _py(NOT_WORD.replace(r"\s", r"\t\n\f\r "))


def clean_text(text: str) -> str:
    text = _APOSTROPHES.sub("'", _CONTROL.sub(" ", text).lower())
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return _NOT_WORD.sub(" ", text)


def tokenize(text: str) -> list[str]:
    # After clean_text the only whitespace left is ASCII: the graph's whitespace split.
    return [t for t in regex.split(r"[\t\n\v\f\r ]+", clean_text(text)) if t]


def build_vocabulary(token_lists: Iterable[Sequence[str]], vocab_size: int, min_frequency: int = 1) -> list[str]:
    """Most frequent first; ties broken as tft.vocabulary does (descending by UTF-8 bytes)."""
    counts = Counter(t for tokens in token_lists for t in tokens)
    ranked = sorted(
        ((n, t) for t, n in counts.items() if n >= min_frequency), key=lambda nt: (nt[0], nt[1].encode()), reverse=True
    )
    return [t for _, t in ranked[:vocab_size]]


def to_ids(tokens: Sequence[str], index: dict) -> list[int]:
    return [index.get(t, features.UNK_ID) for t in tokens]


def pad(ids: Sequence[int], max_len: int) -> np.ndarray:
    out = np.zeros(max_len, dtype=np.int64)
    ids = list(ids)[:max_len]
    out[: len(ids)] = ids
    return out


def preprocess(pairs: Sequence[tuple[str, str]], vocab_size: int, max_len: int, min_frequency: int = 1):
    """(encoder ids, decoder input ids, decoder target ids) arrays and the vocabulary."""
    sources = [tokenize(a) for a, _ in pairs]
    replies = [tokenize(b) for _, b in pairs]
    vocab = build_vocabulary(sources + replies, vocab_size, min_frequency)
    index = {t: i + features.NUM_RESERVED for i, t in enumerate(vocab)}
    enc = np.stack([pad(to_ids(s, index), max_len) for s in sources]) if pairs else np.zeros((0, max_len), np.int64)
    dec_in, dec_out = [], []
    for reply in replies:
        ids = to_ids(reply, index)[: max_len - 1]
        dec_in.append(pad([features.BOS_ID] + ids, max_len))
        dec_out.append(pad(ids + [features.EOS_ID], max_len))
    shape = (0, max_len)
    return (
        enc,
        np.stack(dec_in) if dec_in else np.zeros(shape, np.int64),
        np.stack(dec_out) if dec_out else np.zeros(shape, np.int64),
        vocab,
    )
