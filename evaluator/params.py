"""The Evaluator's blessing bounds (see :mod:`common.settings`)."""

from __future__ import annotations

import dataclasses

from common.settings import check, setting


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings:
    """Absolute bounds on the test split, and a change bound against the served baseline."""

    min_masked_accuracy: float = setting(
        0.05, "blessing bound on masked token accuracy", low=0.0, high=1.0, flag="--min-accuracy"
    )
    max_perplexity: float = setting(1_000.0, "blessing bound on perplexity", above=0.0)
    max_perplexity_increase: float = setting(
        0.02, "blessing bound on perplexity vs the last blessed model, relative (0.02 = at most 2 % worse)", low=0.0
    )
    max_top_reply_share: float = setting(
        0.8,
        "blessing bound on the most frequent greedy reply's share of the test replies "
        "(a collapsed model says one thing to everyone)",
        above=0.0,
        high=1.0,
    )

    def __post_init__(self) -> None:
        check(self)

    def describe(self) -> str:
        """The bounds in words, for a run that was not blessed."""
        return (
            f"masked token accuracy >= {self.min_masked_accuracy}, perplexity <= {self.max_perplexity}, "
            f"perplexity at most {self.max_perplexity_increase:.0%} above the last blessed model's, "
            f"most frequent reply <= {self.max_top_reply_share:.0%} of the replies"
        )
