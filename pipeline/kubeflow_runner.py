"""Compiles the pipeline for Kubeflow Pipelines (KFP v2 spec) and submits runs.

The same ``create_pipeline`` as the local runner, with:

* every hyperparameter a RuntimeParameter, so the KFP UI shows it as a run parameter;
* user code referenced by import path and baked into the pipeline image (``docker/``):
  compiling needs no network and uploads nothing;
* the Trainer requesting GPUs (type and count configurable; its own CUDA image) and CPU/memory,
  the other steps CPU/memory only, Beam's workers sized to the steps' CPU limit;
* per target (``--target kfp|vertex``) what the platform needs. Open-source KFP 2.x
  (kubeflow/pipelines ``backend/src/v2``): an object-store pipeline root (the backend ignores the
  spec's ``defaultPipelineRoot`` and accepts only ``gs://``, ``s3://`` or ``minio://`` roots,
  ``objectstore/config.go``), tasks that read and write the launcher's local mirrors
  (``pipeline/kfp_entrypoint.py``), the corpus and serving directories as PersistentVolumeClaims
  mounted by a Kubernetes platform spec (``pvcMount``), Kubernetes accelerator resource names.
  Vertex: a Cloud Storage root, machine accelerator types, buckets through ``/gcs/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from common import names
from common.settings import ConfigError, setting
from pipeline.config import PipelineConfig

DEFAULT_IMAGE = "seq2seq-tfx:latest"
# Every task's command: TFX's launcher behind our entrypoint (pipeline/kfp_entrypoint.py), which
# makes what the open-source driver hands over fit for TFX. The image's ENTRYPOINT.
ENTRYPOINT = ["python", "-m", "pipeline.kfp_entrypoint"]

# Beam arguments per environment: the DirectRunner inside the step's pod (workers: the step's CPU
# limit, see KubeflowSettings.beam_args), and distributed runners for scale. Placeholders in <> are
# the deployment's to fill in.
BEAM_ENVIRONMENTS: dict[str, list[str]] = {
    "direct": ["--runner=DirectRunner"],
    "dataflow": [
        "--runner=DataflowRunner",
        "--project=<gcp-project>",
        "--region=<gcp-region>",
        "--temp_location=<gs://bucket/tmp>",
        "--experiments=use_runner_v2",
    ],
    "flink": [
        "--runner=FlinkRunner",
        "--flink_master=<flink-jobmanager:8081>",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
    ],
    "spark": [
        "--runner=SparkRunner",
        "--spark_master_url=<spark://master:7077>",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
    ],
}

# objectstore/config.go, ParseBucketPathToConfig: the pipeline roots the open-source backend accepts.
BUCKET_PATTERN = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")
KFP_ROOT_SCHEMES = ("gs://", "s3://", "minio://")
# A Kubernetes extended resource name (open-source KFP puts the accelerator type there as is),
# and a Vertex machine accelerator type.
ACCELERATOR_NAMES = {
    "kfp": (
        re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"),
        "nvidia.com/gpu, amd.com/gpu",
    ),
    "vertex": (re.compile(r"^[A-Z][A-Z0-9_]+$"), "NVIDIA_TESLA_T4, NVIDIA_L4"),
}

# What differs between the platforms: where artifacts go (open-source KFP: the cluster's object
# store, by default its MinIO bucket; Vertex: Cloud Storage), the accelerator's name, where the
# corpus is read and where the Pusher writes (open-source KFP: PersistentVolumeClaims mounted by
# the package, the serving one shared with TF Serving; Vertex: buckets through its Cloud Storage
# FUSE mount /gcs/).
TARGETS = {
    "kfp": {
        "pipeline_root": "minio://mlpipeline/v2/artifacts",
        "gpu_type": "nvidia.com/gpu",
        "data_dir": "/data/cornell",
        "serving_dir": "/serving/chatbot",
    },
    "vertex": {
        "pipeline_root": "gs://<bucket>/seq2seq-tfx",
        "gpu_type": "NVIDIA_TESLA_T4",
        "data_dir": "/gcs/<bucket>/cornell",
        "serving_dir": "/gcs/<bucket>/serving/chatbot",
    },
}


def check_pipeline_root(root: str, target: str) -> str:
    """``root`` if the target's backend accepts it as a pipeline root; ConfigError otherwise."""
    match = BUCKET_PATTERN.match(root)
    if target == "kfp" and (not match or match.group(1) not in KFP_ROOT_SCHEMES):
        raise ConfigError(
            f"--pipeline-root {root!r}: open-source Kubeflow Pipelines takes an object-store root only "
            "(gs://BUCKET/..., s3://BUCKET/... or minio://BUCKET/...; its driver fails on anything else "
            "with 'unrecognized pipeline root format')"
        )
    if target == "vertex" and not root.startswith("gs://"):
        raise ConfigError(f"--pipeline-root {root!r}: Vertex AI Pipelines takes a Cloud Storage root (gs://BUCKET/...)")
    return root


