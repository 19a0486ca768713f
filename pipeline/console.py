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
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

from common import features, names
from pipeline import runs
from pipeline.runs import Step

PROGRESS = logging.getLogger(names.PROGRESS_LOGGER)

# Messages of other packages that say nothing about this pipeline (regular expressions).
NOISE = (
    r"You are using a non-supported Python version",  # google-api-core, at every import
    r"ArtifactQuery\.property_predicate is not supported",  # TFX on MLMD's SQLite
    r"Tables initialized inside a tf\.function",  # TF-Transform's layer, traced in the export
    r"does not have payload_format custom property",  # TFX reading Examples
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


def figure(step: Step | None) -> str:
    """The key figure of a step's outputs, in a few words ("" when there is none)."""
    if step is None:
        return ""
    corpus = step.corpus
    if corpus:
        return corpus.figure()
    if step.artifacts(runs.TRANSFORM_GRAPH):
        vocabulary = os.path.join(step.output(runs.TRANSFORM_GRAPH).uri, "transform_fn", "assets", features.VOCABULARY_NAME)
        with open(vocabulary, encoding="utf-8") as f:
            words = sum(1 for _ in f)
        return f"vocabulary {words + features.NUM_RESERVED} ids"
    data = step.data
    if data:
        return data.figure()
    if step.artifacts(runs.BLESSING):
        return "BLESSED" if step.output(runs.BLESSING).custom_properties["blessed"].int_value else "NOT blessed"
    if step.artifacts(runs.PUSHED_MODEL):
        return f"pushed version {step.pushed_version}" if step.pushed_version else "not pushed"
    model = step.output(runs.MODEL)
    if model is not None and "baseline_source" in model.custom_properties:
        if model.custom_properties["baseline_source"].string_value == "served":
            return f"baseline: the served version {model.custom_properties['served_version'].int_value}"
        return "baseline: none served yet, the candidate itself (absolute bounds only)"
    return ""
