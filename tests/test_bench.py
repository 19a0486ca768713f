"""The benchmarks run end to end and print their figures (tiny sizes; no timing asserted)."""

from __future__ import annotations

import json
import shutil

import pytest

from common import names
from pipeline.config import SAMPLE_DATA_DIR
from s2s import cli

from .conftest import TESTS


def test_bench_serve_prints_every_figure(tiny_model, tmp_path, capsys):
    shutil.copytree(tiny_model / "serving_model", tmp_path / names.MODEL_NAME / "7")
    code = cli.main(
        [
            "bench",
            "serve",
            "--model-dir",
            str(tmp_path / names.MODEL_NAME),
            "--requests",
            "6",
            "--load-requests",
            "40",
            "--concurrency",
            "4",
            "--loop-replies",
            "2",
            "--beam",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for line in (
        "single request, greedy ",
        "single request, default",
        "single request, beam 2",
        "batch 64:",
        "python loop",
        "2/2 replies identical to the served ones",
        "load: 40 requests from 4 concurrent clients: 0 errors",
        "cost attack: 2 clients loop the heaviest requests allowed",
        "'hello' p50 <= 250 ms under the cost attack",
    ):
        assert line in out, out
    assert out.count("goal ") == 5


def test_bench_decode_prints_every_figure_and_the_profile(tiny_model, tmp_path, capsys):
    shutil.copytree(tiny_model / "serving_model", tmp_path / names.MODEL_NAME / "7")
    code = cli.main(["bench", "decode", "--model-dir", str(tmp_path / names.MODEL_NAME), "--requests", "3", "--profile"])
    out = capsys.readouterr().out
    assert code == 0
    for line in (
        "default : batch 1 p50",
        "greedy  : batch 1 p50",
        "beam 4  : batch 1 p50",
        "(longest",
        "sampled replies identical",
    ):
        assert line in out, out
    assert out.count("goal ") == 5 and "profile, default decoder at batch 64" in out
    assert "matrix products (LSTM, attention, output layer)" in out and "ms/step" in out


def test_full_scale_generator_keeps_the_format_and_the_text(tmp_path):
    from components.cornell import load_corpus
    from s2s.bench.preprocess import generate_corpus

    shape = generate_corpus(tmp_path, lines=10_000, conversations=2_500)  # every reference resolves
    pairs, report = load_corpus(tmp_path)
    counts = report.as_dict()
    assert (counts["lines_valid"], counts["conversations_valid"]) == (10_000, 2_500)
    assert counts["pairs_skipped_missing_line"] == 0 and counts["lines_duplicate_id"] == 0
    sample, _ = load_corpus(SAMPLE_DATA_DIR)
    assert {p.input_text for p in pairs} <= {p.input_text for p in sample}  # real text, new ids
    assert len({p.movie_id for p in pairs}) > len({p.movie_id for p in sample})
    assert shape["lines"] == 10_000 and shape["conversations"] == 2_500


def test_bench_quality_refuses_without_glove_or_with_unknown_settings(tmp_path, capsys):
    assert cli.main(["bench", "quality", "--glove", str(tmp_path / "missing.txt"), "--work-dir", str(tmp_path)]) == 2
    assert "needs a GloVe 50d text file" in capsys.readouterr().err
    assert cli.main(["bench", "quality", "--set", "hidden_units=3", "--work-dir", str(tmp_path)]) == 2
    assert "unknown setting(s) hidden_units" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.slow
def test_bench_quality_prints_every_figure(tiny_corpus, tmp_path, capsys):
    glove = TESTS / "fixtures" / "tiny_glove.8d.txt"
    code = cli.main(
        [
            "bench",
            "quality",
            "--data",
            str(tiny_corpus),
            "--glove",
            str(glove),
            "--epochs",
            "1",
            "--work-dir",
            str(tmp_path),
            "--set",
            "embedding_dim=8",
            "--set",
            "units=16",
            "--seeds",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    for words in (
        "(a) default",
        "(a) default, seed 1",
        "over 2 seeds: eval perplexity / trigram mean ",
        "over 2 seeds: test perplexity / trigram mean ",
        "(mean over 2 seeds)",
        "(b) tutorial",
        "Kneser-Ney trigram",
        "input dep.",
        "replies on the eval split",
        "replies on the test split",
        "default: default decoder",
        "tutorial: greedy (plain)",
        "sample replies, default",
        "sample replies, tutorial",
        "references (the target)",
        "[eval] default decoder's fluency ",
        "[test] beam 4's most frequent reply is ",
    ):
        assert words in out, out
    goal_lines = [line for line in out.splitlines() if line.startswith("goal ")]
    assert len(goal_lines) == 24 and sum("] default perplexity" in line for line in goal_lines) == 2, goal_lines
    figures = json.loads((tmp_path / "quality.json").read_text())
    assert figures["seeds"] == [0, 1]
    assert set(figures["goals"]) >= {"eval vs_trigram", "test vs_trigram", "test top_reply beam 4", "test fluency"}
    assert figures["results"]["default"]["eval"]["perplexity"] != figures["results"]["default, seed 1"]["eval"]["perplexity"]
    assert figures["results"]["tutorial"]["model"]["units"] == 300 and figures["results"]["default"]["model"]["units"] == 16
    assert figures["baselines"]["trigram"]["eval"] > 1 and figures["baselines"]["unigram"]["test"] > 1
    for r in figures["results"].values():
        assert r["eval"]["perplexity"] > 1 and 0 <= r["eval"]["masked_accuracy"] <= 1 and r["eval"]["input_dependence"] > 0
        for split in ("eval", "test"):  # every decoder on both splits, each split's own references
            assert set(r[split]["decoders"]) >= {
                "greedy (plain)",
                "greedy (blocked)",
                "default decoder",
                "default, repeats allowed",
                "beam 4",
            }
            for m in r[split]["decoders"].values():  # fluency: a mean log-probability, the references' beside it
                assert m["replies"] == r[split]["pairs"]
                assert m["fluency"] < 0 and m["reference_fluency"] < 0 and 0 <= m["word_repeat_share"] <= 1
        assert (
            r["eval"]["decoders"]["default decoder"]["reference_fluency"]
            != r["test"]["decoders"]["default decoder"]["reference_fluency"]
        )
        assert all(len(texts) == 8 for texts in r["samples"].values())


@pytest.mark.slow
def test_bench_train_prints_every_figure(tmp_path, capsys):
    assert (
        cli.main(["bench", "train", "--lines", "20000", "--conversations", "5000", "--steps", "20", "--keep", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    for words in (
        "target tokens/s",
        "step time",
        "training FLOP/s",
        "tf.matmul FLOP/s",
        "one-hot target tensor",
        "RSS during training",
    ):
        assert words in out, out
    assert sum(line.startswith("goal ") for line in out.splitlines()) == 2


def test_the_decode_profile_names_the_op_family_that_takes_the_time():
    import tensorflow as tf

    from s2s.bench.decode import profile_table

    logits = tf.random.normal([256, 20000], seed=1)
    select = tf.function(lambda: tf.math.top_k(logits, k=128))
    select()  # traced outside the profile
    rows = profile_table(select)
    assert rows[0][0] == "partial selection (TopKV2)" and rows[0][2] > 0.5, rows
    assert abs(sum(share for _, _, share in rows) - 1.0) < 1e-6


def test_the_seed_spread_is_mean_sample_deviation_and_range(capsys):
    from s2s.bench.quality import seed_spread

    results = {
        k: {"eval": {"perplexity": p, "input_dependence": d}}
        for k, p, d in (("a", 90.0, 1.1), ("b", 100.0, 1.2), ("c", 110.0, 1.3))
    }
    spread = seed_spread(results, ["a", "b", "c"], trigram=100.0)
    assert spread["vs_trigram"] == pytest.approx((1.0, 0.1, 0.9, 1.1))
    assert spread["input_dependence"] == pytest.approx((1.2, 0.1, 1.1, 1.3))
    assert "over 3 seeds: eval perplexity / trigram mean 1.0000, sd 0.1000 (0.9000 to 1.1000)" in capsys.readouterr().out
    results["b"]["test"] = {"perplexity": 50.0, "input_dependence": 1.0}
    assert seed_spread(results, ["b"], trigram=100.0, split="test")["vs_trigram"] == pytest.approx((0.5, 0.0, 0.5, 0.5))


def _measures(**changes):
    """One decoder's reply measures (as ``sequence_metrics.reply_measures`` returns them)."""
    m = dict.fromkeys(("distinct1", "repeated_2gram_share", "repeated_3gram_share", "word_repeat_share"), 0.0)
    m |= {"distinct2": 0.3, "top_reply_share": 0.01, "top_reply": "i do not know", "mean_length": 8.0}
    m |= {"reference_mean_length": 8.0, "bleu1": 9.0, "bleu2": 4.0, "fluency": -4.8, "reference_fluency": -4.8}
    m |= {"reference_repeated_2gram_share": 0.07, "reference_word_repeat_share": 0.05}
    return m | changes


def test_the_goals_are_judged_on_each_split_with_its_own_figures(capsys):
    """The held-out check: a model that meets every goal on eval but not on test is told so, goal
    by goal, from the test split's own perplexity, trigram and replies."""
    from s2s.bench.quality import decoders, report

    def split(perplexity, dependence, **default):
        measures = {name: _measures() for name in decoders()}
        measures["default decoder"] = _measures(**default)
        measures["beam 4"] = _measures(top_reply_share=0.2 if default else 0.01)
        return {
            "pairs": 10,
            "perplexity": perplexity,
            "input_dependence": dependence,
            "masked_accuracy": 0.2,
            "decoders": measures,
        }

    results = {
        "default": {
            "eval": split(70.0, 1.25),
            "test": split(84.0, 1.15, fluency=-6.0, bleu2=3.0),
            "params": 1,
            "epochs_run": 1,
            "val_perplexity_by_epoch": [70.0],
            "samples": {"default decoder": ["hi"] * 8},
        }
    }
    goals = report(
        results, {"trigram": {"eval": 100.0, "test": 105.0}, "unigram": {"eval": 200.0, "test": 200.0}}, {"default": "(a)"}
    )
    out = capsys.readouterr().out
    assert all(goals[f"eval {name}"] for name in ("vs_trigram", "input_dependence", "fluency", "bleu2", "top_reply beam 4"))
    assert not any(goals[f"test {name}"] for name in ("vs_trigram", "input_dependence", "fluency", "bleu2", "top_reply beam 4"))
    assert goals["test top_reply"] and goals["test no_word_repeats"]
    assert "goal MET : [eval] default perplexity = 0.7000 x" in out and "goal MISS: [test] default perplexity = 0.8000 x" in out
    assert "goal MISS: [test] input dependence 1.1500 (goal >= 1.2)" in out
    assert "goal MISS: [test] default decoder's fluency -6.000 is 25.0% off" in out
