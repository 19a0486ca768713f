"""Prints a hash of the project files the pipeline image is built from (docker/Dockerfile's COPY
lines, less README.md): `make image` labels the image with it (s2s.sources), and the tests that
run the image refuse a stale one."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "uv.lock", "docker/Dockerfile", "s2s", "common", "components", "transforms", "trainer", "evaluator",
           "pipeline", "serving", "docker/serving", "data/sample")  # fmt: skip


def source_hash(repo: Path = REPO) -> str:
    """sha256 over the sorted relative paths and contents of the image's sources."""
    digest = hashlib.sha256()
    for top in SOURCES:
        root = repo / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    sys.stdout.write(source_hash() + "\n")
