"""Compiles the pipeline for Kubeflow Pipelines (KFP v2 spec) and submits runs.

The same ``create_pipeline`` as the local runner, with:

* every hyperparameter a RuntimeParameter, so the KFP UI shows it as a run parameter;
* user code referenced by import path and baked into the pipeline image (``docker/``):
  compiling needs no network and uploads nothing;
* the Trainer requesting GPUs (type and count configurable) and CPU/memory, the other steps
  CPU/memory only;
* the pipeline root (``gs://``, ``s3://`` or a mounted volume path) and the Beam arguments
  per environment from configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from components import features as C
from components.settings import ConfigError, as_properties, setting
from pipeline.config import PipelineConfig

DEFAULT_IMAGE = "seq2seq-tfx:latest"
# Every task's command: TFX's launcher behind our entrypoint (pipeline/kfp_entrypoint.py), which
# restores the artifact types the open-source KFP driver leaves out. The image's ENTRYPOINT.
ENTRYPOINT = ["python", "-m", "pipeline.kfp_entrypoint"]

# Beam arguments per environment: DirectRunner for small runs inside the step's pod, and
# distributed runners for scale. Placeholders in <> are the deployment's to fill in.
BEAM_ENVIRONMENTS: dict[str, list[str]] = {
    "direct": ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=0"],
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


# What differs between the platforms: where artifacts go (open-source KFP's default minio://
# root is not a file system TFX reads, and the image has no S3 plugin: a mounted volume; Vertex:
# Cloud Storage), the accelerator's name (a Kubernetes resource name on open-source KFP, a
# machine accelerator type on Vertex), and where the Pusher writes (a POSIX directory the
# Pusher can rename in: a volume shared with TF Serving; on Vertex, a bucket through its
# Cloud Storage FUSE mount /gcs/).
TARGETS = {
    "kfp": {"pipeline_root": "/pipeline-root", "gpu_type": "nvidia.com/gpu", "serving_dir": "/serving/chatbot"},
    "vertex": {
        "pipeline_root": "gs://<bucket>/seq2seq-tfx",
        "gpu_type": "NVIDIA_TESLA_T4",
        "serving_dir": "/gcs/<bucket>/serving/chatbot",
    },
}


@dataclasses.dataclass(frozen=True)
class KubeflowSettings:
    """Where and how the compiled pipeline runs (the flags of ``s2s compile`` are derived from these)."""

    target: str = setting("kfp", "kfp: open-source Kubeflow Pipelines 2.x; vertex: Vertex AI Pipelines", choices=tuple(TARGETS))
    pipeline_root: str = setting("", 'artifacts root: a mounted volume path, gs:// ("": the target\'s)')
    data_dir: str = setting("/data/cornell", "corpus directory as the step pods see it", flag="--kfp-data")
    serving_dir: str = setting("", 'where the Pusher writes, as the pods see it; TF Serving watches it ("": the target\'s)')
    image: str = setting(DEFAULT_IMAGE, "pipeline image built from docker/Dockerfile")
    beam_environment: str = setting("direct", "Beam arguments preset", choices=tuple(BEAM_ENVIRONMENTS), flag="--beam-env")
    gpu_type: str = setting("", 'Trainer accelerator type ("": the target\'s: nvidia.com/gpu on kfp, NVIDIA_TESLA_T4 on vertex)')
    gpu_count: int = setting(1, "Trainer accelerator count, 0 for none", low=0, high=16)
    trainer_cpu: float = setting(8.0, "Trainer CPU limit", above=0.0, high=1024.0)
    trainer_memory_gb: float = setting(32.0, "Trainer memory limit, GB", above=0.0, high=4096.0, flag="--trainer-memory")
    step_cpu: float = setting(4.0, "other steps' CPU limit", above=0.0, high=1024.0)
    step_memory_gb: float = setting(16.0, "other steps' memory limit, GB", above=0.0, high=4096.0, flag="--step-memory")
    extra_beam_args: tuple = ()  # --beam-arg, repeatable

    def resolved(self) -> KubeflowSettings:
        """The settings with the target's defaults in place of the empty ones."""
        defaults = TARGETS[self.target]
        return dataclasses.replace(self, **{k: getattr(self, k) or v for k, v in defaults.items()})

    def beam_args(self) -> list[str]:
        if self.beam_environment not in BEAM_ENVIRONMENTS:
            raise ConfigError(f"unknown Beam environment {self.beam_environment!r}; choose one of {', '.join(BEAM_ENVIRONMENTS)}")
        # The image carries the project, so remote Beam workers run our code from it.
        return BEAM_ENVIRONMENTS[self.beam_environment] + [f"--sdk_container_image={self.image}"] + list(self.extra_beam_args)


