"""The compiled Kubeflow package against the open-source KFP backend's hand-over
(tests/kfp_harness.py, which follows kubeflow/pipelines backend/src/v2): unit tests of each
finding, then the package run task by task in the pipeline image, as KFP 2.0 and as KFP >= 2.5
behave, and deliberately wrong hand-overs that must fail as the backend would fail them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as tfx_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

from common import names
from common.settings import ConfigError
from pipeline import kfp_entrypoint, kubeflow_runner
from s2s import cli
from serving.saved_model import Chatbot

from . import containers
from .kfp_harness import BackendError, Cluster, ContainerRunner, Mlmd, parse_bucket

TINY_RUN = {
    "vocab_size": 300,
    "max_len": 8,
    "embedding_dim": 8,
    "units": 16,
    "train_steps": 20,
    "eval_steps": 1,
    "batch_size": 16,
}
EXAMPLES = "title: tfx.Examples\ntype: object\n"


def _compile(out: Path, *extra: str, target: str = "kfp") -> list[dict]:
    args = ["compile", "--target", target, "--output-dir", str(out), "--gpu-count", "0", "--step-cpu", "1",
            "--step-memory", "4", "--trainer-cpu", "2", "--trainer-memory", "4",
            "--min-accuracy", "0", "--max-top-reply-share", "1", *extra]  # fmt: skip
    assert cli.main(args) == 0
    return list(yaml.safe_load_all((out / f"{names.PIPELINE_NAME}.yaml").read_text()))


def _driver_input(publish_logs: bool) -> dict:
    """An executor input for StatisticsGen as the 2.x driver builds it: the upstream Examples named by
    its MLMD id, with an empty schema and metadata after an MLMD round trip; object-store URIs."""
    mlmd = Mlmd()
    produced = {"uri": "minio://mlpipeline/v2/artifacts/p/run/CornellExampleGen/u1/examples",
                "metadata": {"span": 0, "split_names": '["train", "eval", "test"]', "version": 0, "pairs": 12}}  # fmt: skip
    examples = mlmd.runtime_artifact(mlmd.record_artifact("examples", EXAMPLES, produced, {"Provider": "minio"}))
    outputs = {"statistics": {"artifacts": [{"uri": "minio://mlpipeline/v2/artifacts/p/run/StatisticsGen/u2/statistics",
                                             "type": {"instanceSchema": "title: tfx.ExampleStatistics\ntype: object\n"}}]}}  # fmt: skip
    if publish_logs:
        outputs["executor-logs"] = {"artifacts": [{"uri": "minio://mlpipeline/v2/artifacts/p/run/StatisticsGen/u2/executor-logs",
                                                   "type": {"schemaTitle": "system.Artifact"}}]}  # fmt: skip
    return {"inputs": {"artifacts": {"examples": {"artifacts": [examples]}}},
            "outputs": {"artifacts": outputs, "outputFile": "/tmp/kfp_outputs/output_metadata.json"}}  # fmt: skip


def _argv(executor_input: dict) -> list[str]:
    spec = {"artifacts": {"examples": {"artifactType": {"instanceSchema": EXAMPLES}}}}
    return ["prog", "--executor_class_path", "a.B", kfp_entrypoint.INVOCATION_FLAG, json.dumps(executor_input),
            kfp_entrypoint.INPUTS_SPEC_FLAG, json.dumps(spec)]  # fmt: skip


def _tfx_parses(argv: list[str]) -> dict:
    """What TFX's launcher does with the invocation before running the executor."""
    args, _ = kubeflow_v2_run_executor._parse_flags(argv)
    message = json_format.Parse(
        args.json_serialized_invocation_args, pipeline_spec_pb2.ExecutorInput(), ignore_unknown_fields=True
    )
    return {
        "inputs": tfx_utils.parse_raw_artifact_dict(message.inputs.artifacts),
        "outputs": tfx_utils.parse_raw_artifact_dict(message.outputs.artifacts),
    }


