"""Greedy search's collapse, measured at each epoch's end while the model trains.

The Evaluator's collapse check (``top_reply_share``) reads the finished model once; a person
tuning training wants it per epoch, beside the eval loss. :class:`GreedyCollapse` decodes the
eval inputs with the check's own decoder (:data:`common.decode_options.GREEDY`: greedy with
trigram blocking, no antiLM, the model's own mode) and adds the most frequent reply's share to
the epoch's logs as ``val_top_reply_share``: the epoch line, ``history.json`` and TensorBoard
show it. It reads the weights the eval loss was judged on (the moving average's, when kept)
and changes nothing of training: decoding draws no random numbers.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from common import names
from common.decode_options import GREEDY
from common.ids import top_reply_share, until_eos
from trainer import decoding

LOG_KEY = f"val_{names.TOP_REPLY_SHARE}"


class GreedyCollapse(keras.callbacks.Callback):
    """At each epoch's end, ``val_top_reply_share``: greedy search's most frequent reply's share
    of the replies to ``encoder_ids`` (the eval inputs).

    Args:
      encoder_ids: [n, input steps] the inputs to reply to.
      steps: the longest reply, in tokens (MAX_LEN).
      batch: inputs decoded at once."""

    def __init__(self, encoder_ids: np.ndarray, steps: int, batch: int = 512):
        super().__init__()
        self.encoder_ids, self.steps, self.batch = np.asarray(encoder_ids), steps, batch
        self._decode = None

    def _replies(self) -> np.ndarray:
        if self._decode is None:
            opts = decoding.option_tensors(GREEDY)
            vocab = tf.constant(self.model.vocab_size)
            self._decode = tf.function(
                lambda ids: decoding.decode(self.model, ids, self.steps, vocab, opts)[0][:, 0], reduce_retracing=True
            )
        rows = range(0, len(self.encoder_ids), self.batch)
        return np.concatenate([self._decode(tf.constant(self.encoder_ids[i : i + self.batch])).numpy() for i in rows])

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None:
            logs[LOG_KEY] = top_reply_share(until_eos(row) for row in self._replies())
