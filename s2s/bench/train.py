"""``s2s bench train``: training speed and memory of the default model at the full corpus's size.

* The corpus is generated at the real Cornell corpus's size (the preprocessing
  benchmark's generator: 304,713 lines from the sample's real text) and preprocessed by
  the pipeline (ExampleGen..Transform) in a child process.
* Training runs in a second child process, streaming the transformed TFRecords
  (:func:`trainer.task.make_dataset`) into the default model (:class:`trainer.params.TrainerSettings`),
  for ``--steps`` steps. Its peak RSS (``ru_maxrss``) is the figure held to the memory goal;
  the RSS sampled during training shows that it does not grow with the steps.
* Throughput: target tokens (non-padding, ``<eos>`` included) per second, and the median
  step time after the first steps (graph tracing).
* FLOP/s: the FLOPs of one training step are counted from the layer shapes
  (:func:`step_flops`: forward multiply-adds x 2, and the backward pass as twice the
  forward) and divided by the median step time; the reference is the FLOP/s of a large
  float32 ``tf.matmul`` measured in the same process just before training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import features
from trainer.params import TrainerSettings
from transforms.params import TransformSettings

GOAL_FLOP_RATIO = 0.40
GOAL_RSS_BYTES = 4 * 2**30
WARMUP_STEPS = 10


def forward_flops_per_example(
    vocab_size: int,
    embedding_dim: int,
    units: int,
    layers: int,
    attention: bool,
    max_len: int,
    tie_embeddings: bool = False,
    bidirectional: bool = False,
    copy: bool = False,
) -> int:
    """FLOPs (2 per multiply-add) of one example's forward pass, every position computed
    (the LSTM kernels and the output layer run over all ``max_len`` positions, padding
    included). Element-wise work (activations, softmax) is left out."""
    u, t = units, max_len
    total = 0
    for i in range(layers):
        d = embedding_dim if i == 0 else u
        total += 2 * 4 * u * (d + u) * t  # decoder: four gates, input and recurrent kernels
        if bidirectional:  # two directions of u / 2 units, outputs concatenated
            total += 2 * (2 * 4 * (u // 2) * (d + u // 2) * t)
        else:
            total += 2 * 4 * u * (d + u) * t
    if copy:
        total += t * 2 * (2 * u + embedding_dim)  # the gate reads [output; context; input embedding]
    if attention:
        total += t * (2 * u * u + 2 * t * u + 2 * t * u + 2 * (2 * u) * u)  # W_a, scores, context, W_c
    if tie_embeddings:
        total += t * (2 * u * embedding_dim + 2 * embedding_dim * vocab_size)  # to the embedding size, then scores
    else:
        total += t * 2 * u * vocab_size  # output layer
    return total


def step_flops(batch_size: int, **shape) -> int:
    """Training FLOPs of one step: forward + backward (twice the forward)."""
    return 3 * batch_size * forward_flops_per_example(**shape)


def matmul_flops_per_second(n: int = 2048, repeats: int = 10, rounds: int = 5) -> float:
    """FLOP/s of float32 [n, n] x [n, n] tf.matmul on this machine (best of ``rounds``)."""
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])

    @tf.function
    def chain(x):
        for _ in range(repeats):
            x = tf.matmul(x, b) * 1e-3
        return x

    chain(a).numpy()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        chain(a).numpy()
        best = min(best, time.perf_counter() - started)
    return repeats * 2 * n**3 / best


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _clock(steps: int):
    """A Keras callback timing each training step and sampling the RSS six times."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.rss = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self.started)
            if (batch + 1) % max(1, steps // 6) == 0:
                self.rss.append((batch + 1, _rss_bytes()))

    return Clock()


def _count_targets(train_files, tft_output) -> tuple[int, int]:
    """(pairs, target tokens) of the train split."""
    import numpy as np

    from trainer.task import make_dataset

    pairs, target_tokens = 0, 0
    for _, target in make_dataset(train_files, tft_output, 4096, shuffle=False):
        t = target.numpy()
        pairs += t.shape[0]
        target_tokens += int(np.count_nonzero(t))
    return pairs, target_tokens


def _timed_fit(params, cfg: TrainerSettings, strategy, train, steps: int):
    """Fits a fresh model of ``params`` for ``steps`` steps, with the Trainer's optimizer (its
    weight averaging included when ``ema_epochs`` is on); returns (median step seconds after the
    warm-up, wall seconds, RSS samples)."""
    import numpy as np

    from trainer.model import build_model
    from trainer.task import ema_momentum

    with strategy.scope():
        model = build_model(
            params,
            learning_rate=cfg.learning_rate,
            clipnorm=cfg.clipnorm,
            ema_momentum=ema_momentum(cfg.ema_epochs, steps),
        )
    clock = _clock(steps)
    started = time.perf_counter()
    model.fit(train, steps_per_epoch=steps, epochs=1, callbacks=[clock], verbose=0)
    wall = time.perf_counter() - started
    return float(np.median(clock.times[WARMUP_STEPS:] or clock.times)), wall, clock.rss


def _flops(params, batch: int, vocab: int, max_len: int) -> int:
    return step_flops(
        batch,
        vocab_size=vocab,
        embedding_dim=params.embedding_dim,
        units=params.units,
        layers=params.layers,
        attention=params.attention,
        max_len=max_len,
        tie_embeddings=params.tie_embeddings,
        bidirectional=params.bidirectional,
        copy=params.copy,
    )


def _child_train(pipeline_root: str, steps: int) -> dict:
    import tensorflow_transform as tft

    from s2s.bench.quality import transform_outputs
    from trainer.task import distribution_strategy, make_dataset, model_params

    matmul = matmul_flops_per_second()
    graph, train_files, _, _ = transform_outputs(pipeline_root)
    tft_output = tft.TFTransformOutput(graph)
    cfg = TrainerSettings()
    vocab = tft_output.vocabulary_size_by_name(features.VOCABULARY_NAME) + features.NUM_RESERVED
    max_len = int(tft_output.transformed_feature_spec()[features.DECODER_TARGET_IDS].shape[0])
    params = model_params(cfg, vocab)
    strategy = distribution_strategy()
    batch = cfg.batch_size * strategy.num_replicas_in_sync
    pairs, target_tokens = _count_targets(train_files, tft_output)
    train = make_dataset(train_files, tft_output, batch, shuffle=True).repeat()
    step_s, wall, rss = _timed_fit(params, cfg, strategy, train, steps)
    result = {
        "pairs": pairs,
        "target_tokens_per_pair": target_tokens / pairs,
        "vocab": vocab,
        "max_len": max_len,
        "model": params.__dict__,
        "batch": batch,
        "steps": steps,
        "wall_s": wall,
        "step_s": step_s,
        "step_flops": _flops(params, batch, vocab, max_len),
        "matmul_flops": matmul,
        "rss_by_step": rss,
        "steps_per_epoch": -(-pairs // batch),
    }
    # The generated corpus re-uses the sample's words, so its vocabulary is far smaller than
    # the real corpus's (which fills the configured vocab_size). The same model at the real
    # size, on the same batches (cost depends on shapes, not on which ids occur):
    full_vocab = TransformSettings().vocab_size + features.NUM_RESERVED
    if full_vocab > vocab:
        wide_steps = min(steps, 100)
        wide_s, _, _ = _timed_fit(dataclasses.replace(params, vocab_size=full_vocab), cfg, strategy, train, wide_steps)
        result["full_vocab"] = {
            "vocab": full_vocab,
            "step_s": wide_s,
            "step_flops": _flops(params, batch, full_vocab, max_len),
            "steps": wide_steps,
        }
    return result


def _print_figures(r: dict) -> None:
    """The training child's figures and the goal lines."""
    r["peak_rss_bytes"] = r["peak_rss_mb"] * 2**20
    tokens_per_step = r["batch"] * r["target_tokens_per_pair"]
    achieved = r["step_flops"] / r["step_s"]
    ratio = achieved / r["matmul_flops"]
    m = r["model"]
    print(
        f"model: embedding {m['embedding_dim']}, units {m['units']}, layers {m['layers']}, attention {m['attention']}, "
        f"tied embeddings {m['tie_embeddings']}, "
        f"dropout {m['dropout']}; vocabulary {r['vocab']:,}, MAX_LEN {r['max_len']}, batch {r['batch']}"
    )
    print(
        f"trained {r['steps']} steps (of {r['steps_per_epoch']:,} per epoch over {r['pairs']:,} train pairs) in {r['wall_s']:.0f} s"
    )
    print(f"step time (median after {WARMUP_STEPS} warm-up steps): {r['step_s'] * 1000:8.1f} ms")
    print(
        f"throughput: {tokens_per_step / r['step_s']:10,.0f} target tokens/s  ({r['batch'] / r['step_s']:,.0f} pairs/s, "
        f"{r['target_tokens_per_pair']:.1f} target tokens per pair)"
    )
    print(
        f"training FLOP/s (counted from layer shapes): {achieved / 1e9:8.1f} GFLOP/s  ({r['step_flops'] / 1e9:.1f} GFLOP per step)"
    )
    print(f"tf.matmul FLOP/s (2048x2048 float32, same process): {r['matmul_flops'] / 1e9:8.1f} GFLOP/s")
    print("RSS during training: " + ", ".join(f"step {s}: {b / 2**20:,.0f} MB" for s, b in r["rss_by_step"]))
    one_hot = r["pairs"] * r["max_len"] * r["vocab"] * 4
    print(
        f"peak RSS of the training process: {r['peak_rss_bytes'] / 2**20:,.0f} MB; the tutorial's one-hot target tensor "
        f"for the same data: {one_hot / 2**30:,.1f} GiB (float32 [{r['pairs']:,} x {r['max_len']} x {r['vocab']:,}])"
    )
    wide = r.get("full_vocab")
    if wide:
        wide_flops = wide["step_flops"] / wide["step_s"]
        print(
            f"same model at the vocabulary the real corpus fills ({wide['vocab']:,} ids; the generated corpus has {r['vocab']:,}), "
            f"{wide['steps']} steps: step {wide['step_s'] * 1000:.1f} ms, {wide_flops / 1e9:.1f} GFLOP/s = "
            f"{wide_flops / r['matmul_flops']:.1%} of matmul"
        )
    print(
        f"goal {'MET ' if ratio >= GOAL_FLOP_RATIO else 'MISS'}: training step FLOP/s / matmul FLOP/s = {ratio:.1%} (goal >= {GOAL_FLOP_RATIO:.0%}; default model on the full-scale corpus)"
    )
    ok_rss = r["peak_rss_bytes"] <= GOAL_RSS_BYTES
    print(
        f"goal {'MET ' if ok_rss else 'MISS'}: peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB on the full-scale corpus (goal <= 4 GiB)"
    )


def run(steps: int = 300, lines: int | None = None, conversations: int | None = None, keep: str | None = None) -> int:
    from s2s.bench import preprocess

    lines = lines or preprocess.FULL_LINES
    conversations = conversations or preprocess.FULL_CONVERSATIONS
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="s2s-bench-train-"))
    data, work = tmp / "corpus", tmp / "work"
    started = time.perf_counter()
    if not (data / "movie_lines.txt").exists():
        preprocess.generate_corpus(data, lines, conversations)
    transform = TransformSettings()
    prep = preprocess.run_child(["pipeline", str(data), str(work), str(transform.vocab_size), str(transform.max_len)])
    print(
        f"s2s bench train: corpus of {lines:,} lines / {conversations:,} conversations -> {prep['pairs']:,} pairs, "
        f"preprocessed by the pipeline in {prep['seconds']:.0f} s (separate process, peak RSS {prep['peak_rss_mb']:,.0f} MB); "
        f"{os.cpu_count()} CPU cores",
        flush=True,
    )
    r = preprocess.run_child(["train", str(work / "pipeline_root"), str(steps)], module="s2s.bench.train")
    _print_figures(r)
    print(f"bench wall time: {time.perf_counter() - started:.0f} s")
    if not keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # the training child process
    kind, root, n = sys.argv[1:4]
    print(json.dumps(_child_train(root, int(n))))
