"""``s2s bench serve``: gRPC latency and throughput of the served chatbot, against the
tutorial's Python decoding loop on the same weights, and a concurrent load run.

The server runs in its own process: ``tensorflow_model_server`` when it is on PATH, the
development server otherwise (the output says which). Figures are measured side by side
in one run; the machine is noisy, so compare ratios, not absolute numbers across runs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common import features, names
from common.decode_options import GREEDY, MAX_BEAM_WIDTH, DecodeOptions
from pipeline.config import SAMPLE_DATA_DIR

GOAL_P50_MS = 15.0
GOAL_SPEEDUP = 30.0
GOAL_BATCH64_RPS = 1000.0
GOAL_ATTACKED_P50_MS = 250.0
# The heaviest requests a client may send (MAX_DECODE_ROWS each), looped by the cost attack.
HEAVIEST = (
    DecodeOptions(beam_width=MAX_BEAM_WIDTH, temperature=0.7, antilm_weight=0.0),
    DecodeOptions(beam_width=MAX_BEAM_WIDTH // 2, temperature=0.7, antilm_weight=0.5, antilm_steps=100),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles(samples_ms: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 99))


def _messages(n: int) -> list[str]:
    """Real utterances from the embedded sample, as users would type them."""
    from components.cornell import load_corpus

    pairs, _ = load_corpus(SAMPLE_DATA_DIR)
    texts = [p.input_text for p in pairs if 0 < len(p.input_text.encode()) <= 300]
    return [texts[i % len(texts)] for i in range(n)]


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


class PythonLoopBaseline:
    """The tutorial's inference: an encoder model and a decoder model, ``predict()`` per token.

    The Keras network is rebuilt from the SavedModel's own variables (its architecture is
    saved with it), and wrapped in two Keras models as the tutorial does: the encoder
    (ids -> state and attention memory) and the one-step decoder (token, state, memory ->
    logits, state), called with ``predict()`` once per generated token."""

    def __init__(self, saved_model_dir: Path):
        import json

        import keras
        import tensorflow as tf

        from trainer.model import Seq2Seq

        self._tf = tf
        loaded = tf.saved_model.load(str(saved_model_dir))
        self._loaded = loaded
        self.architecture = json.loads(loaded.architecture.numpy())
        net = Seq2Seq(**self.architecture)
        self.net = net
        net((tf.zeros([1, 2], tf.int64), tf.zeros([1, 2], tf.int64)))
        # The export's variables, matched by their path from the export's root (.model...).
        status = tf.train.Checkpoint(model=net).read(str(Path(saved_model_dir) / "variables" / "variables"))
        status.assert_existing_objects_matched()
        status.expect_partial()  # the export also holds the optimizer's slots, the tables...
        probe = loaded.signatures[names.SERVING_SIGNATURE](text=tf.constant(["hello"]))
        self.max_len = int(probe["reply_ids"].shape[1])
        self.id_to_token = [t.decode() for t in loaded.id_to_token.numpy()]
        self.state_size = 2 * net.num_layers

        class Encoder(keras.Model):
            def call(self, ids):
                state, memory = net.encode(ids)
                return list(state) + list(memory)

        class Decoder(keras.Model):
            def call(self, inputs):
                token, *rest = inputs
                state, memory = rest[: net.num_layers * 2], tuple(rest[net.num_layers * 2 :])
                logits, state = net.decode_step(token[:, 0], state, memory)
                return [logits] + list(state)

        self.encoder, self.decoder = Encoder(), Decoder()

    def encoder_ids(self, message: str) -> np.ndarray:
        """Preprocessing through the model's own Transform graph (not timed in the loop)."""
        tf = self._tf
        feature = lambda s: tf.train.Feature(bytes_list=tf.train.BytesList(value=[s]))  # noqa: E731
        raw = {
            name: feature(b"-")
            for name in (
                features.MOVIE_ID,
                features.CONVERSATION_ID,
                features.INPUT_LINE_ID,
                features.TARGET_LINE_ID,
                features.GENRES,
            )
        }
        raw.update({features.INPUT_TEXT: feature(message.encode()), features.TARGET_TEXT: feature(b"")})
        example = tf.train.Example(features=tf.train.Features(feature=raw)).SerializeToString()
        transformed = self._loaded.signatures[names.TRANSFORM_SIGNATURE](examples=tf.constant([example]))
        return transformed[features.ENCODER_INPUT_IDS].numpy()

    def start(self, ids: np.ndarray):
        """encoder.predict: (decoder state, attention memory) for [1, max_len] input ids."""
        encoded = self.encoder.predict(ids, verbose=0)
        return encoded[: self.state_size], encoded[self.state_size :]

    def step(self, token: int, state, memory):
        """decoder.predict for one token: ([vocab] logits, new state)."""
        logits, *state = self.decoder.predict([np.array([[token]])] + list(state) + list(memory), verbose=0)
        return logits[0], state

    def reply(self, ids: np.ndarray) -> str:
        state, memory = self.start(ids)
        token, words = features.BOS_ID, []
        for _ in range(self.max_len):
            logits, state = self.step(token, state, memory)
            logits[[features.PAD_ID, features.UNK_ID, features.BOS_ID]] = -np.inf  # never generated, as in the served decoder
            token = int(np.argmax(logits))
            if token == features.EOS_ID:
                break
            words.append(self.id_to_token[token])
        return " ".join(words)


