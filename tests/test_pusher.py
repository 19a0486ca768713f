"""The Pusher: <serving dir>/<model name>/<version>/ (what TF Serving watches), written
atomically (a version appears complete or not at all), the newest N versions kept."""

from __future__ import annotations

import concurrent.futures
import shutil

import pytest
from tfx import types
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from common import names
from common.serving_layout import versions
from common.settings import as_properties
from components import pusher as atomic
from components.params import PusherSettings
from components.pusher import AtomicPusher
from components.pusher import AtomicPushExecutor as PusherExecutor
from pipeline.config import PipelineConfig
from serving.saved_model import Chatbot, resolve_model_path


def _push(tiny_model, tmp_path, blessed: bool, keep: int = 3, require_volume: int = 0):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    if not (tmp_path / "model").exists():
        shutil.copytree(tiny_model / "serving_model", tmp_path / "model" / "Format-Serving")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed-{len(list(tmp_path.glob('pushed-*')))}")
    cfg = PipelineConfig.of(work_dir=str(tmp_path / "work"))
    # The execution properties the component hands its executor (settings included).
    component = AtomicPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        base_directory=cfg.serving_model_dir,
        settings=as_properties(PusherSettings(keep_versions=keep)),
        require_volume=bool(require_volume),
    )
    props = {k: proto_utils.proto_to_json(v) if hasattr(v, "DESCRIPTOR") else v for k, v in component.exec_properties.items()}
    PusherExecutor().Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
        {specs.PUSHED_MODEL_KEY: [pushed]},
        props,
    )
    return cfg, pushed


def test_blessed_model_lands_in_a_numeric_version_dir(tiny_model, tmp_path):
    cfg, pushed = _push(tiny_model, tmp_path, blessed=True)
    model_dir = tmp_path / "work" / "serving" / names.MODEL_NAME
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


def test_only_the_newest_versions_are_kept(tiny_model, tmp_path):
    for _ in range(4):
        cfg, pushed = _push(tiny_model, tmp_path, blessed=True, keep=2)
    versions = sorted(int(p.name) for p in (tmp_path / "work" / "serving" / names.MODEL_NAME).iterdir())
    assert len(versions) == 2 and versions[1] > versions[0]
    assert pushed.get_string_custom_property("pushed_version") == str(versions[-1])


def test_a_push_that_dies_mid_copy_leaves_no_version(tiny_model, tmp_path, monkeypatch):
    base = tmp_path / "serving"
    real_copy = atomic.io_utils.copy_dir

    def dying_copy(src, dst, *args, **kwargs):
        real_copy(src, dst, *args, **kwargs)
        raise OSError("disk full")  # after the files landed in the staging dir

    monkeypatch.setattr(atomic.io_utils, "copy_dir", dying_copy)
    with pytest.raises(OSError):
        atomic.push_atomically(str(tiny_model / "serving_model"), str(base), keep=3)
    assert versions(str(base)) == [] and list(base.iterdir()) == []  # no version, its own staging removed
    monkeypatch.setattr(atomic.io_utils, "copy_dir", real_copy)
    final = atomic.push_atomically(str(tiny_model / "serving_model"), str(base), keep=3)
    assert versions(str(base)) == [int(final.rsplit("/", 1)[-1])]
    assert (base / final.rsplit("/", 1)[-1] / "saved_model.pb").is_file()


def test_a_push_leaves_another_pushs_staging_alone(tiny_model, tmp_path):
    base = tmp_path / "serving"
    other = base / f"{atomic.INCOMING_PREFIX}123-456-0"  # another process, still copying
    other.mkdir(parents=True)
    (other / "half-written").write_text("...")
    atomic.push_atomically(str(tiny_model / "serving_model"), str(base), keep=3)
    assert (other / "half-written").is_file()


def test_pushes_at_the_same_second_get_distinct_versions(tiny_model, tmp_path, monkeypatch):
    base = tmp_path / "serving"
    monkeypatch.setattr(atomic.time, "time", lambda: 1_800_000_000.0)  # every push in the same second
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        finals = list(pool.map(lambda _: atomic.push_atomically(str(tiny_model / "serving_model"), str(base), keep=10), range(4)))
    assert len(set(finals)) == 4 and versions(str(base)) == [1_800_000_000 + i for i in range(4)]
    for final in finals:
        assert (tmp_path / final / "saved_model.pb").is_file()
    assert not [p for p in base.iterdir() if p.name.startswith(atomic.INCOMING_PREFIX)]


def test_a_push_to_a_directory_that_is_no_volume_fails_loudly(tiny_model, tmp_path):
    # The Kubeflow package sets require_volume: a pod's own disk would take the push to its grave.
    from components.volumes import volume_of

    with pytest.raises(RuntimeError, match="is not on a mounted volume"):
        _push(tiny_model, tmp_path, blessed=True, require_volume=1)
    assert not (tmp_path / "work" / "serving").exists()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / / rw - overlay overlay rw\n"
        "40 22 8:1 /pvc-1 /serving rw - ext4 /dev/sda1 rw\n"
        "41 22 8:1 /x /data\\040set rw - ext4 /dev/sda1 rw\n"
    )
    assert volume_of("/serving/chatbot", str(mountinfo)) == "/serving"
    assert volume_of("/data set/cornell", str(mountinfo)) == "/data set"
    assert volume_of("/servingx/chatbot", str(mountinfo)) is None and volume_of("/tmp/x", str(mountinfo)) is None


def test_a_watching_server_never_sees_a_partial_version(tiny_model, tmp_path, monkeypatch):
    # A slow disk (a pause after every file copied) and a watcher listing the serving directory
    # as TF Serving does: every numeric version it ever sees already holds every file of the model.
    import os
    import threading
    import time
    from pathlib import Path

    source = tiny_model / "serving_model"
    expected = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())

    def slow_copy(src, dst, *args, **kwargs):
        for path in sorted(Path(src).rglob("*")):
            target = os.path.join(dst, os.path.relpath(path, src))
            if path.is_dir():
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(path, target)
                time.sleep(0.02)

    monkeypatch.setattr(atomic.io_utils, "copy_dir", slow_copy)
    base = tmp_path / "serving"
    seen, partial, done = set(), [], threading.Event()

    def watch():
        while True:
            last = done.is_set()  # one more look after the last push
            for version in versions(str(base)):
                root = base / str(version)
                files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
                if files != expected:  # keep=5: no version is removed while it is watched
                    partial.append((version, len(files)))
                seen.add(version)
            if last:
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            atomic.push_atomically(str(source), str(base), keep=5)
    finally:
        done.set()
        watcher.join()
    assert len(seen) == 3 and not partial, partial
