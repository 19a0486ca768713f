"""The pipeline image's entrypoint: TFX's Kubeflow V2 executor launcher, made to work with the
open-source Kubeflow Pipelines driver.

Vertex AI Pipelines hands each task its input artifacts with the TFX type they were compiled
with (``instanceSchema: "title: tfx.Examples ..."``). The open-source KFP driver (2.x) hands
them over with an empty schema and a ``system.Artifact``-style type name, from which TFX's
launcher cannot rebuild the artifact classes. Every compiled task carries its own inputs spec
(``--json_serialized_inputs_spec_args``): this entrypoint puts each input artifact's type back
from it when the driver sent none or a ``system.*`` one, then runs TFX's launcher unchanged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import yaml

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"


def _title(artifact_type: dict) -> str:
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    schema = artifact_type.get("instanceSchema") or ""
    return (yaml.safe_load(schema) or {}).get("title", "") if schema.strip() else ""


def restore_artifact_types(executor_input: dict, inputs_spec: dict) -> list[str]:
    """Puts the compiled TFX type on every input artifact that came without one.

    Args:
        executor_input: the ExecutorInput JSON the driver built (changed in place).
        inputs_spec: the task's ComponentInputsSpec JSON, from its own arguments.

    Returns:
        What was restored, one ``"<input>: <type sent> -> <type restored>"`` per artifact.
    """
    restored = []
    for key, listing in executor_input.get("inputs", {}).get("artifacts", {}).items():
        compiled = inputs_spec.get("artifacts", {}).get(key, {}).get("artifactType")
        if not compiled:
            continue
        for artifact in listing.get("artifacts", []):
            sent = _title(artifact.get("type") or {})
            if not sent or sent.startswith("system."):
                artifact["type"] = dict(compiled)
                restored.append(f"{key}: {sent or 'no type'} -> {_title(compiled)}")
    return restored


def _value(argv: Sequence[str], flag: str) -> int | None:
    """The index of ``flag``'s value in ``argv`` (``--flag value`` or ``--flag=value``), or None."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return i + 1
        if arg.startswith(flag + "="):
            return i
    return None


def rewrite_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` with the invocation's input artifact types restored; and what was restored."""
    argv = list(argv)
    where, spec_at = _value(argv, INVOCATION_FLAG), _value(argv, INPUTS_SPEC_FLAG)
    if where is None or spec_at is None:
        return argv, []

    def read(i: int, flag: str) -> str:
        return argv[i].split("=", 1)[1] if argv[i].startswith(flag + "=") else argv[i]

    executor_input = json.loads(read(where, INVOCATION_FLAG))
    restored = restore_artifact_types(executor_input, json.loads(read(spec_at, INPUTS_SPEC_FLAG)))
    if restored:
        text = json.dumps(executor_input)
        argv[where] = f"{INVOCATION_FLAG}={text}" if argv[where].startswith(INVOCATION_FLAG + "=") else text
    return argv, restored


def main() -> None:
    """Rewrites this process's arguments, then runs TFX's Kubeflow V2 launcher on them."""
    from absl import app, logging
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as launcher

    sys.argv, restored = rewrite_args(sys.argv)
    for line in restored:
        logging.warning("restored the artifact type the driver left out: %s", line)
    app.run(launcher.main, flags_parser=launcher._parse_flags)  # noqa: SLF001 - the launcher's own parser


if __name__ == "__main__":
    main()
