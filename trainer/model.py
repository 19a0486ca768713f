"""The tutorial's encoder-decoder LSTM, in Keras 3, on integer ids.

The encoder reads the (embedded) input ids and returns its final states; the decoder
LSTM starts from those states and reads ``<bos>`` + reply; a dense layer gives logits
over the vocabulary at each step. Training uses teacher forcing against the reply
shifted by one step (``decoder_target_ids``) with sparse cross-entropy; padding
(id 0) is masked in the loss and in every metric. The same layers decode greedily one
token at a time at serving time (:meth:`Seq2Seq.decode_step`).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from s2s import config as C


@dataclasses.dataclass(frozen=True)
class ModelParams:
    vocab_size: int
    embedding_dim: int = 128
    units: int = 256


@keras.saving.register_keras_serializable(package="s2s")
class Seq2Seq(keras.Model):
    """Embedding -> encoder LSTM (states) -> decoder LSTM (from those states) -> logits."""

    def __init__(self, vocab_size: int, embedding_dim: int, units: int, embedding_matrix=None, train_embedding: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        initializer = "uniform" if embedding_matrix is None else keras.initializers.Constant(embedding_matrix)
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, embeddings_initializer=initializer, trainable=train_embedding, name="embedding"
        )
        self.encoder = keras.layers.LSTM(units, return_state=True, name="encoder")
        self.decoder = keras.layers.LSTM(units, return_sequences=True, return_state=True, name="decoder")
        self.projection = keras.layers.Dense(vocab_size, name="logits")

    def encode(self, encoder_ids: tf.Tensor, training: bool = False):
        x = self.embedding(encoder_ids)
        _, h, c = self.encoder(x, mask=self.embedding.compute_mask(encoder_ids), training=training)
        return h, c

    def call(self, inputs, training: bool = False):
        encoder_ids, decoder_ids = inputs
        h, c = self.encode(encoder_ids, training=training)
        y = self.embedding(decoder_ids)
        seq, _, _ = self.decoder(
            y, initial_state=[h, c], mask=self.embedding.compute_mask(decoder_ids), training=training
        )
        return self.projection(seq)

    def decode_step(self, tokens: tf.Tensor, state):
        """One greedy step: [batch] token ids and (h, c) in; [batch, vocab] logits and new state out."""
        # A plain lookup: no Keras mask attached (the cell takes no mask).
        x = tf.nn.embedding_lookup(self.embedding.embeddings, tokens)
        out, new_state = self.decoder.cell(x, list(state), training=False)
        return self.projection(out), tuple(new_state)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
        }


class MaskedTokenAccuracy(keras.metrics.Metric):
    """Share of non-padding target positions where the arg-max prediction is right."""

    def __init__(self, name: str = "masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):  # pylint: disable=unused-argument
        y_true = tf.cast(y_true, tf.int64)
        mask = tf.cast(tf.not_equal(y_true, C.PAD_ID), tf.float32)
        hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), y_true), tf.float32)
        self.correct.assign_add(tf.reduce_sum(hit * mask))
        self.total.assign_add(tf.reduce_sum(mask))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.total)


class MaskedPerplexity(keras.metrics.Metric):
    """exp of the mean cross-entropy over non-padding target positions."""

    def __init__(self, name: str = "perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.nll = self.add_variable(shape=(), initializer="zeros", name="nll")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):  # pylint: disable=unused-argument
        y_true = tf.cast(y_true, tf.int64)
        mask = tf.cast(tf.not_equal(y_true, C.PAD_ID), tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=tf.cast(y_pred, tf.float32))
        self.nll.assign_add(tf.reduce_sum(ce * mask))
        self.total.assign_add(tf.reduce_sum(mask))

    def result(self):
        return tf.exp(tf.math.divide_no_nan(self.nll, self.total))


def build_model(params: ModelParams, learning_rate: float = 1e-3, embedding_matrix=None, train_embedding: bool = True) -> Seq2Seq:
    """The compiled model; ``embedding_matrix`` (e.g. GloVe) initialises the embedding,
    which ``train_embedding=False`` freezes."""
    model = Seq2Seq(
        params.vocab_size, params.embedding_dim, params.units, embedding_matrix=embedding_matrix,
        train_embedding=train_embedding, name="seq2seq",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=C.PAD_ID),
        metrics=[MaskedTokenAccuracy(), MaskedPerplexity()],
    )
    return model
