"""The exported chatbot, loaded in-process with TensorFlow (no model server involved).

Used by ``s2s run`` to show replies of the pushed model, and by the tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from components import features as C
from components.serving_layout import versions


def version_dirs(model_dir: str | os.PathLike[str]) -> list[Path]:
    """Numeric version directories of ``<serving dir>/<model name>``, oldest first."""
    return [Path(model_dir) / str(v) for v in versions(model_dir)]


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """A SavedModel directory, or the newest version under a model directory."""
    p = Path(path)
    if (p / "saved_model.pb").is_file():
        return p
    versions = [v for v in version_dirs(p) if (v / "saved_model.pb").is_file()]
    if not versions:
        raise FileNotFoundError(f"{p}: no SavedModel here nor in a numeric version directory under it")
    return versions[-1]


class Chatbot:
    """Calls the exported ``serving_default`` signature on a batch of strings."""

    def __init__(self, path: str | os.PathLike[str]):
        import tensorflow as tf

        self.path = resolve_model_path(path)
        self._tf = tf
        self._model = tf.saved_model.load(str(self.path))
        missing = [s for s in (C.SERVING_SIGNATURE,) if s not in self._model.signatures]
        if missing:
            raise ValueError(f"{self.path}: SavedModel has no signature {', '.join(missing)}")
        self._serve = self._model.signatures[C.SERVING_SIGNATURE]

    def reply(self, messages: Sequence[str]) -> list[str]:
        out = self._serve(**{C.SERVING_INPUT_KEY: self._tf.constant(list(messages), self._tf.string)})
        return [r.decode("utf-8") for r in out["reply"].numpy()]
