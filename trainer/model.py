"""The encoder-decoder LSTM, in Keras 3, on integer ids.

The tutorial's network is the special case ``layers=1, dropout=0, attention=False``: the
encoder reads the (embedded) input ids and returns its final states; the decoder LSTM
starts from those states and reads ``<bos>`` + reply; a dense layer gives logits over the
vocabulary at each step. On top of that, all configurable (:class:`ModelParams`):

* ``layers`` (1 or 2): stacked encoder and decoder LSTMs; decoder layer *i* starts from
  the final states of encoder layer *i*.
* ``dropout``: dropout on the embeddings, between stacked layers and before the output
  layer. It is *input* dropout only: ``recurrent_dropout`` stays 0 (and activations,
  bias and ``unroll`` stay at the values cuDNN needs), so on a GPU Keras runs every LSTM
  with the fused cuDNN kernel (:func:`cudnn_conditions` lists the conditions, a test
  checks them).
* ``attention``: Luong-style ("general") attention. At each decoder step the top
  decoder output ``h_t`` scores every encoder output ``h_s`` as ``h_t . W_a h_s``
  (padding masked), the softmax-weighted encoder outputs give a context ``c_t``, and
  ``tanh(W_c [c_t; h_t])`` feeds the output layer. Without input feeding, so the decoder
  LSTM still runs over the whole sequence in one (cuDNN) call during training.
* ``tie_embeddings``: the output layer reuses the embedding matrix (Press & Wolf, 2017):
  the top decoder output is projected to the embedding size and scored against every
  word's embedding (plus a per-word bias). One matrix of vocabulary x embedding instead
  of two, a strong regulariser on a corpus this small, and a smaller output matmul.

Training uses teacher forcing against the reply shifted by one step
(``decoder_target_ids``) with sparse cross-entropy; padding (id 0) is masked in the
loss and in every metric. The same layers decode one token at a time at serving time
(:meth:`Seq2Seq.encode` then :meth:`Seq2Seq.decode_step`), which the export drives.

Mixed precision: the layers follow Keras' global dtype policy; the logits are float32.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from common import features, names

_MASKED_SCORE = -1e9  # attention score of padding positions (applied in float32)
_COPY_EPSILON = 1e-9  # added to the copy mixture before its log


@dataclasses.dataclass(frozen=True)
class ModelParams:
    """The network's shape: what :class:`Seq2Seq` is built from. No defaults here: the Trainer
    derives it from :class:`trainer.params.TrainerSettings` (which validates the values) and the
    Transform's vocabulary (:func:`trainer.task.model_params`)."""

    vocab_size: int
    embedding_dim: int
    units: int
    layers: int
    dropout: float
    attention: bool
    tie_embeddings: bool
    bidirectional: bool
    word_dropout: float
    copy: bool


def sequence_mask(ids: tf.Tensor) -> tf.Tensor:
    """Non-padding positions, with the first position always on.

    An input whose every token was stripped by cleaning (e.g. ``"?!"``) is all padding;
    cuDNN rejects a fully masked sequence (Keras asserts it), so such a row reads one
    ``<pad>`` step instead. The mask stays right-padded, as cuDNN requires."""
    first = tf.equal(tf.range(tf.shape(ids)[1]), 0)[tf.newaxis, :]
    return tf.logical_or(tf.not_equal(ids, features.PAD_ID), first)


def add_copied(dist: tf.Tensor, weights: tf.Tensor, source_ids: tf.Tensor) -> tf.Tensor:
    """``dist`` [b, t, vocab] plus each input position's weight [b, t, s] at its token id
    (source_ids [b, s]); a sparse add, so the cost does not grow with the vocabulary."""
    b, t, s = tf.shape(weights)[0], tf.shape(weights)[1], tf.shape(weights)[2]
    rows = tf.broadcast_to(tf.range(b)[:, tf.newaxis, tf.newaxis], [b, t, s])
    steps = tf.broadcast_to(tf.range(t)[tf.newaxis, :, tf.newaxis], [b, t, s])
    ids = tf.broadcast_to(tf.cast(source_ids, tf.int32)[:, tf.newaxis, :], [b, t, s])
    indices = tf.reshape(tf.stack([rows, steps, ids], axis=-1), [-1, 3])
    return tf.tensor_scatter_nd_add(dist, indices, tf.reshape(tf.cast(weights, dist.dtype), [-1]))


