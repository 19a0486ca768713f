"""Kubeflow: the compiled KFP v2 spec, its parameters and resources, containers, and submit."""

from __future__ import annotations

import http.server
import importlib
import json
import re
import threading

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from common import names
from evaluator.config import eval_config
from evaluator.params import EvaluatorSettings
from pipeline.config import REPO_ROOT
from s2s import cli

ORDER = [
    "CornellExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "Seq2SeqTransform",
    "Seq2SeqTrainer",
    "ServedBaseline",
    "Evaluator",
    "Pusher",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp")
    args = [
        "compile",
        "--output-dir",
        str(out),
        "--pipeline-root",
        "gs://bucket/root",
        "--gpu-type",
        "amd.com/gpu",
        "--gpu-count",
        "2",
        "--vocab-size",
        "12000",
        "--learning-rate",
        "0.002",
    ]
    assert cli.main(args) == 0
    again = tmp_path_factory.mktemp("kfp_again")
    assert cli.main(args[:2] + [str(again)] + args[3:]) == 0
    return out, again


def _spec(path) -> dict:
    return json.loads((path / f"{names.PIPELINE_NAME}.json").read_text())


def test_spec_parses_and_yaml_matches(compiled):
    out, _ = compiled
    spec = _spec(out)
    proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert proto.pipeline_info.name == names.PIPELINE_NAME and proto.default_pipeline_root == "gs://bucket/root"
    docs = list(yaml.safe_load_all((out / f"{names.PIPELINE_NAME}.yaml").read_text()))
    assert docs[0] == spec and list(docs[1]["platforms"]) == ["kubernetes"]  # the package: spec + volumes


def test_compiling_twice_is_byte_identical(compiled):
    out, again = compiled
    for name in (f"{names.PIPELINE_NAME}.json", f"{names.PIPELINE_NAME}.yaml"):
        assert (out / name).read_bytes() == (again / name).read_bytes()


def test_every_component_in_dependency_order(compiled):
    tasks = _spec(compiled[0])["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(ORDER)
    for i, name in enumerate(ORDER):  # every dependency of a task comes before it
        for dep in tasks[name].get("dependentTasks", []):
            assert ORDER.index(dep) < i, (name, dep)
    assert tasks["Pusher"]["dependentTasks"] == ["Evaluator", "Seq2SeqTrainer"]


def test_every_component_setting_is_a_run_parameter_with_its_default(compiled):
    spec = _spec(compiled[0])
    params = spec["root"]["inputDefinitions"]["parameters"]
    # The 25 of the Transform and the Trainer, and since session 10 the ExampleGen's, the
    # Evaluator's and the Pusher's (they were compiled into constants before); context_len since
    # session 12, context_lines and ema_epochs since session 13, collapse_check since session 16,
    # contrastive since session 18.
    assert set(params) == {
        "corpus_encoding",
        "train_buckets",
        "eval_buckets",
        "test_buckets",
        "min_masked_accuracy",
        "max_perplexity",
        "max_perplexity_increase",
        "max_top_reply_share",
        "keep_versions",
        "vocab_size",
        "max_len",
        "min_frequency",
        "train_steps",
        "epochs",
        "eval_steps",
        "batch_size",
        "learning_rate",
        "embedding_dim",
        "units",
        "glove_path",
        "glove_trainable",
        "long_pairs",
        "layers",
        "dropout",
        "attention",
        "bidirectional",
        "copy",
        "word_dropout",
        "lr_decay",
        "tie_embeddings",
        "clipnorm",
        "early_stopping_patience",
        "mixed_precision",
        "seed",
        "context_len",
        "context_lines",
        "ema_epochs",
        "collapse_check",
        "contrastive",
        "finetune_epochs",
        "finetune_learning_rate",
        "finetune_contrastive",
    }
    assert params["context_len"]["defaultValue"] == 40
    assert params["context_lines"]["defaultValue"] == 2
    assert tasks_input(spec, "CornellExampleGen", "context_lines") == {"componentInputParameter": "context_lines"}
    assert tasks_input(spec, "Seq2SeqTransform", "context_len") == {"componentInputParameter": "context_len"}
    assert params["vocab_size"]["defaultValue"] == 12000 and params["vocab_size"]["parameterType"] == "NUMBER_INTEGER"
    assert params["learning_rate"]["defaultValue"] == 0.002 and params["learning_rate"]["parameterType"] == "NUMBER_DOUBLE"
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["Seq2SeqTransform"]["inputs"]["parameters"]["vocab_size"] == {"componentInputParameter": "vocab_size"}
    assert tasks["Seq2SeqTrainer"]["inputs"]["parameters"]["train_steps"] == {"componentInputParameter": "train_steps"}
    assert tasks["Evaluator"]["inputs"]["parameters"]["max_perplexity"] == {"componentInputParameter": "max_perplexity"}
    assert params["keep_versions"]["defaultValue"] == 3 and params["corpus_encoding"]["defaultValue"] == "auto"


def tasks_input(spec: dict, task: str, name: str) -> dict:
    return spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"][name]


def test_only_the_trainer_requests_gpus(compiled):
    executors = _spec(compiled[0])["deploymentSpec"]["executors"]
    trainer = executors["Seq2SeqTrainer_executor"]["container"]["resources"]
    assert trainer["accelerator"] == {"type": "amd.com/gpu", "count": "2"}
    assert trainer["cpuLimit"] > 0 and trainer["memoryLimit"] > 0
    for name, executor in executors.items():
        assert "container" in executor, f"{name}: not a container (open-source KFP runs no resolver)"
        if name != "Seq2SeqTrainer_executor":
            resources = executor["container"]["resources"]
            assert "accelerator" not in resources and resources["cpuLimit"] > 0 and resources["memoryLimit"] > 0, name


def _import_paths(spec) -> set:
    paths = set()
    for executor in spec["deploymentSpec"]["executors"].values():
        args = executor.get("container", {}).get("args", [])
        if "--executor_class_path" in args:
            paths.add(args[args.index("--executor_class_path") + 1])
    tasks = spec["root"]["dag"]["tasks"]
    for key in ("preprocessing_fn", "run_fn"):
        for task in tasks.values():
            value = task.get("inputs", {}).get("parameters", {}).get(key, {}).get("runtimeValue", {}).get("constant")
            if value:
                paths.add(value)
    # The Evaluator's executor builds its eval_config from the bounds when it runs.
    for metrics_spec in eval_config(EvaluatorSettings()).metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.module:
                paths.add(f"{metric.module}.{metric.class_name}")
    return paths


def test_every_import_path_resolves_in_the_project(compiled):
    paths = _import_paths(_spec(compiled[0]))
    ours = {p for p in paths if p.split(".")[0] in ("components", "transforms", "trainer", "evaluator")}
    assert {
        "transforms.preprocessing.preprocessing_fn",
        "trainer.task.run_fn",
        "trainer.component.Seq2SeqTrainerExecutor",
        "evaluator.metrics.MaskedTokenAccuracy",
    } <= ours
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    for path in paths:
        module, _, attr = path.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), path
        if path in ours:  # the image carries the package the path lives in
            assert f"COPY {path.split('.')[0]} ./{path.split('.')[0]}" in dockerfile, path


def test_compile_does_not_upload_or_wheel_anything(compiled):
    # No module_file: no user-code wheel to build or to upload to the gs:// root.
    tasks = _spec(compiled[0])["root"]["dag"]["tasks"]
    for task in tasks.values():
        assert "module_file" not in task.get("inputs", {}).get("parameters", {})
    spec_text = (compiled[0] / f"{names.PIPELINE_NAME}.json").read_text()
    assert "_wheels" not in spec_text and "tfx_user_code" not in spec_text


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfiles_install_from_the_lock_and_run_the_tfx_launcher(dockerfile, compiled):
    text = (REPO_ROOT / "docker" / dockerfile).read_text()
    assert re.search(r"^FROM \S+", text, re.M)
    assert "uv export --frozen --no-dev" in text and "COPY pyproject.toml uv.lock" in text and "uv pip sync" in text
    for package in ("s2s", "common", "components", "transforms", "trainer", "pipeline", "serving"):
        assert f"COPY {package} ./{package}" in text
    command = _spec(compiled[0])["deploymentSpec"]["executors"]["Pusher_executor"]["container"]["command"]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    assert entrypoint == command[:3]
    if dockerfile.endswith(".gpu"):
        assert "--extra gpu" in text
        assert re.search(r"^FROM nvidia/cuda:12\.", text, re.M)  # TF 2.16 wheels are built for CUDA 12
    final = text.rsplit("\nFROM ", 1)[1]  # the image's own stage: no g++, no uv, no cache
    assert "COPY --from=deps /pipeline/.venv /pipeline/.venv" in final and "g++" not in final and "uv" not in final.split()
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "artifacts"} <= set(ignored)


