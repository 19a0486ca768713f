"""Reader for the raw Cornell Movie-Dialogs corpus, in plain Python.

The corpus is two files whose fields are separated by ``" +++$+++ "``:

* ``movie_lines.txt``:         ``L1045 +++$+++ u0 +++$+++ m0 +++$+++ BIANCA +++$+++ They do not!``
* ``movie_conversations.txt``: ``u0 +++$+++ u2 +++$+++ m0 +++$+++ ['L194', 'L195', 'L196']``

and, optionally, ``movie_titles_metadata.txt`` (genres per movie).

:func:`load_corpus` turns them into utterance pairs (each utterance and the reply that
follows it in its conversation). Nothing is dropped silently: every malformed line,
blank line, empty utterance and dangling line reference is counted in a
:class:`LoadReport`, with the first few locations (``file:line: reason``) kept for the
log. A file that is not in the corpus format at all, or that mixes encodings, raises
:class:`CorpusError` naming the file and line. The ExampleGen executor and
``s2s evaluate`` both read the corpus through this module.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from common.examples import Pair
from common.reports import CorpusCounts, CorpusReport
from components.params import ExampleGenSettings

SEPARATOR = " +++$+++ "
LINES_FILE = "movie_lines.txt"
CONVERSATIONS_FILE = "movie_conversations.txt"
TITLES_FILE = "movie_titles_metadata.txt"
ENCODINGS = ("auto", "latin-1", "utf-8")

_LINE_ID = re.compile(r"L\d+")
_CHARACTER_ID = re.compile(r"u\d+")
_MOVIE_ID = re.compile(r"m\d+")
_LINE_LIST = re.compile(r"\[\s*(?:'L\d+'\s*(?:,\s*'L\d+'\s*)*)?\]")
_QUOTED_ID = re.compile(r"'(L\d+)'")
_GENRE_LIST = re.compile(r"\[\s*(?:'[^']*'\s*(?:,\s*'[^']*'\s*)*)?\]")
_QUOTED_GENRE = re.compile(r"'([^']*)'")
MAX_EXAMPLES_PER_REASON = 5


class CorpusError(ValueError):
    """The corpus cannot be read at all: missing files, wrong format, mixed encodings."""


@dataclasses.dataclass
class LoadReport:
    """What the reader saw: counts by outcome, and where the problems are."""

    counts: Counter = dataclasses.field(default_factory=Counter)
    problems: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    encodings: dict[str, str] = dataclasses.field(default_factory=dict)

    def problem(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        examples = self.problems.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES_PER_REASON:
            examples.append(where)

    def tally(self) -> CorpusCounts:
        """The counts as the report's typed record (a reason that is not one of its fields is an error)."""
        return CorpusCounts.of(self.counts)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self.tally())

    def corpus_report(self, split_sizes: dict[str, int]) -> CorpusReport:
        """The ExampleGen's report of this load, given the pairs per split."""
        return CorpusReport(self.tally(), split_sizes, dict(self.encodings), dict(self.problems))

    def summary(self) -> str:
        c = self.as_dict()
        lines = [
            f"{LINES_FILE}: {c['lines_read']} lines read, {c['lines_valid']} valid, "
            f"{c['lines_malformed']} malformed, {c['lines_blank']} blank, "
            f"{c['lines_duplicate_id']} duplicate ids, {c['utterances_empty']} empty utterances",
            f"{CONVERSATIONS_FILE}: {c['conversations_read']} conversations read, "
            f"{c['conversations_valid']} valid, {c['conversations_malformed']} malformed, {c['conversations_blank']} blank, "
            f"{c['conversations_with_missing_lines']} referencing missing lines "
            f"({c['line_references_missing']} of {c['line_references']} line references missing)",
            f"{TITLES_FILE}: {c['titles_read']} movies read, {c['titles_valid']} with genres, "
            f"{c['titles_malformed']} malformed"
            + (" (NO genres: the genre slices are empty)" if c["titles_read"] and not c["titles_valid"] else ""),
            f"pairs: {c['pairs']} emitted, {c['pairs_skipped_missing_line']} skipped "
            f"(a line is missing), {c['pairs_skipped_empty_utterance']} skipped (empty utterance)",
        ]
        for reason, where in sorted(self.problems.items()):
            more = self.counts[reason] - len(where)
            lines.append(f"  {reason}: " + "; ".join(where) + (f"; and {more} more" if more > 0 else ""))
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _Utterance:
    movie_id: str
    text: str


