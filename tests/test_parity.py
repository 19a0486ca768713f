"""The Transform graph and the tutorial-style Python reference agree, token for token and id
for id, on generated strings (hypothesis) and on real corpus lines."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from common import features
from components.cornell import load_corpus
from pipeline.config import SAMPLE_DATA_DIR
from s2s.bench import reference
from transforms.preprocessing import CONTRACTIONS, tokenize

from .conftest import SHARED_CORNELL, analyze_and_transform

CONTRACTION_WORDS = [
    "won't",
    "can't",
    "shan't",
    "ain't",
    "I'm",
    "he's",
    "she's",
    "it's",
    "that's",
    "what's",
    "where's",
    "there's",
    "how's",
    "who's",
    "let's",
    "y'all",
    "ma'am",
    "you'll",
    "we've",
    "they're",
    "I'd",
    "isn't",
    "goin'",
    "'bout",
    "'til",
    "'cause",
    "'em",
    "rock'n'roll",
    "o'clock",
    "dogs'",
]
assert len(CONTRACTION_WORDS) >= len(CONTRACTIONS)

# Text a user or a script writer might produce: case, every contraction, punctuation runs,
# digits, Latin-1 and other non-ASCII letters, U+FFFD, tabs and CR, and long lines. Characters
# must be assigned in Python 3.10's Unicode database (13.0): RE2 and the regex module ship
# different Unicode versions, and a code point only one of them knows is no parity question.
chars = st.characters(blacklist_categories=("Cn", "Cs"))
pieces = st.one_of(
    st.sampled_from(CONTRACTION_WORDS),
    st.sampled_from(
        ["...", "--", "?!", "!!", ",", ";", ":", '"', "(", ")", "’", "‘", "`", "'", "\t", "\r", "\r\n", "  ", "\ufffd"]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x24F), min_size=1, max_size=12),
    st.text(alphabet=chars, min_size=1, max_size=6),
    st.from_regex(r"[0-9]{1,4}", fullmatch=True),
    st.sampled_from(["café", "NAÏVE", "Straße", "ΣΟΦΙΑ", "naïve", "Ärger", "İstanbul", "ǅemal"]),
)
texts = st.lists(pieces, max_size=40).map(" ".join) | st.text(alphabet=chars, max_size=80)


def graph_tokens(text: str):
    return [t.decode() for t in tokenize(tf.constant([text])).to_list()[0]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
@example("")
@example("   \t\r\n ")
@example("I'M SURE HE'S LATE, ISN'T HE?")
@example("x" * 5000 + " " + "y " * 300)
def test_tokens_agree_on_generated_text(text):
    assert graph_tokens(text) == reference.tokenize(text)


def _corpus_lines():
    pairs, _ = load_corpus(SAMPLE_DATA_DIR)
    lines = [p.input_text for p in pairs] + [p.target_text for p in pairs]
    if SHARED_CORNELL.is_dir():  # includes the lines with U+FFFD
        shared, _ = load_corpus(SHARED_CORNELL)
        lines += [p.input_text for p in shared if "\ufffd" in p.input_text or not p.input_text.isascii()]
    return lines


def test_tokens_agree_on_real_corpus_lines():
    lines = _corpus_lines()
    graph = [[t.decode() for t in row] for row in tokenize(tf.constant(lines)).to_list()]
    mismatches = [(line, g, r) for line, g, r in zip(lines, graph, (reference.tokenize(x) for x in lines)) if g != r]
    assert not mismatches, mismatches[:3]


def test_ids_agree_through_tft_beam(tmp_path):
    pairs, _ = load_corpus(SAMPLE_DATA_DIR)
    pairs = pairs[:600]
    rows = [{features.INPUT_TEXT: p.input_text.encode(), features.TARGET_TEXT: p.target_text.encode()} for p in pairs]
    config = {"vocab_size": 700, "min_frequency": 2, "max_len": 12, "context_len": 0}  # the tutorial reads one line
    out = analyze_and_transform(rows, config, tmp_path)
    enc, dec_in, dec_out, vocab = reference.preprocess([(p.input_text, p.target_text) for p in pairs], 700, 12, 2)
    graph_vocab = (
        (tmp_path / "transform" / "transform_fn" / "assets" / features.VOCABULARY_NAME).read_text(encoding="utf-8").split("\n")
    )
    assert graph_vocab[: len(vocab)] == vocab and len([w for w in graph_vocab if w]) == len(vocab)
    np.testing.assert_array_equal(np.stack([r[features.ENCODER_INPUT_IDS] for r in out]), enc)
    np.testing.assert_array_equal(np.stack([r[features.DECODER_INPUT_IDS] for r in out]), dec_in)
    np.testing.assert_array_equal(np.stack([r[features.DECODER_TARGET_IDS] for r in out]), dec_out)
