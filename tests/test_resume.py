"""A run killed with SIGKILL during training resumes from the cached ExampleGen and Transform;
what `s2s run` prints while it does (a line per component and epoch, no third-party noise), and
with -v (every log line)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import PipelineConfig

FLAGS = [
    "--vocab-size",
    "300",
    "--embedding-dim",
    "8",
    "--units",
    "16",
    "--max-len",
    "8",
    "--train-steps",
    "400",
    "--eval-steps",
    "1",
    "--min-accuracy",
    "0",
    "--max-top-reply-share",
    "1",
    "--finetune-epochs",
    "0",
]  # a tiny model, no chatbot (and no fine-tuning pass: 400 more steps that test nothing here)


def test_sigkill_during_training_then_rerun_reuses_cache(tmp_path):
    from pipeline import status

    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "s2s.cli", "run", "--work-dir", str(work), *FLAGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    trainer_runs = work / "pipeline_root" / "Seq2SeqTrainer" / "model_run"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (trainer_runs.exists() and any(trainer_runs.iterdir())):
        assert proc.poll() is None, "the run ended before training started"
        time.sleep(0.2)
    time.sleep(2.0)  # inside model.fit
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not (work / "serving").exists()
    _check_what_the_killed_run_left(work, tmp_path / "copy")

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "pushed model:" in rerun.stdout
    # The rerun removed what the killed one left, and says so.
    assert "removed what a killed run left: Seq2SeqTrainer (execution " in rerun.stdout, rerun.stdout
    assert not list(work.glob("tmp-*")) and not list(work.glob("pipeline_root/*/.system/stateful_working_dir/*"))
    killed, newest = status.latest_runs(PipelineConfig.of(work_dir=str(work)), limit=2)[::-1]
    assert killed.step("Seq2SeqTrainer").state == "KILLED"
    runs = sorted(p.name for p in (work / "pipeline_root" / "Seq2SeqTrainer" / "model_run").iterdir())
    assert len(runs) == 1, runs  # the killed execution's partial outputs are gone
    _check_console(rerun.stdout, rerun.stderr)
    cfg = PipelineConfig.of(work_dir=str(work))
    [latest] = status.latest_runs(cfg, limit=1)
    states = {step.component: step.state for step in latest.steps}
    assert states["CornellExampleGen"] == "CACHED" and states["Seq2SeqTransform"] == "CACHED", states
    assert states["Seq2SeqTrainer"] == "COMPLETE" and latest.pushed_version, states
    assert list(Path(cfg.serving_model_dir).iterdir())
    # The same work dir again with -v (every step cached, so quick): every log line is shown, which
    # the quiet run above left out.
    assert "Component CornellExampleGen is running" not in rerun.stderr
    verbose = subprocess.run([*cmd, "-v"], capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "Component CornellExampleGen is running" in verbose.stderr and "A cached execution" in verbose.stderr


def _status(work: Path, *flags: str) -> subprocess.CompletedProcess:
    """``s2s status`` in this process (TensorFlow is loaded already: no new interpreter to start)."""
    import contextlib
    import io

    from s2s import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["status", "--work-dir", str(work), *flags])
    return subprocess.CompletedProcess(["s2s", "status"], code, out.getvalue(), err.getvalue())


def _check_what_the_killed_run_left(work: Path, copy: Path) -> None:
    """Right after the kill: status names the killed component and what it left; --clean removes
    it (on a copy, so that the rerun finds the debris too), and is refused while a run is alive."""
    import shutil

    from pipeline.local_runner import work_dir_lock

    assert list(work.glob("tmp-*")) and list((work / "pipeline_root" / "Seq2SeqTrainer" / "model_run").iterdir())
    shown = _status(work)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"Seq2SeqTrainer +KILLED", shown.stdout), shown.stdout
    assert "a killed run left Seq2SeqTrainer (execution " in shown.stdout and "s2s status --clean" in shown.stdout
    shutil.copytree(work, copy, symlinks=True)
    with work_dir_lock(str(copy)):
        busy = _status(copy, "--clean")
    assert busy.returncode == 2 and "a run is in progress" in busy.stderr and list(copy.glob("tmp-*"))
    cleaned = _status(copy, "--clean")
    assert cleaned.returncode == 0 and "removed what a killed run left: Seq2SeqTrainer (execution " in cleaned.stdout
    assert "pipeline_root/Seq2SeqTrainer/model_run/" in cleaned.stdout
    assert not list(copy.glob("tmp-*")) and not list((copy / "pipeline_root" / "Seq2SeqTrainer" / "model_run").iterdir())
    assert list((copy / "pipeline_root" / "Seq2SeqTransform" / "transform_graph").iterdir())  # finished work stays
    again = _status(copy)
    assert re.search(r"Seq2SeqTrainer +KILLED", again.stdout) and "a killed run left" not in again.stdout, again.stdout


def _check_console(stdout: str, stderr: str) -> None:
    lines = stdout.splitlines()
    assert len(lines) <= 40, stdout
    assert "[1/8] CornellExampleGen: cached" in stdout and "[4/8] Seq2SeqTransform: cached; vocabulary" in stdout
    assert "[5/8] Seq2SeqTrainer ..." in lines and "      epoch 1/1: loss " in stdout
    assert (
        "[6/8] ServedBaseline: ran 0 s; baseline: none served yet" in stdout
        and "[7/8] Evaluator: ran" in stdout
        and "[8/8] Pusher: ran 0 s; pushed version" in stdout
    )
    for noise in ("FutureWarning", "ArtifactQuery", "IteratorGetNext", "ran out of data", "Tables initialized"):
        assert noise not in stdout + stderr, noise


def test_a_second_run_on_a_busy_work_dir_is_refused(tmp_path):
    from pipeline.local_runner import work_dir_lock

    work = tmp_path / "work"
    with work_dir_lock(str(work)):  # as a first run holds it
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "s2s.cli", "run", "--work-dir", str(work), *FLAGS], capture_output=True, text=True, timeout=300
        )
    assert out.returncode == 2 and "is in use by another s2s run (pid " in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and time.monotonic() - started < 120
    assert not (work / "metadata.sqlite").exists()  # it touched nothing