@pytest.mark.parametrize("publish_logs", [False, True], ids=["kfp-2.0", "kfp-2.5"])
def test_tfx_parses_what_the_driver_hands_over_through_the_entrypoint(publish_logs):
    # Finding 1 and the empty schema: TFX alone fails on both driver behaviours.
    with pytest.raises((ImportError, AttributeError, TypeError)):
        _tfx_parses(_argv(_driver_input(publish_logs)))
    argv, notes, remote_of, output_file = kfp_entrypoint.rewrite_args(_argv(_driver_input(publish_logs)), mirrors=True)
    parsed = _tfx_parses(argv)
    [examples] = parsed["inputs"]["examples"]
    assert type(examples).__name__ == "Examples" and examples.split_names == '["train", "eval", "test"]' and examples.span == 0
    assert examples.uri == "/minio/mlpipeline/v2/artifacts/p/run/CornellExampleGen/u1/examples"  # the launcher's mirror
    assert sorted(parsed["outputs"]) == ["statistics"]  # executor-logs is the launcher's, not TFX's
    assert ("left the backend's own output to the launcher: executor-logs" in notes) == publish_logs
    assert output_file == "/tmp/kfp_outputs/output_metadata.json"
    # What TFX writes names the mirrors; the launcher must be told the remote URIs again.
    written = {
        "artifacts": {"statistics": {"artifacts": [{"uri": "/minio/mlpipeline/v2/artifacts/p/run/StatisticsGen/u2/statistics"}]}}
    }
    assert kfp_entrypoint.restore_remote_uris(written, remote_of) == 1
    assert written["artifacts"]["statistics"]["artifacts"][0]["uri"].startswith("minio://mlpipeline/")


def test_vertex_invocations_are_left_as_they_are():
    typed = {"inputs": {"artifacts": {"examples": {"artifacts": [{"uri": "gs://b/x", "type": {"schemaTitle": "tfx.Examples"}}]}}}}
    assert kfp_entrypoint.restore_artifact_types(typed, {"artifacts": {"examples": {"artifactType": {}}}}) == []
    argv, _, remote_of, _ = kfp_entrypoint.rewrite_args(_argv(typed), mirrors=False)
    assert remote_of == {} and json.loads(argv[4])["inputs"]["artifacts"]["examples"]["artifacts"][0]["uri"] == "gs://b/x"


@pytest.mark.parametrize(
    "root, accepted",
    [("minio://mlpipeline/v2/artifacts", True), ("s3://bucket/p", True), ("gs://bucket", True), ("/pipeline-root", False),
     ("file:///pipeline-root", False), ("pipeline-root", False), ("http://bucket/x", False)],
)  # fmt: skip
def test_the_kfp_target_accepts_exactly_the_roots_the_backend_accepts(root, accepted):
    try:
        parse_bucket(root)
        backend = True
    except BackendError:
        backend = False
    try:
        kubeflow_runner.check_pipeline_root(root, "kfp")
        ours = True
    except ConfigError:
        ours = False
    assert backend == ours == accepted


def test_the_package_mounts_its_volumes_caches_nothing_stale_and_sizes_beam(tmp_path):
    spec, platform = _compile(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["CornellExampleGen"]["cachingOptions"] == {"enableCache": False}  # finding 3: a changed corpus is read
    assert tasks["ServedBaseline"]["cachingOptions"] == {"enableCache": False}
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert mounts["CornellExampleGen_executor"]["pvcMount"] == [{"constant": "seq2seq-tfx-data", "mountPath": "/data"}]
    for task in ("ServedBaseline", "Pusher"):  # finding 4: the serving directory is the shared claim
        assert mounts[f"{task}_executor"]["pvcMount"] == [{"constant": "seq2seq-tfx-serving", "mountPath": "/serving"}]
    assert spec["defaultPipelineRoot"] == "minio://mlpipeline/v2/artifacts"
    executors = spec["deploymentSpec"]["executors"]
    assert executors["StatisticsGen_executor"]["container"]["command"][-1] == "--local-mirrors"
    beam = [a for a in executors["StatisticsGen_executor"]["container"]["args"] if a.startswith("--direct")]
    assert beam == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]  # finding 5: --step-cpu 1
    settings = kubeflow_runner.KubeflowSettings(step_cpu=6.0)
    assert "--direct_num_workers=6" in settings.beam_args() and "--direct_num_workers=0" not in settings.beam_args()


