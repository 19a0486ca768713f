"""``s2s status``: the latest runs, read from the ML Metadata store."""

from __future__ import annotations

import argparse
import os

from pipeline.config import DEFAULT_WORK_DIR, PipelineConfig
from s2s.cli.common import directory, fail, int_in


def register(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser(
        "status", help="the latest runs: component states and durations, metrics per slice, blessing, pushed version"
    )
    st.add_argument(
        "--work-dir", type=directory(), default=str(DEFAULT_WORK_DIR), help="the run's work dir (default ./artifacts)"
    )
    st.add_argument("--runs", type=int_in(1, 1000), default=3, help="how many runs to show (default 3)")
    st.add_argument(
        "--clean",
        action="store_true",
        help="remove what a killed run left (temporary directories, partial outputs; refused while a run is alive)",
    )
    st.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pipeline import leftovers, status

    cfg = PipelineConfig.of(work_dir=os.path.abspath(args.work_dir))
    holder = leftovers.run_in_progress(cfg.run.work_dir)
    if args.clean:
        if holder:
            return fail(f"a run is in progress in {cfg.run.work_dir} ({holder}): nothing removed")
        removed = leftovers.clean(cfg)
        print(f"removed what a killed run left: {removed.summary()}" if removed else "nothing left by a killed run")
        for path in removed.paths:
            print(f"  {os.path.relpath(path, cfg.run.work_dir)}")
    try:
        runs = status.latest_runs(cfg, limit=args.runs)
    except FileNotFoundError as exc:
        return fail(str(exc))
    print(status.format_runs(runs) if runs else f"no pipeline run recorded in {cfg.metadata_path}")
    if holder:
        print(f"a run is in progress ({holder})")
    elif not args.clean:
        left, _, _ = leftovers.find(cfg)
        if left:
            print(
                f"a killed run left {left.summary()} (its process is gone: the work directory's lock is free); "
                "`s2s status --clean` or the next `s2s run` removes it"
            )
    return 0
