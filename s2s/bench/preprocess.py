"""``s2s bench preprocess``: the pipeline's preprocessing at the full corpus's size, side by
side with the tutorial-style in-memory Python preprocessing of the same data.

The corpus is generated in the raw Cornell format at the real corpus's size (304,713 lines,
83,097 conversations) by re-labelling the embedded sample's movies, lines and characters
under new ids, so the text is real. Each path runs in its own child process, so its wall
time and peak RSS are its own:

* pipeline: CornellExampleGen -> StatisticsGen -> SchemaGen -> Transform (LocalDagRunner,
  DirectRunner in memory, as ``s2s run``);
* in-memory: the same loader, then :mod:`s2s.bench.reference` (the tutorial's clean_text,
  vocabulary, ids, padding) into NumPy arrays.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import features
from pipeline.config import SAMPLE_DATA_DIR, PipelineConfig

FULL_LINES = 304_713
FULL_CONVERSATIONS = 83_097
SEP = b" +++$+++ "
GOAL_SECONDS = 300


def _write_copies(path: Path, records: list[bytes], count: int, relabel: Callable[[int, bytes], bytes]) -> int:
    """Writes ``count`` records: ``records`` over and over, copy ``k`` relabelled; returns copies begun."""
    copies = 0
    with open(path, "wb") as f:
        for written in range(count):
            k, i = divmod(written, len(records))
            f.write(relabel(k, records[i]))
            copies = k + 1
    return copies


def generate_corpus(
    out: Path, lines: int = FULL_LINES, conversations: int = FULL_CONVERSATIONS, sample: Path = SAMPLE_DATA_DIR
) -> dict[str, int]:
    """Writes movie_lines.txt and movie_conversations.txt to ``out``: the sample's records,
    copy after copy, each copy under new movie, line and character ids."""
    out.mkdir(parents=True, exist_ok=True)
    src_lines = (sample / "movie_lines.txt").read_bytes().splitlines(keepends=True)
    src_convs = (sample / "movie_conversations.txt").read_bytes().splitlines(keepends=True)
    movies = sorted({ln.split(SEP)[2] for ln in src_lines}, key=lambda m: int(m[1:]))
    max_line = max(int(ln.split(SEP)[0][1:]) for ln in src_lines) + 1
    max_char = max(int(ln.split(SEP)[1][1:]) for ln in src_lines) + 1
    line_id = re.compile(rb"'L(\d+)'")

    def movie(k: int, m: bytes) -> bytes:
        return b"m%d" % (k * len(movies) + movies.index(m))

    def char(k: int, c: bytes) -> bytes:
        return b"u%d" % (int(c[1:]) + k * max_char)

    def relabel_line(k: int, record: bytes) -> bytes:
        lid, cid, mid, name, text = record.split(SEP, 4)
        return SEP.join([b"L%d" % (int(lid[1:]) + k * max_line), char(k, cid), movie(k, mid), name, text])

    def relabel_conversation(k: int, record: bytes) -> bytes:
        a, b, mid, ids = record.split(SEP, 3)
        ids = line_id.sub(lambda m: b"'L%d'" % (int(m.group(1)) + k * max_line), ids)
        return SEP.join([char(k, a), char(k, b), movie(k, mid), ids])

    _write_copies(out / "movie_lines.txt", src_lines, lines, relabel_line)
    copies = _write_copies(out / "movie_conversations.txt", src_convs, conversations, relabel_conversation)
    return {"lines": lines, "conversations": conversations, "movies": copies * len(movies)}


def _child_pipeline(data: str, work: str, vocab_size: int, max_len: int) -> dict:
    from pipeline import local_runner

    cfg = PipelineConfig.of(data_dir=data, work_dir=work, vocab_size=vocab_size, max_len=max_len, enable_cache=False)
    started = time.perf_counter()
    local_runner.run(cfg, preprocessing_only=True)
    elapsed = time.perf_counter() - started
    report = json.loads(next(Path(work).glob("pipeline_root/CornellExampleGen/examples/*/load_report.json")).read_text())
    return {"seconds": elapsed, "pairs": report["counts"]["pairs"]}


def _child_in_memory(data: str, vocab_size: int, max_len: int) -> dict:
    from components.cornell import load_corpus
    from s2s.bench import reference

    started = time.perf_counter()
    pairs, _ = load_corpus(data)
    enc, dec_in, dec_out, vocab = reference.preprocess([(p.input_text, p.target_text) for p in pairs], vocab_size, max_len)
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "pairs": len(pairs),
        "array_bytes": int(enc.nbytes + dec_in.nbytes + dec_out.nbytes),
        "vocab": len(vocab),
    }


def run_child(args: list, module: str = "s2s.bench.preprocess") -> dict:
    """Runs a benchmark module in a child process; returns the JSON of its last stdout line
    and its peak RSS (``peak_rss_mb``)."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024.0  # KiB on Linux
    return result


def run(
    lines: int,
    conversations: int,
    vocab_size: int,
    max_len: int,
    keep: str | None = None,
) -> int:
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="s2s-bench-preprocess-"))
    data = tmp / "corpus"
    started = time.perf_counter()
    shape = generate_corpus(data, lines, conversations)
    size = sum(p.stat().st_size for p in data.iterdir()) / 1e6
    print(
        f"s2s bench preprocess: generated {shape['lines']:,} lines, {shape['conversations']:,} conversations, "
        f"{shape['movies']} movies ({size:.0f} MB) from the sample's real text in {time.perf_counter() - started:.1f} s; "
        f"{os.cpu_count()} CPU cores; vocabulary {vocab_size}, max_len {max_len}"
    )
    memory = run_child(["in-memory", str(data), str(vocab_size), str(max_len)])
    pipe = run_child(["pipeline", str(data), str(tmp / "work"), str(vocab_size), str(max_len)])
    for name, r in (
        ("pipeline (ExampleGen+StatisticsGen+SchemaGen+Transform)", pipe),
        ("in-memory Python (tutorial style)", memory),
    ):
        print(
            f"{name:<58} {r['seconds']:8.1f} s  {r['pairs'] / r['seconds']:9,.0f} pairs/s  peak RSS {r['peak_rss_mb']:7,.0f} MB  ({r['pairs']:,} pairs)"
        )
    one_hot = memory["pairs"] * max_len * (vocab_size + features.NUM_RESERVED) * 4
    print(
        f"in-memory arrays (ids): {memory['array_bytes'] / 1e6:,.0f} MB; the tutorial's one-hot decoder targets "
        f"for the same data would need {one_hot / 2**30:,.0f} GiB (float32 [{memory['pairs']:,} x {max_len} x {vocab_size + features.NUM_RESERVED:,}])"
    )
    ratio = pipe["seconds"] / memory["seconds"]
    print(f"pipeline / in-memory wall time: {ratio:.2f}x")
    print(
        f"goal {'MET ' if pipe['seconds'] <= GOAL_SECONDS else 'MISS'}: pipeline path <= {GOAL_SECONDS} s ({pipe['seconds']:.0f} s)"
    )
    print(f"goal {'MET ' if ratio <= 1.0 else 'MISS'}: pipeline not slower than the in-memory Python path ({ratio:.2f}x)")
    if not keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # the child processes
    kind, *rest = sys.argv[1:]
    if kind == "pipeline":
        result = _child_pipeline(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        result = _child_in_memory(rest[0], int(rest[1]), int(rest[2]))
    print(json.dumps(result))
