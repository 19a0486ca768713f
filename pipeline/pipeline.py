"""The one pipeline definition: corpus -> examples -> transformed -> model -> blessed -> pushed.

Used by the local runner (LocalDagRunner) and, later, the Kubeflow compiler. User code is
referenced by import path (``transforms.preprocessing.preprocessing_fn``,
``trainer.task.run_fn``): the project is installed in the environment (and baked into the
pipeline image), so no module file is wheeled or uploaded. A content hash of that code
travels in ``custom_config``, so editing it re-runs the component instead of reusing a
cache entry that older code produced.
"""

from __future__ import annotations

from typing import List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.proto import transform_pb2

from components.example_gen import CornellExampleGen
from components.hparams import Seq2SeqTrainer, Seq2SeqTransform
from components.pusher import AtomicPushExecutor
from tfx.dsl.components.base import executor_spec
from s2s import config as C
from trainer import metrics as seq_metrics

PREPROCESSING_FN = "transforms.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"


def eval_config(cfg: C.PipelineConfig) -> tfma.EvalConfig:
    """Sequence metrics overall and per movie genre; blessing needs the absolute bounds
    (masked token accuracy, perplexity, the most frequent reply's share) and, once a model was blessed before, a perplexity
    at most ``max_perplexity_increase`` (relative) worse than that baseline's."""
    module = seq_metrics.__name__

    def spec(name: str, baseline: bool = False) -> tfma.ModelSpec:
        return tfma.ModelSpec(
            name=name,
            signature_name=C.TF_EXAMPLE_SIGNATURE,
            label_key=C.LABEL_KEY,
            preprocessing_function_names=[C.TRANSFORM_SIGNATURE],
            is_baseline=baseline,
        )

    return tfma.EvalConfig(
        model_specs=[spec("candidate"), spec("baseline", baseline=True)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[C.GENRES])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="MaskedTokenAccuracy",
                        module=module,
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.min_masked_accuracy})
                        ),
                    ),
                    tfma.MetricConfig(
                        class_name="Perplexity",
                        module=module,
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(upper_bound={"value": cfg.max_perplexity}),
                            change_threshold=tfma.GenericChangeThreshold(
                                direction=tfma.MetricDirection.LOWER_IS_BETTER,
                                relative={"value": cfg.max_perplexity_increase},
                            ),
                        ),
                    ),
                    tfma.MetricConfig(class_name="CorpusBleu", module=module, config='"max_order": 2'),
                    tfma.MetricConfig(class_name="DistinctN", module=module, config='"n": 1'),
                    tfma.MetricConfig(class_name="DistinctN", module=module, config='"n": 2'),
                    # Over all test replies only: a genre slice of a few dozen pairs is too
                    # small to call a model collapsed.
                    tfma.MetricConfig(
                        class_name="TopReplyShare",
                        module=module,
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[tfma.SlicingSpec()],
                                threshold=tfma.MetricThreshold(
                                    value_threshold=tfma.GenericValueThreshold(upper_bound={"value": cfg.max_top_reply_share})
                                ),
                            )
                        ],
                    ),
                ],
            )
        ],
    )


def create_pipeline(
    cfg: C.PipelineConfig,
    pipeline_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[List[str]] = None,
    runtime_parameters: bool = False,
    trainer_resources=None,
    step_resources=None,
    preprocessing_only: bool = False,
) -> tfx.dsl.Pipeline:
    """The pipeline. With ``runtime_parameters`` every hyperparameter is a RuntimeParameter
    (a run parameter in the Kubeflow UI) defaulting to its value in ``cfg``;
    ``trainer_resources`` / ``step_resources`` are platform ResourceSpecs (Kubeflow);
    ``preprocessing_only`` stops after the Transform (the preprocessing benchmark)."""

    def hparams(values):
        if not runtime_parameters:
            return dict(values)
        return {
            name: tfx.dsl.experimental.RuntimeParameter(name=name, ptype=type(value), default=value)
            for name, value in values.items()
        }

    example_gen = CornellExampleGen(
        cfg.data_dir,
        train_buckets=cfg.train_buckets,
        eval_buckets=cfg.eval_buckets,
        test_buckets=cfg.test_buckets,
        encoding=cfg.corpus_encoding,
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    transform = Seq2SeqTransform(
        **hparams(cfg.transform_hparams()),
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"code_version": C.code_version("transform")},
        splits_config=transform_pb2.SplitsConfig(
            analyze=[C.TRAIN_SPLIT], transform=[C.TRAIN_SPLIT, C.EVAL_SPLIT, C.TEST_SPLIT]
        ),
        disable_statistics=True,
    )
    trainer = Seq2SeqTrainer(
        hparams=hparams(cfg.trainer_hparams()),
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=[C.TRAIN_SPLIT]),
        eval_args=tfx.proto.EvalArgs(splits=[C.EVAL_SPLIT]),
        custom_config={"code_version": C.code_version("trainer")},
    )
    # The Evaluator scores the held-out test movies (eval is used for validation while
    # training) with the raw examples; the model's transform_features signature
    # prepares the labels.
    # The latest blessed model, if any: the baseline of the change threshold.
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(cfg),
        example_splits=[C.TEST_SPLIT],
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_model_dir)
        ),
        custom_config={"keep_versions": cfg.keep_versions},
        custom_executor_spec=executor_spec.ExecutorClassSpec(AtomicPushExecutor),
    )
    if trainer_resources is not None:
        trainer.with_platform_config(trainer_resources)
    if step_resources is not None:
        for component in (example_gen, statistics_gen, schema_gen, transform, evaluator, pusher):
            component.with_platform_config(step_resources)
    components = [example_gen, statistics_gen, schema_gen, transform, trainer, baseline, evaluator, pusher]
    return tfx.dsl.Pipeline(
        pipeline_name=C.PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=components[:4] if preprocessing_only else components,
        enable_cache=cfg.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
