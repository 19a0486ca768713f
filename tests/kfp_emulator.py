"""Runs a compiled KFP v2 pipeline spec on this machine as the open-source KFP driver and
launcher would, without a cluster: the executable definition of "a valid spec".

For every task, in dependency order: the executor input JSON the driver builds (parameters with
their run values; input artifacts with their URIs and metadata but the empty ``system.Artifact``
type the open-source driver sends; output artifacts with URIs under the pipeline root and the
types the spec declares), then the task's own container ``command`` + ``args`` from the spec with
``{{$}}`` replaced by that JSON, as the launcher does, in a subprocess. The task's
``executor_output.json`` gives its output artifacts' metadata to the tasks downstream.
Only the container's ``python`` is mapped, to this environment's interpreter (the image's is
its virtualenv's).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EMPTY_TYPE = {"schemaTitle": "system.Artifact"}  # what the open-source driver hands over


@dataclasses.dataclass
class TaskRun:
    name: str
    seconds: float
    outputs: dict[str, dict[str, Any]]  # output key -> RuntimeArtifact JSON (name, uri, metadata)
    log: str


def task_order(spec: dict) -> list[str]:
    """Tasks in an order where every producer comes before its consumers."""
    tasks = spec["root"]["dag"]["tasks"]
    needs = {
        name: set(task.get("dependentTasks", []))
        | {a["taskOutputArtifact"]["producerTask"] for a in task.get("inputs", {}).get("artifacts", {}).values()}
        for name, task in tasks.items()
    }
    order: list[str] = []
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in order and needs[n] <= set(order))
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(set(tasks) - set(order))}")
        order += ready
    return order


def executor_input(spec: dict, name: str, params: dict, done: dict[str, TaskRun], root: Path) -> dict:
    """The ExecutorInput JSON the open-source driver builds for task ``name``."""
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    values = {}
    for key, source in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in source:
            values[key] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            values[key] = params[source["componentInputParameter"]]
        else:
            raise ValueError(f"{name}.{key}: unsupported parameter source {source}")
    artifacts = {}
    for key, source in task.get("inputs", {}).get("artifacts", {}).items():
        producer = source["taskOutputArtifact"]
        produced = done[producer["producerTask"]].outputs[producer["outputArtifactKey"]]
        artifacts[key] = {"artifacts": [{**produced, "type": dict(EMPTY_TYPE)}]}
    outputs = {}
    for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        uri = root / name / key
        outputs[key] = {
            "artifacts": [{"name": f"{name}-{key}", "uri": str(uri), "type": definition["artifactType"], "metadata": {}}]
        }
    return {
        "inputs": {"parameterValues": values, "artifacts": artifacts},
        "outputs": {"artifacts": outputs, "outputFile": str(root / name / "executor_output.json")},
    }


def run_task(spec: dict, name: str, params: dict, done: dict[str, TaskRun], root: Path, env: dict, timeout: float) -> TaskRun:
    """Runs one task's container command and args; raises with its log if it fails."""
    task = spec["root"]["dag"]["tasks"][name]
    label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][label]["container"]
    invocation = executor_input(spec, name, params, done, root)
    args = [json.dumps(invocation) if arg == "{{$}}" else arg for arg in container["args"]]
    leftover = [arg for arg in args if "{{$" in arg]
    if leftover:
        raise ValueError(f"{name}: placeholders the emulator does not fill: {leftover}")
    command = [sys.executable if part == "python" else part for part in container["command"]]
    started = time.monotonic()
    proc = subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=str(REPO), timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"task {name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    written = json.loads(Path(invocation["outputs"]["outputFile"]).read_text())
    outputs = {}
    for key, listing in invocation["outputs"]["artifacts"].items():
        [declared] = listing["artifacts"]
        [reported] = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])
        outputs[key] = {
            "name": declared["name"],
            "uri": reported.get("uri", declared["uri"]),
            "metadata": reported.get("metadata", {}),
        }
    return TaskRun(name, time.monotonic() - started, outputs, proc.stderr)


def run_pipeline(spec: dict, root: Path, params: dict | None = None, timeout: float = 900) -> dict[str, TaskRun]:
    """Runs every task of ``spec`` under ``root``; run parameters default to the spec's defaults."""
    defaults = {k: v.get("defaultValue") for k, v in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()}
    params = {**defaults, **(params or {})}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    done: dict[str, TaskRun] = {}
    for name in task_order(spec):
        done[name] = run_task(spec, name, params, done, root, env, timeout)
    return done
