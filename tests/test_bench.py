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


def test_full_scale_generator_keeps_the_format_and_the_text(tmp_path):
    from components.cornell import load_corpus
    from s2s.bench.preprocess import generate_corpus

    shape = generate_corpus(tmp_path, lines=10_000, conversations=2_500)  # every reference resolves
    pairs, report = load_corpus(tmp_path)
    counts = report.as_dict()
    assert (counts["lines_valid"], counts["conversations_valid"]) == (10_000, 2_500)
    assert counts["pairs_skipped_missing_line"] == 0 and counts["lines_duplicate_id"] == 0
    sample, _ = load_corpus(C.SAMPLE_DATA_DIR)
    assert {p.input_text for p in pairs} <= {p.input_text for p in sample}  # real text, new ids
    assert len({p.movie_id for p in pairs}) > len({p.movie_id for p in sample})
    assert shape["lines"] == 10_000 and shape["conversations"] == 2_500
