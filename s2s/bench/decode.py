"""``s2s bench decode``: the exported decoders timed in process (no gRPC), side by side in one run:
the default decoder (``serving_default``), greedy decoding with trigram blocking, session 13's
sampler and beam search with and without its antiLM (``generate``), at batch 1 and batch 64; plus the
sampler with its candidates side by side with the one that sorts the vocabulary, how often a row's nucleus needed the full sort, and whether both drew
the same replies."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from common import names
from common.decode_options import BEAM_SEARCH, GREEDY, SAMPLING, DecodeOptions
from s2s.bench.serve import _messages, _percentiles, _timed

GOAL_DEFAULT_B64_RPS = 400.0
GOAL_DEFAULT_VS_GREEDY = 4.0
GOAL_DEFAULT_B1_MS = 12.0
GOAL_GREEDY_B1_MS = 5.0
GOAL_BEAM_B64_RPS = 500.0


def _p50(fn, n: int) -> float:
    """p50 in ms of ``n`` calls after one warm-up call (serve.py's timing)."""
    fn()
    return _percentiles(_timed(fn, n))[0]


def _p50_over(fn, inputs: list) -> float:
    """p50 in ms of one call per input, in turn, after one warm-up call on each: what a user
    sending those messages one at a time sees (as ``s2s bench serve``'s single requests)."""
    for x in inputs:
        fn(x)
    turn = iter(inputs * 2)
    return _percentiles(_timed(lambda: fn(next(turn)), len(inputs)))[0]


def _sampler_side_by_side(model_dir: Path, messages: list[str], rounds: int = 4) -> None:
    """The sampler (session 13's default decoder, :data:`SAMPLING`) run by
    :func:`trainer.decoding.decode` on the rebuilt network, batch 64:
    with the candidates (what is exported) and with one candidate, so that nearly every row sorts the
    whole vocabulary (the sampler before the candidates), timed alternately; and how many sampled
    rows fell back to the full sort in each."""
    import tensorflow as tf

    from s2s.bench.serve import PythonLoopBaseline
    from trainer import decoding

    loop = PythonLoopBaseline(model_dir)
    vocab = tf.constant(len(loop.id_to_token))
    opts = decoding.option_tensors(SAMPLING)
    batches = [tf.constant(np.concatenate([loop.encoder_ids(m) for m in messages[r * 64 : (r + 1) * 64]])) for r in range(rounds)]
    runs = {}
    for candidates in (decoding.CANDIDATES, 1):

        @tf.function
        def call(ids, candidates=candidates):
            stats: dict = {}
            replies = decoding.decode(loop.net, ids, loop.max_len, vocab, opts, stats, candidates=candidates)[0]
            return stats, replies

        call(batches[0])  # trace
        runs[candidates] = call
    times = {c: [] for c in runs}
    sampled = {c: 0 for c in runs}
    fallbacks = {c: 0 for c in runs}
    same = total = 0
    for ids in batches * 2:
        replies = {}
        for c, call in runs.items():
            start = time.perf_counter()
            stats, replies[c] = call(ids)
            times[c].append((time.perf_counter() - start) * 1e3)
            sampled[c] += int(stats["sampled"])
            fallbacks[c] += int(stats["fallbacks"])
        rows = [r.numpy().reshape(-1, loop.max_len) for r in replies.values()]
        same += int(np.all(rows[0] == rows[1], axis=1).sum())
        total += rows[0].shape[0]
    new, old = (float(np.median(times[c])) for c in (decoding.CANDIDATES, 1))

    def share(c):
        return f"{100 * fallbacks[c] / max(sampled[c], 1):.1f} % of sampled rows x steps did not fit in the first selection"

    print(
        f"sampler, batch 64 in process: candidates {decoding.CANDIDATES} {new:.0f} ms ({share(decoding.CANDIDATES)}); "
        f"1 candidate, as good as sorting every row as before, {old:.0f} ms ({share(1)}): {old / new:.2f}x"
    )
    print(f"sampler: {same} of {total} sampled replies identical with candidates {decoding.CANDIDATES} and with 1 (same seed)")


# Op families of the profile table: the TensorFlow op types (CPU kernels) each one covers.
OP_FAMILIES = {
    "partial selection (TopKV2)": ("TopKV2",),
    "sort (full-vocabulary fallback)": ("Sort", "SortV2"),
    "matrix products (LSTM, attention, output layer)": (
        "MatMul",
        "BatchMatMul",
        "Einsum",
        "_MklMatMul",
        "_MklBatchMatMulV2",
        "_MklEinsum",
        "_FusedMatMul",
        "_MklFusedMatMul",
        "_MklNativeFusedMatMul",
    ),
    "softmax / log-softmax / log-sum-exp": ("Softmax", "LogSoftmax", "_MklSoftmax", "Exp", "Log", "Log1p", "Max", "Min", "Sum"),
    "elementwise (add, sub, mul, div, select, compare)": (
        "AddV2",
        "Add",
        "Sub",
        "Mul",
        "RealDiv",
        "SelectV2",
        "Select",
        "Greater",
        "GreaterEqual",
        "Less",
        "LessEqual",
        "Equal",
        "NotEqual",
        "LogicalAnd",
        "LogicalOr",
        "LogicalNot",
        "Maximum",
        "Minimum",
        "Neg",
        "Sigmoid",
        "Tanh",
        "_UnaryOpsComposition",
        "Cast",
        "FloorMod",
        "FloorDiv",
        "Pow",
    ),
    "gather / scatter (state, rows, bans, copy)": (
        "GatherV2",
        "GatherNd",
        "ResourceGather",
        "TensorScatterUpdate",
        "TensorScatterAdd",
        "ScatterNd",
        "Where",
    ),
    "cumulative sum (nucleus)": ("Cumsum",),
}


def _family(op: str) -> str:
    return next((name for name, ops in OP_FAMILIES.items() if op in ops), "other (shapes, control flow, random, ...)")


def profile_table(fn) -> list[tuple[str, float, float]]:
    """Runs ``fn`` once under the TensorFlow profiler; returns (op family, ms, share) rows, biggest
    first, from the CPU kernel events of its trace (summed over threads, so the total is CPU time)."""
    import glob
    import shutil
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="s2s-profile-")
    try:
        tf.profiler.experimental.start(logdir)
        fn()
        tf.profiler.experimental.stop()
        [path] = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        space = xplane_pb2.XSpace.FromString(Path(path).read_bytes())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    ps: dict[str, int] = {}
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute") and not line.name.startswith("tf_inter_op"):
                continue
            for event in line.events:
                op = plane.event_metadata[event.metadata_id].name.split(":")[-1]
                if op in ("Process", "ParallelFor", "ParallelForWithWorkerId"):
                    continue  # executor wrappers around the kernels, not kernels
                ps[_family(op)] = ps.get(_family(op), 0) + event.duration_ps
    total = sum(ps.values()) or 1
    return [(name, value / 1e9, value / total) for name, value in sorted(ps.items(), key=lambda kv: -kv[1])]


