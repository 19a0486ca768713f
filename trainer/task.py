"""TFX Trainer entry point (``run_fn``): stream the transformed TFRecords, train, export.

The exported SavedModel (``fn_args.serving_model_dir``, what the Pusher ships) has three
signatures:

* ``serving_default``: a batch of raw strings in (``text``); the Transform graph, the
  encoder and a greedy decoding loop run inside the graph; reply strings, their token
  ids and a score (mean log-probability per generated token) out. Core TF ops only.
* ``serving_tf_example``: serialized tf.Examples in (for the Evaluator); per-token
  log-probabilities of the reference reply and the arg-max ids out (small outputs:
  never a [batch, steps, vocabulary] tensor).
* ``transform_features``: serialized tf.Examples in, the Transform graph's features out.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from s2s import config as C
from trainer.model import ModelParams, Seq2Seq, build_model

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(
    file_patterns: List[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool,
    seed: int = 42,
) -> tf.data.Dataset:
    """((encoder ids, decoder input ids), decoder target ids) batches, streamed from disk."""
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    spec = tft_output.transformed_feature_spec()
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    ds = ds.map(
        lambda f: ((f[C.ENCODER_INPUT_IDS], f[C.DECODER_INPUT_IDS]), f[C.DECODER_TARGET_IDS]),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def vocabulary(tft_output: tft.TFTransformOutput) -> List[str]:
    """Id -> token: the reserved tokens, then the Transform vocabulary in id order."""
    words = [w.decode("utf-8") for w in tft_output.vocabulary_by_name(C.VOCABULARY_NAME)]
    return list(C.RESERVED_TOKENS) + words


class ChatbotExport(tf.Module):
    """What is saved: the trained network, the Transform layer and the id -> token table."""

    def __init__(self, model: Seq2Seq, tft_output: tft.TFTransformOutput, max_len: int):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self.max_len = max_len
        self.id_to_token = tf.Variable(vocabulary(tft_output), trainable=False, name="id_to_token")
        self._raw_feature_spec = tft_output.raw_feature_spec()

    def greedy_decode(self, encoder_ids: tf.Tensor):
        """Greedy decoding inside the graph (tf.while_loop via AutoGraph)."""
        batch = tf.shape(encoder_ids)[0]
        state = self.model.encode(encoder_ids)
        token = tf.fill([batch], tf.constant(C.BOS_ID, tf.int64))
        ids = tf.TensorArray(tf.int64, size=self.max_len)
        logps = tf.TensorArray(tf.float32, size=self.max_len)
        for t in tf.range(self.max_len):
            logits, state = self.model.decode_step(token, state)
            log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
            token = tf.argmax(log_probs, axis=-1, output_type=tf.int64)
            ids = ids.write(t, token)
            logps = logps.write(t, tf.reduce_max(log_probs, axis=-1))
        ids = tf.transpose(ids.stack())  # [batch, max_len]
        logps = tf.transpose(logps.stack())
        # A reply ends before its first <eos> (or after max_len tokens).
        is_eos = tf.cast(tf.equal(ids, C.EOS_ID), tf.int32)
        lengths = tf.where(
            tf.reduce_any(is_eos > 0, axis=1),
            tf.argmax(is_eos, axis=1, output_type=tf.int32),
            tf.fill([batch], self.max_len),
        )
        mask = tf.sequence_mask(lengths, self.max_len)
        # Score: mean log-probability of the emitted tokens and the closing <eos>.
        scored = tf.sequence_mask(tf.minimum(lengths + 1, self.max_len), self.max_len, dtype=tf.float32)
        score = tf.reduce_sum(logps * scored, axis=1) / tf.reduce_sum(scored, axis=1)
        ids = tf.where(mask, ids, tf.zeros_like(ids))
        words = tf.RaggedTensor.from_tensor(tf.gather(self.id_to_token, ids), lengths=lengths)
        reply = tf.strings.reduce_join(words, axis=1, separator=" ")
        return reply, ids, lengths, score

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=C.SERVING_INPUT_KEY)])
    def serve_text(self, text):
        # The schema gives raw text features the shape [1] per example.
        features = self.tft_layer({C.INPUT_TEXT: tf.reshape(text, [-1, 1])})
        reply, ids, lengths, score = self.greedy_decode(features[C.ENCODER_INPUT_IDS])
        return {"reply": reply, "reply_ids": ids, "reply_length": lengths, "score": score}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(self, serialized):
        raw = tf.io.parse_example(serialized, self._raw_feature_spec)
        features = self.tft_layer(raw)
        logits = self.model((features[C.ENCODER_INPUT_IDS], features[C.DECODER_INPUT_IDS]))
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        target = features[C.DECODER_TARGET_IDS]
        target_log_probs = tf.gather(log_probs, target, batch_dims=2)
        predicted = tf.argmax(log_probs, axis=-1, output_type=tf.int64)
        return {"target_log_probs": target_log_probs, "predicted_ids": predicted}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, serialized):
        raw = tf.io.parse_example(serialized, self._raw_feature_spec)
        return self.tft_layer(raw)

    def signatures(self) -> Dict[str, Any]:
        return {
            C.SERVING_SIGNATURE: self.serve_text,
            C.TF_EXAMPLE_SIGNATURE: self.serve_tf_examples,
            C.TRANSFORM_SIGNATURE: self.transform_features,
        }


def export(model: Seq2Seq, tft_output: tft.TFTransformOutput, max_len: int, export_dir: str) -> None:
    module = ChatbotExport(model, tft_output, max_len)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())



def run_fn(fn_args) -> None:
    """Called by the TFX Trainer: hyperparameters arrive in ``fn_args.custom_config``."""
    defaults = C.PipelineConfig()
    cfg: Dict[str, Any] = {
        k: getattr(defaults, k)
        for k in ("embedding_dim", "units", "batch_size", "learning_rate", "epochs", "train_steps", "eval_steps", "max_len")
    }
    cfg.update(fn_args.custom_config or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab_size = tft_output.vocabulary_size_by_name(C.VOCABULARY_NAME) + C.NUM_RESERVED
    params = ModelParams(vocab_size=vocab_size, embedding_dim=int(cfg["embedding_dim"]), units=int(cfg["units"]))
    logging.info("Trainer: %s, keras %s, config %s", params, keras.__version__, cfg)

    batch_size = int(cfg["batch_size"])
    train = make_dataset(fn_args.train_files, tft_output, batch_size, shuffle=True)
    evaluation = make_dataset(fn_args.eval_files, tft_output, batch_size, shuffle=False)
    eval_steps = int(cfg["eval_steps"]) or None
    if eval_steps:
        evaluation = evaluation.repeat().take(eval_steps)

    model = build_model(params, learning_rate=float(cfg["learning_rate"]))
    callbacks = [keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs"), update_freq="epoch")]
    train_steps = int(cfg["train_steps"])
    if train_steps:
        history = model.fit(train.repeat(), steps_per_epoch=train_steps, epochs=1, validation_data=evaluation, callbacks=callbacks, verbose=2)
    else:
        history = model.fit(train, epochs=int(cfg["epochs"]), validation_data=evaluation, callbacks=callbacks, verbose=2)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "history.json"), "w") as f:
        f.write(json.dumps({k: [float(x) for x in v] for k, v in history.history.items()}, indent=2))

    export(model, tft_output, int(cfg["max_len"]), fn_args.serving_model_dir)
    logging.info("Exported the chatbot SavedModel to %s", fn_args.serving_model_dir)
