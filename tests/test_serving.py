"""Serving over gRPC: the real tensorflow_model_server when it is on PATH, otherwise the
development server (same PredictionService/ModelService API). Every bad request gets
INVALID_ARGUMENT or NOT_FOUND with a message, and the server keeps answering."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2, prediction_service_pb2_grpc

from common import names
from common.decode_options import BEAM_SEARCH, DTYPES, DecodeOptions
from s2s import cli
from serving import dev_server, model_server
from serving.client import ChatbotClient, ChatbotError, int_scalar, string_tensor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    """(address, model base dir, kind): a server on the tiny model as version 1."""
    base = tmp_path_factory.mktemp("serving") / names.MODEL_NAME
    shutil.copytree(tiny_model / "serving_model", base / "1")
    if model_server.find_binary():  # the real TensorFlow Serving
        port = _free_port()
        proc = model_server.start(base, port=port, poll_seconds=1, batching=False)
        address = f"127.0.0.1:{port}"
        ChatbotClient(address).wait_until_available(120)
        yield address, base, "tensorflow_model_server"
        proc.terminate()
        proc.wait(10)
    else:  # the development server: same gRPC API, in-process
        server = dev_server.start(base, port=0, poll_seconds=0.3)
        yield f"127.0.0.1:{server.port}", base, "dev_server"
        server.stop()


@pytest.fixture
def client(served):
    with ChatbotClient(served[0], timeout=30) as c:
        yield c


def test_export_carries_warmup_requests(tiny_model):
    path = tiny_model / "serving_model" / names.WARMUP_FILE
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    signatures = sorted({r.predict_log.request.model_spec.signature_name for r in records})
    assert signatures == [names.BEAM_SIGNATURE, names.GENERATE_SIGNATURE, names.SERVING_SIGNATURE] and len(records) == 6


def test_greedy_reply_matches_the_saved_model(client, tiny_model):
    replies = client.reply(["Hi, how are you?", "Where are you going?"])
    local = tf.saved_model.load(str(tiny_model / "serving_model")).signatures[names.SERVING_SIGNATURE]
    expected = local(text=tf.constant(["Hi, how are you?", "Where are you going?"]))
    assert [r.text for r in replies] == [t.decode() for t in expected["reply"].numpy()]
    assert np.allclose([r.score for r in replies], expected["score"].numpy(), atol=1e-5)


def test_beam_search_orders_alternatives(client):
    [reply] = client.beam_reply(["Where are you going?"], width=3)
    assert len(reply.alternatives) == 3 and reply.text == reply.alternatives[0][0]
    scores = [s for _, s in reply.alternatives]  # ranking scores: antiLM-adjusted, of either sign
    assert scores == sorted(scores, reverse=True) and reply.score <= 0  # a mean log-probability


def test_beam_of_width_one_is_greedy(client):
    messages = ["Hi, how are you?", "I don't know what you mean."]
    as_beam = dataclasses.replace(BEAM_SEARCH, beam_width=1)
    greedy, beam = client.generate(messages, as_beam), client.beam_reply(messages, width=1)
    assert [g.text for g in greedy] == [b.text for b in beam]
    assert np.allclose([g.score for g in greedy], [b.score for b in beam], atol=1e-4)


def test_model_status(client):
    assert [(v.version, v.state) for v in client.status()] == [(1, "AVAILABLE")]


def _generate_inputs(**options):
    from serving.client import float_scalar

    inputs = {names.SERVING_INPUT_KEY: string_tensor(["hi"])}
    for name, dtype in DTYPES.items():
        value = options.get(name, getattr(DecodeOptions(), name))
        inputs[name] = float_scalar(value) if dtype == "float32" else int_scalar(value)
    return inputs


def test_generate_takes_every_decoding_option_per_request(client):
    messages = ["Hi, how are you?", "Where are you going?"]
    sampled = DecodeOptions(temperature=1.0, top_p=0.9, seed=11, beam_width=3)
    first, again = client.generate(messages, sampled), client.generate(messages, sampled)
    assert [r.alternatives for r in first] == [r.alternatives for r in again]  # seeded: reproducible
    assert all(len(r.alternatives) == 3 for r in first)
    # The generate signature with the default options is the default decoder.
    assert [r.text for r in client.generate(messages, DecodeOptions())] == [r.text for r in client.reply(messages)]
    with pytest.raises(ValueError, match="top_p"):  # refused by the client before any request
        client.generate(messages, DecodeOptions(top_p=0.0))


BAD_REQUESTS = {
    "top_p 0 (generate)": (_generate_inputs(top_p=0.0), names.GENERATE_SIGNATURE, "top_p"),
    "beam width 17 (generate)": (_generate_inputs(beam_width=17), names.GENERATE_SIGNATURE, "beam_width"),
    "an option missing (generate)": ({names.SERVING_INPUT_KEY: string_tensor(["hi"])}, names.GENERATE_SIGNATURE, "temperature"),
    "empty batch": ({names.SERVING_INPUT_KEY: string_tensor([])}, names.SERVING_SIGNATURE, "batch is empty"),
    "empty string": (
        {names.SERVING_INPUT_KEY: string_tensor(["hello", "  "])},
        names.SERVING_SIGNATURE,
        "empty or only whitespace",
    ),
    "10,000 characters": ({names.SERVING_INPUT_KEY: string_tensor(["a" * 10_000])}, names.SERVING_SIGNATURE, "longer than"),
    "invalid UTF-8": ({names.SERVING_INPUT_KEY: string_tensor([b"caf\xe9 \xff"])}, names.SERVING_SIGNATURE, "not valid UTF-8"),
    "wrong dtype": ({names.SERVING_INPUT_KEY: int_scalar(3)}, names.SERVING_SIGNATURE, "int32"),
    "missing input": ({"message": string_tensor(["hi"])}, names.SERVING_SIGNATURE, names.SERVING_INPUT_KEY),
    "unknown signature": ({names.SERVING_INPUT_KEY: string_tensor(["hi"])}, "no_such_signature", "no_such_signature"),
    "beam width 0": (
        {names.SERVING_INPUT_KEY: string_tensor(["hi"]), names.BEAM_WIDTH_KEY: int_scalar(0)},
        names.BEAM_SIGNATURE,
        "beam_width",
    ),
    "beam width 100": (
        {names.SERVING_INPUT_KEY: string_tensor(["hi"]), names.BEAM_WIDTH_KEY: int_scalar(100)},
        names.BEAM_SIGNATURE,
        "beam_width",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_invalid_argument_and_server_keeps_answering(client, case):
    inputs, signature, words = BAD_REQUESTS[case]
    with pytest.raises(ChatbotError) as err:
        client.predict(inputs, signature=signature)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert words.lower() in err.value.message.lower(), err.value.message
    assert isinstance(client.reply(["hello"])[0].text, str)  # the next good request is served


def test_unknown_model_is_not_found(served):
    with ChatbotClient(served[0], model_name="nope") as other, pytest.raises(ChatbotError) as err:
        other.reply(["hello"])
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_new_version_is_picked_up(served, client, tiny_model):
    # Copied in place, not renamed: the server may see a half-written version first, fail to
    # load it and retry (the Pusher's rename avoids that); the version is served once complete.
    shutil.copytree(tiny_model / "serving_model", served[1] / "2")
    deadline = time.monotonic() + 60

    def available():
        return [v.version for v in client.status() if v.state == "AVAILABLE"]

    while time.monotonic() < deadline and 2 not in available():
        time.sleep(0.2)
    assert 2 in available()
    response = client.predict({names.SERVING_INPUT_KEY: string_tensor(["hello"])})
    assert response.model_spec.version.value == 2
    # Pinning: the pinned version answers, and a version that is not loaded (both servers keep the
    # newest only, TF Serving's default policy) is NOT_FOUND, never silently answered by another.
    with ChatbotClient(served[0], version=2) as pinned:
        assert pinned.predict({names.SERVING_INPUT_KEY: string_tensor(["hello"])}).model_spec.version.value == 2
    for gone in (1, 7):
        with ChatbotClient(served[0], version=gone) as pinned, pytest.raises(ChatbotError) as err:
            pinned.reply(["hello"])
        assert err.value.code == grpc.StatusCode.NOT_FOUND and f"Specific({names.MODEL_NAME}, {gone})" in err.value.message
    shutil.rmtree(served[1] / "2")


class _FlakyService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """UNAVAILABLE for the first `failures` calls, then forwards to the real server."""

    def __init__(self, failures, upstream):
        self.failures, self.calls, self.upstream = failures, 0, upstream

    def Predict(self, request, context):
        self.calls += 1
        if self.calls <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return self.upstream.Predict(request)


@pytest.mark.parametrize("failures, retries, ok", [(2, 3, True), (3, 2, False)])
def test_client_retries_unavailable_with_backoff(served, failures, retries, ok):
    import concurrent.futures

    upstream = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(served[0]))
    service = _FlakyService(failures, upstream)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        client = ChatbotClient(f"127.0.0.1:{port}", retries=retries, backoff=0.01)
        if ok:
            assert client.reply(["hello"])
        else:
            with pytest.raises(ChatbotError) as err:
                client.reply(["hello"])
            assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert service.calls == min(failures + 1, retries + 1)
    finally:
        server.stop(0)


def test_deadline_is_enforced():
    # A server that accepts the connection but never answers: the deadline fires.
    import concurrent.futures
    import threading

    release = threading.Event()

    class Stuck(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            release.wait(5)
            context.abort(grpc.StatusCode.INTERNAL, "late")

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Stuck(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(ChatbotError) as err:
            ChatbotClient(f"127.0.0.1:{port}", timeout=0.3).reply(["hello"])
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        release.set()
        server.stop(0)


def test_chat_one_shot_and_interactive(served, capsys):
    assert cli.main(["chat", "--server", served[0], "--message", "hello", "--beam", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bot> ") and "     2. " in out
    proc = subprocess.run(
        [sys.executable, "-m", "s2s.cli", "chat", "--server", served[0]],
        input="hello\n\nwhere are you?\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("bot> ") == 2  # blank lines are skipped; Ctrl-D (EOF) leaves cleanly


def test_chat_reports_server_errors(served, capsys):
    assert cli.main(["chat", "--server", served[0], "--message", " "]) == 2
    assert "INVALID_ARGUMENT" in capsys.readouterr().err
