"""The reports a run produces, as typed records, each with its writer and its reader side by side.

* :class:`CorpusReport`: what the ExampleGen's corpus loader kept and skipped
  (``load_report.json`` beside the examples);
* :class:`DataReport`: the data the Trainer saw and how training went (``data.json`` in the
  model-run directory);
* :class:`Evaluation`: the Evaluator's verdict and its metrics per slice (read from TFMA's output).

A record is written with ``to_json`` and read with ``from_json`` (a renamed field fails where the
report is written or read, not in a line printed after a finished run); it says itself in one
line (``line``) and in a few words (``figure``), which the run summary, ``s2s status`` and the
console print. Imports nothing of the project but its names.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from common import names


@dataclasses.dataclass(frozen=True)
class CorpusCounts:
    """What the corpus loader counted, by outcome."""

    lines_read: int = 0
    lines_valid: int = 0
    lines_malformed: int = 0
    lines_blank: int = 0
    lines_duplicate_id: int = 0
    utterances_empty: int = 0
    conversations_read: int = 0
    conversations_valid: int = 0
    conversations_malformed: int = 0
    conversations_blank: int = 0
    conversations_with_missing_lines: int = 0
    line_references: int = 0
    line_references_missing: int = 0
    pairs: int = 0
    pairs_skipped_missing_line: int = 0
    pairs_skipped_empty_utterance: int = 0
    titles_read: int = 0
    titles_valid: int = 0
    titles_malformed: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> CorpusCounts:
        """The counts by name (absent ones 0); a name that is not a field is an error, not lost."""
        unknown = sorted(set(counts) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"counts {unknown} are not fields of CorpusCounts (add them there)")
        return cls(**{k: int(v) for k, v in counts.items()})

    @property
    def genres_missing(self) -> bool:
        """Movie metadata was read, yet no movie has genres: the genre slices are empty."""
        return bool(self.titles_read) and not self.titles_valid


@dataclasses.dataclass(frozen=True)
class CorpusReport:
    """The ExampleGen's report: the loader's counts, pairs per split, encodings and where the problems are."""

    counts: CorpusCounts
    split_sizes: dict[str, int]
    encodings: dict[str, str] = dataclasses.field(default_factory=dict)
    problems: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    FILE = names.LOAD_REPORT_FILE

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CorpusReport:
        raw = json.loads(text)
        return cls(CorpusCounts.of(raw["counts"]), raw["split_sizes"], raw.get("encodings", {}), raw.get("problems", {}))

    def figure(self) -> str:
        sizes = ", ".join(f"{k} {v}" for k, v in sorted(self.split_sizes.items()))
        return f"{self.counts.pairs} pairs ({sizes})"

    def line(self) -> str:
        c = self.counts
        return (
            f"corpus: {c.pairs} pairs {dict(sorted(self.split_sizes.items()))}; skipped: {c.lines_malformed} malformed lines, "
            f"{c.lines_blank} blank lines, {c.conversations_malformed} malformed conversations, "
            f"{c.pairs_skipped_missing_line} pairs with a missing line ({c.conversations_with_missing_lines} conversations), "
            f"{c.pairs_skipped_empty_utterance} pairs with an empty utterance; {c.titles_malformed} malformed movie metadata lines"
            + (" (no genres: the Evaluator's genre slices are empty)" if c.genres_missing else "")
        )


@dataclasses.dataclass(frozen=True)
class SplitData:
    """One split as the Trainer reads it."""

    pairs: int
    pairs_longer_than_max_len: int
    oov_share: float


@dataclasses.dataclass(frozen=True)
class Training:
    """How training went: epochs run, the best epoch and what was exported."""

    epochs_run: int
    epochs_max: int
    best_epoch: int
    best_val_perplexity: float | None
    exported: str
    # Greedy's most frequent reply's share of the eval inputs' replies, for the exported epoch
    # (None when the Trainer's collapse check was off).
    top_reply_share: float | None = None
    # Fine-tuning passes after the best epoch (trainer setting finetune_epochs) and the eval
    # perplexity of the weights they leave, the exported ones (None without fine-tuning).
    finetune_epochs: int = 0
    exported_val_perplexity: float | None = None

    def figure(self) -> str:
        if self.best_val_perplexity is None:
            return f"{self.epochs_run} epoch(s)"
        tuned = (
            f", then {self.finetune_epochs} fine-tuning pass{'es' if self.finetune_epochs > 1 else ''}"
            f" (eval perplexity {self.exported_val_perplexity:.1f})"
            if self.finetune_epochs and self.exported_val_perplexity is not None
            else ""
        )
        return (
            f"{self.epochs_run} of {self.epochs_max} epochs, best eval perplexity "
            f"{self.best_val_perplexity:.1f} at epoch {self.best_epoch}" + tuned
        )


@dataclasses.dataclass(frozen=True)
class DataReport:
    """The Trainer's report: vocabulary, the splits, the embedding, devices, and training."""

    vocabulary_size: int
    long_pairs: str  # "dropped" or "truncated"
    train: SplitData
    eval: SplitData
    glove: dict[str, Any] | None
    devices: list[str]
    strategy: str
    dtype_policy: str
    precision: str
    global_batch_size: int
    seed: int
    training: Training | None = None

    FILE = names.DATA_REPORT_FILE

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> DataReport:
        raw = json.loads(text)
        training = raw.pop("training", None)
        return cls(
            **{**raw, "train": SplitData(**raw["train"]), "eval": SplitData(**raw["eval"])},
            training=Training(**training) if training else None,
        )

    def figure(self) -> str:
        return self.training.figure() if self.training else ""

    def lines(self) -> list[str]:
        """The vocabulary and data line, and the training line once there was training."""
        glove = self.glove
        embedding = (
            f"; GloVe {glove['dim']}d for {glove['found']} of {glove['vocabulary_words']} words "
            f"({glove['coverage']:.1%}), {'fine-tuned' if glove['trainable'] else 'frozen'}"
            if glove
            else "; random embedding"
        )
        lines = [
            f"vocabulary: {self.vocabulary_size} ids (reserved tokens included); out-of-vocabulary share of "
            f"eval tokens {self.eval.oov_share:.2%}; pairs longer than max_len ({self.long_pairs}): "
            f"train {self.train.pairs_longer_than_max_len} of {self.train.pairs}, "
            f"eval {self.eval.pairs_longer_than_max_len} of {self.eval.pairs}" + embedding
        ]
        t = self.training
        if t and t.best_val_perplexity is not None:
            lines.append(
                f"training: {t.epochs_run} of {t.epochs_max} epoch(s) on {', '.join(self.devices)} "
                f"({self.strategy.strip('_')}, {self.precision}, global batch {self.global_batch_size}); "
                f"best eval perplexity {t.best_val_perplexity:.1f} at epoch {t.best_epoch}, {t.exported} exported"
                + (f" (eval perplexity {t.exported_val_perplexity:.1f})" if t.exported_val_perplexity is not None else "")
                + (
                    f" (greedy's most frequent reply: {t.top_reply_share:.1%} of the eval replies)"
                    if t.top_reply_share is not None
                    else ""
                )
            )
        return lines


def format_metrics(metrics: Mapping[str, float]) -> str:
    """``name=value, ...`` sorted by name, floats to four significant digits."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The Evaluator's verdict and the candidate's metrics per slice (``overall``: the whole test split)."""

    blessed: bool
    metrics: dict[str, dict[str, float]]

    @property
    def overall(self) -> dict[str, float]:
        return self.metrics.get("overall", {})

    def figure(self) -> str:
        return "BLESSED" if self.blessed else "NOT blessed"

    def line(self) -> str:
        return f"evaluation (test split): {format_metrics(self.overall)}"
