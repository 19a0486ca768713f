"""The benchmarks run end to end and print their figures (tiny sizes; no timing asserted)."""

from __future__ import annotations

import shutil

from s2s import cli
from s2s import config as C


def test_bench_serve_prints_every_figure(tiny_model, tmp_path, capsys):
    shutil.copytree(tiny_model / "serving_model", tmp_path / C.MODEL_NAME / "7")
    code = cli.main(
        ["bench", "serve", "--model-dir", str(tmp_path / C.MODEL_NAME), "--requests", "6", "--load-requests", "40",
         "--concurrency", "4", "--loop-replies", "2", "--beam", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    for line in ("single request, greedy : p50", "single request, beam 2 : p50", "batch 64:", "python loop",
                 "2/2 replies identical to the served ones", "load: 40 requests from 4 concurrent clients: 0 errors"):
        assert line in out, out
    assert out.count("goal ") == 4
