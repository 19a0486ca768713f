"""What `s2s run` prints: a start and an end line per component, cached or ran with its figure,
epoch lines from the Trainer's logger, and no third-party noise (warnings that matter still show)."""

from __future__ import annotations

import io
import logging
import warnings

from common import names
from pipeline import console


def test_component_lines_say_ran_or_cached_with_the_figure():
    out = io.StringIO()
    nodes = ["CornellExampleGen", "Seq2SeqTrainer"]
    figures = {"CornellExampleGen": "3341 pairs", "Seq2SeqTrainer": ""}
    absl = logging.getLogger("absl")
    with console.quiet(nodes, figures.get, out=out):
        absl.info("Component %s is running.", "CornellExampleGen")
        absl.info("A cached execution %d is used.", 7)
        absl.info("Component %s is finished.", "CornellExampleGen")
        absl.info("Component %s is running.", "Seq2SeqTrainer")
        logging.getLogger(names.PROGRESS_LOGGER).info("epoch 1/2: loss 5.0")
        absl.info("Component %s is finished.", "Seq2SeqTrainer")
        absl.info("Some other INFO record of TFX")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] CornellExampleGen ..."
    assert lines[1] == "[1/2] CornellExampleGen: cached; 3341 pairs"
    assert lines[2] == "[2/2] Seq2SeqTrainer ..."
    assert lines[3] == "      epoch 1/2: loss 5.0"
    assert lines[4].startswith("[2/2] Seq2SeqTrainer: ran ") and lines[4].endswith(" s")
    assert len(lines) == 5


def test_known_noise_is_dropped_and_other_warnings_stay(capsys):
    with console.quiet([], lambda node: ""):
        logging.getLogger("absl").warning("ArtifactQuery.property_predicate is not supported.")
        logging.getLogger("absl").warning("the disk is almost full")
        warnings.warn("You are using a non-supported Python version (3.10.13).", FutureWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert "the disk is almost full" in err
    assert "ArtifactQuery" not in err and "non-supported Python" not in err
    assert logging.getLogger("absl").setLevel.__self__ is logging.getLogger("absl")  # restored after the run


# What TensorFlow, its CUDA plugins and google-api-core print at start-up (the first screen of
# `s2s chat` before the console policy).
STARTUP_NOISE = (
    "Unable to register",
    "oneDNN",
    "rebuild TensorFlow",
    "TensorRT",
    "FutureWarning",
    "non-supported Python version",
    "cuda",
    "absl::InitializeLog",
)


def test_every_command_starts_with_its_own_first_line_and_v_shows_the_rest():
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "s2s.cli", "chat", "--message", "hi", "--server", "127.0.0.1:1", "--timeout", "1"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 2 and quiet.stdout == ""
    assert quiet.stderr.splitlines() == [quiet.stderr.strip()] and quiet.stderr.startswith("s2s: error: 127.0.0.1:1: UNAVAILABLE")
    loud = subprocess.run([*cmd, "-v"], capture_output=True, text=True, timeout=120, env=env)
    assert loud.returncode == 2 and any(n in loud.stderr for n in STARTUP_NOISE), loud.stderr  # -v: everything


def test_the_console_policy_drops_the_noise_and_keeps_real_warnings(monkeypatch):
    import os

    from s2s.cli.common import console_policy

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        console_policy(verbose=False)
        warnings.warn("You are using a non-supported Python version (3.10.13).", FutureWarning, stacklevel=1)
        warnings.warn("the corpus has 3 malformed lines", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["the corpus has 3 malformed lines"]
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_an_unexpected_failure_names_the_commands_own_v(monkeypatch, tmp_path, capsys):
    import pytest

    from pipeline import status
    from s2s import cli

    def broken(*args, **kwargs):
        raise RuntimeError("the metadata store is locked\nsecond line")

    monkeypatch.setattr(status, "latest_runs", broken)
    assert cli.main(["status", "--work-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "s2s: error: RuntimeError: the metadata store is locked (s2s status -v shows the traceback)\n"
    )
    with pytest.raises(RuntimeError):  # -v: the traceback itself
        cli.main(["status", "--work-dir", str(tmp_path), "-v"])
    assert cli.make_parser().parse_args(["bench", "decode"]).command_path == "s2s bench decode"


# The command's main wrapped so that it first raises a warning of its own, as a real problem would.
_WITH_A_REAL_WARNING = """
import sys, warnings
import s2s.cli.{module} as command
original = command.{function}
def main(args):
    warnings.warn("deliberate: 3 pairs were skipped", UserWarning)
    return original(args)
command.{function} = main
from s2s.cli import main as cli
sys.exit(cli(sys.argv[1:]))
"""


def _first_screen(module: str, argv: list[str], until: str | None = None, timeout: float = 300, function: str = "main"):
    """(stdout lines, stderr) of `s2s <argv>` with a real warning raised on the way; with ``until``,
    the process is stopped once a stdout line contains it (a server)."""
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    cmd = [sys.executable, "-c", _WITH_A_REAL_WARNING.format(module=module, function=function), *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines, deadline = [], time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if (until and until in line) or time.monotonic() > deadline:
                break
    finally:
        if until:
            proc.terminate()
        out, err = proc.communicate(timeout=60)
    return lines + out.splitlines(), err


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_quiet(lines: list[str], err: str, first: str) -> None:
    assert lines and lines[0].startswith(first), lines[:3]
    assert "deliberate: 3 pairs were skipped" in err  # a real warning still shows
    noise = [n for n in STARTUP_NOISE if n in err + "\n".join(lines)]
    assert not noise, (noise, err[-2000:])


def test_serve_evaluate_and_a_bench_start_with_their_own_first_line(tiny_model, tmp_path):
    import shutil

    base = tmp_path / names.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    port = str(_free_port())
    lines, err = _first_screen("serve", ["serve", "--dev", "--model-dir", str(base), "--port", port], until="serving chatbot")
    _assert_quiet(lines, err, "DEVELOPMENT SERVER")
    assert any(line.startswith("serving chatbot from") for line in lines)
    lines, err = _first_screen("evaluate", ["evaluate", "--model", str(base), "--out", str(tmp_path / "eval"), "--beam", "0"])
    _assert_quiet(lines, err, "model ")
    lines, err = _first_screen("bench", ["bench", "decode", "--model-dir", str(base), "--requests", "2"], function="decode_main")
    _assert_quiet(lines, err, "s2s bench decode: in process")
