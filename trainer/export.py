"""The exported chatbot SavedModel: signatures that run entirely in the TF graph.

Signatures (names in :mod:`common.features`):

* ``serving_default`` — ``text`` [batch] string in. Transform graph, encoder and the default
  decoder (:class:`common.decode_options.DecodeOptions`' defaults, run by
  :func:`trainer.decoding.decode` in a ``tf.while_loop``). Out: ``reply`` [batch] string,
  ``reply_ids`` [batch, max_len] int64 (0 after the reply), ``reply_length`` [batch] int32 and
  ``score`` [batch] float (mean log-probability of the reply's tokens and its closing ``<eos>``).
* ``beam_search`` — ``text`` [batch] string and ``beam_width`` scalar int32 in: beam search of
  that width with the default decoder's bans (:data:`common.decode_options.BEAM_SEARCH`). Out: ``reply`` / ``score`` (the best beam, scored as
  above) and ``alternatives`` / ``alternative_scores`` [batch, beam_width], best first.
* ``generate`` — ``text`` and every decoding option as a scalar input (``beam_width``,
  ``temperature``, ``top_k``, ``top_p``, ``seed``, ``no_repeat_ngram``, ``no_repeat_word``, ``min_length``,
  ``length_penalty``, ``antilm_weight``, ``antilm_steps``, ``mmi_rerank``): beam search or sampling, with the
  same outputs as ``beam_search``. TF Serving needs every input of a signature in a request;
  the client fills in the defaults.
* ``serving_context`` — only when the Transform's ``context_len`` is above 0: ``text`` and
  ``context`` [batch] string (each message's previous lines in the conversation, oldest first, "" for none), the
  default decoder, ``serving_default``'s outputs. ``serving_default`` and the other ``text``
  signatures answer as if no line came before.
* ``serving_tf_example`` — serialized tf.Examples in (the Evaluator's signature):
  ``target_log_probs`` and ``predicted_ids`` [batch, max_len] (teacher forced), and
  ``reply_ids`` [batch, max_len] (the default decoder's reply, 0 after it, for BLEU and
  distinct-n) and ``greedy_ids`` (the greedy reply, for the most frequent reply's share).
* ``score_tf_example`` — serialized tf.Examples in: ``target_log_probs`` and ``predicted_ids``
  only, without decoding (``s2s evaluate``'s perplexity, accuracy and input dependence).
* ``transform_features`` — serialized tf.Examples in, the Transform graph's features out.

Only core TensorFlow ops are used (no PyFunc, no tensorflow_text), so the stock
``tensorflow_model_server`` runs the model. Requests are checked inside the graph, so a
bad request is an INVALID_ARGUMENT with a readable message in TF Serving and in the
development server alike: an empty batch, an empty or whitespace-only message, a message
over ``MAX_INPUT_BYTES``, invalid UTF-8, a decoding option outside its bounds, a
request that would decode more than ``MAX_DECODE_ROWS`` rows at once.

Warm-up requests (one per signature and batch size) are written to
``assets.extra/tf_serving_warmup_requests``, which TF Serving replays at load so that the
first real request does not pay for graph initialisation.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from common import features, names
from common.decode_options import BEAM_SEARCH, DEFAULT_BEAM_WIDTH, DTYPES, GREEDY, MAX_DECODE_ROWS, TOO_MANY_ROWS, DecodeOptions
from trainer import decoding
from trainer.model import Seq2Seq, teacher_forced

WARMUP_MESSAGES = ("hello", "how are you?", "where are you going tonight?", "i don't know.")


def vocabulary(tft_output: tft.TFTransformOutput) -> list[str]:
    """Id -> token: the reserved tokens, then the Transform vocabulary in id order."""
    words = [w.decode("utf-8") for w in tft_output.vocabulary_by_name(features.VOCABULARY_NAME)]
    return list(features.RESERVED_TOKENS) + words


def _bad_at(condition_ok: tf.Tensor) -> list[tf.Tensor]:
    return [tf.where(tf.logical_not(condition_ok))[:, 0]]


def _check_strings(text: tf.Tensor, key: str) -> list[tf.Operation]:
    """Checks that every string of ``text`` is valid UTF-8 of at most MAX_INPUT_BYTES bytes."""
    utf8_ok = tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD), text)
    short = tf.strings.length(text) <= names.MAX_INPUT_BYTES
    return [
        tf.debugging.Assert(tf.reduce_all(utf8_ok), [f"{key}: message is not valid UTF-8, at batch index:"] + _bad_at(utf8_ok)),
        tf.debugging.Assert(
            tf.reduce_all(short),
            [f"{key}: message is longer than {names.MAX_INPUT_BYTES} bytes, at batch index:"] + _bad_at(short),
        ),
    ]


def _check_messages(text: tf.Tensor) -> tf.Tensor:
    """In-graph request validation: each failure is an InvalidArgumentError naming the problem."""
    not_blank = tf.strings.length(tf.strings.strip(text)) > 0
    checks = [
        tf.debugging.Assert(tf.size(text) > 0, ["text: the batch is empty; send at least one message"]),
        *_check_strings(text, names.SERVING_INPUT_KEY),
        tf.debugging.Assert(
            tf.reduce_all(not_blank), ["text: message is empty or only whitespace, at batch index:"] + _bad_at(not_blank)
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(text)


def _check_context(context: tf.Tensor, text: tf.Tensor) -> tf.Tensor:
    """``context`` once it has one string per message, each valid UTF-8 of at most MAX_INPUT_BYTES
    bytes (an empty one is no context)."""
    same = tf.equal(tf.size(context), tf.size(text))
    checks = [
        tf.debugging.Assert(
            same, ['context: one per message (its previous lines, "" for none): got', tf.size(context), "for", tf.size(text)]
        ),
        *_check_strings(context, names.CONTEXT_INPUT_KEY),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(context)


def reads_context(tft_output: tft.TFTransformOutput) -> bool:
    """Whether the Transform's encoder input holds the previous lines (``context_len`` > 0): it is
    then longer than the reply's MAX_LEN (:func:`transforms.preprocessing.preprocessing_fn`)."""
    spec = tft_output.transformed_feature_spec()
    return spec[features.ENCODER_INPUT_IDS].shape[0] > spec[features.DECODER_TARGET_IDS].shape[0]


