"""``s2s evaluate``: score an exported model on any corpus directory (table, JSON, HTML)."""

from __future__ import annotations

import argparse
import os
import time

from common.decode_options import DEFAULT_BEAM_WIDTH, MAX_BEAM_WIDTH
from components.params import ENCODINGS
from pipeline.config import DEFAULT_WORK_DIR, SAMPLE_DATA_DIR
from s2s.cli.common import directory, fail, int_in, unwritable
from s2s.cli.serve import DEFAULT_MODEL_DIR


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="score an exported model on any corpus directory; table, JSON and HTML report")
    ev.add_argument(
        "--model", default=DEFAULT_MODEL_DIR, help="a pushed version directory, or a serving directory (its newest version)"
    )
    ev.add_argument(
        "--data", default=str(SAMPLE_DATA_DIR), help="corpus directory in the Cornell format (default: the embedded sample)"
    )
    ev.add_argument("--out", type=directory(), help="report directory (default artifacts/evaluation/<time>)")
    ev.add_argument("--encoding", default="auto", choices=ENCODINGS)
    ev.add_argument("--batch-size", type=int_in(1, 4096), default=256, help="examples per model call (default 256)")
    ev.add_argument(
        "--beam",
        type=int_in(0, MAX_BEAM_WIDTH),
        default=DEFAULT_BEAM_WIDTH,
        help=f"beam width for beam-search replies, 0 to skip (default {DEFAULT_BEAM_WIDTH})",
    )
    ev.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError
    from s2s import evaluation as offline

    out = args.out or os.path.join(str(DEFAULT_WORK_DIR), "evaluation", time.strftime("%Y%m%d-%H%M%S"))
    problem = unwritable(out)
    if problem:  # before the minutes of scoring, not after them
        return fail(f"--out {out}: cannot write the report there ({problem})")
    try:
        figures = offline.evaluate(
            args.model, args.data, out, encoding=args.encoding, batch_size=args.batch_size, beam_width=args.beam
        )
    except (offline.EvaluationError, CorpusError) as exc:
        return fail(str(exc))
    print(offline.table(figures))
    print(f"\nreport: {os.path.join(out, 'report.html')}\nfigures: {os.path.join(out, 'evaluation.json')}")
    return 0
