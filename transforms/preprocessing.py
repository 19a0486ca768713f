"""The Transform graph: cleaning, vocabulary, ids and padding, once, for training and serving.

Only core ``tf.strings`` ops are used (no tensorflow_text, which TF Serving lacks), so the
exported model's serving signature runs this same graph inside the stock model server.

Steps, following the tutorial:

1. control characters to spaces, lowercase (Unicode-aware), normalise typographic apostrophes;
2. expand contractions (``CONTRACTIONS``, in order: specific words before suffixes);
3. replace every character that is not a letter, a digit or whitespace by a space
   (the tutorial deletes punctuation; a space keeps ``"well--i"`` as two words);
4. split on whitespace;
5. one vocabulary over both sides (``tft.vocabulary``, top ``vocab_size`` by frequency),
   ids shifted past the reserved ids ``<pad>=0 <unk>=1 <bos>=2 <eos>=3``;
6. truncate and pad (post) to ``max_len``. The decoder input is ``<bos>`` + reply and the
   target is reply + ``<eos>``: the same tokens shifted by exactly one step. The lengths
   before truncation are outputs too, so the Trainer can drop long pairs instead
   (``long_pairs = "drop"``) and count them;
7. with ``context_len`` > 0, the encoder reads the conversation's previous lines too: their last
   ``context_len`` tokens, ``<eos>``, then the input (:func:`with_context`), padded to
   ``max_len + 1 + context_len``. The vocabulary is the same as without (built from the inputs
   and replies), so the two models' perplexities are in one token space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from common import features
from common.settings import from_properties
from transforms.params import TransformSettings

# (RE2 pattern, replacement), applied in order after lowercasing.
CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "cannot"),
    (r"\bshan't\b", "shall not"),
    (r"\bain't\b", "am not"),
    (r"\bi'm\b", "i am"),
    (r"\bhe's\b", "he is"),
    (r"\bshe's\b", "she is"),
    (r"\bit's\b", "it is"),
    (r"\bthat's\b", "that is"),
    (r"\bwhat's\b", "what is"),
    (r"\bwhere's\b", "where is"),
    (r"\bthere's\b", "there is"),
    (r"\bhow's\b", "how is"),
    (r"\bwho's\b", "who is"),
    (r"\blet's\b", "let us"),
    (r"\by'all\b", "you all"),
    (r"\bma'am\b", "madam"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'re\b", " are"),
    (r"'d\b", " would"),
    (r"n't\b", " not"),
    (r"\Bn'([^\p{L}]|$)", r"ng\1"),  # goin' -> going
    (r"'bout\b", "about"),
    (r"'til\b", "until"),
    (r"'cause\b", "because"),
    (r"'em\b", "them"),
)
CONTROL = r"\p{Cc}+"  # NUL and other control characters (tf.strings.lower stops at a NUL)
APOSTROPHES = r"[\x{2018}\x{2019}\x{02bc}`]"
NOT_WORD = r"[^\p{L}\p{N}\s]+"


def clean_text(text: tf.Tensor) -> tf.Tensor:
    """Lowercase, expand contractions, strip punctuation: string tensor in, same shape out."""
    text = tf.strings.regex_replace(text, CONTROL, " ")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, APOSTROPHES, "'")
    for pattern, replacement in CONTRACTIONS:
        text = tf.strings.regex_replace(text, pattern, replacement)
    return tf.strings.regex_replace(text, NOT_WORD, " ")


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Cleans a [batch] string tensor and splits it into a [batch, None] ragged of words."""
    return tf.strings.split(clean_text(text))


def _dense_text(x: Any) -> tf.Tensor:
    """A [batch] string tensor from a dense [batch] / [batch, 1] or sparse raw feature."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x, default_value="")
    if x.shape.rank == 2:
        x = tf.reshape(x, [-1])
    return x


def _to_ids(tokens: tf.RaggedTensor, vocab: tf.Tensor) -> tf.RaggedTensor:
    ids = tft.apply_vocabulary(tokens.flat_values, deferred_vocab_filename_tensor=vocab, default_value=-1)
    ids = tf.where(ids < 0, tf.constant(features.UNK_ID, tf.int64), ids + features.NUM_RESERVED)
    return tokens.with_flat_values(ids)


def _pad(ids: tf.RaggedTensor, max_len: int) -> tf.Tensor:
    return ids[:, :max_len].to_tensor(default_value=features.PAD_ID, shape=[None, max_len])


def with_context(context_ids: tf.RaggedTensor, source_ids: tf.RaggedTensor, context_len: int) -> tf.RaggedTensor:
    """The encoder's tokens when it reads the previous lines: their last ``context_len`` tokens,
    ``<eos>`` (the end of that turn), then the input; the input alone where there is no previous
    line (a conversation's first pair, a message sent without context), as without context."""
    tail = context_ids[:, -context_len:]
    has_context = tf.cast(tail.row_lengths() > 0, tf.int64)
    separator = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(has_context)], tf.constant(features.EOS_ID, tf.int64)), has_context
    )
    return tf.concat([tail, separator, source_ids], axis=1)


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    """tf.Transform preprocessing_fn; hyperparameters come from ``custom_config``."""
    params = from_properties(TransformSettings, custom_config or {})
    max_len, vocab_size = params.max_len, params.vocab_size

    source = tokenize(_dense_text(inputs[features.INPUT_TEXT]))
    reply = tokenize(_dense_text(inputs[features.TARGET_TEXT]))
    vocab = tft.vocabulary(
        tf.concat([source.flat_values, reply.flat_values], axis=0),
        top_k=vocab_size,
        frequency_threshold=params.min_frequency if params.min_frequency > 1 else None,
        vocab_filename=features.VOCABULARY_NAME,
        store_frequency=False,
    )
    source_ids = _to_ids(source, vocab)
    encoder_ids = _pad(source_ids, max_len)
    if params.context_len > 0:
        context_ids = _to_ids(tokenize(_dense_text(inputs[features.CONTEXT_TEXT])), vocab)
        encoder_len = max_len + 1 + params.context_len
        encoder_ids = _pad(with_context(context_ids, source_ids[:, :max_len], params.context_len), encoder_len)
    reply_ids = _to_ids(reply, vocab)[:, : max_len - 1]
    batch = tf.shape(reply_ids.row_lengths())[0]
    bos = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(features.BOS_ID, tf.int64)))
    eos = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(features.EOS_ID, tf.int64)))
    return {
        features.INPUT_LENGTH: source_ids.row_lengths(),
        features.TARGET_LENGTH: reply.row_lengths(),
        features.ENCODER_INPUT_IDS: encoder_ids,
        features.DECODER_INPUT_IDS: _pad(tf.concat([bos, reply_ids], axis=1), max_len),
        features.DECODER_TARGET_IDS: _pad(tf.concat([reply_ids, eos], axis=1), max_len),
    }
