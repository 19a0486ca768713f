"""The train split's replies, saved beside the exported model: what a reply language model of the
training data is built from (the Evaluator's and ``s2s evaluate``'s fluency), without the train
split itself.

A NumPy ``.npz`` in the SavedModel's ``assets.extra/`` (TF Serving does not read it): ``ids``, the
replies' token ids one after another, each reply closed by ``<eos>``; ``lengths``, each reply's
length; ``vocab_size``, the model's vocabulary (reserved ids included). Written by the Trainer,
read by the Evaluator and ``s2s evaluate``. Imports nothing of the project; TensorFlow (for paths
on any file system, ``gs://`` included) only when a file is written or read.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence

import numpy as np

FILE = "assets.extra/train_replies.npz"


def path_in(export_dir: str) -> str:
    """Where the replies of the model exported to ``export_dir`` are."""
    return os.path.join(export_dir, FILE)


def write(export_dir: str, replies: Iterable[Sequence[int]], vocab_size: int) -> int:
    """Saves ``replies`` (token ids, each closed by ``<eos>``) beside the model in ``export_dir``.

    Returns:
        The number of replies written.
    """
    import tensorflow as tf

    replies = [np.asarray(r, np.int32) for r in replies]
    flat = np.concatenate(replies) if replies else np.zeros([0], np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, ids=flat, lengths=np.array([len(r) for r in replies], np.int32), vocab_size=vocab_size)
    tf.io.gfile.makedirs(os.path.dirname(path_in(export_dir)))
    with tf.io.gfile.GFile(path_in(export_dir), "wb") as f:
        f.write(buffer.getvalue())
    return len(replies)


def read(export_dir: str) -> tuple[list[list[int]], int] | None:
    """(the replies as lists of ids, the vocabulary size) saved beside the model in ``export_dir``,
    or None when it has none (a model exported before they were saved)."""
    import tensorflow as tf

    path = path_in(export_dir)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        saved = np.load(io.BytesIO(f.read()))
        ids, lengths, vocab_size = saved["ids"], saved["lengths"], int(saved["vocab_size"])
    ends = np.cumsum(lengths)
    return [ids[end - n : end].tolist() for n, end in zip(lengths, ends)], vocab_size
