"""Atomic pushes with retention, for a TF Serving that watches the serving directory.

The stock Pusher copies files straight into ``<base>/<version>/``, so a model server polling
the directory can see a half-written version. This executor copies into
``<base>/.incoming-<version>/`` (TF Serving ignores names that are not numbers) and renames
it to ``<base>/<version>/`` in one step: a version appears complete or not at all. Then only
the newest ``keep_versions`` versions (a setting, :class:`components.params.PusherSettings`) are
kept. The rename is atomic on a local or mounted POSIX file system; object stores (gs://, s3://)
have no atomic rename. :class:`AtomicPusher` is the component: the stock Pusher's spec plus its
settings as typed execution properties (see :mod:`common.typed`).
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, proto_utils

from common.serving_layout import versions
from common.typed import settings_arguments, spec_with, split_settings
from components.params import PusherSettings
from components.volumes import require_volume

INCOMING_PREFIX = ".incoming-"
# Execution property: 1 where the serving directory must be a mounted volume (the Kubeflow package
# sets it; on a pod's own disk a push would be lost with the pod and never served).
REQUIRE_VOLUME_KEY = "require_volume"
_STAGING = itertools.count()


def push_atomically(model_path: str, base: str, keep: int) -> str:
    """Copies ``model_path`` to a new numeric version under ``base``; returns its path.

    The copy goes to a staging directory of this push's own (``.incoming-<version>-<pid>-<n>``),
    then one rename makes it ``<version>``. Two pushes at the same moment (two processes, or
    two runs in one second) never share a version: a rename onto a version another push took
    first fails, and this push takes the next number. Only this push's own staging directory
    is ever removed (on failure): another push may still be writing its own.
    """
    fileio.makedirs(base)
    staging = os.path.join(base, f"{INCOMING_PREFIX}{int(time.time())}-{os.getpid()}-{next(_STAGING)}")
    try:
        io_utils.copy_dir(model_path, staging)
        final = _claim_version(staging, base)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in versions(base)[:-keep]:
        logging.info("Removing old model version %s", old)
        shutil.rmtree(os.path.join(base, str(old)), ignore_errors=True)
    return final


def _claim_version(staging: str, base: str, attempts: int = 100) -> str:
    """Renames ``staging`` to the next free version number (at least the current time).

    rename(2) of a directory onto an existing non-empty one fails (ENOTEMPTY/EEXIST): the push
    that renames first owns the number, the other tries the next one. No empty numbered
    directory is ever visible to a watching server."""
    version = max([int(time.time())] + [v + 1 for v in versions(base)])
    for _ in range(attempts):
        final = os.path.join(base, str(version))
        try:
            os.rename(staging, final)
            return final
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            version += 1
    raise RuntimeError(f"{base}: no free version number after {attempts} attempts")


class AtomicPushExecutor(pusher_executor.Executor):
    """The stock Pusher's blessing check and output, an atomic push with retention to a file system."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError(f"only filesystem push destinations are supported, got {destination}")
        params, _ = split_settings(exec_properties, PusherSettings)
        base = destination.filesystem.base_directory
        if exec_properties.get(REQUIRE_VOLUME_KEY):
            logging.info("serving directory %s is on the volume mounted at %s", base, require_volume(base, "serving directory"))
        model_path = self.GetModelPath(input_dict)
        serving_path = push_atomically(model_path, base, params.keep_versions)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=os.path.basename(serving_path))
        logging.info("Model pushed to %s (keeping %d versions)", serving_path, params.keep_versions)


AtomicPusherSpec = spec_with(
    standard_component_specs.PusherSpec,
    PusherSettings,
    "AtomicPusherSpec",
    **{REQUIRE_VOLUME_KEY: ExecutionParameter(type=int, optional=True)},
)


class AtomicPusher(base_component.BaseComponent):
    """The Pusher: a blessed model to ``<base directory>/<version>/``, atomically (:class:`AtomicPushExecutor`)."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)

    def __init__(
        self,
        *,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        base_directory: str,
        settings: Mapping[str, Any],
        require_volume: bool = False,
    ):
        """Args:
        model, model_blessing: the Trainer's model and the Evaluator's blessing of it.
        base_directory: the serving directory of the model (``<serving dir>/<model name>``).
        settings: a value (or RuntimeParameter) per field of PusherSettings.
        require_volume: the directory must be on a mounted volume (the task pods' on Kubeflow).
        """
        destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_directory))
        spec = AtomicPusherSpec(
            model=model,
            model_blessing=model_blessing,
            push_destination=destination,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            **{REQUIRE_VOLUME_KEY: int(require_volume)},
            **settings_arguments(AtomicPusherSpec, settings),
        )
        super().__init__(spec=spec)
