"""The container engine the image tests use, found as `make image` finds it (scripts/engine.sh),
and the pipeline image, refused when it was built from other sources than this tree's."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("S2S_IMAGE", "seq2seq-tfx:latest")
sys.path.insert(0, str(REPO / "scripts"))
from source_hash import source_hash  # noqa: E402


@functools.lru_cache(maxsize=1)
def engine() -> tuple[list[str], dict[str, str]] | str:
    """(engine argv, its environment), or why there is none. Installs nothing."""
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return ["docker"], dict(os.environ)
    if not shutil.which("podman"):
        return "no container engine (docker's engine or podman): `make image` installs podman where it can"
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / "docker/podman/containers.conf"),
               CONTAINERS_STORAGE_CONF=str(REPO / "docker/podman/storage.conf"))  # fmt: skip
    return ["podman"], env


def image() -> tuple[list[str], dict[str, str]] | str:
    """The engine when the pipeline image is there and built from this tree; otherwise why not."""
    found = engine()
    if isinstance(found, str):
        return found
    argv, env = found
    proc = subprocess.run([*argv, "image", "inspect", IMAGE], capture_output=True, text=True, env=env)
    if proc.returncode:
        return f"no pipeline image {IMAGE}: run `make image`"
    labels = (json.loads(proc.stdout)[0].get("Config") or {}).get("Labels") or {}
    if labels.get("s2s.sources") != source_hash():
        return f"the image {IMAGE} was built from other sources than this tree's: run `make image`"
    return argv, env
