"""The compiled spec runs: every task of it, executed as the open-source KFP driver and launcher
would (tests/kfp_emulator.py), end to end on the tiny corpus, twice. This, not "it parses", is
what makes a spec valid. In the default suite (about 3 minutes); ``make test-kfp`` runs it alone."""

from __future__ import annotations

import json
import time

import pytest

from components import features as C
from pipeline import kfp_entrypoint
from s2s import cli
from serving.saved_model import Chatbot

from .kfp_emulator import EMPTY_TYPE, run_pipeline, task_order

TINY_RUN = {
    "vocab_size": 300,
    "max_len": 8,
    "embedding_dim": 8,
    "units": 16,
    "train_steps": 20,
    "eval_steps": 1,
    "batch_size": 16,
}


def _compile(tmp_path, tiny_corpus, target="kfp") -> dict:
    out = tmp_path / f"spec-{target}"
    args = ["compile", "--target", target, "--output-dir", str(out), "--pipeline-root", str(tmp_path / "root"),
            "--kfp-data", str(tiny_corpus), "--serving-dir", str(tmp_path / "serving" / C.MODEL_NAME),
            "--gpu-count", "0", "--min-accuracy", "0", "--max-top-reply-share", "1",
            "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]  # fmt: skip
    assert cli.main(args) == 0
    return json.loads((out / f"{C.PIPELINE_NAME}.json").read_text())


def test_the_entrypoint_restores_the_types_the_driver_leaves_out():
    spec = {"artifacts": {"examples": {"artifactType": {"instanceSchema": "title: tfx.Examples\ntype: object\n"}}}}
    invocation = {"inputs": {"artifacts": {"examples": {"artifacts": [{"uri": "/x", "type": dict(EMPTY_TYPE)}]}}}}
    argv = ["prog", "--executor_class_path", "a.B", kfp_entrypoint.INVOCATION_FLAG, json.dumps(invocation),
            kfp_entrypoint.INPUTS_SPEC_FLAG, json.dumps(spec)]  # fmt: skip
    rewritten, restored = kfp_entrypoint.rewrite_args(argv)
    assert restored == ["examples: system.Artifact -> tfx.Examples"]
    sent = json.loads(rewritten[4])["inputs"]["artifacts"]["examples"]["artifacts"][0]
    assert sent["type"] == spec["artifacts"]["examples"]["artifactType"] and sent["uri"] == "/x"
    typed = {"inputs": {"artifacts": {"examples": {"artifacts": [{"uri": "/x", "type": {"schemaTitle": "tfx.Examples"}}]}}}}
    assert kfp_entrypoint.restore_artifact_types(typed, spec) == []  # what Vertex sends is left alone


@pytest.mark.kfp
def test_the_compiled_spec_runs_end_to_end_twice(tiny_corpus, tmp_path, capsys):
    spec = _compile(tmp_path, tiny_corpus)
    tasks = task_order(spec)
    started = time.monotonic()
    first = run_pipeline(spec, tmp_path / "root" / "run-1", TINY_RUN)
    first_seconds = time.monotonic() - started
    assert first["ServedBaseline"].outputs["baseline_model"]["metadata"]["baseline_source"] == "candidate"
    assert first["Evaluator"].outputs["blessing"]["metadata"]["blessed"] == 1
    pushed = first["Pusher"].outputs["pushed_model"]["metadata"]
    assert pushed["pushed"] == 1
    assert Chatbot(pushed["pushed_destination"]).reply(["hello there"])[0] is not None  # a SavedModel that answers
    assert (
        "restored the artifact type the driver left out: examples: system.Artifact -> tfx.Examples"
        in first["Seq2SeqTransform"].log
    )

    started = time.monotonic()
    second = run_pipeline(spec, tmp_path / "root" / "run-2", TINY_RUN)
    second_seconds = time.monotonic() - started
    baseline = second["ServedBaseline"].outputs["baseline_model"]["metadata"]
    assert baseline["baseline_source"] == "served" and str(int(baseline["served_version"])) == pushed["pushed_version"]
    blessed = second["Evaluator"].outputs["blessing"]["metadata"]["blessed"]
    assert blessed in (0, 1)  # judged against the served model by the change threshold
    assert (second["Pusher"].outputs["pushed_model"]["metadata"]["pushed"] == 1) == (blessed == 1)
    with capsys.disabled():
        print(f"\nemulated KFP runs: tasks {tasks}; first {first_seconds:.0f} s, second {second_seconds:.0f} s "
              f"(blessed: {bool(blessed)}); per task, first run: "
              + ", ".join(f"{n} {r.seconds:.0f} s" for n, r in first.items()))  # fmt: skip