def _print_profile(default, messages: list[str], model_dir: Path) -> None:
    """The default decoder at batch 64 under the profiler: CPU time per op family, per step."""
    import tensorflow as tf

    from s2s.bench.serve import PythonLoopBaseline
    from trainer import decoding

    loop = PythonLoopBaseline(model_dir)
    ids = tf.constant(np.concatenate([loop.encoder_ids(m) for m in messages[:64]]))
    stats: dict = {}
    decoding.decode(
        loop.net, ids, loop.max_len, tf.constant(len(loop.id_to_token)), decoding.option_tensors(DecodeOptions()), stats
    )
    steps, rows = int(stats["steps"]), int(stats["row_steps"])
    batch = tf.constant(messages[:64])
    default(text=batch)
    rows_table = profile_table(lambda: default(text=batch))
    total = sum(ms for _, ms, _ in rows_table)
    print(
        f"profile, default decoder at batch 64 (serving_default, TensorFlow profiler, CPU time summed over threads): "
        f"{total:.0f} ms over {steps} steps; {rows} of {steps * 64 * DecodeOptions().beam_width} rows x steps ran (finished rows drop out)"
    )
    for name, ms, share in rows_table:
        print(f"  {name:<52} {ms:8.1f} ms  {100 * share:5.1f} %  {ms / steps:6.2f} ms/step")


