"""A real LocalDagRunner run, raw corpus to pushed model, on the embedded sample (tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig
from pipeline.runs import open_store

# A 30-step model is no chatbot: the collapse bound is lifted here and tested on its own below.
TINY = dict(
    vocab_size=500,
    embedding_dim=8,
    units=16,
    batch_size=64,
    train_steps=30,
    eval_steps=2,
    max_len=8,
    min_masked_accuracy=0.0,
    max_top_reply_share=1.0,
)


def _store(cfg):
    return open_store(cfg.metadata_path)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    from pipeline import local_runner

    cfg = PipelineConfig.of(work_dir=str(tmp_path_factory.mktemp("e2e"))).replace(**TINY)
    return cfg, local_runner.run(cfg)


def test_run_pushes_a_served_model(first_run):
    from serving.saved_model import Chatbot

    cfg, result = first_run
    assert result.evaluation.blessed and result.pushed_to
    assert re.fullmatch(re.escape(cfg.serving_model_dir) + r"/\d+", result.pushed_to)
    metrics = result.evaluation.overall
    assert metrics["example_count"] == 559  # the test split: movies m31 and m39
    assert result.corpus.counts.pairs == 3341
    assert result.corpus.split_sizes["test"] == 559
    assert 0.0 <= metrics["masked_token_accuracy"] <= 1.0
    assert metrics["perplexity"] > 1.0
    # The Trainer's collapse check ran inside the TFX Trainer, with the defaults, on the eval pass.
    assert 0.0 < result.data.training.top_reply_share <= 1.0
    replies = Chatbot(result.pushed_to).reply(["Hi, how are you?", "Where are you going?"])
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)


def test_example_gen_counts_are_on_the_artifact(first_run):
    cfg, _ = first_run
    [examples] = _store(cfg).get_artifacts_by_type("Examples")[:1]
    props = {k: v.int_value for k, v in examples.custom_properties.items() if k.startswith("cornell_")}
    assert props["cornell_pairs"] == 3341
    assert props["cornell_pairs_train"] + props["cornell_pairs_eval"] + props["cornell_pairs_test"] == 3341
    assert props["cornell_pairs_test"] == 559 and props["cornell_lines_malformed"] == 0


@pytest.mark.slow
def test_second_run_reuses_cached_components(first_run):
    from pipeline import local_runner

    cfg, _ = first_run
    local_runner.run(cfg)
    store = _store(cfg)
    states = {}
    for execution in store.get_executions():
        states.setdefault(execution.type.rsplit(".", 1)[-1], []).append(execution.last_known_state)
    cached = metadata_store_pb2.Execution.CACHED
    assert len(states) == 8 and all(len(s) == 2 for s in states.values()), states
    # Everything up to the Trainer is reused. The baseline is not (a new version was pushed
    # since): it is now the first run's pushed model, a new input of the Evaluator, so the
    # Evaluator and the Pusher after it run again.
    not_cached = {k: metadata_store_pb2.Execution.State.Name(v[-1]) for k, v in states.items() if v[-1] != cached}
    assert not_cached == {"ServedBaseline": "COMPLETE", "Seq2SeqEvaluator": "COMPLETE", "AtomicPusher": "COMPLETE"}, not_cached


def test_metrics_per_genre_slice_and_sequence_metrics(first_run):
    from pipeline import status

    cfg, _ = first_run
    [run] = status.latest_runs(cfg, limit=1)
    metrics = run.evaluation.metrics
    assert {"overall", "genres=thriller", "genres=comedy"} <= set(metrics)
    overall = metrics["overall"]
    assert {"masked_token_accuracy", "perplexity", "bleu2", "distinct1", "distinct2", "top_reply_share", "example_count"} <= set(
        overall
    )
    assert 0.0 <= overall["bleu2"] <= 100.0 and 0.0 <= overall["distinct1"] <= 1.0
    assert 0.0 < overall["top_reply_share"] <= 1.0
    for share in ("word_repeat_share", "repeated_2gram_share"):  # the default replies' and the references'
        assert 0.0 <= overall[share] <= 1.0 and 0.0 <= overall[f"reference_{share}"] <= 1.0
    # Log-probabilities per token under the train replies' trigram, saved beside the model.
    assert -15.0 < overall["fluency"] < 0.0 and -15.0 < overall["reference_fluency"] < 0.0
    # m31 (comedy, crime, romance, thriller) and m39 (action, ... thriller) are the test split
    assert metrics["genres=thriller"]["example_count"] == 559
    assert metrics["genres=comedy"]["example_count"] + metrics["genres=action"]["example_count"] == 559


def test_model_that_says_one_thing_to_everyone_is_not_blessed(first_run):
    """The same trained model (the Trainer is cached) judged with a collapse bound it cannot meet."""
    from pipeline import local_runner

    cfg, result = first_run
    before = sorted(p.name for p in Path(cfg.serving_model_dir).iterdir())
    share = result.evaluation.overall["top_reply_share"]
    strict = cfg.replace(max_top_reply_share=share / 2)
    judged = local_runner.run(strict)
    assert judged.evaluation.overall["top_reply_share"] == pytest.approx(share)
    assert not judged.evaluation.blessed and not judged.pushed_to
    assert sorted(p.name for p in Path(cfg.serving_model_dir).iterdir()) == before


def test_worse_model_is_not_blessed_and_serving_dir_is_unchanged(first_run, capsys):
    from pipeline import local_runner, status
    from s2s import cli

    cfg, result = first_run
    before = sorted(p.name for p in Path(cfg.serving_model_dir).iterdir())
    worse = cfg.replace(learning_rate=1e-7, train_steps=2)  # as good as untrained
    second = local_runner.run(worse)
    assert not second.evaluation.blessed and not second.pushed_to
    after = sorted(p.name for p in Path(cfg.serving_model_dir).iterdir())
    assert after == before and result.pushed_version in before
    [latest] = status.latest_runs(cfg, limit=1)
    states = {step.component: step.state for step in latest.steps}
    assert states["CornellExampleGen"] == states["Seq2SeqTransform"] == "CACHED"
    assert states["Seq2SeqTrainer"] == "COMPLETE" and latest.evaluation.blessed is False and latest.pushed_version is None
    # The summary of a run whose first steps were cached still reads their reports.
    assert second.corpus.counts.pairs == 3341 and second.data.training is not None
    assert cli.main(["status", "--work-dir", cfg.run.work_dir, "--runs", "3"]) == 0  # worse, collapsed, first
    out = capsys.readouterr().out
    assert "NOT blessed" in out and "BLESSED" in out and f"pushed: version {before[-1]}" in out
    assert "Seq2SeqTrainer" in out and "genres=thriller" in out
