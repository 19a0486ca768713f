"""The reports as typed records: what a component writes is what the run summary, ``s2s status``
and the console read back, and a count the loader makes that the record does not know fails
where the report is written (not in a line printed after a finished run)."""

from __future__ import annotations

import dataclasses

import pytest
from ml_metadata.proto import metadata_store_pb2

from common.reports import CorpusCounts, CorpusReport, DataReport, SplitData, Training
from components.cornell import LoadReport
from pipeline import console, runs


def _corpus() -> CorpusReport:
    report = LoadReport()
    report.counts.update(pairs=7, lines_malformed=2, titles_read=3)
    report.problem("lines_blank", "movie_lines.txt:4")
    return report.corpus_report({"train": 5, "eval": 1, "test": 1})


def _data(training: Training | None) -> DataReport:
    split = SplitData(pairs=10, pairs_longer_than_max_len=1, oov_share=0.05)
    return DataReport(
        12, "truncated", split, split, None, ["CPU"], "_DefaultDistributionStrategy", "float32", "float32", 64, 0, training
    )


def test_a_count_the_record_does_not_know_fails_where_the_report_is_written():
    report = LoadReport()
    report.counts["pairs_dropped_for_fun"] += 1  # a count renamed or added in the loader alone
    with pytest.raises(ValueError, match="pairs_dropped_for_fun"):
        report.corpus_report({"train": 0})


def test_reports_read_back_what_was_written():
    corpus = _corpus()
    assert CorpusReport.from_json(corpus.to_json()) == corpus
    assert corpus.counts == CorpusCounts(pairs=7, lines_malformed=2, lines_blank=1, titles_read=3)
    assert corpus.problems == {"lines_blank": ["movie_lines.txt:4"]}
    for training in (None, Training(2, 3, 2, 41.5, "best epoch")):
        assert DataReport.from_json(_data(training).to_json()) == _data(training)


def test_the_lines_a_run_prints_come_from_the_records():
    corpus = _corpus()
    assert corpus.figure() == "7 pairs (eval 1, test 1, train 5)"
    assert corpus.line().startswith("corpus: 7 pairs {'eval': 1, 'test': 1, 'train': 5}; skipped: 2 malformed lines, 1 blank")
    assert corpus.line().endswith("(no genres: the Evaluator's genre slices are empty)")  # titles read, none with genres
    assert not dataclasses.replace(corpus, counts=CorpusCounts(titles_read=3, titles_valid=3)).line().endswith("empty)")
    data = _data(Training(2, 3, 2, 41.5, "best epoch"))
    assert data.figure() == "2 of 3 epochs, best eval perplexity 41.5 at epoch 2"
    assert data.lines() == [
        "vocabulary: 12 ids (reserved tokens included); out-of-vocabulary share of eval tokens 5.00%; "
        "pairs longer than max_len (truncated): train 1 of 10, eval 1 of 10; random embedding",
        "training: 2 of 3 epoch(s) on CPU (DefaultDistributionStrategy, float32, global batch 64); "
        "best eval perplexity 41.5 at epoch 2, best epoch exported",
    ]
    tuned = _data(Training(2, 3, 2, 41.5, "best epoch + 1 fine-tuning pass", 0.08, 1, 43.25))
    assert tuned.figure() == "2 of 3 epochs, best eval perplexity 41.5 at epoch 2, then 1 fine-tuning pass (eval perplexity 43.2)"
    assert tuned.lines()[1].endswith(
        "best eval perplexity 41.5 at epoch 2, best epoch + 1 fine-tuning pass exported (eval perplexity 43.2) "
        "(greedy's most frequent reply: 8.0% of the eval replies)"
    )
    assert DataReport.from_json(tuned.to_json()) == tuned


def _artifact(artifact_id: int, uri, **ints) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(id=artifact_id, uri=str(uri))
    for key, value in ints.items():
        artifact.custom_properties[key].int_value = value
    return artifact


def test_a_run_reads_its_reports_from_its_steps_outputs(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / CorpusReport.FILE).write_text(_corpus().to_json())
    (tmp_path / "transformed").mkdir()  # the Transform's examples: no corpus report
    (tmp_path / "model_run").mkdir()
    (tmp_path / "model_run" / DataReport.FILE).write_text(_data(Training(1, 1, 1, 90.0, "last epoch")).to_json())
    pushed = _artifact(6, tmp_path / "pushed", pushed=1)
    pushed.custom_properties["pushed_destination"].string_value = "/serving/chatbot/1700000000"
    steps = [
        runs.Step("CornellExampleGen", "CACHED", 0.1, {runs.EXAMPLES: [_artifact(1, tmp_path / "examples")]}),
        runs.Step("Seq2SeqTransform", "CACHED", 0.1, {runs.EXAMPLES: [_artifact(3, tmp_path / "transformed")]}),
        runs.Step("Seq2SeqTrainer", "COMPLETE", 9.0, {runs.MODEL_RUN: [_artifact(4, tmp_path / "model_run")]}),
        runs.Step("Evaluator", "COMPLETE", 5.0, {runs.BLESSING: [_artifact(5, tmp_path / "blessing", blessed=1)]}),
        runs.Step("Pusher", "COMPLETE", 1.0, {runs.PUSHED_MODEL: [pushed]}),
    ]
    run = runs.Run("r1", "2026-12-01T02:00:00", steps)
    assert run.corpus == _corpus() and run.data.training.best_val_perplexity == 90.0
    assert run.evaluation.blessed and run.pushed_version == "1700000000"
    assert run.summary()[0] == _corpus().line() and len(run.summary()) == 3  # no metrics: no evaluation line
    figures = [console.figure(step) for step in steps if step.component != "Seq2SeqTransform"]
    assert figures == [
        "7 pairs (eval 1, test 1, train 5)",
        "1 of 1 epochs, best eval perplexity 90.0 at epoch 1",
        "BLESSED",
        "pushed version 1700000000",
    ]
