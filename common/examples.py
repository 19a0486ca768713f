"""A dialogue pair as the tf.Example the pipeline carries: the raw-feature contract between the
corpus (ExampleGen) and everything that feeds the exported model examples. No Beam or TFX; TensorFlow only when an example is built, so the corpus
loader imports :class:`Pair` without it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from common import features

if TYPE_CHECKING:
    import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Pair:
    """One training example: an utterance and the reply that follows it, with where they come
    from (the Cornell loader, :mod:`components.cornell`, reads them)."""

    input_text: str
    target_text: str
    movie_id: str
    conversation_id: str
    input_line_id: str
    target_line_id: str
    genres: tuple[str, ...] = ()
    context_text: str = ""


def _bytes_feature(*values: str) -> tf.train.Feature:
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))


def pair_to_example(pair: Pair) -> tf.train.Example:
    """The tf.Example of one pair, its raw features named by :mod:`common.features` (what the
    ExampleGen writes and what `s2s evaluate` feeds the exported signatures).

    Args:
        pair: a prompt and its reply with their movie, conversation, line ids, genres and the
            conversation's line before the prompt.

    Returns:
        The example.
    """
    import tensorflow as tf

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.INPUT_TEXT: _bytes_feature(pair.input_text),
                features.TARGET_TEXT: _bytes_feature(pair.target_text),
                features.MOVIE_ID: _bytes_feature(pair.movie_id),
                features.CONVERSATION_ID: _bytes_feature(pair.conversation_id),
                features.INPUT_LINE_ID: _bytes_feature(pair.input_line_id),
                features.TARGET_LINE_ID: _bytes_feature(pair.target_line_id),
                features.GENRES: _bytes_feature(*pair.genres),
                features.CONTEXT_TEXT: _bytes_feature(pair.context_text),
            }
        )
    )
