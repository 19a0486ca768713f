"""The Trainer component with its settings (:class:`trainer.params.TrainerParams`) as typed
execution properties (see :mod:`common.typed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx.components import Trainer
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_component_specs

from common.typed import respec, spec_with, typed_executor
from trainer.params import TrainerParams

Seq2SeqTrainerSpec = spec_with(standard_component_specs.TrainerSpec, TrainerParams, "Seq2SeqTrainerSpec")


Seq2SeqTrainerExecutor = typed_executor(trainer_executor.GenericExecutor, TrainerParams, "Seq2SeqTrainerExecutor", __name__)


class Seq2SeqTrainer(Trainer):
    """Trainer whose settings are execution properties (Kubeflow run parameters)."""

    SPEC_CLASS = Seq2SeqTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Seq2SeqTrainerExecutor)

    def __init__(self, *, hparams: Mapping[str, Any], **trainer_kwargs: Any):
        """Args: hparams: a value (or RuntimeParameter) per setting; the rest: the stock Trainer's."""
        spec = respec(Trainer(**trainer_kwargs), Seq2SeqTrainerSpec, hparams)
        base_component.BaseComponent.__init__(self, spec=spec)
