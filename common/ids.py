"""Reading the Transform's id sequences outside the graph (NumPy): where a reply ends, and
how many tokens are out of the vocabulary. One place for both, used by the Trainer's data
report, the Evaluator's metrics and ``s2s evaluate``."""

from __future__ import annotations

from collections.abc import Iterable

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
