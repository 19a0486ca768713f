"""The one reader of what pipeline runs produced, from the ML Metadata store.

A run is a ``pipeline_run`` context of the store: the executions of its components (a cached
one included: it is an execution of the run whose outputs are the cached artifacts) and their
output artifacts. :class:`Run` gives each component's state, duration and outputs, and the
reports (:mod:`common.reports`) and verdict read from them; the run summary of ``s2s run``, the
console's line per component and ``s2s status`` all read runs this way.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any

from common.reports import CorpusReport, DataReport, Evaluation

# Artifact type names, as TFX registers them in the store.
EXAMPLES, TRANSFORM_GRAPH, MODEL, MODEL_RUN = "Examples", "TransformGraph", "Model", "ModelRun"
BLESSING, EVALUATION, PUSHED_MODEL = "ModelBlessing", "ModelEvaluation", "PushedModel"


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


class _Outputs:
    """The reports, verdict and push read from output artifacts (a step's, or a whole run's)."""

    def artifacts(self, type_name: str) -> list[Any]:
        raise NotImplementedError

    def output(self, type_name: str) -> Any | None:
        """The newest output artifact of a type (None if there is none)."""
        artifacts = self.artifacts(type_name)
        return max(artifacts, key=lambda a: a.id) if artifacts else None

    @property
    def corpus(self) -> CorpusReport | None:
        """The ExampleGen's report (the Transform's examples have none)."""
        reports = (_report(CorpusReport, a.uri) for a in sorted(self.artifacts(EXAMPLES), key=lambda a: -a.id))
        return next((r for r in reports if r is not None), None)

    @property
    def data(self) -> DataReport | None:
        model_run = self.output(MODEL_RUN)
        return _report(DataReport, model_run.uri) if model_run is not None else None

    @property
    def evaluation(self) -> Evaluation | None:
        blessing, evaluation = self.output(BLESSING), self.output(EVALUATION)
        if blessing is None:
            return None
        metrics = eval_metrics(evaluation.uri) if evaluation is not None else {}
        return Evaluation(bool(blessing.custom_properties["blessed"].int_value), metrics)

    @property
    def pushed_to(self) -> str | None:
        """The serving directory of the version pushed (None: nothing pushed)."""
        pushed = self.output(PUSHED_MODEL)
        if pushed is None or not pushed.custom_properties["pushed"].int_value:
            return None
        return pushed.custom_properties["pushed_destination"].string_value

    @property
    def pushed_version(self) -> str | None:
        return os.path.basename(self.pushed_to) if self.pushed_to else None


@dataclasses.dataclass(frozen=True)
class Step(_Outputs):
    """One component's execution in a run."""

    component: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ... or KILLED (its run died under it)
    seconds: float | None  # None when it was killed: when it died is not recorded
    outputs: dict[str, list[Any]]  # artifact type name -> output artifacts (MLMD protos)

    def artifacts(self, type_name: str) -> list[Any]:
        return self.outputs.get(type_name, [])


@dataclasses.dataclass(frozen=True)
class Run(_Outputs):
    """A pipeline run: its steps in the order they started, and what they produced."""

    name: str
    started: str
    steps: list[Step]

    def artifacts(self, type_name: str) -> list[Any]:
        return [a for step in self.steps for a in step.artifacts(type_name)]

    def step(self, component: str) -> Step | None:
        return next((s for s in self.steps if s.component == component), None)

    def summary(self) -> list[str]:
        """What the run produced, a line per stage: corpus, vocabulary, training, evaluation."""
        corpus, data, evaluation = self.corpus, self.data, self.evaluation
        return [
            *([corpus.line()] if corpus else []),
            *(data.lines() if data else []),
            *([evaluation.line()] if evaluation and evaluation.overall else []),
        ]


def _report(record: type, directory: str):
    """A report a component wrote beside its output (None when it wrote none)."""
    path = os.path.join(directory, record.FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return record.from_json(f.read())


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


def _state(execution, alive: bool) -> str:
    """The execution's state; KILLED for one whose run died under it (still RUNNING with no run
    alive, or CANCELED by :func:`pipeline.leftovers.clean`)."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.leftovers import NOTE_PROPERTY

    state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
    if (state in ("RUNNING", "NEW") and not alive) or NOTE_PROPERTY in execution.custom_properties:
        return "KILLED"
    return state


def _step(store, execution, outputs: dict[int, Any], type_names: dict[int, str], alive: bool) -> Step:
    """The Step of one execution, its outputs picked from the run's (``outputs``: by artifact id)."""
    from ml_metadata.proto import metadata_store_pb2

    node = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
    state = _state(execution, alive)
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0
    mine: dict[str, list[Any]] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type == metadata_store_pb2.Event.OUTPUT and event.artifact_id in outputs:
            artifact = outputs[event.artifact_id]
            mine.setdefault(type_names[artifact.type_id], []).append(artifact)
    component = node[0].split(".")[-1] if node else execution.type
    return Step(component, state, None if state == "KILLED" else seconds, mine)


def read_run(store, context, alive: bool) -> Run:
    """The run of a ``pipeline_run`` context.

    Args:
        store: the metadata store.
        context: the run's context.
        alive: a run is in progress on the work directory (else a RUNNING execution was killed).

    Returns:
        The run's steps, in the order they started, with their outputs.
    """
    from ml_metadata.proto import metadata_store_pb2

    executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.create_time_since_epoch)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    ids = sorted({e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT})
    outputs = {a.id: a for a in store.get_artifacts_by_id(ids)} if ids else {}
    type_ids = sorted({a.type_id for a in outputs.values()})
    type_names = {t.id: t.name for t in store.get_artifact_types_by_id(type_ids)} if type_ids else {}
    started = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000).isoformat(timespec="seconds")
    return Run(context.name, started, [_step(store, e, outputs, type_names, alive) for e in executions])


def latest_runs(metadata_path: str, limit: int = 3, alive: bool = False) -> list[Run]:
    """The newest ``limit`` runs, newest first (``alive``: a run is in progress on the work directory)."""
    store = open_store(metadata_path)
    contexts = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)
    return [read_run(store, context, alive) for context in contexts[:limit]]
