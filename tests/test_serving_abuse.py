"""The development server under hostile or careless use: requests are checked before they are
materialised, one request cannot take the server down or starve the others, the port is its
own, a corrupt newest version does not stop serving, and errors carry the right codes."""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import sys
import time

import grpc
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from components import features as C
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
    base = tmp_path_factory.mktemp("abuse") / C.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    srv = dev_server.start(base, port=0, poll_seconds=0.2)
    yield srv, base
    srv.stop()


@pytest.fixture
def client(server):
    with ChatbotClient(f"127.0.0.1:{server[0].port}", timeout=30, retries=0) as c:
        yield c


def _code(client, inputs, signature=C.SERVING_SIGNATURE):
    with pytest.raises(ChatbotError) as err:
        client.predict(inputs, signature=signature)
    return err.value.code, err.value.message


def test_a_tensor_must_carry_the_values_its_shape_declares(client):
    started = time.monotonic()
    code, message = _code(client, {C.SERVING_INPUT_KEY: _declared(20_000, [b"hi"])})  # 44 bytes, 20,000 messages
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "larger than the maximum batch size 64" in message
    code, message = _code(client, {C.SERVING_INPUT_KEY: _declared(2, [b"hi"])})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "declares 2 values, the tensor has 1" in message
    assert time.monotonic() - started < 5


def test_a_batch_above_the_production_maximum_is_refused(client):
    code, message = _code(client, {C.SERVING_INPUT_KEY: string_tensor(["hi"] * 65)})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "batch of 65 is larger than the maximum batch size 64" in message
    assert len(client.reply(["hi"] * 64)) == 64  # the maximum itself is served


def test_the_maximum_batch_is_the_production_batching_configs():
    assert dev_server.production_max_batch() == 64


@pytest.mark.parametrize("signature", [C.TF_EXAMPLE_SIGNATURE, C.TRANSFORM_SIGNATURE])
def test_bad_bytes_where_tf_examples_belong_are_invalid_argument(client, signature):
    code, message = _code(client, {"examples": string_tensor([b"\xff\x00not a tf.Example"])}, signature)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, message
    assert message and "{{node" not in message


def test_the_empty_batch_message_names_no_internal_node(client):
    code, message = _code(client, {C.SERVING_INPUT_KEY: string_tensor([])})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "batch is empty" in message
    assert "node" not in message and "{{" not in message and "[[" not in message


def test_a_used_port_is_refused(server):
    with pytest.raises(OSError, match="cannot listen"):
        dev_server.start(server[1], port=server[0].port)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_an_invalid_port_is_refused_at_parse_time(port):
    out = subprocess.run(
        [sys.executable, "-m", "s2s.cli", "serve", "--dev", "--port", port], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "--port" in out.stderr and "Traceback" not in out.stderr


def test_a_corrupt_newest_version_is_reported_and_the_newest_loadable_one_served(tiny_model, tmp_path):
    base = tmp_path / C.MODEL_NAME
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
            pool.submit(hostile, {C.SERVING_INPUT_KEY: _declared(300_000_000, [b"x"])}),
            pool.submit(hostile, {C.SERVING_INPUT_KEY: string_tensor(["where are you going?"] * 100_000)}),
        ]
        waits = list(pool.map(polite, range(16)))
        codes = [a.result() for a in attacks]
    peak = _rss_mb()
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 2
    assert max(waits) < 3.0, waits  # every polite request answered promptly (143 ms worst in a quiet run)
    # The slot limit was reached (18 clients at once against 4 slots) and never passed.
    assert srv.predictions.peak_in_model == dev_server.MAX_CONCURRENT and srv.predictions.in_model == 0
    with ChatbotClient(address, timeout=30) as c:
        assert c.reply(["still there?"])[0].text is not None
    assert peak - baseline < 300, (baseline, peak)
    with capsys.disabled():
        print(f"\nabuse: worst polite wait {max(waits) * 1000:.0f} ms; RSS {baseline:.0f} MB -> {peak:.0f} MB; codes {codes}")


def test_out_of_memory_is_resource_exhausted_with_a_message():
    import tensorflow as tf

    def exhausted(**_):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[100000,20,11457]")

    servable = dev_server.Servable(1, None, type("M", (), {"signatures": {C.SERVING_SIGNATURE: exhausted}})(), {})
    servable.inputs = {C.SERVING_SIGNATURE: {C.SERVING_INPUT_KEY: (tf.string, 1)}}
    request = dev_server.predict_pb2.PredictRequest()
    request.inputs[C.SERVING_INPUT_KEY].CopyFrom(string_tensor(["hi"]))
    with pytest.raises(dev_server.RequestError) as err:
        servable.predict(request, max_batch=64)
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "out of memory" in str(err.value)
