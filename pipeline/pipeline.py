"""The one pipeline definition: corpus -> examples -> transformed -> model -> blessed -> pushed.

Used by the local runner (LocalDagRunner) and, later, the Kubeflow compiler. User code is
referenced by import path (``transforms.preprocessing.preprocessing_fn``,
``trainer.task.run_fn``): the project is installed in the environment (and baked into the
pipeline image), so no module file is wheeled or uploaded. A content hash of that code
travels in ``custom_config``, so editing it re-runs the component instead of reusing a
cache entry that older code produced.
"""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.proto import transform_pb2

from common import features, names
from common.code_version import code_version
from common.settings import as_properties
from components.baseline import ServedBaseline
from components.example_gen import CornellExampleGen
from components.pusher import AtomicPusher
from evaluator.component import Seq2SeqEvaluator
from pipeline.config import PipelineConfig
from trainer.component import Seq2SeqTrainer
from transforms.component import Seq2SeqTransform

PREPROCESSING_FN = "transforms.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
# The executors that run our own code beside TFX's: their code versions are execution properties.
EXAMPLE_GEN_EXECUTOR = "components.example_gen.Executor"
EVALUATOR_EXECUTOR = "evaluator.component.Seq2SeqEvaluatorExecutor"


def _settings(settings, runtime_parameters: bool) -> dict:
    """A component's settings as execution properties: values, or RuntimeParameters (Kubeflow
    run parameters) defaulting to them. Every component takes its settings this one way."""
    values = as_properties(settings)
    if not runtime_parameters:
        return values
    return {
        name: tfx.dsl.experimental.RuntimeParameter(name=name, ptype=type(value), default=value) for name, value in values.items()
    }


def _data(cfg: PipelineConfig, runtime_parameters: bool) -> list:
    """ExampleGen, StatisticsGen, SchemaGen and the Transform."""
    example_gen = CornellExampleGen(
        data_dir=cfg.run.data_dir,
        settings=_settings(cfg.example_gen, runtime_parameters),
        code_version=code_version(EXAMPLE_GEN_EXECUTOR),
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    transform = Seq2SeqTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        settings=_settings(cfg.transform, runtime_parameters),
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=transform_pb2.SplitsConfig(
            analyze=[features.TRAIN_SPLIT], transform=[features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT]
        ),
        custom_config={"code_version": code_version(PREPROCESSING_FN)},
    )
    return [example_gen, statistics_gen, schema_gen, transform]


def _model(cfg: PipelineConfig, data: list, runtime_parameters: bool, serving_model_dir: str, serving_on_volume: bool) -> list:
    """Trainer, ServedBaseline, Evaluator and Pusher."""
    example_gen, _, schema_gen, transform = data
    trainer = Seq2SeqTrainer(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        settings=_settings(cfg.trainer, runtime_parameters),
        run_fn=RUN_FN,
        train_args=tfx.proto.TrainArgs(splits=[features.TRAIN_SPLIT]),
        eval_args=tfx.proto.EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config={"code_version": code_version(RUN_FN)},
    )
    # The Evaluator scores the held-out test movies (eval is used for validation while
    # training) with the raw examples; the model's transform_features signature
    # prepares the labels.
    # The model being served (the newest push: only blessed models are pushed) is the baseline
    # of the change threshold; the first run compares the candidate with itself.
    baseline = ServedBaseline(model=trainer.outputs["model"], serving_model_dir=serving_model_dir, on_volume=serving_on_volume)
    evaluator = Seq2SeqEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["baseline_model"],
        settings=_settings(cfg.evaluator, runtime_parameters),
        example_splits=[features.TEST_SPLIT],
        code_version=code_version(EVALUATOR_EXECUTOR),
    ).with_id("Evaluator")
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=serving_model_dir,
        settings=_settings(cfg.pusher, runtime_parameters),
        require_volume=serving_on_volume,
    ).with_id("Pusher")
    return [trainer, baseline, evaluator, pusher]


def create_pipeline(
    cfg: PipelineConfig,
    pipeline_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    runtime_parameters: bool = False,
    trainer_resources=None,
    step_resources=None,
    preprocessing_only: bool = False,
    serving_model_dir: str | None = None,
    serving_on_volume: bool = False,
) -> tfx.dsl.Pipeline:
    """The pipeline. With ``runtime_parameters`` every component setting is a RuntimeParameter
    (a run parameter in the Kubeflow UI) defaulting to its value in ``cfg``;
    ``trainer_resources`` / ``step_resources`` are platform ResourceSpecs (Kubeflow);
    ``preprocessing_only`` stops after the Transform (the preprocessing benchmark);
    ``serving_model_dir`` is where the Pusher writes (default: the work dir's, ``cfg.serving_model_dir``);
    ``serving_on_volume``: it is a volume of the task pods (Kubeflow), which must be mounted when
    ServedBaseline and the Pusher run."""
    data = _data(cfg, runtime_parameters)
    model = _model(cfg, data, runtime_parameters, serving_model_dir or cfg.serving_model_dir, serving_on_volume)
    trainer, baseline, evaluator, pusher = model
    if trainer_resources is not None:
        trainer.with_platform_config(trainer_resources)
    if step_resources is not None:
        for component in (*data, baseline, evaluator, pusher):
            component.with_platform_config(step_resources)
    return tfx.dsl.Pipeline(
        pipeline_name=names.PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=data if preprocessing_only else [*data, *model],
        enable_cache=cfg.run.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
