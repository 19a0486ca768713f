"""What ``s2s run`` prints while the pipeline runs: a line as each component starts and ends
(ran or cached, its duration and the key figure it produced), a line per training epoch, and
warnings and errors; known third-party noise is filtered out (``-v`` shows everything).

The component lines come from LocalDagRunner's own log records ("Component X is running",
"A cached execution N is used", "Component X is finished"); the figures from the component's
newest outputs in the metadata store. The epoch lines come from the Trainer's ``seq2seq``
logger (:data:`PROGRESS`), which on Kubeflow reaches the step's log like any other record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

from common import features as C
from common import names

PROGRESS = logging.getLogger(names.PROGRESS_LOGGER)

# Messages of other packages that say nothing about this pipeline (regular expressions).
NOISE = (
    r"You are using a non-supported Python version",  # google-api-core, at every import
    r"ArtifactQuery\.property_predicate is not supported",  # TFX on MLMD's SQLite
    r"Tables initialized inside a tf\.function",  # TF-Transform's layer, traced in the export
    r"does not have payload_format custom property",  # TFX reading Examples
    r"`custom_executor_spec` is deprecated",  # TFX: the Pusher's executor is ours
    r"Couldn't find python-snappy",  # Beam
    r"tf_record_iterator|Instructions for updating|Use eager execution",  # TFMA's deprecation notice
    r"You are passing instance dicts|You are outputting instance dicts",  # TF-Transform's format advice
    r"Discarding unparseable args",  # Beam reading sys.argv
    r"is deprecated and will be removed",  # deprecation notices
    r"Support for google-cloud-storage < 3",  # google-cloud-aiplatform, at import
)
_NOISE = re.compile("|".join(NOISE))
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISE.search(record.getMessage())


class _Components(logging.Handler):
    """Turns LocalDagRunner's records into a start and an end line per component."""

    def __init__(self, nodes: Sequence[str], figure: Callable[[str], str], out=sys.stdout):
        super().__init__(logging.INFO)
        self.nodes, self.figure, self.out = nodes, figure, out  # nodes: filled in when the pipeline is built
        self.started: dict[str, float] = {}
        self.cached: set[str] = set()
        self.current = ""

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            node = self.current = str(record.args[0])
            self.started[node] = time.monotonic()
            self._line(f"{self._step(node)} {node} ...")
        elif record.msg == _CACHED:
            self.cached.add(self.current)
        elif record.msg == _FINISHED:
            node = str(record.args[0])
            seconds = time.monotonic() - self.started.get(node, time.monotonic())
            state = "cached" if node in self.cached else f"ran {seconds:.0f} s"
            try:
                figure = self.figure(node)
            except Exception as exc:  # noqa: BLE001 - a figure is a courtesy; the run goes on
                figure = f"(no figure: {type(exc).__name__})"
            self._line(f"{self._step(node)} {node}: {state}" + (f"; {figure}" if figure else ""))

    def _step(self, node: str) -> str:
        index = self.nodes.index(node) + 1 if node in self.nodes else 0
        return f"[{index}/{len(self.nodes)}]"


@contextlib.contextmanager
def quiet(nodes: Sequence[str], figure: Callable[[str], str], out=sys.stdout) -> Iterator[None]:
    """Component and epoch lines on ``out``; warnings (noise filtered) and errors on stderr."""
    absl_logger = logging.getLogger("absl")
    saved = (absl_logger.level, PROGRESS.level, PROGRESS.propagate, logging.root.handlers[:], logging.root.level)
    components = _Components(nodes, figure, out)
    progress = logging.StreamHandler(out)
    progress.setFormatter(logging.Formatter("      %(message)s"))
    loud = logging.StreamHandler(sys.stderr)
    loud.setLevel(logging.WARNING)
    loud.addFilter(_DropNoise())
    loud.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    absl_logger.setLevel(logging.INFO)  # records are made; only the component handler shows INFO
    # Kept at INFO for the run: libraries call absl.logging.set_verbosity() on their way (the
    # Transform's does), which would silence the runner's records; noise is filtered instead.
    absl_logger.setLevel = lambda level: None  # type: ignore[method-assign]
    absl_logger.addHandler(components)
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.propagate = False
    PROGRESS.addHandler(progress)
    logging.root.handlers = [loud]
    logging.root.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(" + "|".join(NOISE) + ")")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    finally:
        absl_logger.removeHandler(components)
        del absl_logger.setLevel
        PROGRESS.removeHandler(progress)
        absl_logger.setLevel(saved[0])
        PROGRESS.setLevel(saved[1])
        PROGRESS.propagate = saved[2]
        logging.root.handlers = saved[3]
        logging.root.setLevel(saved[4])


def node_outputs(store, pipeline_name: str, node_id: str) -> dict[str, list]:
    """The output artifacts of the newest execution of ``node_id``, by artifact type name."""
    from ml_metadata.proto import metadata_store_pb2

    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
    executions = store.get_executions_by_context(context.id) if context else []
    if not executions:
        return {}
    newest = max(executions, key=lambda e: e.id)
    events = store.get_events_by_execution_ids([newest.id])
    ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    outputs: dict[str, list] = {}
    for artifact in store.get_artifacts_by_id(ids) if ids else []:
        outputs.setdefault(store.get_artifact_types_by_id([artifact.type_id])[0].name, []).append(artifact)
    return outputs


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def figure(outputs: dict[str, list]) -> str:
    """The key figure of a component's outputs, in a few words ("" when there is none)."""
    if "Examples" in outputs and "cornell_pairs" in outputs["Examples"][0].custom_properties:
        report = _read_json(os.path.join(outputs["Examples"][0].uri, names.LOAD_REPORT_FILE))
        sizes = ", ".join(f"{k} {v}" for k, v in sorted(report["split_sizes"].items()))
        return f"{report['counts']['pairs']} pairs ({sizes})"
    if "TransformGraph" in outputs:
        vocabulary = os.path.join(outputs["TransformGraph"][0].uri, "transform_fn", "assets", C.VOCABULARY_NAME)
        with open(vocabulary, encoding="utf-8") as f:
            words = sum(1 for _ in f)
        return f"vocabulary {words + C.NUM_RESERVED} ids"
    if "ModelRun" in outputs:
        training = _read_json(os.path.join(outputs["ModelRun"][0].uri, names.DATA_REPORT_FILE)).get("training", {})
        if training.get("best_val_perplexity") is None:
            return f"{training.get('epochs_run', '?')} epoch(s)"
        return (
            f"{training['epochs_run']} of {training['epochs_max']} epochs, best eval perplexity "
            f"{training['best_val_perplexity']:.1f} at epoch {training['best_epoch']}"
        )
    if "ModelBlessing" in outputs:
        return "BLESSED" if outputs["ModelBlessing"][0].custom_properties["blessed"].int_value else "NOT blessed"
    if "PushedModel" in outputs:
        pushed = outputs["PushedModel"][0].custom_properties
        return f"pushed version {pushed['pushed_version'].string_value}" if pushed["pushed"].int_value else "not pushed"
    if "Model" in outputs and "baseline_source" in outputs["Model"][0].custom_properties:
        props = outputs["Model"][0].custom_properties
        if props["baseline_source"].string_value == "served":
            return f"baseline: the served version {props['served_version'].int_value}"
        return "baseline: none served yet, the candidate itself (absolute bounds only)"
    return ""
