"""The Transform component with its settings (:class:`transforms.params.TransformParams`) as
typed execution properties (see :mod:`common.typed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx.components import Transform
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_component_specs

from common.typed import respec, spec_with, typed_executor
from transforms.params import TransformParams

Seq2SeqTransformSpec = spec_with(standard_component_specs.TransformSpec, TransformParams, "Seq2SeqTransformSpec")


Seq2SeqTransformExecutor = typed_executor(transform_executor.Executor, TransformParams, "Seq2SeqTransformExecutor", __name__)


class Seq2SeqTransform(Transform):
    """Transform whose settings are execution properties (Kubeflow run parameters)."""

    SPEC_CLASS = Seq2SeqTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Seq2SeqTransformExecutor)

    def __init__(self, *, hparams: Mapping[str, Any], **transform_kwargs: Any):
        """Args: hparams: a value (or RuntimeParameter) per setting; the rest: the stock Transform's."""
        spec = respec(Transform(**transform_kwargs), Seq2SeqTransformSpec, hparams)
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