def test_gpu_extra_is_locked():
    lock = (REPO_ROOT / "uv.lock").read_text()
    assert 'name = "nvidia-cudnn-cu12"' in lock


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers the KFP v2beta1 REST calls kfp.Client makes, and records them."""

    requests: list = []

    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.requests.append(("GET", self.path, None))
        self._send({})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append(("POST", self.path, body))
        if self.path.startswith("/apis/v2beta1/experiments"):
            self._send({"experiment_id": "exp-7", "display_name": body.get("display_name")})
        else:
            self._send({"run_id": "run-42", "display_name": body.get("display_name")})

    def log_message(self, *args):
        pass


def test_submit_uploads_the_spec_and_starts_a_run(compiled, capsys):
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        package = compiled[0] / f"{names.PIPELINE_NAME}.yaml"
        code = cli.main(
            [
                "submit",
                "--host",
                host,
                "--package",
                str(package),
                "--param",
                "train_steps=50",
                "--param",
                "learning_rate=0.01",
                "--experiment",
                "chatbot",
                "--namespace",
                "team-a",
            ]
        )
    finally:
        server.shutdown()
    assert code == 0 and "run run-42 started" in capsys.readouterr().out
    posts = [r for r in _Recorder.requests if r[0] == "POST"]
    assert [p[1] for p in posts] == ["/apis/v2beta1/experiments", "/apis/v2beta1/runs"]
    run = posts[1][2]
    assert run["experiment_id"] == "exp-7"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == names.PIPELINE_NAME
    assert run["runtime_config"]["parameters"] == {"train_steps": 50, "learning_rate": 0.01}
    # The backend never reads the spec's defaultPipelineRoot: the root travels with the run.
    assert run["runtime_config"]["pipeline_root"] == "gs://bucket/root"
    # The volumes travel with the spec; caching is left as compiled (ExampleGen and the baseline off).
    assert run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    tasks = run["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert tasks["CornellExampleGen"]["cachingOptions"] == {} and tasks["StatisticsGen"]["cachingOptions"] == {
        "enableCache": True
    }
    assert posts[0][2].get("namespace") == "team-a"  # multi-user Kubeflow: the profile's namespace


def test_submit_without_a_package_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["submit", "--host", "http://127.0.0.1:9", "--package", str(tmp_path / "none.yaml")]) == 2
    assert "no compiled pipeline here" in capsys.readouterr().err


def test_the_readmes_docker_run_of_s2s_run_works_in_the_image():
    """`docker run --entrypoint s2s ... run` (README): the console script, the sample corpus and
    the artifacts mount are where the command expects them (checked statically: no engine here)."""
    readme = (REPO_ROOT / "README.md").read_text()
    [command] = re.findall(r"^docker run .*$", readme, re.M)
    assert "--entrypoint s2s" in command and command.endswith("seq2seq-tfx:latest run")
    mount = re.search(r'-v "\$PWD/artifacts:(\S+)"', command).group(1)
    text = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)$", text, re.M).group(1)
    assert mount == f"{workdir}/artifacts"  # s2s run's default work dir: <project>/artifacts
    assert "COPY data/sample ./data/sample" in text  # s2s run's default corpus: <project>/data/sample
    assert "s2s" in tomllib_scripts()
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert "data/*" in ignored and "!data/sample" in ignored


def tomllib_scripts() -> dict:
    import tomli

    return tomli.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_no_resolver_and_the_baseline_task_is_never_cached(compiled):
    spec = _spec(compiled[0])
    assert not [name for name, e in spec["deploymentSpec"]["executors"].items() if "resolver" in e or "importer" in e]
    task = spec["root"]["dag"]["tasks"]["ServedBaseline"]
    assert task["cachingOptions"] == {"enableCache": False}
    assert spec["root"]["dag"]["tasks"]["Evaluator"]["inputs"]["artifacts"]["baseline_model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "baseline_model",
        "producerTask": "ServedBaseline",
    }


@pytest.mark.parametrize(
    "target, root, gpu, serving",
    [
        ("kfp", "minio://mlpipeline/v2/artifacts", "nvidia.com/gpu", "/serving/chatbot"),
        ("vertex", "gs://<bucket>/seq2seq-tfx", "NVIDIA_TESLA_T4", "/gcs/<bucket>/serving/chatbot"),
    ],
)
def test_each_target_gets_its_roots_and_resource_names(tmp_path, target, root, gpu, serving):
    assert cli.main(["compile", "--target", target, "--output-dir", str(tmp_path)]) == 0
    spec = _spec(tmp_path)
    assert spec["defaultPipelineRoot"] == root
    trainer = spec["deploymentSpec"]["executors"]["Seq2SeqTrainer_executor"]["container"]["resources"]
    assert trainer["accelerator"]["type"] == gpu
    push = json.loads(
        spec["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"]["push_destination"]["runtimeValue"]["constant"]
    )
    assert push["filesystem"]["base_directory"] == serving
    baseline = spec["root"]["dag"]["tasks"]["ServedBaseline"]["inputs"]["parameters"]["serving_model_dir"]
    assert baseline["runtimeValue"]["constant"] == serving  # the baseline is read where the Pusher writes
    mirrors = ["--local-mirrors"] if target == "kfp" else []  # open-source KFP's launcher keeps local mirrors
    for executor in spec["deploymentSpec"]["executors"].values():
        assert executor["container"]["command"] == ["python", "-m", "pipeline.kfp_entrypoint", *mirrors]


def test_submit_to_vertex_starts_a_pipeline_job(compiled, monkeypatch, capsys):
    from google.cloud import aiplatform

    calls = {}

    class FakeJob:
        resource_name = "projects/p/locations/europe-west4/pipelineJobs/seq2seq-tfx-1"

        def __init__(self, **kwargs):
            calls["job"] = kwargs

        def submit(self):
            calls["submitted"] = True

    monkeypatch.setattr(aiplatform, "init", lambda **kwargs: calls.setdefault("init", kwargs))
    monkeypatch.setattr(aiplatform, "PipelineJob", FakeJob)
    package = compiled[0] / f"{names.PIPELINE_NAME}.json"
    args = ["submit", "--target", "vertex", "--project", "p", "--region", "europe-west4", "--package", str(package)]
    assert cli.main([*args, "--param", "train_steps=50"]) == 0
    assert calls["init"] == {"project": "p", "location": "europe-west4"} and calls["submitted"]
    assert calls["job"]["template_path"] == str(package) and calls["job"]["parameter_values"] == {"train_steps": 50}
    assert "pipelineJobs/seq2seq-tfx-1 started on Vertex AI Pipelines (p, europe-west4)" in capsys.readouterr().out
    assert cli.main(["submit", "--target", "vertex", "--package", str(package)]) == 2
    assert "--target vertex needs --project" in capsys.readouterr().err
