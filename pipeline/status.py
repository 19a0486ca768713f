"""``s2s status``: the latest pipeline runs, read from the ML Metadata store."""

from __future__ import annotations

import datetime
import logging
import os

from pipeline.config import PipelineConfig


def open_store(metadata_path: str, writable: bool = False):
    """The run's ML Metadata store (SQLite), read-only unless ``writable``."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    if not os.path.isfile(metadata_path):
        raise FileNotFoundError(f"{metadata_path}: no metadata store yet (run `s2s run` first)")
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    if not writable:
        connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)


def eval_metrics(evaluation_uri: str, model_name: str = "candidate") -> dict[str, dict[str, float]]:
    """{slice: {metric: value}} of one Evaluator output ("overall" for the whole test split)."""
    import tensorflow_model_analysis as tfma

    out: dict[str, dict[str, float]] = {}
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # TFMA's reader uses a deprecated TF API and says so
    try:
        slices = list(tfma.load_metrics(evaluation_uri))
    except Exception:  # noqa: BLE001 - an evaluation that did not finish has no metrics
        return out
    finally:
        tf_logger.setLevel(level)
    for metrics in slices:
        keys = metrics.slice_key.single_slice_keys
        name = ", ".join(f"{k.column}={k.bytes_value.decode() or k.int64_value or k.float_value}" for k in keys) or "overall"
        for item in metrics.metric_keys_and_values:
            # With a baseline the candidate is named; a first run (no baseline) has one unnamed model.
            if item.key.model_name in (model_name, "") and not item.key.is_diff and item.value.HasField("double_value"):
                out.setdefault(name, {})[item.key.name] = item.value.double_value.value
    return out


def format_metrics(metrics: dict[str, float]) -> str:
    """``name=value, ...`` sorted by name, floats to four significant digits."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))


def _state(execution, alive: bool) -> str:
    """The execution's state; KILLED for one whose run died under it (still RUNNING with no run
    alive, or CANCELED by :func:`pipeline.leftovers.clean`)."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.leftovers import NOTE_PROPERTY

    state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
    if (state in ("RUNNING", "NEW") and not alive) or NOTE_PROPERTY in execution.custom_properties:
        return "KILLED"
    return state


def latest_runs(cfg: PipelineConfig, limit: int = 3) -> list[dict]:
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.leftovers import run_in_progress

    store = open_store(cfg.metadata_path)
    alive = run_in_progress(cfg.run.work_dir) is not None
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch, reverse=True)
    result = []
    for run in runs[:limit]:
        executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch)
        components, outputs = [], {}
        events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
        output_ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
        for artifact in store.get_artifacts_by_id(output_ids) if output_ids else []:
            outputs.setdefault(artifact.type, []).append(artifact)
        for execution in executions:
            node = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
            state = _state(execution, alive)
            seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0
            components.append(
                {
                    "component": node[0].split(".")[-1] if node else execution.type,
                    "state": state,
                    "seconds": None if state == "KILLED" else seconds,  # when it died is not recorded
                }
            )
        blessing = outputs.get("ModelBlessing", [None])[-1]
        pushed = outputs.get("PushedModel", [None])[-1]
        evaluation = outputs.get("ModelEvaluation", [None])[-1]
        result.append(
            {
                "run": run.name,
                "started": datetime.datetime.fromtimestamp(run.create_time_since_epoch / 1000).isoformat(timespec="seconds"),
                "components": components,
                "blessed": None if blessing is None else bool(blessing.custom_properties["blessed"].int_value),
                "pushed_version": (
                    pushed.custom_properties["pushed_version"].string_value
                    if pushed is not None and pushed.custom_properties["pushed"].int_value
                    else None
                ),
                "pushed_to": (
                    pushed.custom_properties["pushed_destination"].string_value
                    if pushed is not None and pushed.custom_properties["pushed"].int_value
                    else None
                ),
                "metrics": eval_metrics(evaluation.uri) if evaluation is not None else {},
            }
        )
    return result


def format_runs(runs: list[dict]) -> str:
    lines = []
    for run in runs:
        lines.append(f"run {run['run']} (started {run['started']})")
        for c in run["components"]:
            seconds = "       ? s" if c["seconds"] is None else f"{c['seconds']:8.1f} s"
            lines.append(f"  {c['component']:<28} {c['state']:<9} {seconds}")
        if run["blessed"] is None:
            lines.append("  evaluation: none in this run")
        else:
            lines.append(f"  evaluation: {'BLESSED' if run['blessed'] else 'NOT blessed'}")
        for slice_name, metrics in sorted(run["metrics"].items(), key=lambda kv: (kv[0] != "overall", kv[0])):
            lines.append(f"    {slice_name}: {format_metrics(metrics)}")
        lines.append(
            f"  pushed: version {run['pushed_version']} -> {run['pushed_to']}" if run["pushed_version"] else "  pushed: nothing"
        )
    return "\n".join(lines)
