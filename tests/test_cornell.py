"""The corpus reader: exact pairs and counts, encodings, and clear errors on bad input."""

from __future__ import annotations

import shutil

import pytest

from components.cornell import CorpusError, Pair, decode_file, load_corpus

from .conftest import SHARED_CORNELL


def test_tiny_fixture_gives_exact_pairs(tiny_corpus):
    pairs, _ = load_corpus(tiny_corpus)
    assert pairs == [
        Pair("Hi, I'm Bianca.", "Hello there!", "m0", "m0:L1", "L1", "L2", ("comedy", "romance")),
        Pair("Hello there!", "Where's the café?", "m0", "m0:L1", "L2", "L3", ("comedy", "romance"), "Hi, I'm Bianca."),
        Pair("Ready?", "Always.", "m2", "m2:L10", "L10", "L11", ("action", "crime", "drama", "thriller")),
        Pair("You can't be serious.", "I am.", "m39", "m39:L20", "L20", "L21", ()),
    ]


def test_tiny_fixture_counts_every_skip(tiny_corpus):
    _, report = load_corpus(tiny_corpus)
    assert report.as_dict() == {
        "lines_read": 14,
        "lines_valid": 10,
        "lines_malformed": 2,
        "lines_blank": 1,
        "lines_duplicate_id": 1,
        "utterances_empty": 1,
        "conversations_read": 7,
        "conversations_valid": 5,
        "conversations_malformed": 2,
        "conversations_blank": 0,
        "conversations_with_missing_lines": 2,
        "line_references": 14,
        "line_references_missing": 3,
        "pairs": 4,
        "pairs_skipped_missing_line": 3,
        "pairs_skipped_empty_utterance": 2,
        "titles_read": 3,
        "titles_valid": 3,
        "titles_malformed": 0,
    }
    # Each problem is located, file and line, for the log.
    assert report.problems["lines_malformed"][0] == "movie_lines.txt:6: 1 fields, expected 5"
    assert report.problems["conversations_with_missing_lines"][0].startswith("movie_conversations.txt:3:")
    assert report.encodings["movie_lines.txt"] == "latin-1"
    assert "4 emitted, 3 skipped (a line is missing), 2 skipped (empty utterance)" in report.summary()


def test_crlf_and_lf_give_the_same_pairs(tiny_corpus, tmp_path):
    for name in ("movie_lines.txt", "movie_conversations.txt"):
        data = (tiny_corpus / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        (tmp_path / name).write_bytes(data)
    assert load_corpus(tmp_path)[0] == [p.__class__(**{**p.__dict__, "genres": ()}) for p in load_corpus(tiny_corpus)[0]]


def test_utf8_file_is_read_as_utf8(tmp_path):
    (tmp_path / "movie_lines.txt").write_bytes(
        "L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ head\ufffdquarters\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ ok\n".encode()
    )
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']\n")
    pairs, report = load_corpus(tmp_path)
    assert pairs[0].input_text == "head\ufffdquarters"
    assert report.encodings["movie_lines.txt"] == "utf-8"


def test_mixed_encodings_name_the_lines(tmp_path):
    path = tmp_path / "movie_lines.txt"
    path.write_bytes(
        b"L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ caf\xc3\xa9\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ caf\xe9\n"
    )
    with pytest.raises(CorpusError, match=r"movie_lines.txt: mixed encodings: line 1 .* line 2 "):
        decode_file(path)
    lines, used = decode_file(path, "latin-1")  # the user's explicit choice reads every byte
    assert used == "latin-1" and lines[1].endswith("café")
    with pytest.raises(CorpusError, match=r"movie_lines.txt:2: not valid UTF-8"):
        decode_file(path, "utf-8")


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: shutil.rmtree(d), "data directory not found"),
        (lambda d: (d / "movie_lines.txt").unlink(), "missing movie_lines.txt"),
        (lambda d: (d / "movie_conversations.txt").write_bytes(b""), "movie_conversations.txt is empty"),
        (
            lambda d: (d / "movie_lines.txt").write_text("a,b,c\n1,2,3\n"),
            r"movie_lines.txt: no line is in the movie_lines format",
        ),
        (
            lambda d: (d / "movie_conversations.txt").write_text("m0,u1,['L1']\n"),
            r"movie_conversations.txt: no line is in the movie_conversations format.*movie_conversations.txt:1",
        ),
    ],
)
def test_bad_directories_fail_with_a_clear_message(tiny_corpus, tmp_path, setup, message):
    data = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, data)
    setup(data)
    with pytest.raises(CorpusError, match=message):
        load_corpus(data)


@pytest.mark.skipif(not SHARED_CORNELL.is_dir(), reason="../shared/data/cornell is not on this machine")
def test_shared_partial_corpus_counts():
    pairs, report = load_corpus(SHARED_CORNELL)
    counts = report.as_dict()
    # Every resolvable pair is kept; the dangling references are counted, not fatal.
    assert counts["lines_valid"] == 23_961
    assert counts["conversations_valid"] == 42_432
    assert counts["conversations_with_missing_lines"] == 35_689
    assert counts["pairs"] == len(pairs) == 17_215
    assert counts["pairs"] + counts["pairs_skipped_missing_line"] + counts["pairs_skipped_empty_utterance"] == (
        counts["line_references"] - counts["conversations_valid"]
    )


