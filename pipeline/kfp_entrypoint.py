"""The pipeline image's entrypoint: TFX's Kubeflow V2 executor launcher, made to work with the
open-source Kubeflow Pipelines backend (2.0 to 2.17) as well as Vertex AI Pipelines.

What the open-source driver and launcher hand a task differs from what TFX's launcher expects
(kubeflow/pipelines ``backend/src/v2``; each point names where):

* Input artifacts come with an empty type, ``instanceSchema: ""``
  (``metadata/client.go``, ``GetOutputArtifactsByExecutionId``: "TODO: figure out how to get
  schema"). TFX cannot rebuild an artifact class from that. Every compiled task carries its own
  inputs spec (``--json_serialized_inputs_spec_args``): the type is put back from it.
* With log publishing on (the default since 2.5), the driver adds an output the component never
  declared, ``executor-logs`` of type ``system.Artifact`` (``driver/driver.go``,
  ``provisionOutputs``); TFX fails to import ``system.Artifact``. Outputs of ``system.*`` types
  are the backend's own: they are left to the launcher, and TFX never sees them.
* Artifact URIs are object-store URIs under the pipeline root (``minio://``, ``s3://``,
  ``gs://``), which TensorFlow cannot open (no ``minio``/``s3`` file system in the image). The
  launcher downloads inputs to, and uploads outputs from, local mirrors (``/minio/<bucket>/…``,
  ``/s3/…``, ``/gcs/…``; ``component/launcher_v2.go``, ``LocalPathForURI``). With
  ``--local-mirrors`` (the ``kfp`` target puts it in every task's command) TFX works on those
  paths, and the executor output it writes names the remote URIs again, which the launcher needs
  to upload the outputs and record them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import yaml

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
MIRRORS_FLAG = "--local-mirrors"

# launcher_v2.go, LocalPathForURI: where the launcher keeps each object store's local copy.
MIRRORS = {"gs://": "/gcs/", "minio://": "/minio/", "s3://": "/s3/"}


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


def drop_backend_outputs(executor_input: dict) -> list[str]:
    """Removes the outputs of ``system.*`` types (the backend's own, e.g. ``executor-logs``).

    Returns:
        The keys removed.
    """
    outputs = executor_input.get("outputs", {}).get("artifacts", {})
    dropped = [
        key
        for key, listing in outputs.items()
        if any(_title(a.get("type") or {}).startswith("system.") for a in listing.get("artifacts", []))
    ]
    for key in dropped:
        del outputs[key]
    return dropped


def local_path(uri: str) -> str | None:
    """The launcher's local mirror of an object-store ``uri``; None for any other URI."""
    for scheme, mirror in MIRRORS.items():
        if uri.startswith(scheme):
            return mirror + uri[len(scheme) :]
    return None


def use_local_mirrors(executor_input: dict) -> dict[str, str]:
    """Points every artifact at the launcher's local mirror of its URI (in place).

    Returns:
        The output artifacts' local paths mapped to their remote URIs.
    """
    remote_of: dict[str, str] = {}
    for side in ("inputs", "outputs"):
        for listing in executor_input.get(side, {}).get("artifacts", {}).values():
            for artifact in listing.get("artifacts", []):
                path = local_path(artifact.get("uri", ""))
                if path is not None:
                    if side == "outputs":
                        remote_of[path] = artifact["uri"]
                    artifact["uri"] = path
    return remote_of


def restore_remote_uris(executor_output: dict, remote_of: dict[str, str]) -> int:
    """Puts the remote URIs back into TFX's executor output (in place); returns how many."""
    count = 0
    for listing in executor_output.get("artifacts", {}).values():
        for artifact in listing.get("artifacts", []):
            if artifact.get("uri") in remote_of:
                artifact["uri"] = remote_of[artifact["uri"]]
                count += 1
    return count


def _value(argv: Sequence[str], flag: str) -> int | None:
    """The index of ``flag``'s value in ``argv`` (``--flag value`` or ``--flag=value``), or None."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return i + 1
        if arg.startswith(flag + "="):
            return i
    return None


def rewrite_args(argv: list[str], mirrors: bool = False) -> tuple[list[str], list[str], dict[str, str], str]:
    """``argv`` with the invocation made fit for TFX's launcher.

    Args:
        argv: this process's arguments (TFX's flags and Beam's).
        mirrors: point artifacts at the launcher's local mirrors (open-source KFP).

    Returns:
        The new argv; what was changed, one line each; the output artifacts' local paths mapped
        to their remote URIs; the executor output file ("" without an invocation).
    """
    argv = list(argv)
    where, spec_at = _value(argv, INVOCATION_FLAG), _value(argv, INPUTS_SPEC_FLAG)
    if where is None:
        return argv, [], {}, ""

    def read(i: int, flag: str) -> str:
        return argv[i].split("=", 1)[1] if argv[i].startswith(flag + "=") else argv[i]

    executor_input = json.loads(read(where, INVOCATION_FLAG))
    inputs_spec = json.loads(read(spec_at, INPUTS_SPEC_FLAG)) if spec_at is not None else {}
    notes = [
        f"restored the artifact type the driver left out: {line}" for line in restore_artifact_types(executor_input, inputs_spec)
    ]
    notes += [f"left the backend's own output to the launcher: {key}" for key in drop_backend_outputs(executor_input)]
    remote_of = use_local_mirrors(executor_input) if mirrors else {}
    if mirrors:
        notes.append(f"artifacts read and written at the launcher's local mirrors ({len(remote_of)} outputs)")
    text = json.dumps(executor_input)
    argv[where] = f"{INVOCATION_FLAG}={text}" if argv[where].startswith(INVOCATION_FLAG + "=") else text
    return argv, notes, remote_of, executor_input.get("outputs", {}).get("outputFile", "")


def main() -> None:
    """Rewrites this process's arguments, runs TFX's Kubeflow V2 launcher on them, then puts
    the remote URIs back into the executor output it wrote."""
    from absl import app, logging
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as launcher

    argv = list(sys.argv)
    mirrors = MIRRORS_FLAG in argv
    if mirrors:
        argv.remove(MIRRORS_FLAG)
    argv, notes, remote_of, output_file = rewrite_args(argv, mirrors)
    for line in notes:
        logging.warning("%s", line)

    def run(parsed) -> None:
        launcher.main(parsed)
        if remote_of and output_file:
            with open(output_file) as f:
                executor_output = json.load(f)
            restored = restore_remote_uris(executor_output, remote_of)
            with open(output_file, "w") as f:
                json.dump(executor_output, f)
            logging.info("executor output: %d artifact URIs named by their object-store URIs again", restored)

    sys.argv = argv
    app.run(run, argv=argv, flags_parser=launcher._parse_flags)  # noqa: SLF001 - the launcher's own parser


if __name__ == "__main__":
    main()
