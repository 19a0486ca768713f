"""Runs the pipeline on this machine with LocalDagRunner (SQLite metadata)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from common import names
from pipeline import leftovers
from pipeline.config import PipelineConfig
from pipeline.status import eval_metrics, format_metrics, open_store

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
    pushed_dir: str | None
    metrics: dict
    corpus_report: dict
    data_report: dict

    def summary(self) -> list[str]:
        """What the run produced, a line per step: corpus, vocabulary, training, evaluation."""
        lines = []
        report = self.corpus_report
        if report:
            c = report["counts"]
            lines.append(
                f"corpus: {c['pairs']} pairs {report['split_sizes']}; skipped: "
                f"{c['lines_malformed']} malformed lines, {c['lines_blank']} blank lines, "
                f"{c['conversations_malformed']} malformed conversations, "
                f"{c['pairs_skipped_missing_line']} pairs with a missing line "
                f"({c['conversations_with_missing_lines']} conversations), "
                f"{c['pairs_skipped_empty_utterance']} pairs with an empty utterance; "
                f"{c.get('titles_malformed', 0)} malformed movie metadata lines"
                + (
                    " (no genres: the Evaluator's genre slices are empty)"
                    if c.get("titles_read") and not c.get("titles_valid")
                    else ""
                )
            )
        data = self.data_report
        if data:
            glove = data.get("glove")
            embedding = (
                f"; GloVe {glove['dim']}d for {glove['found']} of {glove['vocabulary_words']} words "
                f"({glove['coverage']:.1%}), {'fine-tuned' if glove['trainable'] else 'frozen'}"
                if glove
                else "; random embedding"
            )
            lines.append(
                f"vocabulary: {data['vocabulary_size']} ids (reserved tokens included); out-of-vocabulary share of "
                f"eval tokens {data['eval']['oov_share']:.2%}; pairs longer than max_len ({data['long_pairs']}): "
                f"train {data['train']['pairs_longer_than_max_len']} of {data['train']['pairs']}, "
                f"eval {data['eval']['pairs_longer_than_max_len']} of {data['eval']['pairs']}" + embedding
            )
            t = data.get("training")
            if t:
                lines.append(
                    f"training: {t['epochs_run']} of {t['epochs_max']} epoch(s) on {', '.join(data['devices'])} "
                    f"({data['strategy'].strip('_')}, {data['precision']}, global batch {data['global_batch_size']}); "
                    f"best eval perplexity {t['best_val_perplexity']:.1f} at epoch {t['best_epoch']}, {t['exported']} exported"
                )
        if self.metrics:
            lines.append(f"evaluation (test split): {format_metrics(self.metrics)}")
        return lines


def run(
    cfg: PipelineConfig, beam_args: list[str] | None = None, preprocessing_only: bool = False, console: bool = False
) -> PushResult:
    """Runs every component (cached ones are reused) and returns what the Pusher did.

    Args:
        cfg: the run's settings.
        beam_args: more Beam arguments for the DirectRunner.
        preprocessing_only: stop after the Transform (the preprocessing benchmark).
        console: print a line per component and epoch and filter third-party noise
            (:mod:`pipeline.console`) instead of leaving logging as it is.

    Returns:
        What the newest Evaluator and Pusher did.
    """
    nodes: list[str] = []  # filled in once the pipeline is built
    if not console:
        return _run(cfg, beam_args, preprocessing_only, nodes)
    from pipeline import console as out

    def figure(node: str) -> str:
        text = out.figure(out.node_outputs(open_store(cfg.metadata_path), names.PIPELINE_NAME, node))
        return text

    with out.quiet(nodes, figure):
        return _run(cfg, beam_args, preprocessing_only, nodes)


class WorkDirBusyError(RuntimeError):
    """Another run holds the work directory."""


@contextlib.contextmanager
def work_dir_lock(work_dir: str) -> Iterator[None]:
    """Holds ``<work_dir>/.s2s-run.lock`` for a run. Two runs on one work directory would write
    one metadata store and push without being compared with each other: the second is refused.
    The lock is the kernel's (flock): it is released when its process ends, however it ends."""
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, leftovers.LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise WorkDirBusyError(
                f"{work_dir} is in use by another s2s run ({holder}); wait for it to finish, or use another --work-dir"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cfg: PipelineConfig, beam_args: list[str] | None, preprocessing_only: bool, nodes: list[str]) -> PushResult:
    with work_dir_lock(cfg.run.work_dir):
        return _run_locked(cfg, beam_args, preprocessing_only, nodes)


def _run_locked(cfg: PipelineConfig, beam_args: list[str] | None, preprocessing_only: bool, nodes: list[str]) -> PushResult:
    from tfx import v1 as tfx  # heavy import: only when a run is asked for

    from pipeline.pipeline import create_pipeline

    removed = leftovers.clean(cfg)  # what a killed run left: this run holds the lock, none other is alive
    if removed:
        print(f"removed what a killed run left: {removed.summary()}", flush=True)
    # Beam and TFX write temporary files; keep them in the work dir and remove them after.
    tmp = tempfile.mkdtemp(prefix="tmp-", dir=cfg.run.work_dir)
    old_tmp, argv = os.environ.get("TMPDIR"), sys.argv[1:]
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
        nodes.extend(component.id for component in pipeline.components)
        # TFX's Beam executors parse sys.argv as absl flags (plus the Beam arguments): the
        # caller's own arguments (`s2s run -v` would read as absl's --verbosity) stay out.
        sys.argv[1:] = []
        tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        sys.argv[1:] = argv
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        tempfile.tempdir = None
        shutil.rmtree(tmp, ignore_errors=True)
    return latest_push(cfg)


def latest_push(cfg: PipelineConfig) -> PushResult:
    """Reads the newest Evaluator blessing and Pusher output from the metadata store."""
    store = open_store(cfg.metadata_path)

    def newest(type_name: str, having: str = ""):
        artifacts = [a for a in store.get_artifacts_by_type(type_name) if not having or having in a.custom_properties]
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
        eval_metrics(evaluation.uri).get("overall", {}) if evaluation else {},
        _json(os.path.join(examples.uri, names.LOAD_REPORT_FILE)) if examples else {},
        _json(os.path.join(model_run.uri, names.DATA_REPORT_FILE)) if model_run else {},
    )


def _json(path: str) -> dict:
    """A JSON report a component wrote, or {} when it did not write one."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)
