"""``s2s status``: the latest pipeline runs, read from the ML Metadata store (:mod:`pipeline.runs`)."""

from __future__ import annotations

from common.reports import format_metrics
from pipeline import runs
from pipeline.config import PipelineConfig


def latest_runs(cfg: PipelineConfig, limit: int = 3) -> list[runs.Run]:
    """The newest ``limit`` runs of the work directory, newest first."""
    from pipeline.leftovers import run_in_progress

    return runs.latest_runs(cfg.metadata_path, limit, alive=run_in_progress(cfg.run.work_dir) is not None)


def format_runs(latest: list[runs.Run]) -> str:
    """Each run: its steps with state and duration, the verdict with the metrics per slice, the push."""
    lines = []
    for run in latest:
        lines.append(f"run {run.name} (started {run.started})")
        for step in run.steps:
            seconds = "       ? s" if step.seconds is None else f"{step.seconds:8.1f} s"
            lines.append(f"  {step.component:<28} {step.state:<9} {seconds}")
        evaluation = run.evaluation
        lines.append(f"  evaluation: {evaluation.figure()}" if evaluation else "  evaluation: none in this run")
        for slice_name, metrics in sorted(
            (evaluation.metrics if evaluation else {}).items(), key=lambda kv: (kv[0] != "overall", kv[0])
        ):
            lines.append(f"    {slice_name}: {format_metrics(metrics)}")
        lines.append(f"  pushed: version {run.pushed_version} -> {run.pushed_to}" if run.pushed_to else "  pushed: nothing")
    return "\n".join(lines)
