"""The Evaluator component with its blessing bounds (:class:`evaluator.params.EvaluatorSettings`)
as typed execution properties (see :mod:`common.typed`).

The stock Evaluator takes an ``eval_config`` built when the pipeline is compiled, so its
thresholds could not be run parameters. This one's executor builds the config from the
bounds when it runs (:func:`evaluator.config.eval_config`) and hands it to the stock executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils, path_utils, proto_utils

from common import reply_corpus
from common.typed import settings_arguments, spec_with, split_settings
from evaluator.config import eval_config
from evaluator.params import EvaluatorSettings

# The content hash of this module's code (config, metrics), so that editing it re-runs the Evaluator.
CODE_VERSION_KEY = "code_version"
Seq2SeqEvaluatorSpec = spec_with(
    standard_component_specs.EvaluatorSpec,
    EvaluatorSettings,
    "Seq2SeqEvaluatorSpec",
    **{CODE_VERSION_KEY: ExecutionParameter(type=str, optional=True)},
)


def _with_replies(input_dict) -> str:
    """The candidate's SavedModel directory when the Trainer saved its train replies beside it
    (the replies' fluency is measured with them), else ""."""
    model_dir = path_utils.serving_model_path(artifact_utils.get_single_uri(input_dict[standard_component_specs.MODEL_KEY]))
    return model_dir if tf.io.gfile.exists(reply_corpus.path_in(model_dir)) else ""


class Seq2SeqEvaluatorExecutor(evaluator_executor.Executor):
    """The stock Evaluator executor, its eval_config built from the bounds it was given."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """The stock ``Do`` with ``eval_config`` = :func:`evaluator.config.eval_config` of the settings."""
        bounds, props = split_settings(exec_properties, EvaluatorSettings)
        props.pop(CODE_VERSION_KEY, None)
        props[standard_component_specs.EVAL_CONFIG_KEY] = proto_utils.proto_to_json(
            eval_config(bounds, _with_replies(input_dict))
        )
        super().Do(input_dict, output_dict, props)


class Seq2SeqEvaluator(base_beam_component.BaseBeamComponent):
    """The stock Evaluator's executor and outputs, its blessing bounds execution properties
    (Kubeflow run parameters)."""

    SPEC_CLASS = Seq2SeqEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Seq2SeqEvaluatorExecutor)

    def __init__(
        self,
        *,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        settings: Mapping[str, Any],
        example_splits: list[str],
        code_version: str = "",
    ):
        """Args:
        examples: the raw examples (the model's transform_features signature prepares the labels).
        model, baseline_model: the candidate, and the model it is compared with.
        settings: a value (or RuntimeParameter) per field of EvaluatorSettings.
        example_splits: the splits evaluated.
        code_version: the content hash of the executor's code (``common.code_version``).
        """
        spec = Seq2SeqEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            example_splits=json_utils.dumps(list(example_splits)),
            **{CODE_VERSION_KEY: code_version},
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **settings_arguments(Seq2SeqEvaluatorSpec, settings),
        )
        super().__init__(spec=spec)
