"""Runs the pipeline on this machine with LocalDagRunner (SQLite metadata)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from typing import List, Optional

from s2s import config as C

# DirectRunner in one process: on 2 cores multi-processing was measured slower (PLATFORM.md).
# --sdk_container_image names the image docker/ builds, which remote Beam runners use; the
# DirectRunner ignores it, and its presence stops TFX from building a throw-away sdist of
# itself for every Beam component.
LOCAL_BEAM_ARGS = [
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
    "--sdk_container_image=seq2seq-tfx:latest",
]


@dataclasses.dataclass(frozen=True)
class PushResult:
    blessed: bool
    pushed: bool
    pushed_dir: Optional[str]
    metrics: dict
    corpus_report: dict
    data_report: dict


def run(cfg: C.PipelineConfig, beam_args: Optional[List[str]] = None, preprocessing_only: bool = False) -> PushResult:
    """Runs every component (cached ones are reused) and returns what the Pusher did."""
    from tfx import v1 as tfx  # heavy import: only when a run is asked for

    from pipeline.pipeline import create_pipeline

    os.makedirs(cfg.work_dir, exist_ok=True)
    # Beam and TFX write temporary files; keep them in the work dir and remove them after.
    tmp = tempfile.mkdtemp(prefix="tmp-", dir=cfg.work_dir)
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = None
    try:
        pipeline = create_pipeline(
            cfg,
            pipeline_root=cfg.pipeline_root,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_path),
            beam_pipeline_args=LOCAL_BEAM_ARGS + list(beam_args or []),
            preprocessing_only=preprocessing_only,
        )
        tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        tempfile.tempdir = None
        shutil.rmtree(tmp, ignore_errors=True)
    return latest_push(cfg)


def latest_push(cfg: C.PipelineConfig) -> PushResult:
    """Reads the newest Evaluator blessing and Pusher output from the metadata store."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = cfg.metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)

    def newest(type_name: str, having: str = ""):
        artifacts = [
            a for a in store.get_artifacts_by_type(type_name) if not having or having in a.custom_properties
        ]
        return max(artifacts, key=lambda a: a.id) if artifacts else None

    blessing, pushed = newest("ModelBlessing"), newest("PushedModel")
    evaluation, examples = newest("ModelEvaluation"), newest("Examples", "cornell_pairs")
    model_run = newest("ModelRun")
    is_blessed = bool(blessing and blessing.custom_properties["blessed"].int_value)
    was_pushed = bool(pushed and pushed.custom_properties["pushed"].int_value)
    pushed_dir = pushed.custom_properties["pushed_destination"].string_value if was_pushed else None
    return PushResult(
        is_blessed,
        was_pushed,
        pushed_dir,
        _metrics(evaluation.uri) if evaluation else {},
        _corpus_report(examples.uri) if examples else {},
        _json(os.path.join(model_run.uri, "data.json")) if model_run else {},
    )


def _json(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _corpus_report(examples_uri: str) -> dict:
    """What the Cornell ExampleGen kept and skipped (its load_report.json)."""
    from components.example_gen import REPORT_FILE

    path = os.path.join(examples_uri, REPORT_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _metrics(evaluation_uri: str) -> dict:
    """Overall-slice metrics of an Evaluator output, as {name: value}."""
    from pipeline.status import eval_metrics

    return eval_metrics(evaluation_uri).get("overall", {})