def _check_rows(text: tf.Tensor, opts: dict[str, tf.Tensor]) -> tf.Tensor:
    """``text``, once the rows it asks to decode are at most ``MAX_DECODE_ROWS`` (same rule as
    :func:`common.decode_options.decode_rows`; TF Serving refuses a larger request too)."""
    passes = tf.where(opts["antilm_weight"] > 0, 2, 1)
    rows = tf.shape(text)[0] * opts["beam_width"] * passes
    check = tf.debugging.Assert(
        rows <= MAX_DECODE_ROWS,
        [TOO_MANY_ROWS, rows],
    )
    with tf.control_dependencies([check]):
        return tf.identity(text)


class ChatbotExport(tf.Module):
    """What is saved: the trained network, the Transform layer and the id -> token table."""

    def __init__(
        self,
        model: Seq2Seq,
        tft_output: tft.TFTransformOutput,
        max_len: int,
        defaults: DecodeOptions = DecodeOptions(),
    ):
        super().__init__()
        defaults.validate()
        self.defaults = defaults
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self.max_len = max_len
        self.id_to_token = tf.Variable(vocabulary(tft_output), trainable=False, name="id_to_token")
        # The network's shape, so that tools can rebuild the Keras model from the variables.
        self.architecture = tf.Variable(json.dumps(model.architecture(), sort_keys=True), trainable=False, name="architecture")
        self.reads_context = reads_context(tft_output)
        if not self.reads_context:  # no serving_context: not traced, not saved
            self.serve_context = None
        self._raw_feature_spec = _raw_feature_spec(tft_output)

    # ------------------------------------------------------------------ helpers
    def _encoder_ids(self, text: tf.Tensor, context: tf.Tensor | None = None) -> tf.Tensor:
        """The encoder ids of the messages ``text`` (and of each one's previous lines, ``context``,
        "" where none: what the model reads when it reads context)."""
        # The schema gives raw text features the shape [1] per example.
        raw = {features.INPUT_TEXT: tf.reshape(_check_messages(text), [-1, 1])}
        if self.reads_context:
            context = _check_context(context, text) if context is not None else tf.fill(tf.shape(text), "")
            raw[features.CONTEXT_TEXT] = tf.reshape(context, [-1, 1])
        return self.tft_layer(raw)[features.ENCODER_INPUT_IDS]

    def _to_text(self, ids: tf.Tensor):
        """[n, max_len] ids -> (reply strings cut before the first <eos>, ids zeroed after it, lengths)."""
        n = tf.shape(ids)[0]
        is_eos = tf.cast(tf.equal(ids, features.EOS_ID), tf.int32)
        lengths = tf.where(
            tf.reduce_any(is_eos > 0, axis=1),
            tf.argmax(is_eos, axis=1, output_type=tf.int32),
            tf.fill([n], self.max_len),
        )
        ids = tf.where(tf.sequence_mask(lengths, self.max_len), ids, tf.zeros_like(ids))
        words = tf.RaggedTensor.from_tensor(tf.gather(self.id_to_token, ids), lengths=lengths)
        return tf.strings.reduce_join(words, axis=1, separator=" "), ids, lengths

    def decode(self, encoder_ids: tf.Tensor, opts: dict[str, tf.Tensor]):
        """:func:`trainer.decoding.decode` with this model; returns (replies [batch, k] strings,
        ids [batch, k, max_len] with 0 from the closing <eos> on, scores, mean log-probabilities)."""
        ids, _, scores, log_probs = decoding.decode(self.model, encoder_ids, self.max_len, tf.shape(self.id_to_token)[0], opts)
        batch, k = tf.shape(ids)[0], tf.shape(ids)[1]
        text, ids, _ = self._to_text(tf.reshape(ids, [batch * k, self.max_len]))
        return tf.reshape(text, [batch, k]), tf.reshape(ids, [batch, k, self.max_len]), scores, log_probs

    def default_reply(self, encoder_ids: tf.Tensor):
        """The default decoder's best reply: (reply, ids [batch, max_len], lengths, mean log-probability)."""
        text, ids, _, log_probs = self.decode(encoder_ids, decoding.option_tensors(self.defaults))
        ids = ids[:, 0, :]
        return text[:, 0], ids, tf.reduce_sum(tf.cast(ids != features.PAD_ID, tf.int32), axis=1), log_probs[:, 0]

    # --------------------------------------------------------------- signatures
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=names.SERVING_INPUT_KEY)])
    def serve_text(self, text):
        reply, ids, lengths, score = self.default_reply(self._encoder_ids(text))
        return {"reply": reply, "reply_ids": ids, "reply_length": lengths, "score": score}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name=names.SERVING_INPUT_KEY),
            tf.TensorSpec([None], tf.string, name=names.CONTEXT_INPUT_KEY),
        ]
    )
    def serve_context(self, text, context):
        reply, ids, lengths, score = self.default_reply(self._encoder_ids(text, context))
        return {"reply": reply, "reply_ids": ids, "reply_length": lengths, "score": score}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name=names.SERVING_INPUT_KEY),
            tf.TensorSpec([], tf.int32, name=names.BEAM_WIDTH_KEY),
        ]
    )
    def serve_beam(self, text, beam_width):
        opts = {**decoding.option_tensors(BEAM_SEARCH), "beam_width": beam_width}
        return self._alternatives(text, opts)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=names.SERVING_INPUT_KEY)]
        + [tf.TensorSpec([], DTYPES[name], name=name) for name in DTYPES]
    )
    def serve_generate(self, text, *options):
        return self._alternatives(text, dict(zip(DTYPES, options)))

    def _alternatives(self, text, opts):
        opts = decoding.check_options(opts)
        alternatives, _, scores, log_probs = self.decode(self._encoder_ids(_check_rows(text, opts)), opts)
        return {
            "reply": alternatives[:, 0],
            "score": log_probs[:, 0],  # as serving_default's: the reply's mean log-probability
            "alternatives": alternatives,
            "alternative_scores": scores,  # the ranking scores (decoding options applied), best first
        }

    def _teacher_forced(self, serialized):
        """(transformed features, {target_log_probs, predicted_ids}) of serialized tf.Examples."""
        transformed = self.tft_layer(tf.io.parse_example(serialized, self._raw_feature_spec))
        target_log_probs, predicted = teacher_forced(
            self.model,
            transformed[features.ENCODER_INPUT_IDS],
            transformed[features.DECODER_INPUT_IDS],
            transformed[features.DECODER_TARGET_IDS],
        )
        return transformed, {"target_log_probs": target_log_probs, "predicted_ids": predicted}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(self, serialized):
        transformed, scores = self._teacher_forced(serialized)
        _, reply_ids, _, _ = self.default_reply(transformed[features.ENCODER_INPUT_IDS])
        _, greedy_ids, _, _ = self.decode(transformed[features.ENCODER_INPUT_IDS], decoding.option_tensors(GREEDY))
        return {**scores, "reply_ids": reply_ids, "greedy_ids": greedy_ids[:, 0, :]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def score_tf_examples(self, serialized):
        return self._teacher_forced(serialized)[1]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, serialized):
        raw = tf.io.parse_example(serialized, self._raw_feature_spec)
        return self.tft_layer(raw)

    def signatures(self) -> dict[str, Any]:
        signatures = {
            names.SERVING_SIGNATURE: self.serve_text,
            names.BEAM_SIGNATURE: self.serve_beam,
            names.GENERATE_SIGNATURE: self.serve_generate,
            names.TF_EXAMPLE_SIGNATURE: self.serve_tf_examples,
            names.SCORE_SIGNATURE: self.score_tf_examples,
            names.TRANSFORM_SIGNATURE: self.transform_features,
        }
        if self.reads_context:
            signatures[names.CONTEXT_SIGNATURE] = self.serve_context
        return signatures


