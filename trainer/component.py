"""The Trainer component with its settings (:class:`trainer.params.TrainerSettings`) as typed
execution properties (see :mod:`common.typed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from common.typed import settings_arguments, spec_with, typed_executor
from trainer.params import TrainerSettings

Seq2SeqTrainerSpec = spec_with(standard_component_specs.TrainerSpec, TrainerSettings, "Seq2SeqTrainerSpec")


Seq2SeqTrainerExecutor = typed_executor(trainer_executor.GenericExecutor, TrainerSettings, "Seq2SeqTrainerExecutor", __name__)


class Seq2SeqTrainer(base_component.BaseComponent):
    """The stock (generic) Trainer's executor and outputs, its settings execution properties
    (Kubeflow run parameters)."""

    SPEC_CLASS = Seq2SeqTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Seq2SeqTrainerExecutor)

    def __init__(
        self,
        *,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        settings: Mapping[str, Any],
        run_fn: str,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: Mapping[str, Any],
    ):
        """Args:
        examples, transform_graph, schema: the Transform's and SchemaGen's outputs.
        settings: a value (or RuntimeParameter) per field of TrainerSettings.
        run_fn: the import path of the run_fn.
        train_args, eval_args: the splits it trains and validates on.
        custom_config: handed to the run_fn, with the settings.
        """
        spec = Seq2SeqTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            run_fn=run_fn,
            train_args=train_args,
            eval_args=eval_args,
            custom_config=json_utils.dumps(dict(custom_config)),
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
            **settings_arguments(Seq2SeqTrainerSpec, settings),
        )
        super().__init__(spec=spec)
