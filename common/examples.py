"""A dialogue pair as the tf.Example the pipeline carries: the raw-feature contract between the
corpus (ExampleGen) and everything that feeds the exported model examples. No Beam or TFX."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import tensorflow as tf

from common import features as C


class PairLike(Protocol):
    """What a pair must carry (``components.cornell.Pair`` does)."""

    input_text: str
    target_text: str
    movie_id: str
    conversation_id: str
    input_line_id: str
    target_line_id: str
    genres: Sequence[str]


def _bytes_feature(*values: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))


def pair_to_example(pair: PairLike) -> tf.train.Example:
    """The tf.Example of one pair, its raw features named by :mod:`common.features` (what the
    ExampleGen writes and what `s2s evaluate` feeds the exported signatures).

    Args:
        pair: a prompt and its reply with their movie, conversation, line ids and genres.

    Returns:
        The example.
    """
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                C.INPUT_TEXT: _bytes_feature(pair.input_text),
                C.TARGET_TEXT: _bytes_feature(pair.target_text),
                C.MOVIE_ID: _bytes_feature(pair.movie_id),
                C.CONVERSATION_ID: _bytes_feature(pair.conversation_id),
                C.INPUT_LINE_ID: _bytes_feature(pair.input_line_id),
                C.TARGET_LINE_ID: _bytes_feature(pair.target_line_id),
                C.GENRES: _bytes_feature(*pair.genres),
            }
        )
    )
