"""What a killed run leaves in its work directory, found and removed.

A run killed with SIGKILL (or a machine that lost power) cannot tidy up: its Beam/TFX
temporary directory (``<work dir>/tmp-*``) stays, the component it was running stays RUNNING
in the metadata store, and that component's partial outputs stay under the pipeline root
(``<node>/<output>/<execution id>``, ``<node>/.system/executor_execution/<execution id>``,
``<node>/.system/stateful_working_dir/*``). TFX never reads them again: the next run gives the
component a new execution. They are debris only once no run is alive, which the work
directory's lock tells (:func:`run_in_progress`): the kernel releases it when its holder dies.

The next ``s2s run`` removes them before it starts (holding the lock), and so does
``s2s status --clean``; the abandoned execution is recorded as CANCELED with a note saying why.
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import os
import shutil

from pipeline.config import PipelineConfig

LOCK_FILE = ".s2s-run.lock"
NOTE_PROPERTY = "s2s_interrupted"  # the custom property of an execution a dead run left behind
NOTE = "its run ended without finishing it (the process was killed); its partial outputs were removed"


@dataclasses.dataclass(frozen=True)
class Leftovers:
    """Executions left RUNNING by runs that are gone ((id, component)), and the paths they left."""

    executions: tuple[tuple[int, str], ...] = ()
    paths: tuple[str, ...] = ()
    size: int = 0  # bytes under the paths

    def __bool__(self) -> bool:
        return bool(self.executions or self.paths)

    def summary(self) -> str:
        components = ", ".join(f"{name} (execution {eid})" for eid, name in self.executions) or "no component"
        return f"{components}; {len(self.paths)} path(s), {self.size / 2**20:.1f} MB"


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def run_in_progress(work_dir: str) -> str | None:
    """Who holds the work directory's lock ("pid N"), or None when no run is alive.

    Probed with a shared lock, released at once: a run that starts in that instant is refused as
    if another run held the directory, and can simply be started again."""
    path = os.path.join(work_dir, LOCK_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip() or "another process"
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def _abandoned(store) -> list:
    """[(execution, node id)] of the executions still RUNNING or NEW (only a dead run's, when no
    run is alive)."""
    from ml_metadata.proto import metadata_store_pb2

    states = (metadata_store_pb2.Execution.RUNNING, metadata_store_pb2.Execution.NEW)
    out = []
    for execution in store.get_executions():
        if execution.last_known_state in states:
            nodes = [c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
            out.append((execution, nodes[0] if nodes else execution.type.rsplit(".", 1)[-1]))
    return out


def _paths(cfg: PipelineConfig, abandoned: list, live_uris: set[str]) -> list[str]:
    """The temporary directories and the abandoned executions' outputs, never a published artifact."""
    paths = sorted(glob.glob(os.path.join(cfg.run.work_dir, "tmp-*")))
    for execution, node in abandoned:
        node_dir = os.path.join(cfg.pipeline_root, node)
        paths += sorted(glob.glob(os.path.join(node_dir, "*", str(execution.id))))
        paths += glob.glob(os.path.join(node_dir, ".system", "executor_execution", str(execution.id)))
    # A finished component removes its stateful working directory: what is left there is a dead run's.
    paths += sorted(glob.glob(os.path.join(cfg.pipeline_root, "*", ".system", "stateful_working_dir", "*")))
    return [p for p in paths if os.path.normpath(p) not in live_uris]


def find(cfg: PipelineConfig, writable: bool = False) -> tuple[Leftovers, object, list]:
    """What dead runs left (assumes no run is alive: check :func:`run_in_progress` first).

    Returns:
        The leftovers, and the open store and abandoned executions for :func:`clean`.
    """
    if not os.path.isfile(cfg.metadata_path):
        paths = sorted(glob.glob(os.path.join(cfg.run.work_dir, "tmp-*")))
        return Leftovers(paths=tuple(paths), size=sum(map(_size, paths))), None, []
    from pipeline.runs import open_store  # here: runs reads this module's note

    store = open_store(cfg.metadata_path, writable)
    abandoned = _abandoned(store)
    live = {os.path.normpath(a.uri) for a in store.get_artifacts() if a.uri}
    paths = _paths(cfg, abandoned, live)
    leftovers = Leftovers(tuple((e.id, node) for e, node in abandoned), tuple(paths), sum(map(_size, paths)))
    return leftovers, store, abandoned


def clean(cfg: PipelineConfig) -> Leftovers:
    """Removes what dead runs left and records their executions as CANCELED, with a note.
    Call it holding the work directory's lock, or after :func:`run_in_progress` said None.

    Returns:
        What was removed.
    """
    from ml_metadata.proto import metadata_store_pb2

    leftovers, store, abandoned = find(cfg, writable=True)
    for path in leftovers.paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)
    for execution, _ in abandoned:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties[NOTE_PROPERTY].string_value = NOTE
    if abandoned:
        store.put_executions([e for e, _ in abandoned])
    return leftovers
