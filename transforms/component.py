"""The Transform component with its settings (:class:`transforms.params.TransformSettings`) as
typed execution properties (see :mod:`common.typed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import transform_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from common.typed import settings_arguments, spec_with, typed_executor
from transforms.params import TransformSettings

Seq2SeqTransformSpec = spec_with(standard_component_specs.TransformSpec, TransformSettings, "Seq2SeqTransformSpec")


Seq2SeqTransformExecutor = typed_executor(transform_executor.Executor, TransformSettings, "Seq2SeqTransformExecutor", __name__)


class Seq2SeqTransform(base_beam_component.BaseBeamComponent):
    """The stock Transform's executor and outputs, its settings execution properties (Kubeflow
    run parameters); statistics left to StatisticsGen (no pre/post-transform statistics)."""

    SPEC_CLASS = Seq2SeqTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Seq2SeqTransformExecutor)

    def __init__(
        self,
        *,
        examples: types.BaseChannel,
        schema: types.BaseChannel,
        settings: Mapping[str, Any],
        preprocessing_fn: str,
        splits_config: transform_pb2.SplitsConfig,
        custom_config: Mapping[str, Any],
    ):
        """Args:
        examples, schema: the ExampleGen's and SchemaGen's outputs.
        settings: a value (or RuntimeParameter) per field of TransformSettings.
        preprocessing_fn: the import path of the preprocessing_fn.
        splits_config: the splits analyzed and transformed.
        custom_config: handed to the preprocessing_fn, with the settings.
        """
        transformed_examples = types.Channel(type=standard_artifacts.Examples)
        transformed_examples.matching_channel_name = standard_component_specs.EXAMPLES_KEY
        spec = Seq2SeqTransformSpec(
            examples=examples,
            schema=schema,
            preprocessing_fn=preprocessing_fn,
            splits_config=splits_config,
            custom_config=json_utils.dumps(dict(custom_config)),
            disable_statistics=1,
            force_tf_compat_v1=0,
            transform_graph=types.Channel(type=standard_artifacts.TransformGraph),
            transformed_examples=transformed_examples,
            updated_analyzer_cache=types.Channel(type=standard_artifacts.TransformCache),
            **settings_arguments(Seq2SeqTransformSpec, settings),
        )
        super().__init__(spec=spec)
