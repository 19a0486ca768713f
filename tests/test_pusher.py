"""The Pusher's output layout: <serving dir>/<model name>/<version>/, what TF Serving watches."""

from __future__ import annotations

import shutil

from tfx.components.pusher.executor import Executor as PusherExecutor
from tfx.types import standard_artifacts, standard_component_specs as specs
from tfx.utils import proto_utils
from tfx.v1.proto import PushDestination

from s2s import config as C
from serving.saved_model import Chatbot, resolve_model_path


def _push(tiny_model, tmp_path, blessed: bool):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    shutil.copytree(tiny_model / "serving_model", tmp_path / "model" / "Format-Serving")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    cfg = C.PipelineConfig(work_dir=str(tmp_path / "work"))
    destination = PushDestination(filesystem=PushDestination.Filesystem(base_directory=cfg.serving_model_dir))
    PusherExecutor().Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
        {specs.PUSHED_MODEL_KEY: [pushed]},
        {specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)},
    )
    return cfg, pushed


def test_blessed_model_lands_in_a_numeric_version_dir(tiny_model, tmp_path):
    cfg, pushed = _push(tiny_model, tmp_path, blessed=True)
    model_dir = tmp_path / "work" / "serving" / C.MODEL_NAME
    versions = list(model_dir.iterdir())
    assert len(versions) == 1 and versions[0].name.isdigit()
    assert (versions[0] / "saved_model.pb").is_file() and (versions[0] / "variables").is_dir()
    assert pushed.get_string_custom_property("pushed_destination") == str(versions[0])
    # The serving dir resolves to that version and the model answers.
    assert resolve_model_path(cfg.serving_model_dir) == versions[0]
    assert isinstance(Chatbot(cfg.serving_model_dir).reply(["hello"])[0], str)


def test_unblessed_model_is_not_pushed(tiny_model, tmp_path):
    cfg, pushed = _push(tiny_model, tmp_path, blessed=False)
    assert not (tmp_path / "work" / "serving").exists()
    assert pushed.get_int_custom_property("pushed") == 0