def test_accelerators_images_and_data_per_target(tmp_path):
    with pytest.raises(ConfigError, match="NVIDIA_L4"):
        kubeflow_runner.KubeflowSettings(target="kfp", gpu_type="NVIDIA_L4").resolved()
    with pytest.raises(ConfigError, match="nvidia.com/gpu"):
        kubeflow_runner.KubeflowSettings(target="vertex", gpu_type="nvidia.com/gpu", pipeline_root="gs://b/r").resolved()
    gpu = kubeflow_runner.KubeflowSettings(gpu_count=1).resolved()
    assert (
        gpu.trainer_image == "seq2seq-tfx:latest-gpu"
        and kubeflow_runner.KubeflowSettings(gpu_count=0).resolved().trainer_image == gpu.image
    )
    assert kubeflow_runner.KubeflowSettings(target="vertex").resolved().data_dir.startswith("/gcs/")
    assert [kubeflow_runner.gpu_image(i) for i in ("r.io:5000/p/img:1.2", "r.io:5000/p/img", "img")] == [
        "r.io:5000/p/img:1.2-gpu",
        "r.io:5000/p/img:latest-gpu",
        "img:latest-gpu",
    ]
    spec, _ = _compile(tmp_path, "--gpu-count", "1")
    trainer = spec["deploymentSpec"]["executors"]["Seq2SeqTrainer_executor"]["container"]
    assert trainer["image"] == "seq2seq-tfx:latest-gpu" and trainer["resources"]["accelerator"]["type"] == "nvidia.com/gpu"
    assert spec["deploymentSpec"]["executors"]["Pusher_executor"]["container"]["image"] == "seq2seq-tfx:latest"


def test_compile_refuses_a_root_the_backend_refuses(tmp_path, capsys):
    assert cli.main(["compile", "--output-dir", str(tmp_path), "--pipeline-root", "/pipeline-root"]) != 0
    assert "unrecognized pipeline root format" in capsys.readouterr().err


def test_the_cache_key_of_a_task_with_constant_inputs_never_changes(tmp_path):
    # Why ExampleGen is compiled uncached: KFP keys its cache on input artifact ids, parameter values,
    # image and command (cacheutils/cache.go), and ExampleGen's inputs are constants: the same key
    # on every run, whatever the corpus holds. A task fed by it gets a new key with each new artifact.
    from .kfp_harness import _fingerprint, _parameters, _provision_outputs

    spec, _ = _compile(tmp_path)
    task = spec["root"]["dag"]["tasks"]["CornellExampleGen"]
    container = spec["deploymentSpec"]["executors"]["CornellExampleGen_executor"]["container"]
    component = spec["components"]["CornellExampleGen"]
    run_parameters = {k: v["defaultValue"] for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}

    def key(artifacts: dict) -> str:
        outputs = _provision_outputs("minio://b/r", "CornellExampleGen", component, publish_logs=True)
        values = _parameters(task, run_parameters)
        return _fingerprint({"inputs": {"parameterValues": values, "artifacts": artifacts}, "outputs": outputs}, container)

    assert key({}) == key({})  # run after run: a cache hit, however the corpus changed
    assert key({"examples": {"artifacts": [{"name": "7"}]}}) != key({"examples": {"artifacts": [{"name": "8"}]}})


def test_served_baseline_does_not_read_the_compile_hosts_disk(tmp_path):
    from tfx import types
    from tfx.types import standard_artifacts

    from components.baseline import ServedBaseline

    (tmp_path / "1700000000").mkdir()
    (tmp_path / "1700000000" / "saved_model.pb").write_bytes(b"x")
    model = types.Channel(type=standard_artifacts.Model)
    assert ServedBaseline(model, str(tmp_path)).exec_properties["served_version"] == "1700000000"
    pod = ServedBaseline(model, str(tmp_path), on_volume=True).exec_properties
    assert pod["served_version"] == "" and pod["require_volume"] == 1


# ---------------------------------------------------------------- in the image
def _cluster(tmp_path: Path, tiny_corpus: Path, publish_logs: bool) -> Cluster:
    found = containers.image()
    if isinstance(found, str):
        pytest.skip(found)
    argv, env = found
    data, serving = tmp_path / "pvc-data", tmp_path / "pvc-serving"
    shutil.copytree(tiny_corpus, data / "cornell")
    serving.mkdir()
    volumes = {"seq2seq-tfx-data": data, "seq2seq-tfx-serving": serving}
    return Cluster(tmp_path / "cluster", ContainerRunner(argv, env), publish_logs=publish_logs, volumes=volumes)


