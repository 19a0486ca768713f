"""Shared fixtures: paths, and a tiny Transform output + trained model built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TESTS = Path(__file__).resolve().parent
TINY_CORPUS = TESTS / "fixtures" / "tiny_corpus"
REPO = TESTS.parent
SHARED_CORNELL = REPO.parent / "shared" / "data" / "cornell"


@pytest.fixture(scope="session")
def tiny_corpus() -> Path:
    return TINY_CORPUS


RAW_SPEC_SHAPE = [1]  # SchemaGen(infer_feature_shape=True) gives each text feature the shape [1]


def analyze_and_transform(raw_rows, custom_config, out_dir: Path):
    """Runs the project's preprocessing_fn through TFT's Beam implementation.

    Writes the transform graph (as the Transform component does) to ``out_dir/transform``
    and the transformed rows as gzipped TFRecords to ``out_dir/transformed``; returns the
    transformed rows.
    """
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from common import features
    from transforms.preprocessing import preprocessing_fn

    # The raw text features the ExampleGen writes (a row without a previous line has "").
    keys = (features.INPUT_TEXT, features.TARGET_TEXT, features.CONTEXT_TEXT)
    spec = {name: tf.io.FixedLenFeature(RAW_SPEC_SHAPE, tf.string) for name in keys}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{k: [r.get(k, b"")] for k in keys} for r in raw_rows]
    with tft_beam.Context(temp_dir=str(out_dir / "tmp"), force_tf_compat_v1=False):
        (transformed, transformed_md), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / "transform"))
    # The raw schema, as the Transform component writes it (the export parses raw examples with it).
    metadata_io.write_metadata(metadata, str(out_dir / "transform" / "metadata"))
    (out_dir / "transformed").mkdir(parents=True, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(out_dir / "transformed" / "part-0.gz"), options) as writer:
        for row in transformed:
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=list(np.atleast_1d(v)))) for k, v in row.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return transformed


@pytest.fixture(scope="session")
def tiny_transform(tmp_path_factory):
    """Transform output over the first 96 pairs of the embedded sample (max_len 8, no context: the
    previous line has its own fixture in tests/test_context.py)."""
    from common import features
    from components.cornell import load_corpus
    from pipeline.config import SAMPLE_DATA_DIR

    pairs, _ = load_corpus(SAMPLE_DATA_DIR)
    rows = [{features.INPUT_TEXT: p.input_text.encode(), features.TARGET_TEXT: p.target_text.encode()} for p in pairs[:96]]
    out = tmp_path_factory.mktemp("tiny_transform")
    analyze_and_transform(rows, {"vocab_size": 300, "min_frequency": 1, "max_len": 8, "context_len": 0}, out)
    return out


def run_trainer(tiny_transform: Path, out: Path, settings: dict) -> Path:
    """The Trainer component's executor (``Seq2SeqTrainerExecutor().Do``) on ``tiny_transform``, as
    the orchestrator calls it: the settings as typed execution properties, the code version in
    ``custom_config``. Writes model_run/ and serving_model/ under ``out``."""
    import json

    from tfx.proto import trainer_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from common.settings import as_properties, from_properties
    from trainer.component import Seq2SeqTrainerExecutor
    from trainer.params import TrainerSettings

    examples = standard_artifacts.Examples()
    examples.uri = str(out / "examples")
    examples.split_names = '["train", "eval"]'
    for split in ("train", "eval"):  # both splits read the same tiny file
        (out / "examples" / f"Split-{split}").mkdir(parents=True)
        (out / "examples" / f"Split-{split}" / "part-0.gz").symlink_to(tiny_transform / "transformed" / "part-0.gz")
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(tiny_transform / "transform")
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(out / "model"), str(out / "model_run")
    properties = {
        **as_properties(from_properties(TrainerSettings, settings)),
        specs.RUN_FN_KEY: "trainer.task.run_fn",
        specs.TRAIN_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"])),
        specs.EVAL_ARGS_KEY: proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
        specs.CUSTOM_CONFIG_KEY: json.dumps({"code_version": "test"}),
    }
    Seq2SeqTrainerExecutor().Do(
        {specs.EXAMPLES_KEY: [examples], specs.TRANSFORM_GRAPH_KEY: [graph]},
        {specs.MODEL_KEY: [model], specs.MODEL_RUN_KEY: [model_run]},
        properties,
    )
    (out / "serving_model").symlink_to(out / "model" / "Format-Serving")
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_transform, tmp_path_factory):
    """The Trainer's run_fn, one step on ``tiny_transform``: model_run and serving_model dirs."""
    config = {"embedding_dim": 8, "units": 16, "batch_size": 32, "train_steps": 1, "eval_steps": 1}
    return run_trainer(tiny_transform, tmp_path_factory.mktemp("trainer"), config)


def tiny_params(**overrides):
    """A small network's shape for model tests: a plain LSTM pair unless ``overrides`` say otherwise."""
    from trainer.model import ModelParams

    shape = dict(
        vocab_size=30,
        embedding_dim=6,
        units=8,
        layers=1,
        dropout=0.0,
        attention=False,
        tie_embeddings=False,
        bidirectional=False,
        word_dropout=0.0,
        copy=False,
    )
    return ModelParams(**{**shape, **overrides})