def check_corpus_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Fails with a clear message unless ``data_dir`` holds the two corpus files."""
    root = Path(data_dir)
    if not root.exists():
        raise CorpusError(f"data directory not found: {root}")
    if not root.is_dir():
        raise CorpusError(f"not a directory: {root}")
    missing = [n for n in (LINES_FILE, CONVERSATIONS_FILE) if not (root / n).is_file()]
    if missing:
        raise CorpusError(
            f"{root} is not a Cornell corpus directory: missing {', '.join(missing)} "
            f"(expected {LINES_FILE} and {CONVERSATIONS_FILE}; `s2s download-corpus` fetches them)"
        )
    for name in (LINES_FILE, CONVERSATIONS_FILE):
        if (root / name).stat().st_size == 0:
            raise CorpusError(f"{root / name} is empty")
    return root


def decode_file(path: Path, encoding: str = "auto") -> tuple[list[str], str]:
    """Reads a corpus file into lines (LF or CRLF), returning the lines and the encoding used.

    ``auto`` reads UTF-8 when the whole file is valid UTF-8 (plain ASCII included), and
    ISO-8859-1 (the corpus's documented encoding) when no line is multi-byte UTF-8. A file
    that has both valid multi-byte UTF-8 lines and lines that are not UTF-8 is ambiguous,
    and raises a CorpusError naming one line of each kind.
    """
    if encoding not in ENCODINGS:
        raise CorpusError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):  # a UTF-8 byte-order mark (editors on Windows write one)
        raw = raw[len(codecs.BOM_UTF8) :]
        encoding = "utf-8" if encoding == "auto" else encoding
    if encoding == "latin-1":
        return _split_lines(raw.decode("latin-1")), "latin-1"
    if encoding == "utf-8":
        try:
            return _split_lines(raw.decode("utf-8")), "utf-8"
        except UnicodeDecodeError as exc:
            lineno = raw.count(b"\n", 0, exc.start) + 1
            raise CorpusError(
                f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); read it with --encoding latin-1"
            ) from None
    try:
        return _split_lines(raw.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        _refuse_mixed_encodings(path, raw)
    return _split_lines(raw.decode("latin-1")), "latin-1"


def _refuse_mixed_encodings(path: Path, raw: bytes) -> None:
    """Raises a CorpusError naming a multi-byte UTF-8 line and a line that is not UTF-8, when
    ``raw`` has both (reading it either way would garble one of them)."""
    first_utf8 = first_latin1 = None
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            first_utf8 = first_utf8 or lineno
        except UnicodeDecodeError:
            first_latin1 = first_latin1 or lineno
        if first_utf8 and first_latin1:
            raise CorpusError(
                f"{path}: mixed encodings: line {first_utf8} is multi-byte UTF-8 but line "
                f"{first_latin1} is not valid UTF-8 (ISO-8859-1?); choose how to read the "
                "file with --encoding latin-1 or --encoding utf-8"
            )


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_lines(path: Path, encoding: str, report: LoadReport) -> dict[str, _Utterance]:
    lines, report.encodings[LINES_FILE] = decode_file(path, encoding)
    utterances: dict[str, _Utterance] = {}
    for lineno, line in enumerate(lines, start=1):
        report.counts["lines_read"] += 1
        where = f"{path.name}:{lineno}"
        if not line.strip():
            report.problem("lines_blank", where)
            continue
        fields = line.split(SEPARATOR)
        if len(fields) != 5:  # six: a separator inside the utterance, which no real line has
            report.problem("lines_malformed", f"{where}: {len(fields)} fields, expected 5")
            continue
        line_id, character_id, movie_id, _name, text = fields
        if not (_LINE_ID.fullmatch(line_id) and _CHARACTER_ID.fullmatch(character_id) and _MOVIE_ID.fullmatch(movie_id)):
            report.problem("lines_malformed", f"{where}: bad id in {line[:40]!r}")
            continue
        if line_id in utterances:
            report.problem("lines_duplicate_id", f"{where}: {line_id} seen before (first kept)")
            continue
        report.counts["lines_valid"] += 1
        if not text.strip():
            report.problem("utterances_empty", f"{where}: {line_id}")
        utterances[line_id] = _Utterance(movie_id, text.strip())
    if report.counts["lines_valid"] == 0:
        raise CorpusError(
            f"{path}: no line is in the movie_lines format "
            f"('L<id>{SEPARATOR}u<id>{SEPARATOR}m<id>{SEPARATOR}NAME{SEPARATOR}text'); "
            + "; ".join(report.problems.get("lines_malformed", [])[:3])
        )
    return utterances


def _read_genres(path: Path, encoding: str, report: LoadReport) -> dict[str, tuple[str, ...]]:
    if not path.is_file():
        return {}
    lines, report.encodings[TITLES_FILE] = decode_file(path, encoding)
    genres: dict[str, tuple[str, ...]] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.counts["titles_read"] += 1
        fields = line.split(SEPARATOR)
        if len(fields) == 6 and _MOVIE_ID.fullmatch(fields[0]) and _GENRE_LIST.fullmatch(fields[5]):
            genres[fields[0]] = tuple(_QUOTED_GENRE.findall(fields[5]))
            report.counts["titles_valid"] += 1
        else:
            report.problem("titles_malformed", f"{path.name}:{lineno}: {len(fields)} fields, expected 6 ending in a genre list")
    return genres


def _read_conversations(path: Path, encoding: str, report: LoadReport) -> Iterator[tuple[str, list[str], int]]:
    lines, report.encodings[CONVERSATIONS_FILE] = decode_file(path, encoding)
    for lineno, line in enumerate(lines, start=1):
        where = f"{path.name}:{lineno}"
        if not line.strip():
            report.problem("conversations_blank", where)
            continue
        report.counts["conversations_read"] += 1
        fields = line.split(SEPARATOR)
        if len(fields) != 4:
            report.problem("conversations_malformed", f"{where}: {len(fields)} fields, expected 4")
            continue
        a, b, movie_id, line_list = (f.strip() for f in fields)
        if not (
            _CHARACTER_ID.fullmatch(a)
            and _CHARACTER_ID.fullmatch(b)
            and _MOVIE_ID.fullmatch(movie_id)
            and _LINE_LIST.fullmatch(line_list)
        ):
            report.problem("conversations_malformed", f"{where}: bad ids in {line[:60]!r}")
            continue
        line_ids = _QUOTED_ID.findall(line_list)
        if len(line_ids) < 2:
            report.problem("conversations_malformed", f"{where}: fewer than two lines")
            continue
        report.counts["conversations_valid"] += 1
        yield movie_id, line_ids, lineno


def _context(utterances: dict[str, _Utterance], before: list[str], lines: int) -> str:
    """The last ``lines`` lines of ``before`` (a conversation's line ids before an input),
    oldest first, joined by a space: only the run of present, non-empty lines next to the input."""
    run: list[str] = []
    for line_id in reversed(before[-lines:] if lines else []):
        line = utterances.get(line_id)
        if line is None or not line.text:
            break
        run.insert(0, line.text)
    return " ".join(run)


def load_corpus(
    data_dir: str | os.PathLike[str], encoding: str = "auto", context_lines: int = ExampleGenSettings.context_lines
) -> tuple[list[Pair], LoadReport]:
    """Reads every utterance pair of the corpus in ``data_dir``.

    A pair is two consecutive line references of a conversation whose lines both exist
    and both hold text. Conversations with some missing lines still give the pairs whose
    two lines are present. Each pair carries the conversation's ``context_lines`` lines
    before its input as ``context_text``, oldest first and joined by a space: as many of
    them as are present and hold text next to the input ("" for a conversation's first
    pair, or when the line before the input is missing or empty).

    Args:
        data_dir: the corpus directory (movie_lines.txt, movie_conversations.txt, ...).
        encoding: the corpus encoding, or "auto".
        context_lines: how many lines before the input ``context_text`` may hold (0: none).

    Returns:
        (the pairs, the loader's counts and problems).
    """
    root = check_corpus_dir(data_dir)
    report = LoadReport()
    utterances = _read_lines(root / LINES_FILE, encoding, report)
    genres = _read_genres(root / TITLES_FILE, encoding, report)
    pairs: list[Pair] = []
    for movie_id, line_ids, lineno in _read_conversations(root / CONVERSATIONS_FILE, encoding, report):
        report.counts["line_references"] += len(line_ids)
        missing = [lid for lid in line_ids if lid not in utterances]
        if missing:
            report.counts["line_references_missing"] += len(missing)
            report.problem(
                "conversations_with_missing_lines",
                f"{CONVERSATIONS_FILE}:{lineno}: {len(missing)} of {len(line_ids)} lines missing",
            )
        conversation_id = f"{movie_id}:{line_ids[0]}"
        for position, (first, second) in enumerate(zip(line_ids, line_ids[1:])):
            a, b = utterances.get(first), utterances.get(second)
            if a is None or b is None:
                report.counts["pairs_skipped_missing_line"] += 1
                continue
            if not a.text or not b.text:
                report.counts["pairs_skipped_empty_utterance"] += 1
                continue
            context = _context(utterances, line_ids[:position], context_lines)
            pairs.append(Pair(a.text, b.text, movie_id, conversation_id, first, second, genres.get(movie_id, ()), context))
    report.counts["pairs"] = len(pairs)
    if report.counts["conversations_valid"] == 0:
        raise CorpusError(
            f"{root / CONVERSATIONS_FILE}: no line is in the movie_conversations format "
            f"('u<id>{SEPARATOR}u<id>{SEPARATOR}m<id>{SEPARATOR}['L1', 'L2', ...]'); "
            + "; ".join(report.problems.get("conversations_malformed", [])[:3])
        )
    return pairs, report