def mount_path(directory: str) -> str:
    """Where the volume holding ``directory`` is mounted: its first path component (/data/cornell -> /data)."""
    parts = Path(directory).parts
    if not Path(directory).is_absolute() or len(parts) < 3:
        raise ConfigError(f"{directory!r}: give a directory below a volume's mount point, e.g. /data/cornell")
    return "/" + parts[1]


@dataclasses.dataclass(frozen=True)
class KubeflowSettings:
    """Where and how the compiled pipeline runs (the flags of ``s2s compile`` are derived from these)."""

    target: str = setting("kfp", "kfp: open-source Kubeflow Pipelines 2.x; vertex: Vertex AI Pipelines", choices=tuple(TARGETS))
    pipeline_root: str = setting(
        "", 'artifacts root: kfp gs://, s3:// or minio:// ("": minio://mlpipeline/v2/artifacts); vertex gs://'
    )
    data_dir: str = setting(
        "", 'corpus directory as the step pods see it ("": kfp /data/cornell, vertex /gcs/<bucket>/cornell)', flag="--kfp-data"
    )
    serving_dir: str = setting("", 'where the Pusher writes, as the pods see it; TF Serving watches it ("": the target\'s)')
    data_pvc: str = setting(
        "seq2seq-tfx-data", "kfp: PersistentVolumeClaim holding the corpus, mounted at the first directory of --kfp-data"
    )
    serving_pvc: str = setting(
        "seq2seq-tfx-serving",
        "kfp: PersistentVolumeClaim shared with TF Serving, mounted at the first directory of --serving-dir",
    )
    image: str = setting(DEFAULT_IMAGE, "pipeline image built from docker/Dockerfile")
    trainer_image: str = setting(
        "", 'Trainer image ("": <image>-gpu, from docker/Dockerfile.gpu, when it requests a GPU; else --image)'
    )
    beam_environment: str = setting("direct", "Beam arguments preset", choices=tuple(BEAM_ENVIRONMENTS), flag="--beam-env")
    gpu_type: str = setting("", 'Trainer accelerator type ("": the target\'s: nvidia.com/gpu on kfp, NVIDIA_TESLA_T4 on vertex)')
    gpu_count: int = setting(1, "Trainer accelerator count, 0 for none", low=0, high=16)
    trainer_cpu: float = setting(8.0, "Trainer CPU limit", above=0.0, high=1024.0)
    trainer_memory_gb: float = setting(32.0, "Trainer memory limit, GB", above=0.0, high=4096.0, flag="--trainer-memory")
    step_cpu: float = setting(4.0, "other steps' CPU limit (also the DirectRunner's worker count)", above=0.0, high=1024.0)
    step_memory_gb: float = setting(16.0, "other steps' memory limit, GB", above=0.0, high=4096.0, flag="--step-memory")
    extra_beam_args: tuple = ()  # --beam-arg, repeatable

    def resolved(self) -> KubeflowSettings:
        """The settings with the target's defaults in place of the empty ones, checked for the target."""
        defaults = TARGETS[self.target]
        out = dataclasses.replace(self, **{k: getattr(self, k) or v for k, v in defaults.items()})
        check_pipeline_root(out.pipeline_root, out.target)
        pattern, examples = ACCELERATOR_NAMES[out.target]
        if out.gpu_count and not pattern.match(out.gpu_type):
            raise ConfigError(f"--gpu-type {out.gpu_type!r} is not an accelerator name {out.target} knows (e.g. {examples})")
        if out.target == "kfp":
            for directory in (out.data_dir, out.serving_dir):
                mount_path(directory)  # each lies below a claim's mount point
        if not out.trainer_image:
            out = dataclasses.replace(out, trainer_image=gpu_image(out.image) if out.gpu_count else out.image)
        return out

    def beam_args(self) -> list[str]:
        """The Beam arguments of every Beam step: the DirectRunner gets one worker per CPU of the
        step's limit (``--direct_num_workers=0`` would start one per core of the *node*)."""
        if self.beam_environment not in BEAM_ENVIRONMENTS:
            raise ConfigError(f"unknown Beam environment {self.beam_environment!r}; choose one of {', '.join(BEAM_ENVIRONMENTS)}")
        args = list(BEAM_ENVIRONMENTS[self.beam_environment])
        if self.beam_environment == "direct":
            workers = max(1, int(self.step_cpu))
            mode = "multi_processing" if workers > 1 else "in_memory"
            args += [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
        # The image carries the project, so remote Beam workers run our code from it.
        return args + [f"--sdk_container_image={self.image}"] + list(self.extra_beam_args)


def gpu_image(image: str) -> str:
    """The GPU variant's name of a pipeline image: ``repo:tag`` -> ``repo:tag-gpu``."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:  # no tag (a registry port is no tag): the latest
        return f"{image}:latest-gpu"
    return f"{name}:{tag}-gpu"


def _resources(cpu: float, memory_gb: float, gpu_type: str = "", gpu_count: int = 0):
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(cpu_limit=cpu, memory_limit=memory_gb)
    if gpu_count:
        spec.accelerator.type = gpu_type
        spec.accelerator.count = gpu_count
    return spec


def _executor(spec: dict, task: str) -> str:
    component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    return spec["components"][component]["executorLabel"]


def platform_spec(spec: dict, settings: KubeflowSettings) -> dict:
    """The Kubernetes platform spec of the kfp target: the corpus volume on ExampleGen, the serving
    volume on ServedBaseline and the Pusher (``pvcMount``; ``constant`` is what the backend reads
    from 2.0 to 2.17)."""
    data = {"constant": settings.data_pvc, "mountPath": mount_path(settings.data_dir)}
    serving = {"constant": settings.serving_pvc, "mountPath": mount_path(settings.serving_dir)}
    mounts = {"CornellExampleGen": [data], "ServedBaseline": [serving], "Pusher": [serving]}
    executors = {_executor(spec, task): {"pvcMount": volumes} for task, volumes in mounts.items()}
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def compile_pipeline(cfg: PipelineConfig, settings: KubeflowSettings, output_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Writes ``<output_dir>/seq2seq-tfx.yaml`` (the package to upload: the pipeline spec, and for
    the kfp target its Kubernetes platform spec as a second document) and ``.json`` (the bare
    pipeline spec); returns their paths."""
    import yaml
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = settings.resolved()
    cfg = cfg.replace(data_dir=settings.data_dir)
    on_kfp = settings.target == "kfp"
    pipeline = create_pipeline(
        cfg,
        pipeline_root=settings.pipeline_root,
        serving_model_dir=settings.serving_dir,
        beam_pipeline_args=settings.beam_args(),
        runtime_parameters=True,
        trainer_resources=_resources(settings.trainer_cpu, settings.trainer_memory_gb, settings.gpu_type, settings.gpu_count),
        step_resources=_resources(settings.step_cpu, settings.step_memory_gb),
        serving_on_volume=on_kfp,
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=settings.image, use_pipeline_spec_2_1=True),
    )
    job = runner.run(pipeline, write_out=False)
    spec = job["pipelineSpec"]
    # Vertex reads it; the open-source backend does not (s2s submit passes the root with every run).
    spec["defaultPipelineRoot"] = settings.pipeline_root
    # TFX declares the run parameters without their defaults; the UI should show them.
    defaults = cfg.component_properties()
    for name, parameter in spec["root"]["inputDefinitions"]["parameters"].items():
        parameter["defaultValue"] = defaults[name]
        parameter["isOptional"] = True
    tasks = spec["root"]["dag"]["tasks"]
    # Never cached: the baseline is read from the serving directory at run time; ExampleGen's
    # inputs are constants, so a cache keyed on them (as KFP's is) would never see a changed corpus.
    for task in ("ServedBaseline", "CornellExampleGen"):
        tasks[task]["cachingOptions"] = {"enableCache": False}
    command = ENTRYPOINT + (["--local-mirrors"] if on_kfp else [])
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor.get("container", {})
        container["command"] = list(command)
        if label == _executor(spec, "Seq2SeqTrainer"):
            container["image"] = settings.trainer_image
    docs = [spec] + ([platform_spec(spec, settings)] if on_kfp else [])
    json_path = out / f"{names.PIPELINE_NAME}.json"
    json_path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    yaml_path = out / f"{names.PIPELINE_NAME}.yaml"
    yaml_path.write_text(yaml.safe_dump_all(docs, sort_keys=True))
    return {"json": json_path, "yaml": yaml_path}


