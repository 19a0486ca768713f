"""The exported chatbot SavedModel: signatures that run entirely in the TF graph.

Signatures (names in :mod:`s2s.config`):

* ``serving_default`` — ``text`` [batch] string in. Transform graph, encoder and greedy
  decoding in a ``tf.while_loop``. Out: ``reply`` [batch] string, ``reply_ids``
  [batch, max_len] int64 (0 after the reply), ``reply_length`` [batch] int32 and ``score``
  [batch] float (mean log-probability of the reply's tokens and its closing ``<eos>``).
* ``beam_search`` — ``text`` [batch] string and ``beam_width`` scalar int32 in. Beam search
  with length-normalised scores (sum of log-probabilities / tokens generated, ``<eos>``
  included). Out: ``reply`` / ``score`` (the best beam) and ``alternatives`` /
  ``alternative_scores`` [batch, beam_width], best first.
* ``serving_tf_example`` — serialized tf.Examples in (the Evaluator's signature):
  ``target_log_probs`` and ``predicted_ids`` [batch, max_len] (teacher forced), and
  ``greedy_ids`` [batch, max_len] (the greedy reply, 0 after it, for BLEU and distinct-n).
* ``transform_features`` — serialized tf.Examples in, the Transform graph's features out.

Only core TensorFlow ops are used (no PyFunc, no tensorflow_text), so the stock
``tensorflow_model_server`` runs the model. Requests are checked inside the graph, so a
bad request is an INVALID_ARGUMENT with a readable message in TF Serving and in the
development server alike: an empty batch, an empty or whitespace-only message, a message
over ``MAX_INPUT_BYTES``, invalid UTF-8, a beam width outside 1..``MAX_BEAM_WIDTH``.

Warm-up requests (one per signature and batch size) are written to
``assets.extra/tf_serving_warmup_requests``, which TF Serving replays at load so that the
first real request does not pay for graph initialisation.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_transform as tft

from s2s import config as C
from trainer.model import Seq2Seq

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_MESSAGES = ("hello", "how are you?", "where are you going tonight?", "i don't know.")
_NEG_INF = -1e9


def vocabulary(tft_output: tft.TFTransformOutput) -> List[str]:
    """Id -> token: the reserved tokens, then the Transform vocabulary in id order."""
    words = [w.decode("utf-8") for w in tft_output.vocabulary_by_name(C.VOCABULARY_NAME)]
    return list(C.RESERVED_TOKENS) + words


def _check_messages(text: tf.Tensor) -> tf.Tensor:
    """In-graph request validation: each failure is an InvalidArgumentError naming the problem."""

    def bad_at(condition_ok):
        return [tf.where(tf.logical_not(condition_ok))[:, 0]]

    lengths = tf.strings.length(text)
    utf8_ok = tf.equal(
        tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD), text
    )
    not_blank = tf.strings.length(tf.strings.strip(text)) > 0
    short = lengths <= C.MAX_INPUT_BYTES
    checks = [
        tf.debugging.Assert(tf.size(text) > 0, ["text: the batch is empty; send at least one message"]),
        tf.debugging.Assert(
            tf.reduce_all(utf8_ok), ["text: message is not valid UTF-8, at batch index:"] + bad_at(utf8_ok)
        ),
        tf.debugging.Assert(
            tf.reduce_all(short),
            [f"text: message is longer than {C.MAX_INPUT_BYTES} bytes, at batch index:"] + bad_at(short),
        ),
        tf.debugging.Assert(
            tf.reduce_all(not_blank), ["text: message is empty or only whitespace, at batch index:"] + bad_at(not_blank)
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(text)


class ChatbotExport(tf.Module):
    """What is saved: the trained network, the Transform layer and the id -> token table."""

    def __init__(self, model: Seq2Seq, tft_output: tft.TFTransformOutput, max_len: int):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self.max_len = max_len
        self.id_to_token = tf.Variable(vocabulary(tft_output), trainable=False, name="id_to_token")
        # The network's shape, so that tools can rebuild the Keras model from the variables.
        self.architecture = tf.Variable(json.dumps(model.architecture(), sort_keys=True), trainable=False, name="architecture")
        self._raw_feature_spec = tft_output.raw_feature_spec()

    # ------------------------------------------------------------------ helpers
    def _encoder_ids(self, text: tf.Tensor) -> tf.Tensor:
        # The schema gives raw text features the shape [1] per example.
        features = self.tft_layer({C.INPUT_TEXT: tf.reshape(_check_messages(text), [-1, 1])})
        return features[C.ENCODER_INPUT_IDS]

    def _to_text(self, ids: tf.Tensor):
        """[n, max_len] ids -> (reply strings cut before the first <eos>, ids zeroed after it, lengths)."""
        n = tf.shape(ids)[0]
        is_eos = tf.cast(tf.equal(ids, C.EOS_ID), tf.int32)
        lengths = tf.where(
            tf.reduce_any(is_eos > 0, axis=1),
            tf.argmax(is_eos, axis=1, output_type=tf.int32),
            tf.fill([n], self.max_len),
        )
        ids = tf.where(tf.sequence_mask(lengths, self.max_len), ids, tf.zeros_like(ids))
        words = tf.RaggedTensor.from_tensor(tf.gather(self.id_to_token, ids), lengths=lengths)
        return tf.strings.reduce_join(words, axis=1, separator=" "), ids, lengths

    def greedy_decode(self, encoder_ids: tf.Tensor):
        """Greedy decoding; stops as soon as every reply in the batch has emitted <eos>."""
        batch = tf.shape(encoder_ids)[0]
        state, memory = self.model.encode(encoder_ids)
        token = tf.fill([batch], tf.constant(C.BOS_ID, tf.int64))
        done = tf.zeros([batch], tf.bool)
        ids = tf.TensorArray(tf.int64, size=0, dynamic_size=True)
        logps = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        for t in tf.range(self.max_len):
            logits, state = self.model.decode_step(token, state, memory)
            log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
            token = tf.argmax(log_probs, axis=-1, output_type=tf.int64)
            ids = ids.write(t, token)
            logps = logps.write(t, tf.reduce_max(log_probs, axis=-1))
            done = tf.logical_or(done, tf.equal(token, C.EOS_ID))
            if tf.reduce_all(done):
                break
        missing = self.max_len - ids.size()
        ids = tf.pad(tf.transpose(ids.stack()), [[0, 0], [0, missing]])
        logps = tf.pad(tf.transpose(logps.stack()), [[0, 0], [0, missing]])
        reply, ids, lengths = self._to_text(ids)
        # Score: mean log-probability of the emitted tokens and the closing <eos>.
        scored = tf.sequence_mask(tf.minimum(lengths + 1, self.max_len), self.max_len, dtype=tf.float32)
        score = tf.reduce_sum(logps * scored, axis=1) / tf.reduce_sum(scored, axis=1)
        return reply, ids, lengths, score

    def beam_decode(self, encoder_ids: tf.Tensor, width: tf.Tensor):
        """Beam search; beams that emitted <eos> only extend with <pad> at no cost; stops when all have."""
        batch, k, steps = tf.shape(encoder_ids)[0], width, self.max_len
        vocab = tf.shape(self.id_to_token)[0]
        state, memory = self.model.encode(encoder_ids)
        # Each input's state and attention memory, once per beam.
        state, memory = tf.nest.map_structure(lambda x: tf.repeat(x, k, axis=0), (state, memory))
        token = tf.fill([batch * k], tf.constant(C.BOS_ID, tf.int64))
        first = tf.concat([[0.0], tf.fill([k - 1], _NEG_INF)], axis=0)
        scores = tf.tile(first[tf.newaxis, :], [batch, 1])  # only beam 0 is live at step 0
        finished = tf.zeros([batch, k], tf.bool)
        lengths = tf.zeros([batch, k], tf.int32)
        seqs = tf.zeros([batch, k, steps], tf.int64)
        pad_only = tf.one_hot(C.PAD_ID, vocab, on_value=0.0, off_value=_NEG_INF)
        offsets = (tf.range(batch) * k)[:, tf.newaxis]
        for t in tf.range(steps):
            logits, state = self.model.decode_step(token, state, memory)
            log_probs = tf.reshape(tf.nn.log_softmax(tf.cast(logits, tf.float32)), [batch, k, vocab])
            log_probs = tf.where(finished[:, :, tf.newaxis], pad_only[tf.newaxis, tf.newaxis, :], log_probs)
            total = tf.reshape(scores[:, :, tf.newaxis] + log_probs, [batch, k * vocab])
            scores, top = tf.math.top_k(total, k=k)
            parent, new_token = top // vocab, tf.cast(top % vocab, tf.int64)
            seqs = tf.gather(seqs, parent, batch_dims=1)
            parent_finished = tf.gather(finished, parent, batch_dims=1)
            lengths = tf.gather(lengths, parent, batch_dims=1) + tf.cast(tf.logical_not(parent_finished), tf.int32)
            seqs += tf.one_hot(t, steps, dtype=tf.int64)[tf.newaxis, tf.newaxis, :] * new_token[:, :, tf.newaxis]
            finished = tf.logical_or(parent_finished, tf.equal(new_token, C.EOS_ID))
            rows = tf.reshape(parent + offsets, [-1])
            state = tuple(tf.gather(x, rows) for x in state)
            token = tf.reshape(new_token, [-1])
            if tf.reduce_all(finished):
                break
        normalised = scores / tf.cast(tf.maximum(lengths, 1), tf.float32)
        order = tf.argsort(normalised, axis=1, direction="DESCENDING")
        normalised = tf.gather(normalised, order, batch_dims=1)
        seqs = tf.gather(seqs, order, batch_dims=1)
        text, _, _ = self._to_text(tf.reshape(seqs, [batch * k, steps]))
        return tf.reshape(text, [batch, k]), normalised

    # --------------------------------------------------------------- signatures
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=C.SERVING_INPUT_KEY)])
    def serve_text(self, text):
        reply, ids, lengths, score = self.greedy_decode(self._encoder_ids(text))
        return {"reply": reply, "reply_ids": ids, "reply_length": lengths, "score": score}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name=C.SERVING_INPUT_KEY),
            tf.TensorSpec([], tf.int32, name=C.BEAM_WIDTH_KEY),
        ]
    )
    def serve_beam(self, text, beam_width):
        check = tf.debugging.Assert(
            tf.logical_and(beam_width >= 1, beam_width <= C.MAX_BEAM_WIDTH),
            [f"beam_width: must be between 1 and {C.MAX_BEAM_WIDTH}, got", beam_width],
        )
        with tf.control_dependencies([check]):
            beam_width = tf.identity(beam_width)
        alternatives, scores = self.beam_decode(self._encoder_ids(text), beam_width)
        return {
            "reply": alternatives[:, 0],
            "score": scores[:, 0],
            "alternatives": alternatives,
            "alternative_scores": scores,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(self, serialized):
        raw = tf.io.parse_example(serialized, self._raw_feature_spec)
        features = self.tft_layer(raw)
        logits = self.model((features[C.ENCODER_INPUT_IDS], features[C.DECODER_INPUT_IDS]))
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        target = features[C.DECODER_TARGET_IDS]
        target_log_probs = tf.gather(log_probs, target, batch_dims=2)
        predicted = tf.argmax(log_probs, axis=-1, output_type=tf.int64)
        _, greedy_ids, _, _ = self.greedy_decode(features[C.ENCODER_INPUT_IDS])
        return {"target_log_probs": target_log_probs, "predicted_ids": predicted, "greedy_ids": greedy_ids}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, serialized):
        raw = tf.io.parse_example(serialized, self._raw_feature_spec)
        return self.tft_layer(raw)

    def signatures(self) -> Dict[str, Any]:
        return {
            C.SERVING_SIGNATURE: self.serve_text,
            C.BEAM_SIGNATURE: self.serve_beam,
            C.TF_EXAMPLE_SIGNATURE: self.serve_tf_examples,
            C.TRANSFORM_SIGNATURE: self.transform_features,
        }


def warmup_requests() -> list:
    """PredictionLog records TF Serving replays at load: both decoders, batch 1 and 8."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for signature in (C.SERVING_SIGNATURE, C.BEAM_SIGNATURE):
        for batch in (1, 8):
            messages = [WARMUP_MESSAGES[i % len(WARMUP_MESSAGES)].encode() for i in range(batch)]
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=C.MODEL_NAME, signature_name=signature)
            )
            request.inputs[C.SERVING_INPUT_KEY].CopyFrom(tf.make_tensor_proto(messages, dtype=tf.string))
            if signature == C.BEAM_SIGNATURE:
                request.inputs[C.BEAM_WIDTH_KEY].CopyFrom(tf.make_tensor_proto(C.DEFAULT_BEAM_WIDTH, dtype=tf.int32))
            records.append(
                prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            )
    return records


def export(model: Seq2Seq, tft_output: tft.TFTransformOutput, max_len: int, export_dir: str) -> None:
    module = ChatbotExport(model, tft_output, max_len)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    warmup = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(warmup))
    with tf.io.TFRecordWriter(warmup) as writer:
        for record in warmup_requests():
            writer.write(record.SerializeToString())