def copy_distribution(weights: tf.Tensor, source_ids: tf.Tensor, vocab_size: int) -> tf.Tensor:
    """[b, t, vocab]: each input position's attention weight [b, t, s] added to its token id's
    entry (source_ids [b, s])."""
    shape = tf.concat([tf.shape(weights)[:2], [vocab_size]], axis=0)
    return add_copied(tf.zeros(shape, weights.dtype), weights, source_ids)


def cudnn_conditions(layer: keras.layers.LSTM) -> dict[str, bool]:
    """What Keras 3 (TensorFlow backend) requires to run an LSTM layer with cuDNN."""
    cell = layer.cell
    return {
        "activation is tanh": cell.activation is keras.activations.tanh,
        "recurrent_activation is sigmoid": cell.recurrent_activation is keras.activations.sigmoid,
        "recurrent_dropout is 0": cell.recurrent_dropout == 0,
        "unroll is False": not layer.unroll,
        "use_bias is True": bool(cell.use_bias),
        "use_cudnn is auto": layer.use_cudnn == "auto",
    }


@keras.saving.register_keras_serializable(package="s2s")
class Seq2Seq(keras.Model):
    """Embedding -> encoder LSTM(s) (states) -> decoder LSTM(s) (from those states)
    [-> Luong attention] -> logits."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        *,
        layers: int,
        dropout: float,
        attention: bool,
        tie_embeddings: bool,
        bidirectional: bool,
        word_dropout: float,
        copy: bool,
        embedding_matrix=None,
        train_embedding: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.num_layers, self.dropout_rate, self.use_attention = layers, dropout, attention
        self.tie_embeddings, self.bidirectional, self.word_dropout = tie_embeddings, bidirectional, word_dropout
        self.copy = copy
        initializer = "uniform" if embedding_matrix is None else keras.initializers.Constant(embedding_matrix)
        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            mask_zero=True,
            embeddings_initializer=initializer,
            trainable=train_embedding,
            name="embedding",
        )
        # One attribute per layer (encoder_0, decoder_0, ...), not a list: TensorFlow's
        # checkpoints (and the SavedModel's variables) name them by these attributes.
        for i in range(layers):
            # Only the last encoder layer may skip its sequence output (no attention, nothing above it).
            sequences = attention or i < layers - 1
            if bidirectional:
                # Half the units each way; the two final states are concatenated for the decoder.
                lstm = keras.layers.LSTM(units // 2, return_sequences=sequences, return_state=True)
                encoder = keras.layers.Bidirectional(lstm, merge_mode="concat", name=f"encoder_{i}")
            else:
                encoder = keras.layers.LSTM(units, return_sequences=sequences, return_state=True, name=f"encoder_{i}")
            setattr(self, f"encoder_{i}", encoder)
            setattr(self, f"decoder_{i}", keras.layers.LSTM(units, return_sequences=True, return_state=True, name=f"decoder_{i}"))
        self.drop = keras.layers.Dropout(dropout, name="dropout")
        if attention:
            self.attention_score = keras.layers.Dense(units, use_bias=False, name="attention_w_a")
            self.attention_out = keras.layers.Dense(units, activation="tanh", use_bias=False, name="attention_w_c")
        if copy:
            self.copy_gate = keras.layers.Dense(1, name="copy_gate")
        if tie_embeddings:
            self.to_embedding = keras.layers.Dense(embedding_dim, name="output_to_embedding")
            self.logit_bias = self.add_weight(shape=(vocab_size,), initializer="zeros", name="logit_bias")
        else:
            self.projection = keras.layers.Dense(vocab_size, name="logits", dtype="float32")

    @property
    def encoders(self):
        return [getattr(self, f"encoder_{i}") for i in range(self.num_layers)]

    @property
    def decoders(self):
        return [getattr(self, f"decoder_{i}") for i in range(self.num_layers)]

    # ------------------------------------------------------------------ pieces
    def _attend(self, query: tf.Tensor, memory):
        """Luong attention: query [b, t, u], or [b, u] for one decoding step, against memory ([b, s, u]
        outputs, [b, s] mask, ...). Returns the attentional output and the context (shaped as the
        query) and the weights [b, t, s] (or [b, s])."""
        outputs, mask = memory[:2]
        keys = self.attention_score(query)
        if query.shape.rank == 2:
            # One step: products and sums; a batched matmul of one row each costs more to dispatch.
            scores = tf.reduce_sum(keys[:, tf.newaxis, :] * outputs, axis=-1)
        else:
            scores, mask = tf.einsum("btu,bsu->bts", keys, outputs), mask[:, tf.newaxis, :]
        weights = tf.nn.softmax(tf.where(mask, tf.cast(scores, tf.float32), _MASKED_SCORE), axis=-1)
        if query.shape.rank == 2:
            context = tf.reduce_sum(tf.cast(weights, outputs.dtype)[:, :, tf.newaxis] * outputs, axis=1)
        else:
            context = tf.einsum("bts,bsu->btu", tf.cast(weights, outputs.dtype), outputs)
        return self.attention_out(tf.concat([context, query], axis=-1)), context, weights

    def encode(self, encoder_ids: tf.Tensor, training: bool = False):
        """(decoder start state, attention memory) for a batch of inputs.

        The state is a flat tuple ``(h_0, c_0, h_1, c_1, ...)``; the memory is
        ``(encoder outputs, mask)`` with attention and ``()`` without."""
        mask = sequence_mask(encoder_ids)
        x = self.drop(self.embedding(encoder_ids), training=training)
        state = []
        for i, layer in enumerate(self.encoders):
            out = layer(x, mask=mask, training=training)
            if self.bidirectional:  # [seq], h_fw, c_fw, h_bw, c_bw
                h_fw, c_fw, h_bw, c_bw = out[-4:]
                state += [tf.concat([h_fw, h_bw], axis=-1), tf.concat([c_fw, c_bw], axis=-1)]
            else:
                state += out[-2:]
            if i < self.num_layers - 1:
                x = self.drop(out[0], training=training)
        memory = (out[0], mask) if self.use_attention else ()
        if self.copy:
            memory += (encoder_ids,)
        return tuple(state), memory

    def _drop_words(self, ids: tf.Tensor) -> tf.Tensor:
        """Word dropout on the decoder's input (Bowman et al. 2016): each reply word the
        decoder reads (not ``<bos>``, not padding) becomes ``<unk>`` with probability
        ``word_dropout``, so the decoder cannot predict from its own history alone and
        has to use what the encoder read."""
        drop = tf.random.uniform(tf.shape(ids)) < self.word_dropout
        drop = tf.logical_and(drop, ids > features.BOS_ID)
        return tf.where(drop, tf.constant(features.UNK_ID, ids.dtype), ids)

    def _top(self, seq: tf.Tensor, memory, training: bool, inputs: tf.Tensor) -> tf.Tensor:
        """Logits [b, t, vocab] from the top decoder outputs ``seq`` [b, t, u], or [b, vocab] from
        [b, u] (one decoding step); ``inputs`` are the decoder's input embeddings (for the copy gate)."""
        if self.use_attention:
            seq, context, weights = self._attend(seq, memory)
        top = self.drop(seq, training=training)
        if self.tie_embeddings:
            # Scores against every word's embedding, in float32 (also under mixed precision): one
            # 2-D product with its bias, which TensorFlow runs as one fused kernel.
            query = tf.cast(self.to_embedding(top), tf.float32)
            flat = tf.reshape(query, [-1, self.embedding_dim])
            flat = tf.matmul(flat, tf.cast(self.embedding.embeddings, tf.float32), transpose_b=True)
            flat = tf.nn.bias_add(flat, self.logit_bias)
            logits = tf.reshape(flat, tf.concat([tf.shape(query)[:-1], [self.vocab_size]], axis=0))
        else:
            logits = tf.cast(self.projection(top), tf.float32)
        if not self.copy:
            return logits
        if seq.shape.rank == 2:  # one step: the mixture is built over a time axis of 1
            step = (x[:, tf.newaxis] for x in (logits, seq, context, weights, inputs))
            return self._with_copy(*step, memory[2])[:, 0, :]
        return self._with_copy(logits, seq, context, weights, inputs, memory[2])

    def _with_copy(self, logits, seq, context, weights, inputs, source_ids) -> tf.Tensor:
        """Pointer-generator (See et al. 2017): with probability ``p_gen`` the next word comes
        from the vocabulary softmax, otherwise it is copied from the input, each input
        position with its attention weight. Returns the log of that mixture, which is a
        valid logit vector (its softmax is the mixture itself)."""
        gate_inputs = tf.concat([tf.cast(x, tf.float32) for x in (seq, context, inputs)], axis=-1)
        p_gen = tf.sigmoid(tf.cast(self.copy_gate(gate_inputs), tf.float32))  # [b, t, 1]
        mixture = add_copied(p_gen * tf.nn.softmax(logits, axis=-1), (1.0 - p_gen) * weights, source_ids)
        # Normalised: the softmax of these logits is the mixture, and they are its log-probabilities
        # (the decoder reads them as such, without another log-softmax over the vocabulary).
        return tf.math.log(mixture + _COPY_EPSILON) - tf.math.log1p(self.vocab_size * _COPY_EPSILON)

    #: Weight of the contrastive term added to the training loss (0: maximum likelihood only);
    #: set by :func:`build_model`, not part of the network's shape.
    contrastive: float = 0.0

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled (masked cross-entropy) loss, plus, while training with :attr:`contrastive`
        > 0, that weight times :meth:`contrastive_loss`. Evaluation sees the cross-entropy alone."""
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if training and self.contrastive:
            loss = loss + self.contrastive * self.contrastive_loss(x, y, y_pred)
        return loss

    def contrastive_loss(self, x, y, y_pred) -> tf.Tensor:
        """Training-time MMI: each reply's mean log-probability per token given its own input
        must beat the same given another input of the batch (the next row's): the mean of
        ``softplus(-(log p(y|x) - log p(y|x')))``. A reply that fits every input gains nothing
        from it, so the model's mode has to depend on what was said."""
        encoder_ids, decoder_ids = x
        target = tf.cast(y, tf.int64)
        mask = tf.cast(tf.not_equal(target, features.PAD_ID), tf.float32)
        other = self((tf.roll(encoder_ids, shift=1, axis=0), decoder_ids), training=True)

        def mean_log_prob(logits):
            log_probs = target_log_probs(logits, target)
            return tf.reduce_sum(log_probs * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

        return tf.reduce_mean(tf.math.softplus(mean_log_prob(other) - mean_log_prob(y_pred)))

    def call(self, inputs, training: bool = False):
        encoder_ids, decoder_ids = inputs
        state, memory = self.encode(encoder_ids, training=training)
        mask = sequence_mask(decoder_ids)
        if training and self.word_dropout:
            decoder_ids = self._drop_words(decoder_ids)
        embedded = self.drop(self.embedding(decoder_ids), training=training)
        y = embedded
        for i, layer in enumerate(self.decoders):
            y = layer(y, initial_state=list(state[2 * i : 2 * i + 2]), mask=mask, training=training)[0]
            if i < self.num_layers - 1:
                y = self.drop(y, training=training)
        return self._top(y, memory, training, embedded)

    @property
    def logits_normalized(self) -> bool:
        """Whether the logits are already log-probabilities (the copy mixture's are), so that a
        decoder need not apply a log-softmax over the vocabulary at every step."""
        return self.copy

    def decode_step(self, tokens: tf.Tensor, state, memory=()):
        """One decoding step: [batch] token ids, the state and the memory from :meth:`encode`
        in; [batch, vocab] float32 logits (log-probabilities when :attr:`logits_normalized`)
        and the new state out."""
        # A plain lookup: no Keras mask attached (the cells take no mask).
        embedded = x = tf.cast(tf.nn.embedding_lookup(self.embedding.embeddings, tokens), self.compute_dtype)
        new_state = []
        for i, layer in enumerate(self.decoders):
            x, (h, c) = layer.cell(x, list(state[2 * i : 2 * i + 2]), training=False)
            new_state += [h, c]
        logits = self._top(x, memory, training=False, inputs=embedded)
        return logits, tuple(new_state)

    def architecture(self) -> dict[str, object]:
        """The constructor arguments that fix the network's shape (saved with the export)."""
        return {
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "layers": self.num_layers,
            "dropout": self.dropout_rate,
            "attention": self.use_attention,
            "tie_embeddings": self.tie_embeddings,
            "bidirectional": self.bidirectional,
            "word_dropout": self.word_dropout,
            "copy": self.copy,
        }

    def get_config(self):
        return {**super().get_config(), **self.architecture()}


class KerasTokenAccuracy(keras.metrics.Metric):
    """Share of non-padding target positions where the arg-max prediction is right."""

    def __init__(self, name: str = names.MASKED_TOKEN_ACCURACY, **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        mask = tf.cast(tf.not_equal(y_true, features.PAD_ID), tf.float32)
        hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), y_true), tf.float32)
        self.correct.assign_add(tf.reduce_sum(hit * mask))
        self.total.assign_add(tf.reduce_sum(mask))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.total)


class KerasPerplexity(keras.metrics.Metric):
    """exp of the mean cross-entropy over non-padding target positions."""

    def __init__(self, name: str = names.PERPLEXITY, **kwargs):
        super().__init__(name=name, **kwargs)
        self.nll = self.add_variable(shape=(), initializer="zeros", name="nll")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int64)
        mask = tf.cast(tf.not_equal(y_true, features.PAD_ID), tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=tf.cast(y_pred, tf.float32))
        self.nll.assign_add(tf.reduce_sum(ce * mask))
        self.total.assign_add(tf.reduce_sum(mask))

    def result(self):
        return tf.exp(tf.math.divide_no_nan(self.nll, self.total))


def target_log_probs(logits: tf.Tensor, target_ids: tf.Tensor) -> tf.Tensor:
    """Log-probability [batch, steps] of each target id under logits [batch, steps, vocab]."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    return tf.gather(log_probs, tf.cast(target_ids, tf.int64), batch_dims=2)


def teacher_forced(model: Seq2Seq, encoder_ids: tf.Tensor, decoder_ids: tf.Tensor, target_ids: tf.Tensor):
    """The model fed the reference reply: (log-probability of each target token [batch, steps],
    arg-max token of each step [batch, steps]). Perplexity and accuracy are read from these."""
    logits = model((encoder_ids, decoder_ids))
    return target_log_probs(logits, target_ids), tf.argmax(logits, axis=-1, output_type=tf.int64)


def network(params: ModelParams, embedding_matrix=None, train_embedding: bool = True) -> Seq2Seq:
    """The uncompiled network of shape ``params``; ``embedding_matrix`` (e.g. GloVe)
    initialises the embedding, which ``train_embedding=False`` freezes."""
    return Seq2Seq(
        **dataclasses.asdict(params),
        embedding_matrix=embedding_matrix,
        train_embedding=train_embedding,
        name="seq2seq",
    )


def build_model(
    params: ModelParams,
    learning_rate: float,
    clipnorm: float,
    embedding_matrix=None,
    train_embedding: bool = True,
    ema_momentum: float = 0.0,
    contrastive: float = 0.0,
) -> Seq2Seq:
    """The network, compiled for training (Adam, masked cross-entropy; ``clipnorm`` 0 = no
    clipping; ``ema_momentum`` > 0: Adam also keeps the weights' exponential moving average,
    which :class:`keras.callbacks.SwapEMAWeights` swaps in; ``contrastive`` > 0: the training
    loss adds :meth:`Seq2Seq.contrastive_loss` with that weight). Build it inside a distribution
    strategy's scope to train on several devices (see :func:`trainer.task.distribution_strategy`)."""
    model = network(params, embedding_matrix, train_embedding)
    return compile_for_training(model, learning_rate, clipnorm, ema_momentum, contrastive)


def compile_for_training(
    model: Seq2Seq, learning_rate: float, clipnorm: float, ema_momentum: float = 0.0, contrastive: float = 0.0
) -> Seq2Seq:
    """(Re)compiles ``model`` for training with a fresh Adam optimizer (see :func:`build_model`
    for the arguments); its weights are kept. Call it inside the strategy's scope it was built in."""
    model.contrastive = contrastive
    ema = {"use_ema": True, "ema_momentum": ema_momentum} if ema_momentum else {}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm or None, **ema),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=features.PAD_ID),
        metrics=[KerasTokenAccuracy(), KerasPerplexity()],
    )
    return model