def _resources(cpu: float, memory_gb: float, gpu_type: str = "", gpu_count: int = 0):
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(cpu_limit=cpu, memory_limit=memory_gb)
    if gpu_count:
        spec.accelerator.type = gpu_type
        spec.accelerator.count = gpu_count
    return spec


def compile_pipeline(cfg: PipelineConfig, settings: KubeflowSettings, output_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Writes ``<output_dir>/seq2seq-tfx.json`` and ``.yaml`` for ``settings.target``; returns their paths."""
    import yaml
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = settings.resolved()
    cfg = cfg.replace(data_dir=settings.data_dir)
    pipeline = create_pipeline(
        cfg,
        pipeline_root=settings.pipeline_root,
        serving_model_dir=settings.serving_dir,
        beam_pipeline_args=settings.beam_args(),
        runtime_parameters=True,
        trainer_resources=_resources(settings.trainer_cpu, settings.trainer_memory_gb, settings.gpu_type, settings.gpu_count),
        step_resources=_resources(settings.step_cpu, settings.step_memory_gb),
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=settings.image, use_pipeline_spec_2_1=True),
    )
    job = runner.run(pipeline, write_out=False)
    # What the KFP UI and kfp.Client upload is the PipelineSpec; the pipeline root goes
    # into it as its default, so a run needs no further settings.
    spec = job["pipelineSpec"]
    spec["defaultPipelineRoot"] = settings.pipeline_root
    # TFX declares the run parameters without their defaults; the UI should show them.
    defaults = {**as_properties(cfg.transform), **as_properties(cfg.trainer)}
    for name, parameter in spec["root"]["inputDefinitions"]["parameters"].items():
        parameter["defaultValue"] = defaults[name]
        parameter["isOptional"] = True
    # The baseline is read from the serving directory at run time: never a cached one.
    spec["root"]["dag"]["tasks"]["ServedBaseline"]["cachingOptions"] = {"enableCache": False}
    # TFX's builder for FileBasedExampleGen (which our ExampleGen is) drops the platform
    # config: give its container the same CPU/memory request as the other steps.
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor.get("container", {})
        container["command"] = list(ENTRYPOINT)
        container.setdefault("resources", {"cpuLimit": settings.step_cpu, "memoryLimit": settings.step_memory_gb})
    json_path = out / f"{C.PIPELINE_NAME}.json"
    json_path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    yaml_path = out / f"{C.PIPELINE_NAME}.yaml"
    yaml_path.write_text(yaml.safe_dump(spec, sort_keys=True))
    return {"json": json_path, "yaml": yaml_path}


def submit(
    package: str | os.PathLike[str],
    host: str,
    arguments: dict[str, object] | None = None,
    experiment: str = C.PIPELINE_NAME,
    run_name: str | None = None,
    existing_token: str | None = None,
):
    """Uploads the compiled spec and starts a run through kfp.Client; returns the run id."""
    import kfp

    client = kfp.Client(host=host, existing_token=existing_token)
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=dict(arguments or {}),
        run_name=run_name or f"{C.PIPELINE_NAME} run",
        experiment_name=experiment,
        enable_caching=True,
    )
    return result.run_id


def submit_vertex(
    package: str | os.PathLike[str],
    project: str,
    region: str,
    arguments: dict[str, object] | None = None,
    run_name: str | None = None,
) -> str:
    """Starts a Vertex AI Pipelines run of the compiled spec; returns the job's resource name."""
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=region)
    job = aiplatform.PipelineJob(
        display_name=run_name or f"{C.PIPELINE_NAME} run",
        template_path=str(package),
        parameter_values=dict(arguments or {}),
        enable_caching=True,
    )
    job.submit()
    return job.resource_name
