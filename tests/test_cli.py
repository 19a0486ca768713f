"""The command line: help, configuration, and clear errors instead of stack traces."""

from __future__ import annotations

import subprocess
import sys

import pytest

from s2s import cli
from s2s.cli.common import settings_from_args


def _s2s(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "s2s.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_subcommand():
    out = _s2s("--help")
    assert out.returncode == 0
    for command in ("run", "corpus-report", "download-corpus"):
        assert command in out.stdout


def test_config_file_then_flags(tmp_path):
    config = tmp_path / "s2s.toml"
    config.write_text("vocab_size = 500\nmax_len = 12\nlearning_rate = 0.01\n")
    args = cli.make_parser().parse_args(["run", "--config", str(config), "--max-len", "16", "--data", str(tmp_path)])
    cfg = settings_from_args(args)
    assert (cfg.transform.vocab_size, cfg.transform.max_len, cfg.trainer.learning_rate) == (500, 16, 0.01)


@pytest.mark.parametrize(
    "content, message",
    [
        ("vocab_sise = 3\n", "unknown setting(s) vocab_sise"),
        ("max_len = 1\n", "max_len must be >= 2"),
        ('units = "many"\n', "units: expected int"),
    ],
)
def test_bad_config_is_reported(tmp_path, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    out = _s2s("run", "--config", str(config))
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_missing_data_dir_is_one_line(tmp_path):
    out = _s2s("run", "--data", str(tmp_path / "nowhere"), "--work-dir", str(tmp_path / "w"))
    assert out.returncode == 2
    assert out.stderr.strip() == f"s2s: error: data directory not found: {tmp_path / 'nowhere'}"


def test_wrong_format_surfaces_from_the_pipeline_without_a_stack_trace(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "movie_lines.txt").write_text("id,text\n1,hello\n")
    (data / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']\n")
    out = _s2s("run", "--data", str(data), "--work-dir", str(tmp_path / "w"))
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("s2s: error: ") and "movie_lines.txt: no line is in the movie_lines format" in last
    assert "movie_lines.txt:1" in last
    assert "Traceback" not in out.stderr


def test_corpus_report_prints_counts(tiny_corpus, capsys):
    assert cli.main(["corpus-report", "--data", str(tiny_corpus)]) == 0
    assert "pairs: 4 emitted, 3 skipped (a line is missing), 2 skipped (empty utterance)" in capsys.readouterr().out