def _raw_feature_spec(tft_output: tft.TFTransformOutput) -> dict[str, Any]:
    """The raw features' parsing spec, with the previous lines optional ("" when an example has
    none): tf.Examples written before it existed, or by clients that do not send it, still parse."""
    spec = dict(tft_output.raw_feature_spec())
    context = spec.get(features.CONTEXT_TEXT)
    if isinstance(context, tf.io.FixedLenFeature):
        size = int(np.prod(context.shape)) if context.shape else 1
        spec[features.CONTEXT_TEXT] = tf.io.FixedLenFeature(context.shape, context.dtype, default_value=[""] * size)
    return spec


def warmup_requests(with_context: bool = False) -> list:
    """PredictionLog records TF Serving replays at load: the decoders, batch 1 and 8."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    signatures = (names.SERVING_SIGNATURE, names.BEAM_SIGNATURE, names.GENERATE_SIGNATURE)
    for signature in signatures + ((names.CONTEXT_SIGNATURE,) if with_context else ()):
        for batch in (1, 8):
            messages = [WARMUP_MESSAGES[i % len(WARMUP_MESSAGES)].encode() for i in range(batch)]
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=names.MODEL_NAME, signature_name=signature))
            request.inputs[names.SERVING_INPUT_KEY].CopyFrom(tf.make_tensor_proto(messages, dtype=tf.string))
            if signature == names.CONTEXT_SIGNATURE:
                previous = [WARMUP_MESSAGES[(i + 1) % len(WARMUP_MESSAGES)].encode() for i in range(batch)]
                request.inputs[names.CONTEXT_INPUT_KEY].CopyFrom(tf.make_tensor_proto(previous, dtype=tf.string))
            if signature == names.BEAM_SIGNATURE:
                request.inputs[names.BEAM_WIDTH_KEY].CopyFrom(tf.make_tensor_proto(DEFAULT_BEAM_WIDTH, dtype=tf.int32))
            if signature == names.GENERATE_SIGNATURE:
                for name, value in decoding.option_tensors(DecodeOptions()).items():
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            records.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return records


def export(
    model: Seq2Seq,
    tft_output: tft.TFTransformOutput,
    max_len: int,
    export_dir: str,
    defaults: DecodeOptions = DecodeOptions(),
) -> None:
    module = ChatbotExport(model, tft_output, max_len, defaults)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    warmup = os.path.join(export_dir, names.WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(warmup))
    with tf.io.TFRecordWriter(warmup) as writer:
        for record in warmup_requests(module.reads_context):
            writer.write(record.SerializeToString())
