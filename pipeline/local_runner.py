"""Runs the pipeline on this machine with LocalDagRunner (SQLite metadata)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from pipeline import leftovers, runs
from pipeline.config import PipelineConfig

# DirectRunner in one process: on 2 cores multi-processing was measured slower (PLATFORM.md).
# --sdk_container_image names the image docker/ builds, which remote Beam runners use; the
# DirectRunner ignores it, and its presence stops TFX from building a throw-away sdist of
# itself for every Beam component.
LOCAL_BEAM_ARGS = [
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
    "--sdk_container_image=seq2seq-tfx:latest",
]


def run(
    cfg: PipelineConfig, beam_args: list[str] | None = None, preprocessing_only: bool = False, console: bool = False
) -> runs.Run:
    """Runs every component (cached ones are reused) and returns the run as the metadata store has it.

    Args:
        cfg: the run's settings.
        beam_args: more Beam arguments for the DirectRunner.
        preprocessing_only: stop after the Transform (the preprocessing benchmark).
        console: print a line per component and epoch and filter third-party noise
            (:mod:`pipeline.console`) instead of leaving logging as it is.

    Returns:
        The run: its steps, reports, verdict and push (:class:`pipeline.runs.Run`).
    """
    nodes: list[str] = []  # filled in once the pipeline is built
    if not console:
        return _run(cfg, beam_args, preprocessing_only, nodes)
    from pipeline import console as out

    def figure(node: str) -> str:
        [current] = runs.latest_runs(cfg.metadata_path, limit=1, alive=True)
        return out.figure(current.step(node))

    with out.quiet(nodes, figure):
        return _run(cfg, beam_args, preprocessing_only, nodes)


class WorkDirBusyError(RuntimeError):
    """Another run holds the work directory."""


@contextlib.contextmanager
def work_dir_lock(work_dir: str) -> Iterator[None]:
    """Holds ``<work_dir>/.s2s-run.lock`` for a run. Two runs on one work directory would write
    one metadata store and push without being compared with each other: the second is refused.
    The lock is the kernel's (flock): it is released when its process ends, however it ends."""
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, leftovers.LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise WorkDirBusyError(
                f"{work_dir} is in use by another s2s run ({holder}); wait for it to finish, or use another --work-dir"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cfg: PipelineConfig, beam_args: list[str] | None, preprocessing_only: bool, nodes: list[str]) -> runs.Run:
    with work_dir_lock(cfg.run.work_dir):
        return _run_locked(cfg, beam_args, preprocessing_only, nodes)


def _run_locked(cfg: PipelineConfig, beam_args: list[str] | None, preprocessing_only: bool, nodes: list[str]) -> runs.Run:
    from tfx import v1 as tfx  # heavy import: only when a run is asked for

    from pipeline.pipeline import create_pipeline

    removed = leftovers.clean(cfg)  # what a killed run left: this run holds the lock, none other is alive
    if removed:
        print(f"removed what a killed run left: {removed.summary()}", flush=True)
    # Beam and TFX write temporary files; keep them in the work dir and remove them after.
    tmp = tempfile.mkdtemp(prefix="tmp-", dir=cfg.run.work_dir)
    old_tmp, argv = os.environ.get("TMPDIR"), sys.argv[1:]
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = None
    try:
        pipeline = create_pipeline(
            cfg,
            pipeline_root=cfg.pipeline_root,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_path),
            beam_pipeline_args=LOCAL_BEAM_ARGS + list(beam_args or []),
            preprocessing_only=preprocessing_only,
        )
        nodes.extend(component.id for component in pipeline.components)
        # TFX's Beam executors parse sys.argv as absl flags (plus the Beam arguments): the
        # caller's own arguments (`s2s run -v` would read as absl's --verbosity) stay out.
        sys.argv[1:] = []
        tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        sys.argv[1:] = argv
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        tempfile.tempdir = None
        shutil.rmtree(tmp, ignore_errors=True)
    [this_run] = runs.latest_runs(cfg.metadata_path, limit=1, alive=True)
    return this_run
