"""The Transform graph, run by TFT's Beam implementation: exact tokens, ids and the one-step shift."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from common import features
from transforms.preprocessing import clean_text

from .conftest import analyze_and_transform


def _clean(*texts):
    return [t.decode() for t in clean_text(tf.constant(list(texts))).numpy()]


def test_cleaning_lowercases_expands_and_strips():
    got = _clean(
        "I'm sure he's LATE, isn't he?",
        "Won't you? Can't we... we'll see; they've gone, you're it.",
        "Rock’n’roll -- C'est la VIE!",
        "'bout 'til 9 o'clock",
        "Nothin' doin'.",
    )
    assert [g.split() for g in got] == [
        ["i", "am", "sure", "he", "is", "late", "is", "not", "he"],
        ["will", "not", "you", "cannot", "we", "we", "will", "see", "they", "have", "gone", "you", "are", "it"],
        ["rock", "n", "roll", "c", "est", "la", "vie"],
        ["about", "until", "9", "o", "clock"],
        ["nothing", "doing"],
    ]


def test_vocabulary_ids_padding_and_shift(tmp_path):
    rows = [
        {features.INPUT_TEXT: b"Hi hi hi, I'm Bob!", features.TARGET_TEXT: b"Bob? Hi."},
        {features.INPUT_TEXT: b"I I", features.TARGET_TEXT: b""},
        {features.INPUT_TEXT: b"hi", features.TARGET_TEXT: b"bob bob bob bob bob bob bob"},
    ]
    out = analyze_and_transform(rows, {"vocab_size": 3, "min_frequency": 1, "max_len": 6, "context_len": 0}, tmp_path)
    # Frequencies over both sides: bob 9, hi 5, i 3, am 1 -> top 3: bob=4, hi=5, i=6 (am -> <unk>=1).
    vocab = (tmp_path / "transform" / "transform_fn" / "assets" / features.VOCABULARY_NAME).read_text().split()
    assert vocab == ["bob", "hi", "i"]
    lengths = [(int(r[features.INPUT_LENGTH]), int(r[features.TARGET_LENGTH])) for r in out]
    assert lengths == [(6, 2), (2, 0), (1, 7)]  # before truncation: what --long-pairs drop uses
    keys = (features.ENCODER_INPUT_IDS, features.DECODER_INPUT_IDS, features.DECODER_TARGET_IDS)
    got = [{k: np.asarray(row[k]).tolist() for k in keys} for row in out]
    assert got == [
        {
            features.ENCODER_INPUT_IDS: [5, 5, 5, 6, 1, 4],
            features.DECODER_INPUT_IDS: [2, 4, 5, 0, 0, 0],
            features.DECODER_TARGET_IDS: [4, 5, 3, 0, 0, 0],
        },
        {
            features.ENCODER_INPUT_IDS: [6, 6, 0, 0, 0, 0],
            features.DECODER_INPUT_IDS: [2, 0, 0, 0, 0, 0],
            features.DECODER_TARGET_IDS: [3, 0, 0, 0, 0, 0],
        },
        {  # a reply longer than max_len - 1 is truncated; <eos> still closes the target
            features.ENCODER_INPUT_IDS: [5, 0, 0, 0, 0, 0],
            features.DECODER_INPUT_IDS: [2, 4, 4, 4, 4, 4],
            features.DECODER_TARGET_IDS: [4, 4, 4, 4, 4, 3],
        },
    ]
    for row in got:  # the target is the decoder input shifted left by exactly one step
        dec_in, dec_out = row[features.DECODER_INPUT_IDS], row[features.DECODER_TARGET_IDS]
        n = sum(1 for t in dec_out if t != features.PAD_ID)
        assert dec_in[0] == features.BOS_ID and dec_out[n - 1] == features.EOS_ID
        assert dec_in[1:n] == dec_out[: n - 1]
