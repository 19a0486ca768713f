"""Settings of the Cornell ExampleGen and of the Pusher (see :mod:`common.settings`)."""

from __future__ import annotations

import dataclasses

from common.settings import check, setting

ENCODINGS = ("auto", "latin-1", "utf-8")


@dataclasses.dataclass(frozen=True)
class ExampleGenSettings:
    """How the corpus is read and split (hash buckets of the movie id, so no movie is in two splits)."""

    corpus_encoding: str = setting("auto", "corpus encoding", choices=ENCODINGS, flag="--encoding")
    train_buckets: int = setting(8, "hash buckets of the movie id that go to the train split", low=1)
    eval_buckets: int = setting(1, "hash buckets of the movie id that go to the eval split", low=1)
    test_buckets: int = setting(1, "hash buckets of the movie id that go to the test split (the Evaluator's)", low=1)
    context_lines: int = setting(
        2,
        "conversation lines before each pair's input written as its context_text, oldest first "
        "(the run of present lines next to the input; the Transform's context_len bounds what the encoder reads)",
        low=0,
        high=10,
    )

    def __post_init__(self) -> None:
        check(self)


@dataclasses.dataclass(frozen=True)
class PusherSettings:
    """What the Pusher keeps in the serving directory."""

    keep_versions: int = setting(3, "model versions kept in the serving directory", low=1)

    def __post_init__(self) -> None:
        check(self)