@pytest.mark.kfp
def test_the_package_runs_in_the_image_as_kfp_2_0_then_2_5_run_it(tiny_corpus, tmp_path, capsys):
    # A generous change threshold: the second run is compared with the served model and blessed, so
    # that both driver behaviours end with a pushed model that answers.
    [spec, _] = _compile(tmp_path / "package", "--image", containers.IMAGE, "--max-perplexity-increase", "100")
    package = tmp_path / "package" / f"{names.PIPELINE_NAME}.yaml"
    cluster = _cluster(tmp_path, tiny_corpus, publish_logs=False)
    first = cluster.submit(package, TINY_RUN)  # KFP 2.0-2.4: no executor-logs
    assert first["ServedBaseline"].outputs["baseline_model"]["metadata"]["baseline_source"] == "candidate"
    assert first["Evaluator"].outputs["blessing"]["metadata"]["blessed"] == 1.0
    pushed = first["Pusher"].outputs["pushed_model"]["metadata"]
    assert pushed["pushed"] == 1.0 and pushed["pushed_destination"].startswith("/serving/chatbot/")
    on_host = cluster.volumes["seq2seq-tfx-serving"] / Path(pushed["pushed_destination"]).relative_to("/serving")
    assert Chatbot(str(on_host)).reply(["hello there"])[0]  # the shared volume holds a model that answers
    assert "restored the artifact type the driver left out: examples: no type -> tfx.Examples" in first["StatisticsGen"].log
    uris = [a["uri"] for run in first.values() for a in run.outputs.values()]
    assert all(u.startswith("minio://mlpipeline/v2/artifacts/seq2seq-tfx/") for u in uris), uris  # recorded remote
    stored = cluster.store.objects(parse_bucket("minio://mlpipeline"), "v2/artifacts/seq2seq-tfx/")
    assert any("/Seq2SeqTrainer/" in k and k.endswith("saved_model.pb") for k in stored)  # uploaded by the launcher

    with open(cluster.volumes["seq2seq-tfx-data"] / "cornell" / "movie_conversations.txt", "a") as f:
        f.write("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L3', 'L5']\n")  # the corpus grows between runs
    cluster.publish_logs = True  # KFP >= 2.5 manifests
    second = cluster.submit(package, TINY_RUN, enable_caching=None)
    assert not second["CornellExampleGen"].cached  # a changed corpus is read again
    assert (
        second["CornellExampleGen"].outputs["examples"]["metadata"] != first["CornellExampleGen"].outputs["examples"]["metadata"]
    )
    baseline = second["ServedBaseline"].outputs["baseline_model"]["metadata"]
    assert baseline["baseline_source"] == "served" and str(int(baseline["served_version"])) == pushed["pushed_version"]
    assert second["Evaluator"].outputs["blessing"]["metadata"]["blessed"] == 1.0
    again = second["Pusher"].outputs["pushed_model"]["metadata"]
    assert again["pushed"] == 1.0 and int(again["pushed_version"]) > int(pushed["pushed_version"])
    on_host = cluster.volumes["seq2seq-tfx-serving"] / Path(again["pushed_destination"]).relative_to("/serving")
    assert Chatbot(str(on_host)).reply(["hello there"])[0]
    assert "left the backend's own output to the launcher: executor-logs" in second["Seq2SeqTrainer"].log
    with capsys.disabled():
        print("\nKFP harness, every task in the image (run 1 as KFP 2.0, run 2 as KFP 2.5+): "
              + "; ".join(f"run {i}: " + ", ".join(f"{n} {r.seconds:.0f} s" for n, r in run.items())
                          for i, run in ((1, first), (2, second))))  # fmt: skip


@pytest.mark.kfp
def test_wrong_hand_overs_fail_as_the_backend_would(tiny_corpus, tmp_path):
    _compile(tmp_path / "package", "--image", containers.IMAGE)
    package = tmp_path / "package" / f"{names.PIPELINE_NAME}.yaml"
    cluster = _cluster(tmp_path, tiny_corpus, publish_logs=True)
    with pytest.raises(BackendError, match="unrecognized pipeline root format"):
        cluster.submit(package, TINY_RUN, pipeline_root="/pipeline-root")  # what the UI pre-fills

    docs = list(yaml.safe_load_all(package.read_text()))
    stock = json.loads(json.dumps(docs[0]))
    for executor in stock["deploymentSpec"]["executors"].values():  # TFX's own launcher, no entrypoint
        executor["container"]["command"] = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
    bypassed = tmp_path / "bypassed.yaml"
    bypassed.write_text(yaml.safe_dump_all([stock, docs[1]]))
    with pytest.raises(BackendError, match="system.Artifact"):
        cluster.submit(bypassed, TINY_RUN)

    unmounted = tmp_path / "no-volumes.yaml"
    unmounted.write_text(yaml.safe_dump(docs[0]))  # the pipeline spec without its platform spec
    with pytest.raises(BackendError, match="(?s)CornellExampleGen failed.*data directory not found: /data/cornell"):
        cluster.submit(unmounted, TINY_RUN)

    del cluster.volumes["seq2seq-tfx-serving"]
    with pytest.raises(
        BackendError, match='persistentvolumeclaim "seq2seq-tfx-data"|persistentvolumeclaim "seq2seq-tfx-serving"'
    ):
        Cluster(tmp_path / "other", cluster.image_runner, volumes={}).submit(package, TINY_RUN)
