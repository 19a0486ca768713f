"""ServedBaseline: the Evaluator's baseline is the model being served, found without a resolver.

TFX's LatestBlessedModelStrategy compiles into resolver tasks, which open-source Kubeflow
Pipelines does not run. This component gives the same graph on every orchestrator: it reads
the serving directory the Pusher writes (only blessed models are pushed), and outputs the
newest pushed version as a Model artifact. On the first run, with nothing pushed yet, it outputs
the candidate itself: the change threshold then compares the candidate with itself (no change),
so the first model is judged on the absolute bounds alone. The artifact says which it is
(``baseline_source``: ``served`` or ``candidate``; ``served_version``). A served version exported
before the ``score_tf_example`` signature (which the Evaluator asks a baseline for) cannot be
scored: the candidate stands in, and ``baseline_note`` says why.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils, path_utils

from common import names
from common.serving_layout import versions
from components.volumes import require_volume

MODEL_KEY = "model"
BASELINE_KEY = "baseline_model"
SERVING_DIR_KEY = "serving_model_dir"
SERVED_VERSION_KEY = "served_version"
REQUIRE_VOLUME_KEY = "require_volume"


# The signature the Evaluator calls on the baseline (teacher forcing only: evaluator/config.py).
SIGNATURE = names.SCORE_SIGNATURE


def signatures(saved_model_dir: str) -> set[str]:
    """The signature names of a SavedModel, read from its saved_model.pb without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString(io_utils.read_bytes_file(os.path.join(saved_model_dir, "saved_model.pb")))
    return {name for graph in model.meta_graphs for name in graph.signature_def}


class ServedBaselineSpec(ComponentSpec):
    # served_version: the newest pushed version when the pipeline was built. The executor reads
    # the directory itself; this only keys the cache, so that a new push is never answered with
    # a cached baseline (on Kubeflow, where it is unknown at compile time, the task is not cached).
    # require_volume: 1 where the serving directory must be a mounted volume (Kubeflow): a pod that
    # does not see the shared volume would find no versions and silently use the candidate.
    PARAMETERS = {
        SERVING_DIR_KEY: ExecutionParameter(type=str),
        SERVED_VERSION_KEY: ExecutionParameter(type=str),
        REQUIRE_VOLUME_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {BASELINE_KEY: ChannelParameter(type=standard_artifacts.Model)}


class Executor(base_executor.BaseExecutor):
    """Copies the newest pushed version (or, with none, the candidate) into the baseline artifact."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        candidate = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        baseline = artifact_utils.get_single_instance(output_dict[BASELINE_KEY])
        serving_dir = exec_properties[SERVING_DIR_KEY]
        if exec_properties.get(REQUIRE_VOLUME_KEY):
            require_volume(serving_dir, "serving directory")
        pushed = [v for v in versions(serving_dir) if os.path.isfile(os.path.join(serving_dir, str(v), "saved_model.pb"))]
        served = os.path.join(serving_dir, str(pushed[-1])) if pushed else None
        if served and SIGNATURE in signatures(served):
            source = served
            baseline.set_string_custom_property("baseline_source", "served")
            baseline.set_int_custom_property("served_version", pushed[-1])
        else:
            source = path_utils.serving_model_path(candidate.uri)
            baseline.set_string_custom_property("baseline_source", "candidate")
            if served:  # exported before the signature the Evaluator asks a baseline for
                note = f"served version {pushed[-1]} has no {SIGNATURE} signature: the candidate is compared with itself"
                baseline.set_string_custom_property("baseline_note", note)
                logging.warning("ServedBaseline: %s", note)
        io_utils.copy_dir(source, path_utils.serving_model_dir(baseline.uri))
        logging.info("ServedBaseline: baseline from %s", source)


class ServedBaseline(base_component.BaseComponent):
    """The served model as the Evaluator's baseline (the candidate itself when nothing is served)."""

    SPEC_CLASS = ServedBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model: types.BaseChannel, serving_model_dir: str, on_volume: bool = False):
        """Args: model: the candidate (Trainer output); serving_model_dir: where the Pusher pushes;
        on_volume: the directory is a volume of the task's pod (Kubeflow), not this host's: it must
        be mounted when the task runs, and it is not read here."""
        newest = [] if on_volume or "://" in serving_model_dir else versions(serving_model_dir)
        spec = ServedBaselineSpec(
            model=model,
            serving_model_dir=serving_model_dir,
            served_version=str(newest[-1]) if newest else "",
            require_volume=int(on_volume),
            baseline_model=types.Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec)