def _corpus(tmp_path, lines: bytes, titles: bytes | None = None):
    (tmp_path / "movie_lines.txt").write_bytes(lines)
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']\n")
    if titles is not None:
        (tmp_path / "movie_titles_metadata.txt").write_bytes(titles)
    return load_corpus(tmp_path)


def test_each_pair_carries_the_lines_next_before_its_input_oldest_first(tmp_path):
    # L1 is missing and L3 is empty: a pair's context is the run of present, non-empty lines right
    # before its input, at most context_lines of them (2 by default), oldest first.
    lines = "".join(
        f"L{i} +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ {text}\n"
        for i, text in ((2, "two"), (3, " "), (4, "four"), (5, "five"), (6, "six"))
    )
    (tmp_path / "movie_lines.txt").write_text(lines)
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2', 'L4', 'L3', 'L5', 'L6']\n")
    pairs, _ = load_corpus(tmp_path)
    assert [(p.context_text, p.input_text, p.target_text) for p in pairs] == [("", "two", "four"), ("", "five", "six")]
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2', 'L4', 'L5', 'L6']\n")
    by_lines = {n: [(p.context_text, p.input_text) for p in load_corpus(tmp_path, context_lines=n)[0]] for n in (0, 1, 2, 3)}
    assert (
        by_lines[2]
        == [("", "two"), ("two", "four"), ("two four", "five")]
        == [(p.context_text, p.input_text) for p in load_corpus(tmp_path)[0]]
    )
    assert by_lines[1] == [("", "two"), ("two", "four"), ("four", "five")]
    assert by_lines[3] == by_lines[2]  # L1 is missing: the run stops there
    assert by_lines[0] == [("", "two"), ("", "four"), ("", "five")]


def test_a_line_with_six_fields_is_malformed(tmp_path):
    pairs, report = _corpus(
        tmp_path,
        b"L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ hi +++$+++ merged\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ ok\n",
    )
    assert pairs == [] and report.problems["lines_malformed"] == ["movie_lines.txt:1: 6 fields, expected 5"]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    lines = "\ufeffL1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ café\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ ok\n"
    pairs, report = _corpus(tmp_path, lines.encode())
    assert [(p.input_text, p.target_text) for p in pairs] == [("café", "ok")]
    assert report.counts["lines_malformed"] == 0 and report.encodings["movie_lines.txt"] == "utf-8"


def test_malformed_movie_metadata_is_reported_not_dropped_silently(tmp_path):
    lines = b"L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ hi\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ ok\n"
    pairs, report = _corpus(tmp_path, lines, titles=b"m0 | 10 things | 1999 | 6.9 | 62847 | ['comedy']\n")
    assert pairs[0].genres == ()
    assert report.as_dict()["titles_malformed"] == 1 and report.as_dict()["titles_valid"] == 0
    assert report.problems["titles_malformed"] == ["movie_titles_metadata.txt:1: 1 fields, expected 6 ending in a genre list"]
    assert "NO genres: the genre slices are empty" in report.summary()


def test_bad_conversation_lines_are_counted_located_and_the_rest_still_read(tmp_path):
    # A blank line and every kind of bad id, each followed by good conversations: each is counted
    # and located, none stops the reading, and the summary says so, with "and N more" past the
    # examples kept per reason.
    lines = "".join(f"L{i} +++$+++ u{i % 2} +++$+++ m0 +++$+++ A +++$+++ line {i}\n" for i in range(1, 9))
    (tmp_path / "movie_lines.txt").write_text(lines)
    good = "u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L{}', 'L{}']\n"
    bad = [
        "\n",
        "x0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']\n",  # first character id
        "u0 +++$+++ x1 +++$+++ m0 +++$+++ ['L1', 'L2']\n",  # second character id
        "u0 +++$+++ u1 +++$+++ movie0 +++$+++ ['L1', 'L2']\n",  # movie id
        "u0 +++$+++ u1 +++$+++ m0 +++$+++ [L1, L2]\n",  # line list
    ]
    body = "".join(b + good.format(2 * i + 1, 2 * i + 2) for i, b in enumerate(bad[:4])) + bad[4]
    (tmp_path / "movie_conversations.txt").write_text(body)
    pairs, report = load_corpus(tmp_path)
    counts = report.as_dict()
    assert (counts["conversations_blank"], counts["conversations_malformed"], counts["conversations_valid"]) == (1, 4, 4)
    assert len(pairs) == 4  # the conversations after each bad line were read
    assert report.problems["conversations_blank"] == ["movie_conversations.txt:1"]
    assert report.problems["conversations_malformed"][0] == "movie_conversations.txt:3: bad ids in " + repr(bad[1].strip())
    summary = report.summary()
    assert "movie_conversations.txt: 8 conversations read, 4 valid, 4 malformed, 1 blank," in summary  # blank: not read
    examples = "; ".join(report.problems["conversations_malformed"])
    more = counts["conversations_malformed"] - len(report.problems["conversations_malformed"])
    assert f"  conversations_malformed: {examples}" + (f"; and {more} more" if more else "") in summary.splitlines()
    assert "NO genres" not in summary  # no titles file: no genre warning either
