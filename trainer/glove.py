"""GloVe embeddings aligned to the Transform vocabulary (the tutorial's embedding_matrix).

Row ``i`` of the matrix is the vector of the token with id ``i``: ``<pad>`` is zeros, the
other reserved tokens and the words GloVe lacks are drawn at random with GloVe's own scale,
and every vocabulary word GloVe has gets its GloVe vector. The standard text format is read:
one word, then its floats, space separated, UTF-8 (gzip-compressed when the name ends in
``.gz``). A relative path that does not exist from the working directory is looked up in
the project (:func:`resolve`), so the default file shipped in ``trainer/assets`` is found
wherever the project is installed (a pipeline image included). A line with the wrong number of values or
a value that is not a number is an error naming the file and line.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common import features

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where relative asset paths are looked up


class GloveError(ValueError):
    """The GloVe file is not in the expected format."""


@dataclasses.dataclass(frozen=True)
class GloveMatrix:
    matrix: np.ndarray  # [vocabulary size, dim], float32
    found: int  # vocabulary words (reserved tokens excluded) with a GloVe vector
    words: int  # vocabulary words (reserved tokens excluded)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def coverage(self) -> float:
        return self.found / self.words if self.words else 0.0

    def summary(self) -> dict[str, float]:
        return {"dim": self.dim, "vocabulary_words": self.words, "found": self.found, "coverage": self.coverage}


def resolve(path: str) -> str:
    """``path`` as given, or, when it is relative and only exists inside the project, there."""
    if not path or "://" in path or os.path.isabs(path) or os.path.exists(path):
        return path
    inside = PROJECT_ROOT / path
    return str(inside) if inside.exists() else path


def read_glove(path: str | os.PathLike[str], wanted: set | None = None) -> dict[str, np.ndarray]:
    """word -> vector for the words in ``wanted`` (all when None); checks every line."""
    import tensorflow as tf

    vectors: dict[str, np.ndarray] = {}
    dim = None
    name = os.fspath(path)
    if not tf.io.gfile.exists(name):
        raise GloveError(f"{name}: GloVe file not found")
    with tf.io.gfile.GFile(name, "rb") as raw_file:
        f = gzip.GzipFile(fileobj=raw_file) if name.endswith(".gz") else raw_file
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise GloveError(f"{name}:{lineno}: not valid UTF-8") from None
            if not line.strip():
                continue
            word, *values = line.split(" ")
            dim = dim or len(values)
            vector = _vector(values, dim, f"{name}:{lineno}", word)
            if wanted is None or word in wanted:
                vectors.setdefault(word, vector)
    if dim is None:
        raise GloveError(f"{name}: empty GloVe file")
    return vectors


def _vector(values: list[str], dim: int, where: str, word: str) -> np.ndarray:
    """The vector of one line, checked: ``dim`` numbers (the first line's count)."""
    if dim == 0:
        raise GloveError(f"{where}: no vector after the word {word!r}")
    if len(values) != dim:
        raise GloveError(f"{where}: {len(values)} values for {word!r}, expected {dim} (as on line 1)")
    try:
        return np.asarray(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise GloveError(f"{where}: {bad!r} is not a number (word {word!r})") from None


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def aligned_matrix(path: str | os.PathLike[str], id_to_token: Sequence[str], seed: int = 0) -> GloveMatrix:
    """The embedding matrix for ``id_to_token`` (reserved tokens first, as the Transform's ids)."""
    words: list[str] = list(id_to_token[features.NUM_RESERVED :])
    vectors = read_glove(path, set(words))
    if not vectors:  # nothing in common: still learn the dimension and scale from the file
        sample = read_glove(path)
        vectors_for_scale = np.stack(list(sample.values())[:10_000])
    else:
        vectors_for_scale = np.stack(list(vectors.values()))
    dim = vectors_for_scale.shape[1]
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, float(vectors_for_scale.std()), size=(len(id_to_token), dim)).astype(np.float32)
    matrix[features.PAD_ID] = 0.0
    found = 0
    for i, word in enumerate(words, start=features.NUM_RESERVED):
        vector = vectors.get(word)
        if vector is not None:
            matrix[i] = vector
            found += 1
    return GloveMatrix(matrix, found, len(words))
