"""Runs the real TensorFlow Serving binary (``tensorflow_model_server``) when it is on PATH."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from common import names

BINARY = "tensorflow_model_server"
REPO_DOCKER = Path(__file__).resolve().parent.parent / "docker" / "serving"


def find_binary() -> str | None:
    return shutil.which(BINARY)


def command(
    binary: str,
    model_dir: str | Path,
    port: int = 8500,
    rest_port: int = 0,
    model_name: str = names.MODEL_NAME,
    poll_seconds: int = 2,
    batching: bool = True,
) -> list[str]:
    """The model server's command line: the same settings as docker/docker-compose.yml."""
    args = [
        binary,
        f"--port={port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model_name}",
        f"--model_base_path={Path(model_dir).resolve()}",
        f"--file_system_poll_wait_seconds={poll_seconds}",
    ]
    if batching:
        args += ["--enable_batching=true", f"--batching_parameters_file={REPO_DOCKER / 'batching.config'}"]
    return args


def start(model_dir: str | Path, port: int = 8500, **kwargs) -> subprocess.Popen:
    binary = find_binary()
    if binary is None:
        raise FileNotFoundError(f"{BINARY} is not on PATH")
    return subprocess.Popen(command(binary, model_dir, port, **kwargs))
