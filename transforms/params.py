"""The Transform's settings (see :mod:`common.settings`): typed execution properties of
the Transform component, Kubeflow run parameters and ``s2s run`` flags, all derived from here."""

from __future__ import annotations

import dataclasses

from common.settings import check, setting


@dataclasses.dataclass(frozen=True)
class TransformSettings:
    vocab_size: int = setting(15_000, "vocabulary size, reserved tokens excluded", low=1)
    min_frequency: int = setting(1, "minimum word frequency in the vocabulary", low=1)
    max_len: int = setting(20, "tokens per side after padding/truncation (<bos>/<eos> take a step)", low=2)
    context_len: int = setting(
        40,
        "last tokens of the conversation's previous lines (the ExampleGen's context_lines) the encoder reads before "
        "the input, joined by <eos> (0 = none)",
        low=0,
        high=200,
    )

    def __post_init__(self) -> None:
        check(self)
