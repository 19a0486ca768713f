"""Static checks of the deployment files (no Docker engine on the development machines)."""

from __future__ import annotations

import re

import tensorflow as tf
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from common import names
from pipeline.config import REPO_ROOT
from serving import model_server

DOCKER = REPO_ROOT / "docker"


def _compose():
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def test_serving_image_matches_our_tensorflow():
    service = _compose()["services"]["tfserving"]
    image, tag = service["image"].split(":")
    assert image == "tensorflow/serving"
    assert tag.split(".")[:2] == tf.__version__.split(".")[:2]


def test_ports_are_grpc_and_rest_on_localhost_only():
    service = _compose()["services"]["tfserving"]
    assert sorted(service["ports"]) == ["127.0.0.1:8500:8500", "127.0.0.1:8501:8501"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in service["command"])
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert flags["enable_batching"] == "true"
    assert int(flags["file_system_poll_wait_seconds"]) > 0  # new pushed versions are picked up


def test_mounted_config_files_exist_and_parse():
    service = _compose()["services"]["tfserving"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in service["command"])
    mounts = {}
    for volume in service["volumes"]:
        source, target, _mode = volume.rsplit(":", 2)
        mounts[target] = source
    assert mounts["/models"].startswith("${S2S_SERVING_DIR")
    for flag in ("model_config_file", "batching_parameters_file"):
        source = DOCKER / mounts[flags[flag]]
        assert source.is_file(), source
    config = text_format.Parse(
        (DOCKER / mounts[flags["model_config_file"]]).read_text(), model_server_config_pb2.ModelServerConfig()
    )
    [model] = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (names.MODEL_NAME, f"/models/{names.MODEL_NAME}", "tensorflow")


def test_batching_config_fields_are_known():
    text = (DOCKER / "serving" / "batching.config").read_text()
    fields = set(re.findall(r"^(\w+)", text, flags=re.M))
    known = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads", "pad_variable_length_inputs"}
    assert fields and fields <= known
    assert int(re.search(r"max_batch_size \{ value: (\d+) \}", text).group(1)) >= 64


def test_model_server_command_matches_the_compose_settings(tmp_path):
    args = model_server.command("/usr/bin/tensorflow_model_server", tmp_path, port=9000)
    assert args[0] == "/usr/bin/tensorflow_model_server"
    assert f"--model_base_path={tmp_path.resolve()}" in args and f"--model_name={names.MODEL_NAME}" in args
    assert "--port=9000" in args and "--enable_batching=true" in args
    batching = next(a for a in args if a.startswith("--batching_parameters_file="))
    assert batching.endswith("docker/serving/batching.config")
