"""The Transform graph, run by TFT's Beam implementation: exact tokens, ids and the one-step shift."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from common import features as C
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
        {C.INPUT_TEXT: b"Hi hi hi, I'm Bob!", C.TARGET_TEXT: b"Bob? Hi."},
        {C.INPUT_TEXT: b"I I", C.TARGET_TEXT: b""},
        {C.INPUT_TEXT: b"hi", C.TARGET_TEXT: b"bob bob bob bob bob bob bob"},
    ]
    out = analyze_and_transform(rows, {"vocab_size": 3, "min_frequency": 1, "max_len": 6}, tmp_path)
    # Frequencies over both sides: bob 9, hi 5, i 3, am 1 -> top 3: bob=4, hi=5, i=6 (am -> <unk>=1).
    vocab = (tmp_path / "transform" / "transform_fn" / "assets" / C.VOCABULARY_NAME).read_text().split()
    assert vocab == ["bob", "hi", "i"]
    lengths = [(int(r[C.INPUT_LENGTH]), int(r[C.TARGET_LENGTH])) for r in out]
    assert lengths == [(6, 2), (2, 0), (1, 7)]  # before truncation: what --long-pairs drop uses
    keys = (C.ENCODER_INPUT_IDS, C.DECODER_INPUT_IDS, C.DECODER_TARGET_IDS)
    got = [{k: np.asarray(row[k]).tolist() for k in keys} for row in out]
    assert got == [
        {
            C.ENCODER_INPUT_IDS: [5, 5, 5, 6, 1, 4],
            C.DECODER_INPUT_IDS: [2, 4, 5, 0, 0, 0],
            C.DECODER_TARGET_IDS: [4, 5, 3, 0, 0, 0],
        },
        {
            C.ENCODER_INPUT_IDS: [6, 6, 0, 0, 0, 0],
            C.DECODER_INPUT_IDS: [2, 0, 0, 0, 0, 0],
            C.DECODER_TARGET_IDS: [3, 0, 0, 0, 0, 0],
        },
        {  # a reply longer than max_len - 1 is truncated; <eos> still closes the target
            C.ENCODER_INPUT_IDS: [5, 0, 0, 0, 0, 0],
            C.DECODER_INPUT_IDS: [2, 4, 4, 4, 4, 4],
            C.DECODER_TARGET_IDS: [4, 4, 4, 4, 4, 3],
        },
    ]
    for row in got:  # the target is the decoder input shifted left by exactly one step
        dec_in, dec_out = row[C.DECODER_INPUT_IDS], row[C.DECODER_TARGET_IDS]
        n = sum(1 for t in dec_out if t != C.PAD_ID)
        assert dec_in[0] == C.BOS_ID and dec_out[n - 1] == C.EOS_ID
        assert dec_in[1:n] == dec_out[: n - 1]
