"""Reading the Transform's id sequences outside the graph (NumPy): where a reply ends, how
many tokens are out of the vocabulary, and how often the same reply comes back. One place for
each, used by the Trainer (its data report, its per-epoch collapse check), the Evaluator's
metrics and ``s2s evaluate``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from common import features


def until_eos(row: Iterable[int]) -> list[int]:
    """The ids of one padded row up to (not including) the first ``<eos>`` or ``<pad>``."""
    out = []
    for i in np.asarray(row).reshape(-1):
        if i == features.EOS_ID or i == features.PAD_ID:
            break
        out.append(int(i))
    return out


def token_counts(ids: np.ndarray) -> tuple[int, int]:
    """(real tokens, ``<unk>`` tokens) of padded id rows: ``<pad>`` and ``<eos>`` do not count."""
    ids = np.asarray(ids)
    real = (ids != features.PAD_ID) & (ids != features.EOS_ID)
    return int(real.sum()), int((ids == features.UNK_ID).sum())


def top_reply_share(replies: Iterable[Sequence]) -> float:
    """The share of ``replies`` (word lists, or id rows cut by :func:`until_eos`) that are the
    single most frequent reply: 1.0 when one reply answers everything, nan for no replies."""
    counts = Counter(tuple(r) for r in replies)
    total = sum(counts.values())
    return counts.most_common(1)[0][1] / total if total else float("nan")