def package_root(package: str | os.PathLike[str]) -> str:
    """The pipeline root a compiled package was made for (its ``defaultPipelineRoot``)."""
    import yaml

    with open(package) as f:
        spec = next(yaml.safe_load_all(f))
    return spec.get("defaultPipelineRoot", "")


def submit(
    package: str | os.PathLike[str],
    host: str,
    arguments: dict[str, object] | None = None,
    experiment: str = names.PIPELINE_NAME,
    run_name: str | None = None,
    existing_token: str | None = None,
    pipeline_root: str = "",
    namespace: str | None = None,
    enable_caching: bool | None = None,
):
    """Uploads the compiled package and starts a run on open-source KFP through kfp.Client.

    Args:
        package: the compiled YAML (pipeline spec and Kubernetes platform spec).
        host: the KFP API endpoint.
        arguments: run parameters.
        experiment, run_name: where the run is filed and its name.
        existing_token: a bearer token for the API.
        pipeline_root: an object-store root ("": the package's); always sent, because the backend
            never reads the spec's default.
        namespace: the Kubeflow profile namespace (multi-user Kubeflow).
        enable_caching: None keeps each task's compiled setting; True/False overrides every task.

    Returns:
        The run id.
    """
    import kfp

    root = check_pipeline_root(pipeline_root or package_root(package), "kfp")
    client = kfp.Client(host=host, existing_token=existing_token, namespace=namespace or "kubeflow")
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=dict(arguments or {}),
        run_name=run_name or f"{names.PIPELINE_NAME} run",
        experiment_name=experiment,
        namespace=namespace,
        pipeline_root=root,
        enable_caching=enable_caching,
    )
    return result.run_id


def submit_vertex(
    package: str | os.PathLike[str],
    project: str,
    region: str,
    arguments: dict[str, object] | None = None,
    run_name: str | None = None,
    pipeline_root: str = "",
    enable_caching: bool | None = None,
) -> str:
    """Starts a Vertex AI Pipelines run of the compiled spec; returns the job's resource name."""
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=region)
    job = aiplatform.PipelineJob(
        display_name=run_name or f"{names.PIPELINE_NAME} run",
        template_path=str(package),
        parameter_values=dict(arguments or {}),
        pipeline_root=check_pipeline_root(pipeline_root or package_root(package), "vertex"),
        enable_caching=enable_caching,
    )
    job.submit()
    return job.resource_name