def _start_server(model_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    from serving import model_server

    if model_server.find_binary():
        proc = model_server.start(model_dir, port=port, rest_port=0)
        return proc, f"TensorFlow Serving ({model_server.find_binary()})"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2s.cli", "serve", "--dev", "--port", str(port), "--model-dir", str(model_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return proc, "development server (in-process gRPC PredictionService, NOT TensorFlow Serving)"


def _wait(client, proc: subprocess.Popen, timeout: float = 180.0):
    """The server's versions once one is available; an error as soon as the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the model server exited with code {proc.returncode} before serving")
        try:
            return client.wait_until_available(min(5.0, deadline - time.monotonic()))
        except TimeoutError:
            continue
    raise TimeoutError(f"no model version became available within {timeout:.0f} s")


PLAIN_GREEDY = dataclasses.replace(GREEDY, no_repeat_ngram=0, no_repeat_word=0, min_length=0)


def cost_attack(address: str, messages: list[str], polite: int = 20) -> dict[str, float]:
    """Two clients loop the heaviest requests allowed (64 messages x 16 samples, 64 x 8 with
    MMI-antiLM) while a third sends one short message at a time.

    Returns:
        ``heavy_ms`` (the heaviest request alone), ``alone_ms`` (the polite request's p50 alone),
        ``p50_ms`` and ``max_ms`` (the polite request's under the attack), ``heavy_served``.
    """
    import threading

    from serving.client import ChatbotClient

    batch = messages[:64]
    with ChatbotClient(address, timeout=300, retries=0) as c:
        alone, _ = _percentiles(_timed(lambda: c.reply(["hello"]), polite))
        heavy, _ = _percentiles(_timed(lambda: c.generate(batch, HEAVIEST[0]), 3))
    stop, served = threading.Event(), []

    def hostile(options: DecodeOptions) -> None:
        with ChatbotClient(address, timeout=300, retries=0) as c:
            while not stop.is_set():
                c.generate(batch, options)
                served.append(1)

    with concurrent.futures.ThreadPoolExecutor(len(HEAVIEST)) as pool:
        attackers = [pool.submit(hostile, options) for options in HEAVIEST]
        time.sleep(min(heavy / 1e3, 5.0))  # both attackers under way
        with ChatbotClient(address, timeout=300, retries=0) as c:
            times = _timed(lambda: c.reply(["hello"]), polite)
        stop.set()
        for a in attackers:
            a.result()
    p50, _ = _percentiles(times)
    return {"heavy_ms": heavy, "alone_ms": alone, "p50_ms": p50, "max_ms": max(times), "heavy_served": len(served)}


def _single_requests(decoders: dict, next_message, requests: int, beam_name: str) -> dict[str, float]:
    """p50 (and p99) of one message per request, per decoder; returns the p50s."""
    for _ in range(20):  # warm-up beyond the model's own warm-up requests
        for call in decoders.values():
            call([next_message()])
    p50 = {}
    for name, call in decoders.items():
        times = _timed(lambda call=call: call([next_message()]), requests if name != beam_name else max(requests // 2, 10))
        p50[name], p99 = _percentiles(times)
        print(f"single request, {name:8s}: p50 {p50[name]:7.2f} ms   p99 {p99:7.2f} ms   (n={len(times)})")
    return p50


def _throughput(decoders: dict, messages: list[str]) -> dict[tuple[str, int], float]:
    """Replies per second of each decoder at batch 1, 8 and 64."""
    throughput = {}
    for name, call in decoders.items():
        row = []
        for batch in (1, 8, 64):
            n_calls = max(3, min(200, 512 // batch))
            batches = [messages[(i * batch) % len(messages) :][:batch] for i in range(n_calls)]
            batches = [b if len(b) == batch else messages[:batch] for b in batches]
            start = time.perf_counter()
            for b in batches:
                call(b)
            throughput[(name, batch)] = n_calls * batch / (time.perf_counter() - start)
            row.append(f"batch {batch:2d}: {throughput[(name, batch)]:7.0f} replies/s")
        print(f"throughput, {name:8s}: " + "   ".join(row))
    return throughput


def _python_loop(version_dir, client, messages: list[str], loop_replies: int) -> float:
    """The tutorial's Python loop on the same weights; prints the model's size and returns the
    loop's p50 per reply (ms)."""
    baseline = PythonLoopBaseline(version_dir)
    a = baseline.architecture
    print(
        f"model size: vocabulary {a['vocab_size']}, LSTM units {a['units']} x {a['layers']} layer(s), "
        f"attention {a['attention']}, bidirectional {a.get('bidirectional', False)}, copy {a.get('copy', False)}, "
        f"tied embeddings {a['tie_embeddings']}, max_len {baseline.max_len}"
    )
    loop_inputs = [baseline.encoder_ids(m) for m in messages[:loop_replies]]
    baseline.reply(loop_inputs[0])  # build the predict functions
    loop_ms, same = [], 0
    served = client.generate(messages[:loop_replies], PLAIN_GREEDY)
    for ids, reply in zip(loop_inputs, served):
        start = time.perf_counter()
        text = baseline.reply(ids)
        loop_ms.append((time.perf_counter() - start) * 1e3)
        same += text == reply.text
    l50, _ = _percentiles(loop_ms)
    print(
        f"python loop (tutorial: encoder.predict + decoder.predict per token, same weights): "
        f"p50 {l50:.1f} ms per reply (n={len(loop_ms)}; {same}/{len(loop_ms)} replies identical to the served ones)"
    )
    return l50


def _load(address: str, messages: list[str], load_requests: int, concurrency: int) -> int:
    """``load_requests`` default-decoder requests from ``concurrency`` clients; returns the errors."""
    from serving.client import ChatbotClient, ChatbotError

    def worker(n: int):
        local_errors, local_lat = 0, []
        with ChatbotClient(address, timeout=30, retries=0) as c:
            for i in range(n):
                start = time.perf_counter()
                try:
                    c.reply([messages[i % len(messages)]])  # the default decoder, as users get it
                    local_lat.append((time.perf_counter() - start) * 1e3)
                except ChatbotError:
                    local_errors += 1
        return local_errors, local_lat

    errors, latencies = 0, []
    per_client = [load_requests // concurrency + (1 if i < load_requests % concurrency else 0) for i in range(concurrency)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for e, lat in pool.map(worker, per_client):
            errors += e
            latencies += lat
    elapsed = time.perf_counter() - start
    p50, p99 = _percentiles(latencies) if latencies else (float("nan"), float("nan"))
    print(
        f"load: {load_requests} requests from {concurrency} concurrent clients: {errors} errors, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {load_requests / elapsed:.0f} requests/s"
    )
    return errors


def _goals(g50: float, speedup: float, greedy_b64: float, errors: int, attacked_p50: float) -> None:
    goals = [
        (f"greedy p50 <= {GOAL_P50_MS:g} ms", g50 <= GOAL_P50_MS, f"{g50:.2f} ms"),
        (f">= {GOAL_SPEEDUP:g}x faster than the python loop", speedup >= GOAL_SPEEDUP, f"{speedup:.1f}x"),
        (f">= {GOAL_BATCH64_RPS:g} replies/s at batch 64 (greedy)", greedy_b64 >= GOAL_BATCH64_RPS, f"{greedy_b64:.0f}/s"),
        ("0 errors under load", errors == 0, f"{errors}"),
        (
            f"'hello' p50 <= {GOAL_ATTACKED_P50_MS:g} ms under the cost attack",
            attacked_p50 <= GOAL_ATTACKED_P50_MS,
            f"{attacked_p50:.1f} ms",
        ),
    ]
    for text, ok, value in goals:
        print(f"goal {'MET ' if ok else 'MISS'}: {text} ({value})")


def run(
    model_dir: str, requests: int = 200, load_requests: int = 10_000, concurrency: int = 16, beam: int = 4, loop_replies: int = 20
) -> int:
    from serving.client import ChatbotClient
    from serving.saved_model import load_checked

    # Loaded here first: a corrupt model or one without the signatures is one clear error now,
    # not a server that never comes up.
    version_dir, _ = load_checked(model_dir, (names.SERVING_SIGNATURE, names.BEAM_SIGNATURE, names.GENERATE_SIGNATURE))
    port = _free_port()
    proc, kind = _start_server(version_dir.parent, port)
    address = f"127.0.0.1:{port}"
    try:
        client = ChatbotClient(address, timeout=60)
        versions = _wait(client, proc)
        messages = _messages(max(requests, 64 * 4))
        print(f"s2s bench serve: {kind} on {address}")
        print(f"model: {version_dir} (version {max(v.version for v in versions)}); {os.cpu_count()} CPU cores")
        counter = iter(range(10**9))

        def next_message() -> str:
            return messages[next(counter) % len(messages)]

        # Plain greedy decoding (the tutorial's, for a like-for-like comparison with its loop)
        # through the generate signature; the default decoder through serving_default.
        decoders = {
            "greedy": lambda m: client.generate(m, PLAIN_GREEDY),
            "default": client.reply,
            f"beam {beam}": lambda m: client.beam_reply(m, width=beam),
        }
        g50 = _single_requests(decoders, next_message, requests, f"beam {beam}")["greedy"]
        throughput = _throughput(decoders, messages)
        speedup = _python_loop(version_dir, client, messages, loop_replies) / g50
        print(f"speed-up of the served greedy reply over the python loop: {speedup:.1f}x")
        errors = _load(address, messages, load_requests, concurrency)
        attack = cost_attack(address, messages, polite=min(requests, 20))
        print(
            f"cost attack: 2 clients loop the heaviest requests allowed (1,024 rows each; one alone "
            f"{attack['heavy_ms']:.0f} ms): 'hello' p50 {attack['p50_ms']:.1f} ms, max {attack['max_ms']:.1f} ms "
            f"(alone {attack['alone_ms']:.1f} ms; {attack['heavy_served']} heavy requests served meanwhile)"
        )
        _goals(g50, speedup, throughput[("greedy", 64)], errors, attack["p50_ms"])
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
