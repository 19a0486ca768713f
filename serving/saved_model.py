"""The exported chatbot, loaded in-process with TensorFlow (no model server involved).

Used by ``s2s run`` to show replies of the pushed model, and by the tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from common import names
from common.serving_layout import versions


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


class ModelError(ValueError):
    """The path holds no usable chatbot SavedModel (missing, corrupt, or without a needed signature)."""


def load_checked(path: str | os.PathLike[str], signatures: Sequence[str] = (names.SERVING_SIGNATURE,)):
    """Loads the SavedModel at ``path`` (or the newest version under it).

    Args:
        path: a version directory, or ``<serving dir>/<model name>``.
        signatures: the signatures the caller needs.

    Returns:
        (version directory, loaded model).

    Raises:
        ModelError: one line saying what is wrong with the model.
    """
    import tensorflow as tf

    try:
        version = resolve_model_path(path)
    except FileNotFoundError as exc:
        raise ModelError(str(exc)) from None
    try:
        model = tf.saved_model.load(str(version))
    except Exception as exc:  # noqa: BLE001 - protobuf, TF and OS errors all mean "not loadable"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{version}: not a loadable SavedModel ({type(exc).__name__}: {first[:200]})") from None
    missing = [s for s in signatures if s not in model.signatures]
    if missing:
        has = ", ".join(sorted(model.signatures)) or "none"
        raise ModelError(f"{version}: not a seq2seq-tfx chatbot export: no signature {', '.join(missing)} (has: {has})")
    return version, model


class Chatbot:
    """Calls the exported ``serving_default`` signature on a batch of strings."""

    def __init__(self, path: str | os.PathLike[str]):
        import tensorflow as tf

        self.path, self._model = load_checked(path)
        self._tf = tf
        self._serve = self._model.signatures[names.SERVING_SIGNATURE]

    def reply(self, messages: Sequence[str]) -> list[str]:
        out = self._serve(**{names.SERVING_INPUT_KEY: self._tf.constant(list(messages), self._tf.string)})
        return [r.decode("utf-8") for r in out["reply"].numpy()]