def _time_decoders(decoders: dict, messages: list[str], requests: int) -> dict[str, tuple[float, float]]:
    """Prints and returns each decoder's (batch-1 p50 over ``requests`` different messages,
    batch-64 p50) in ms, with the longest message's batch-1 p50 printed beside them."""
    import tensorflow as tf

    figures = {}
    singles = [tf.constant([m]) for m in messages[:requests]]
    longest = tf.constant([max(messages[:requests], key=len)])
    many = tf.constant(messages[:64])
    print(f"batch 1: one message per call, {requests} different messages; 'longest': the longest of them, {requests} calls")
    for name, call in decoders.items():
        b1 = _p50_over(call, singles)
        worst = _p50(lambda: call(longest), requests)  # noqa: B023
        b64 = _p50(lambda: call(many), max(3, requests // 10))  # noqa: B023
        figures[name] = (b1, b64)
        print(
            f"{name:<8}: batch 1 p50 {b1:7.2f} ms (longest {worst:6.2f} ms)   "
            f"batch 64 p50 {b64:8.1f} ms = {64e3 / b64:7.0f} replies/s"
        )
    return figures


def _print_goals(figures: dict[str, tuple[float, float]], beam_name: str) -> None:
    """The issue's goal lines, from :func:`_time_decoders`' figures."""
    d1, d64 = figures["default"]
    g1, g64 = figures["greedy"]
    _, b64 = figures[beam_name]
    goals = [
        (
            f"default decoder at batch 64 >= {GOAL_DEFAULT_B64_RPS:.0f} replies/s",
            64e3 / d64 >= GOAL_DEFAULT_B64_RPS,
            f"{64e3 / d64:.0f}/s",
        ),
        (
            f"default decoder at batch 64 <= {GOAL_DEFAULT_VS_GREEDY:.0f}x greedy's",
            d64 <= GOAL_DEFAULT_VS_GREEDY * g64,
            f"{d64 / g64:.1f}x",
        ),
        (f"default decoder at batch 1 p50 <= {GOAL_DEFAULT_B1_MS:.0f} ms", d1 <= GOAL_DEFAULT_B1_MS, f"{d1:.2f} ms"),
        (f"greedy at batch 1 p50 <= {GOAL_GREEDY_B1_MS:.0f} ms", g1 <= GOAL_GREEDY_B1_MS, f"{g1:.2f} ms"),
        (f"{beam_name} at batch 64 >= {GOAL_BEAM_B64_RPS:.0f} replies/s", 64e3 / b64 >= GOAL_BEAM_B64_RPS, f"{64e3 / b64:.0f}/s"),
    ]
    for text, met, value in goals:
        print(f"goal {'MET ' if met else 'MISSED'}: {text} ({value})")


def run(model_dir: str, requests: int = 50, profile: bool = False) -> int:
    import tensorflow as tf

    from serving.saved_model import resolve_model_path
    from trainer.decoding import option_tensors

    path = resolve_model_path(model_dir)
    loaded = tf.saved_model.load(str(path))
    vocab = int(loaded.id_to_token.shape[0])
    architecture = json.loads(loaded.architecture.numpy())
    print(f"s2s bench decode: in process (no gRPC), model {path}; vocabulary {vocab}; {architecture}")
    messages = _messages(256)
    default = loaded.signatures[names.SERVING_SIGNATURE]
    generate = loaded.signatures[names.GENERATE_SIGNATURE]
    beam = BEAM_SEARCH  # as the beam_search signature runs it
    plain = dataclasses.replace(beam, antilm_weight=0.0)  # session 13's beam search: one row per beam
    decoders = {
        "default": lambda text: default(text=text),
        "greedy": lambda text: generate(text=text, **option_tensors(GREEDY)),
        "sampling (s13)": lambda text: generate(text=text, **option_tensors(SAMPLING)),
        f"beam {beam.beam_width}": lambda text: generate(text=text, **option_tensors(beam)),
        "beam, no antiLM": lambda text: generate(text=text, **option_tensors(plain)),
    }
    figures = _time_decoders(decoders, messages, requests)
    _sampler_side_by_side(path, messages)
    if profile:
        _print_profile(default, messages, path)
    _print_goals(figures, f"beam {beam.beam_width}")
    return 0
