"""The development server under hostile or careless use: requests are checked before they are
materialised, one request cannot take the server down or starve the others, the port is its
own, a corrupt newest version does not stop serving, and errors carry the right codes."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import shutil
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from common import names
from common.decode_options import MAX_BEAM_WIDTH, MAX_DECODE_ROWS, DecodeOptions
from serving import dev_server
from serving.client import ChatbotClient, ChatbotError, string_tensor


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _declared(n: int, values: list[bytes]) -> tensor_pb2.TensorProto:
    """A string tensor that declares ``n`` values and carries ``values``."""
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n)])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=values)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("abuse") / names.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    srv = dev_server.start(base, port=0, poll_seconds=0.2)
    yield srv, base
    srv.stop()


@pytest.fixture
def client(server):
    with ChatbotClient(f"127.0.0.1:{server[0].port}", timeout=30, retries=0) as c:
        yield c


def _code(client, inputs, signature=names.SERVING_SIGNATURE):
    with pytest.raises(ChatbotError) as err:
        client.predict(inputs, signature=signature)
    return err.value.code, err.value.message


def test_a_tensor_must_carry_the_values_its_shape_declares(client):
    started = time.monotonic()
    code, message = _code(client, {names.SERVING_INPUT_KEY: _declared(20_000, [b"hi"])})  # 44 bytes, 20,000 messages
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "larger than the maximum batch size 64" in message
    code, message = _code(client, {names.SERVING_INPUT_KEY: _declared(2, [b"hi"])})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "declares 2 values, the tensor has 1" in message
    assert time.monotonic() - started < 5


def test_a_batch_above_the_production_maximum_is_refused(client):
    code, message = _code(client, {names.SERVING_INPUT_KEY: string_tensor(["hi"] * 65)})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "batch of 65 is larger than the maximum batch size 64" in message
    assert len(client.reply(["hi"] * 64)) == 64  # the maximum itself is served


def test_the_maximum_batch_is_the_production_batching_configs():
    assert dev_server.production_max_batch() == 64


@pytest.mark.parametrize("signature", [names.TF_EXAMPLE_SIGNATURE, names.TRANSFORM_SIGNATURE])
def test_bad_bytes_where_tf_examples_belong_are_invalid_argument(client, signature):
    code, message = _code(client, {"examples": string_tensor([b"\xff\x00not a tf.Example"])}, signature)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, message
    assert message and "{{node" not in message


def test_the_empty_batch_message_names_no_internal_node(client):
    code, message = _code(client, {names.SERVING_INPUT_KEY: string_tensor([])})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "batch is empty" in message
    assert "node" not in message and "{{" not in message and "[[" not in message


def test_a_used_port_is_refused_before_the_model_loads(server, monkeypatch):
    def never(self):
        raise AssertionError("the model was loaded before the port was checked")

    monkeypatch.setattr(dev_server.ModelRepository, "refresh", never)
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server[0].port}: the port is in use by another process"):
        dev_server.start(server[1], port=server[0].port)


@pytest.mark.parametrize(
    "host, reason",
    [
        ("no-such-host.invalid", "unknown host 'no-such-host.invalid'"),
        ("192.0.2.1", "192.0.2.1 is not an address of this machine"),
    ],
)
def test_a_bad_host_is_named_for_what_it_is_before_the_model_loads(server, monkeypatch, host, reason):
    monkeypatch.setattr(dev_server.ModelRepository, "refresh", lambda self: pytest.fail("model loaded first"))
    with pytest.raises(OSError) as err:
        dev_server.start(server[1], port=0, host=host)
    assert reason in str(err.value) and "in use" not in str(err.value), str(err.value)


def test_serving_beyond_this_machine_warns_that_it_is_plaintext(tiny_model, tmp_path):
    base = tmp_path / names.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    with socket.socket() as taken:  # the port is taken, so that the command ends after its warning
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = subprocess.run(
            [sys.executable, "-m", "s2s.cli", "serve", "--dev", "--model-dir", str(base), "--host", "0.0.0.0", "--port", port],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "warning: 0.0.0.0 exposes the model to the network in plaintext, without authentication" in out.stderr, out.stderr
    assert out.returncode == 2 and "the port is in use by another process" in out.stderr, out.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_an_invalid_port_is_refused_at_parse_time(port):
    out = subprocess.run(
        [sys.executable, "-m", "s2s.cli", "serve", "--dev", "--port", port], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "--port" in out.stderr and "Traceback" not in out.stderr


def test_a_corrupt_newest_version_is_reported_and_the_newest_loadable_one_served(tiny_model, tmp_path):
    base = tmp_path / names.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    shutil.copytree(tiny_model / "serving_model", base / "2")
    (base / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    srv = dev_server.start(base, port=0, poll_seconds=0.05)
    try:
        with ChatbotClient(f"127.0.0.1:{srv.port}", timeout=30, retries=0) as client:
            statuses = {s.version: s for s in client.status()}
            assert statuses[1].state == "AVAILABLE" and statuses[2].state == "END"
            assert "saved_model" in statuses[2].error.lower() or "parse" in statuses[2].error.lower(), statuses[2].error
            assert client.reply(["hello"])[0].text is not None  # served by version 1
            time.sleep(1.0)  # 20 polls: the broken version is retried with backoff, not every poll
            assert srv.repository.failures[2].attempts <= 3
            shutil.rmtree(base / "2")  # the broken push deleted: no longer reported
            time.sleep(0.5)
            assert [(s.version, s.state) for s in client.status()] == [(1, "AVAILABLE")]
    finally:
        srv.stop()


def test_abuse_leaves_the_server_alive_and_the_other_clients_served(server, capsys):
    """The amplification request, a 100,000-message batch and 16 polite clients at once."""
    srv, _ = server
    address = f"127.0.0.1:{srv.port}"
    with ChatbotClient(address, timeout=30, retries=0) as warm:
        warm.reply(["hello"] * 8)
    baseline = _rss_mb()

    def polite(i: int) -> float:
        # A deadline far above the bound asserted below: a slow answer fails the bound, not the call.
        with ChatbotClient(address, timeout=60, retries=0) as c:
            worst = 0.0
            for _ in range(5):
                t = time.monotonic()
                c.reply([f"how are you {i}?"])
                worst = max(worst, time.monotonic() - t)
            return worst

    def hostile(inputs) -> grpc.StatusCode:
        with ChatbotClient(address, timeout=30, retries=0) as c:
            try:
                c.predict(inputs)
            except ChatbotError as exc:
                return exc.code
        return grpc.StatusCode.OK

    with concurrent.futures.ThreadPoolExecutor(18) as pool:
        attacks = [
            pool.submit(hostile, {names.SERVING_INPUT_KEY: _declared(300_000_000, [b"x"])}),
            pool.submit(hostile, {names.SERVING_INPUT_KEY: string_tensor(["where are you going?"] * 100_000)}),
        ]
        waits = list(pool.map(polite, range(16)))
        codes = [a.result() for a in attacks]
    peak = _rss_mb()
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 2
    assert max(waits) < 3.0, waits  # every polite request answered promptly (143 ms worst in a quiet run)
    # The slot limit was reached (18 clients at once against 4 slots) and never passed.
    assert srv.admission.peak_in_model == dev_server.MAX_CONCURRENT and srv.admission.in_model == 0
    with ChatbotClient(address, timeout=30) as c:
        assert c.reply(["still there?"])[0].text is not None
    assert peak - baseline < 300, (baseline, peak)
    with capsys.disabled():
        print(f"\nabuse: worst polite wait {max(waits) * 1000:.0f} ms; RSS {baseline:.0f} MB -> {peak:.0f} MB; codes {codes}")


def test_out_of_memory_is_resource_exhausted_with_a_message():
    import tensorflow as tf

    def exhausted(**_):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[100000,20,11457]")

    servable = dev_server.Servable(1, None, type("M", (), {"signatures": {names.SERVING_SIGNATURE: exhausted}})(), {})
    servable.inputs = {names.SERVING_SIGNATURE: {names.SERVING_INPUT_KEY: (tf.string, 1)}}
    request = dev_server.predict_pb2.PredictRequest()
    request.inputs[names.SERVING_INPUT_KEY].CopyFrom(string_tensor(["hi"]))
    with pytest.raises(dev_server.RequestError) as err:
        servable.predict(request, max_batch=64)
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "out of memory" in str(err.value)


@pytest.fixture(scope="module")
def full_size_server(tiny_transform, tmp_path_factory):
    """The development server on a network of the default size (256 units; one training step):
    heavy requests cost what they cost on a real model."""
    from tests.conftest import run_trainer

    settings = {"embedding_dim": 64, "train_steps": 1, "eval_steps": 1}
    trained = run_trainer(tiny_transform, tmp_path_factory.mktemp("full_size"), settings)
    base = tmp_path_factory.mktemp("full_size_serving") / names.MODEL_NAME
    shutil.copytree(trained / "serving_model", base / "1")
    srv = dev_server.start(base, port=0)
    yield srv
    srv.stop()


def test_a_request_that_decodes_too_much_at_once_is_refused(full_size_server, tiny_model):
    """64 messages x 16 samples with MMI-antiLM (2,048 rows): the server refuses it at once, and the
    exported graph itself (what TF Serving runs) refuses it as well."""
    import tensorflow as tf

    from trainer import decoding

    too_much = DecodeOptions(beam_width=MAX_BEAM_WIDTH, temperature=0.7, antilm_weight=0.5, antilm_steps=100)
    messages = ["where are you going tonight?"] * dev_server.production_max_batch()
    with ChatbotClient(f"127.0.0.1:{full_size_server.port}", timeout=60, retries=0) as c:
        started = time.monotonic()
        with pytest.raises(ChatbotError) as err:
            c.generate(messages, too_much)
        assert time.monotonic() - started < 1.0
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert f"must be at most {MAX_DECODE_ROWS}, got 2048" in err.value.message
        assert len(c.generate(messages[:32], too_much)) == 32  # 1,024 rows: allowed
    generate = tf.saved_model.load(str(tiny_model / "serving_model")).signatures[names.GENERATE_SIGNATURE]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"must be at most {MAX_DECODE_ROWS}"):
        generate(text=tf.constant(messages), **decoding.option_tensors(too_much))


def test_heavy_requests_do_not_starve_a_polite_client(full_size_server, capsys):
    """Two clients loop the heaviest requests a client may send (1,024 rows each: 64 messages x 16
    samples, and 64 x 8 with MMI-antiLM); a third says hello meanwhile and is answered promptly."""
    srv = full_size_server
    address = f"127.0.0.1:{srv.port}"
    messages = ["where are you going tonight?"] * dev_server.production_max_batch()
    from s2s.bench.serve import HEAVIEST  # the benchmark's attack, the same requests

    with ChatbotClient(address, timeout=120, retries=0) as c:
        polite_alone = []
        for _ in range(5):
            t = time.monotonic()
            c.reply(["hello"])
            polite_alone.append(time.monotonic() - t)
        heavy = []
        for _ in range(3):
            t = time.monotonic()
            c.generate(messages, HEAVIEST[0])
            heavy.append(time.monotonic() - t)
        heavy_alone = sorted(heavy)[1]
    stop = threading.Event()

    def hostile(options: DecodeOptions) -> int:
        sent = 0
        with ChatbotClient(address, timeout=120, retries=0) as c:
            while not stop.is_set():
                c.generate(messages, options)
                sent += 1
        return sent

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        attackers = [pool.submit(hostile, options) for options in HEAVIEST]
        time.sleep(1.0)
        waits = []
        with ChatbotClient(address, timeout=120, retries=0) as c:
            for _ in range(21):
                t = time.monotonic()
                c.reply(["hello"])
                waits.append(time.monotonic() - t)
        stop.set()
        sent = [a.result() for a in attackers]
    waits.sort()
    p50, alone = waits[10], sorted(polite_alone)[2]
    with capsys.disabled():
        print(
            f"\ncost attack: heaviest request alone {heavy_alone * 1000:.0f} ms; polite p50 alone {alone * 1000:.0f} ms, "
            f"under attack {p50 * 1000:.0f} ms (max {waits[-1] * 1000:.0f} ms); heavy requests served {sent}; "
            f"heavy at once at most {srv.admission.peak_heavy}"
        )
    assert all(n > 0 for n in sent)  # the attack ran
    # A polite reply waits for no heavy request to finish: well under one heavy request's time
    # (with both attackers running at once, p50 is about one heavy request's time).
    assert p50 < heavy_alone / 2 and waits[-1] < 3.0, (waits, heavy_alone)
    assert srv.admission.peak_heavy == 1


def test_memory_a_heavy_request_freed_goes_back_to_the_system(full_size_server):
    """After a heavy request the heap's free pages are returned (malloc_trim): the server's RSS
    does not keep what its largest batch needed."""
    messages = ["where are you going tonight, my friend?"] * dev_server.production_max_batch()
    with ChatbotClient(f"127.0.0.1:{full_size_server.port}", timeout=120, retries=0) as c:
        c.generate(messages, DecodeOptions(beam_width=MAX_BEAM_WIDTH, temperature=0.7, antilm_weight=0.0))
        after = _rss_mb()
        dev_server.release_memory()
        assert _rss_mb() > after - 5  # nothing left to give back: the server already did


def test_a_request_costs_its_language_model_rows_too():
    # With MMI-antiLM each beam decodes a second row (the reply language model's), and admission
    # counts it: beam_search (BEAM_SEARCH, with the antiLM again since session 14) and generate alike;
    # serving_default's reply is one row and its language model's.
    import tensorflow as tf

    from common.decode_options import BEAM_SEARCH, DecodeOptions, decode_rows
    from serving.dev_server import request_rows

    feed = {names.SERVING_INPUT_KEY: tf.constant(["hi"] * 8), names.BEAM_WIDTH_KEY: tf.constant(4)}
    assert BEAM_SEARCH.antilm_weight > 0 and request_rows(names.BEAM_SIGNATURE, feed) == decode_rows(8, 4, 0.325) == 64
    options = {name: tf.constant(value) for name, value in dataclasses.asdict(DecodeOptions(beam_width=4)).items()}
    assert request_rows(names.GENERATE_SIGNATURE, {**feed, **options}) == 64
    plain = {**options, "antilm_weight": tf.constant(0.0)}
    assert request_rows(names.GENERATE_SIGNATURE, {**feed, **plain}) == decode_rows(8, 4, 0.0) == 32
    assert request_rows(names.SERVING_SIGNATURE, {names.SERVING_INPUT_KEY: tf.constant(["hi"] * 8)}) == 16
