"""The Cornell ExampleGen executor: exact examples per split, counts on the artifact, clear errors."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from common.names import LOAD_REPORT_FILE as REPORT_FILE
from common.settings import as_properties
from components.cornell import CorpusError
from components.example_gen import CornellExampleGen, Executor
from components.params import ExampleGenSettings


def _exec_properties(component) -> dict:
    props = {}
    for key, value in component.exec_properties.items():
        props[key] = proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR") else value
    return props


def _run(data_dir, out_dir, **kwargs):
    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    component = CornellExampleGen(data_dir=str(data_dir), settings=as_properties(ExampleGenSettings(**kwargs)))
    Executor().Do({}, {specs.EXAMPLES_KEY: [examples]}, _exec_properties(component))
    return examples


def _read_split(examples, split):
    files = tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        ex = tf.train.Example.FromString(record.numpy())
        out.append({k: [v.decode() for v in f.bytes_list.value] for k, f in ex.features.feature.items()})
    return sorted(out, key=lambda e: e["input_line_id"])


def test_examples_split_by_movie_with_counts(tiny_corpus, tmp_path):
    examples = _run(tiny_corpus, tmp_path / "examples")
    train, eval_, test = (_read_split(examples, s) for s in ("train", "eval", "test"))
    # m0 hashes into train, m2 into eval, m39 into test (8/1/1 buckets of the movie id).
    assert [(e["input_line_id"], e["target_line_id"]) for e in train] == [(["L1"], ["L2"]), (["L2"], ["L3"])]
    assert train[1]["target_text"] == ["Where's the café?"]
    assert train[0]["genres"] == ["comedy", "romance"]
    assert [e["context_text"] for e in train] == [[""], ["Hi, I'm Bianca."]]  # the line before the input
    assert eval_ == [
        {
            "input_text": ["Ready?"],
            "target_text": ["Always."],
            "movie_id": ["m2"],
            "conversation_id": ["m2:L10"],
            "input_line_id": ["L10"],
            "target_line_id": ["L11"],
            "genres": ["action", "crime", "drama", "thriller"],
            "context_text": [""],
        }
    ]
    assert [e["movie_id"] for e in test] == [["m39"]]

    props = {k: v.int_value for k, v in examples.mlmd_artifact.custom_properties.items() if k.startswith("cornell_")}
    assert props["cornell_pairs"] == 4
    assert props["cornell_lines_malformed"] == 2
    assert props["cornell_conversations_with_missing_lines"] == 2
    assert props["cornell_pairs_skipped_missing_line"] == 3
    assert props["cornell_pairs_skipped_empty_utterance"] == 2
    assert (props["cornell_pairs_train"], props["cornell_pairs_eval"], props["cornell_pairs_test"]) == (2, 1, 1)
    report = json.loads((tmp_path / "examples" / REPORT_FILE).read_text())
    assert report["counts"]["pairs"] == 4 and report["split_sizes"] == {"train": 2, "eval": 1, "test": 1}


def test_empty_split_is_a_clear_error(tiny_corpus, tmp_path):
    # With every bucket but one given to train, a 3-movie corpus leaves a split empty.
    with pytest.raises(CorpusError, match=r"split\(s\) .* would be empty"):
        _run(tiny_corpus, tmp_path / "examples", train_buckets=98, eval_buckets=1, test_buckets=1)


def test_bad_corpus_fails_before_beam_naming_the_file(tmp_path):
    (tmp_path / "movie_lines.txt").write_text("not,the,format\n")
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2']\n")
    with pytest.raises(CorpusError, match="movie_lines.txt: no line is in the movie_lines format"):
        _run(tmp_path, tmp_path / "examples")
