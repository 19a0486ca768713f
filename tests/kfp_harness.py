"""Runs a compiled KFP package the way the open-source Kubeflow Pipelines backend (2.0 to 2.17)
does, every task in the pipeline image: the hand-over between driver, launcher and user container,
reproduced from kubeflow/pipelines ``backend/src/v2`` (read at tags 2.0.5, 2.5.0, 2.17.0 and
master). Each behaviour names the Go file and function it follows. Not reproduced: Argo, Kubernetes
scheduling, retries, the API server; the object store is a directory, MLMD a dictionary.

* Root: ``driver.go`` ``RootDAG``: the run's root is the runtime config's pipeline root, else the
  cluster default (``minio://mlpipeline/v2/artifacts``); the spec's ``defaultPipelineRoot`` is never
  read. ``objectstore/config.go`` ``ParseBucketPathToConfig`` rejects any other form.
  ``metadata/client.go`` ``GetPipeline``: the run root is ``<root>/<pipeline name>/<run id>``.
* Outputs: ``driver.go`` ``provisionOutputs``: URI ``<run root>/<task>/<uuid>/<output>``, type as
  declared, plus ``executor-logs`` (``system.Artifact``) when logs are published (KFP >= 2.5
  default); output file ``/tmp/kfp_outputs/output_metadata.json`` (``launcher_v2.go``).
* Inputs: ``driver.go`` ``resolveUpstreamArtifacts`` + ``metadata/client.go``
  ``GetOutputArtifactsByExecutionId``: the producer's MLMD artifact, named by its numeric id, with
  ``instanceSchema: ""``; ``metadata/converter.go`` ``toMLMDArtifact``/``toRuntimeArtifact``: the
  metadata after an MLMD round trip (numbers as doubles, booleans as 0/1, lists and dicts wrapped),
  with ``display_name`` and ``store_session_info`` added by ``RecordArtifact``.
* Cache: ``driver.go`` ``getFingerPrint`` + ``cacheutils/cache.go`` ``GenerateCacheKey``: input
  artifact names (MLMD ids), parameter values, output specs without URIs, the raw command and args,
  the image. A hit reuses the cached execution's outputs; the task does not run.
* Pod: the spec's image, command and args; the image's working directory, environment and
  interpreter; the volumes of the package's Kubernetes platform spec (``pvcMount``; a missing claim
  leaves the pod unschedulable); the CPU and memory limits.
* Launcher (``component/launcher_v2.go``): ``downloadArtifacts`` (inputs to ``LocalPathForURI``'s
  mirror, ``objectstore.DownloadBlob`` by key prefix), ``prepareOutputFolders``, ``getPlaceholders``
  (``{{$}}`` = the executor input as protojson), ``execute`` (logs to ``executor-logs``),
  ``getExecutorOutputFile``, ``uploadOutputArtifacts`` (``mergeRuntimeArtifacts``; upload from the
  mirror; a URI with no mirror is recorded as is, not uploaded; a URI outside the bucket fails).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

DEFAULT_ROOT = "minio://mlpipeline/v2/artifacts"  # the manifests' default pipeline root
OUTPUT_METADATA_FILE = "/tmp/kfp_outputs/output_metadata.json"  # launcher_v2.go OutputMetadataFilepath
BUCKET_PATTERN = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")  # objectstore/config.go
MIRRORS = {"gs://": "gcs", "minio://": "minio", "s3://": "s3"}  # launcher_v2.go LocalPathForURI


class BackendError(RuntimeError):
    """What the real backend would report for this run (its message, where it has one)."""


# ---------------------------------------------------------------- objectstore/config.go
@dataclasses.dataclass(frozen=True)
class Bucket:
    scheme: str
    name: str
    prefix: str

    def prefixed(self) -> str:  # Config.PrefixedBucket
        return self.scheme + "/".join(p for p in (self.name, self.prefix.rstrip("/")) if p)

    def key(self, uri: str) -> str:  # Config.KeyFromURI
        if not uri.startswith(self.prefixed()):
            raise BackendError(f'URI "{uri}" does not have expected bucket prefix "{self.prefixed()}"')
        key = uri[len(self.prefixed()) :].lstrip("/")
        if not key:
            raise BackendError(f'URI "{uri}" has empty key given prefixed bucket "{self.prefixed()}"')
        return (self.prefix + key) if self.prefix else key


def parse_bucket(root: str) -> Bucket:
    """``ParseBucketPathToConfig``: the bucket of a pipeline root, or the driver's error."""
    match = BUCKET_PATTERN.match(root)
    if not match:
        raise BackendError(f'parse bucket config failed: unrecognized pipeline root format: "{root}"')
    if match.group(1) not in ("gs://", "s3://", "minio://", "mem://"):
        raise BackendError(f'parse bucket config failed: unsupported Cloud bucket: "{root}"')
    prefix = (match.group(3) or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return Bucket(match.group(1), match.group(2), prefix)


def generate_output_uri(root: str, *parts: str, keep_query: bool = False) -> str:
    """``metadata/client.go`` ``GenerateOutputURI``."""
    root, _, query = root.partition("?")
    return f"{root.rstrip('/')}/{'/'.join(parts)}" + (f"?{query}" if query and keep_query else "")


def mirror_of(uri: str) -> str | None:
    """``LocalPathForURI``: the launcher's local path of a URI, relative to the pod's ``/``."""
    for scheme, top in MIRRORS.items():
        if uri.startswith(scheme):
            return f"{top}/{uri[len(scheme) :]}"
    return None


# ---------------------------------------------------------------- objectstore/object_store.go
class ObjectStore:
    """Buckets as directories: ``<root>/<scheme>/<bucket>/<key>``; objects are files."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, bucket: Bucket, key: str) -> Path:
        return self.root / bucket.scheme.rstrip(":/") / bucket.name / key

    def upload(self, bucket: Bucket, local: Path, key: str) -> None:  # UploadBlob
        if not local.exists():
            raise FileNotFoundError(local)
        if local.is_file():
            self._path(bucket, key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, self._path(bucket, key))
            return
        for child in sorted(local.iterdir()):  # directories recursively, files as objects
            self.upload(bucket, child, f"{key}/{child.name}")

    def download(self, bucket: Bucket, local: Path, prefix: str) -> int:  # DownloadBlob
        top = self.root / bucket.scheme.rstrip(":/") / bucket.name
        count = 0
        for obj in sorted(p for p in top.rglob("*") if p.is_file()) if top.exists() else []:
            key = obj.relative_to(top).as_posix()
            if key.startswith(prefix):
                target = local / os.path.relpath(key, prefix)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(obj, target)
                count += 1
        return count

    def objects(self, bucket: Bucket, prefix: str) -> list[str]:
        top = self.root / bucket.scheme.rstrip(":/") / bucket.name
        keys = [p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()] if top.exists() else []
        return sorted(k for k in keys if k.startswith(prefix))


# ---------------------------------------------------------------- metadata/converter.go
def to_mlmd_value(value: Any) -> tuple[str, Any]:
    """``StructValueToMLMDValue``."""
    if isinstance(value, bool):
        return ("int", int(value))
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, int | float):
        return ("double", float(value))
    if isinstance(value, list):
        return ("struct", {"list": value})
    if isinstance(value, dict):
        return ("struct", {"struct": value})
    raise BackendError(f"failed to convert RuntimeArtifact to MLMD artifact: unknown/unsupported value type {type(value)}")


def from_mlmd_value(kind: str, value: Any) -> Any:
    """``toRuntimeArtifact``: ints and doubles become JSON numbers (float)."""
    return float(value) if kind in ("int", "double") else value


@dataclasses.dataclass
class MlmdArtifact:
    id: int
    uri: str
    type_name: str
    custom: dict[str, tuple[str, Any]]


class Mlmd:
    """The part of ML Metadata the driver and launcher use: artifacts, executions' outputs."""

    def __init__(self):
        self.artifacts: dict[int, MlmdArtifact] = {}
        self.executions: dict[int, dict[str, int]] = {}  # execution id -> output name -> artifact id

    def record_artifact(self, name: str, schema: str, runtime: dict, session: dict) -> int:  # RecordArtifact
        title = (yaml.safe_load(schema) or {}).get("title") if schema.strip() else None
        if not title:
            raise BackendError("No title specified")  # SchemaToArtifactType: glog.Fatal
        custom = {k: to_mlmd_value(v) for k, v in (runtime.get("metadata") or {}).items()}
        custom.setdefault("display_name", ("string", name))
        custom.setdefault("store_session_info", ("string", json.dumps(session)))
        artifact_id = len(self.artifacts) + 1
        self.artifacts[artifact_id] = MlmdArtifact(artifact_id, runtime["uri"], title, custom)
        return artifact_id

    def runtime_artifact(self, artifact_id: int) -> dict:  # OutputArtifact.ToRuntimeArtifact
        a = self.artifacts[artifact_id]
        metadata = {k: from_mlmd_value(kind, v) for k, (kind, v) in a.custom.items()}
        return {"name": str(a.id), "uri": a.uri, "metadata": metadata, "type": {"instanceSchema": ""}}

    def record_execution(self, outputs: dict[str, int]) -> int:
        execution_id = len(self.executions) + 1
        self.executions[execution_id] = dict(outputs)
        return execution_id


# ---------------------------------------------------------------- the cluster
@dataclasses.dataclass
class TaskRun:
    name: str
    seconds: float
    cached: bool
    outputs: dict[str, dict]  # output key -> runtime artifact as the next driver sees it
    log: str


@dataclasses.dataclass
class Cluster:
    """One KFP installation: its object store, MLMD, cache, PersistentVolumeClaims and settings.

    Args:
        work: a directory for the store, pods and volumes.
        image_runner: runs one pod (see ``ContainerRunner``).
        publish_logs: the launcher's PUBLISH_LOGS (KFP >= 2.5 manifests: true; 2.0-2.4: absent).
        volumes: PersistentVolumeClaim name -> host directory.
    """

    work: Path
    image_runner: Any
    publish_logs: bool = True
    volumes: dict[str, Path] = dataclasses.field(default_factory=dict)
    default_root: str = DEFAULT_ROOT

    def __post_init__(self):
        self.store = ObjectStore(self.work / "store")
        self.mlmd = Mlmd()
        self.cache: dict[str, int] = {}  # fingerprint -> execution id

    def submit(
        self,
        package: Path,
        params: dict | None = None,
        pipeline_root: str = "",
        enable_caching: bool | None = None,
        timeout: float = 900,
    ) -> dict[str, TaskRun]:
        """``kfp.Client.create_run_from_pipeline_package`` and the run, task by task."""
        with open(package) as f:
            docs = list(yaml.safe_load_all(f))
        spec, platform = docs[0], {k: v for d in docs[1:] for k, v in d.items()}
        if enable_caching is not None:  # kfp client.py _override_caching_options
            for task in spec["root"]["dag"]["tasks"].values():
                task["cachingOptions"] = {"enableCache": enable_caching}
        root = pipeline_root or self.default_root  # RootDAG: the spec's defaultPipelineRoot is not read
        bucket = parse_bucket(root)
        run_id = str(uuid.uuid4())
        run_root = generate_output_uri(root, spec["pipelineInfo"]["name"], run_id, keep_query=True)
        session = {"Provider": "minio" if root.startswith("minio://") else root.split(":")[0], "Params": {}}
        parameters = {k: v.get("defaultValue") for k, v in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()}
        parameters.update(params or {})
        executors = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
        done: dict[str, TaskRun] = {}
        produced: dict[str, dict[str, int]] = {}
        for name in task_order(spec):
            done[name], produced[name] = self._task(
                spec, name, parameters, produced, run_root, bucket, session, executors, timeout
            )
        return done

    def _task(self, spec, name, parameters, produced, run_root, bucket, session, k8s, timeout):
        task = spec["root"]["dag"]["tasks"][name]
        component = spec["components"][task["componentRef"]["name"]]
        label = component["executorLabel"]
        container = spec["deploymentSpec"]["executors"][label]["container"]
        executor_input = {
            "inputs": {"parameterValues": _parameters(task, parameters), "artifacts": self._inputs(task, produced)},
            "outputs": _provision_outputs(run_root, name, component, self.publish_logs),
        }
        fingerprint = ""
        if task.get("cachingOptions", {}).get("enableCache"):
            fingerprint = _fingerprint(executor_input, container)
            if fingerprint in self.cache:  # reuseCachedOutputs
                outputs = self.mlmd.executions[self.cache[fingerprint]]
                return TaskRun(name, 0.0, True, {k: self.mlmd.runtime_artifact(i) for k, i in outputs.items()}, ""), outputs
        pod = self.work / "pods" / f"{name}-{uuid.uuid4().hex[:8]}"
        mounts = {}
        for mount in k8s.get(label, {}).get("pvcMount", []):
            claim = mount.get("constant") or mount.get("pvcNameParameter", {}).get("runtimeValue", {}).get("constant")
            if claim not in self.volumes:
                raise BackendError(f'task {name}: pod unschedulable: persistentvolumeclaim "{claim}" not found')
            mounts[mount["mountPath"]] = self.volumes[claim]
        started = time.monotonic()
        self._download(executor_input, pod, bucket)
        for listing in executor_input["outputs"]["artifacts"].values():  # prepareOutputFolders
            (pod / mirror_of(listing["artifacts"][0]["uri"])).parent.mkdir(parents=True, exist_ok=True)
        args = _fill_placeholders(container, executor_input, component)
        code, log = self.image_runner.run(container, args, pod, mounts, timeout)
        if self.publish_logs:  # execute(): the log writer
            logs = executor_input["outputs"]["artifacts"]["executor-logs"]["artifacts"][0]["uri"]
            (pod / mirror_of(logs)).write_text(log)
        if code:
            raise BackendError(f"task {name} failed (exit status {code}):\n{log[-5000:]}")
        output_file = pod / OUTPUT_METADATA_FILE.lstrip("/")
        executor_output = json.loads(output_file.read_text()) if output_file.exists() else {}
        outputs = self._upload(executor_input, executor_output, pod, bucket, session)
        execution = self.mlmd.record_execution(outputs)
        if fingerprint:
            self.cache[fingerprint] = execution
        shutil.rmtree(pod, ignore_errors=True)  # the pod's own disk goes with it
        seconds = time.monotonic() - started
        return TaskRun(name, seconds, False, {k: self.mlmd.runtime_artifact(i) for k, i in outputs.items()}, log), outputs

    def _inputs(self, task, produced) -> dict:
        artifacts = {}
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            artifact_id = produced[producer["producerTask"]][producer["outputArtifactKey"]]
            artifacts[key] = {"artifacts": [self.mlmd.runtime_artifact(artifact_id)]}
        return artifacts

    def _download(self, executor_input, pod: Path, bucket: Bucket) -> None:  # downloadArtifacts
        for listing in executor_input["inputs"]["artifacts"].values():
            uri = listing["artifacts"][0]["uri"]
            local = mirror_of(uri)
            if local is None:
                continue  # "does not have a recognized storage URI ... Skipping downloading"
            own = bucket if uri.startswith(bucket.prefixed()) else parse_bucket(uri)
            self.store.download(own, pod / local, own.key(uri))

    def _upload(self, executor_input, executor_output, pod: Path, bucket: Bucket, session) -> dict[str, int]:
        recorded = {}
        for key, listing in executor_input["outputs"]["artifacts"].items():  # uploadOutputArtifacts
            artifact = dict(listing["artifacts"][0])
            written = executor_output.get("artifacts", {}).get(key, {}).get("artifacts", [])
            if written:  # mergeRuntimeArtifacts
                artifact["uri"] = written[0].get("uri") or artifact["uri"]
                artifact["metadata"] = {**(artifact.get("metadata") or {}), **(written[0].get("metadata") or {})}
            local = mirror_of(artifact["uri"])
            if local is not None:
                blob_key = bucket.key(artifact["uri"])
                if (pod / local).exists():
                    self.store.upload(bucket, pod / local, blob_key)
            type_ = artifact.get("type", {})
            schema = type_.get("instanceSchema") if "instanceSchema" in type_ else f"title: {type_.get('schemaTitle', '')}"
            recorded[key] = self.mlmd.record_artifact(key, schema, artifact, session)
        return recorded


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


def _parameters(task: dict, run_parameters: dict) -> dict:
    """``resolveInputs``: constants and the run's parameters."""
    values = {}
    for key, source in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in source:
            values[key] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            values[key] = run_parameters[source["componentInputParameter"]]
        else:
            raise BackendError(f"unsupported parameter source {source}")
    return values


def _provision_outputs(run_root: str, task: str, component: dict, publish_logs: bool) -> dict:
    """``provisionOutputs``."""
    declared = dict(component.get("outputDefinitions", {}).get("artifacts", {}))
    if publish_logs:
        declared["executor-logs"] = {"artifactType": {"schemaTitle": "system.Artifact"}}
    salt = str(uuid.uuid4())
    artifacts = {
        key: {"artifacts": [{"uri": generate_output_uri(run_root, task, salt, key), "type": d["artifactType"]}]}
        for key, d in declared.items()
    }
    return {"artifacts": artifacts, "outputFile": OUTPUT_METADATA_FILE}


def _fingerprint(executor_input: dict, container: dict) -> str:
    """``GenerateCacheKey`` + ``GenerateFingerPrint`` (the same inputs; not byte-identical to Go's)."""
    outputs = {
        k: {"name": "", "type": v["artifacts"][0]["type"], "metadata": v["artifacts"][0].get("metadata")}
        for k, v in executor_input["outputs"]["artifacts"].items()
    }
    key = {
        "inputArtifactNames": {k: [a["name"] for a in v["artifacts"]] for k, v in executor_input["inputs"]["artifacts"].items()},
        "inputParameterValues": executor_input["inputs"]["parameterValues"],
        "outputArtifactsSpec": outputs,
        "containerSpec": {"image": container["image"], "cmdArgs": container["command"] + container["args"]},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _fill_placeholders(container: dict, executor_input: dict, component: dict) -> list[str]:
    """``getPlaceholders`` on a copy with the component's defaults added (``addDefaultParams``)."""
    with_defaults = json.loads(json.dumps(executor_input))
    for name, definition in component.get("inputDefinitions", {}).get("parameters", {}).items():
        if "defaultValue" in definition:
            with_defaults["inputs"]["parameterValues"].setdefault(name, definition["defaultValue"])
    message = json_format.ParseDict(with_defaults, pipeline_spec_pb2.ExecutorInput())
    text = json_format.MessageToJson(message, indent=None)
    args = [arg.replace("{{$}}", text) for arg in container["args"]]
    leftover = [arg for arg in args if "{{$" in arg]
    if leftover:
        raise BackendError(f"placeholders this harness does not fill: {leftover}")
    return args


# ---------------------------------------------------------------- pods
@dataclasses.dataclass
class ContainerRunner:
    """Runs a pod's main container: the image's entrypoint replaced by the task's command (as the
    launcher execs it), the image's working directory and environment, the pod's mirrors and
    ``/tmp/kfp_outputs`` as its own disk, the claimed volumes mounted, no network."""

    engine: list[str]  # e.g. ["podman"]
    env: dict[str, str]  # the engine's own environment (CONTAINERS_CONF ...)

    def run(self, container: dict, args: list[str], pod: Path, mounts: dict[str, Path], timeout: float) -> tuple[int, str]:
        volumes = []
        for top in [*MIRRORS.values(), "tmp/kfp_outputs"]:
            (pod / top).mkdir(parents=True, exist_ok=True)
            volumes += ["-v", f"{pod / top}:/{top}"]
        for target, source in mounts.items():
            volumes += ["-v", f"{source}:{target}"]
        limits = container.get("resources", {})
        cpus = min(float(limits.get("cpuLimit") or os.cpu_count()), float(os.cpu_count()))
        command = [
            *self.engine, "run", "--rm", "--network=none", f"--cpus={cpus}",
            f"--memory={int(float(limits.get('memoryLimit') or 8))}g", *volumes,
            "--entrypoint", json.dumps(container["command"][:1]), container["image"], *container["command"][1:], *args,
        ]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr
