"""gRPC client for the chatbot over the real TensorFlow Serving API.

Speaks ``tensorflow.serving.PredictionService/Predict`` and
``tensorflow.serving.ModelService/GetModelStatus`` through the tensorflow-serving-api
stubs, so the same client talks to the stock ``tensorflow_model_server`` and to the
development server of :mod:`serving.dev_server`.

* deadlines on every call (``timeout``);
* retries with exponential backoff and jitter on UNAVAILABLE (server starting, restarting
  or briefly overloaded) — never on errors that would fail again (INVALID_ARGUMENT, ...);
* TLS (``root_certificates``) or plaintext;
* a model version can be pinned, otherwise the server's newest is used.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from common import names
from common.decode_options import DEFAULT_BEAM_WIDTH, DTYPES, DecodeOptions

T = TypeVar("T")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)


@dataclasses.dataclass(frozen=True)
class Reply:
    text: str
    score: float
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str
    error: str


class ChatbotError(RuntimeError):
    """A call failed: carries the gRPC status code and the server's message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


def string_tensor(values: Sequence[bytes | str]) -> tensor_pb2.TensorProto:
    """A 1-D DT_STRING TensorProto, built without importing TensorFlow's Python ops."""
    data = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(data))])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=data)


def int_scalar(value: int) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=tensor_shape_pb2.TensorShapeProto(), int_val=[value])


def float_scalar(value: float) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[value])


def _shape(proto: tensor_pb2.TensorProto) -> list[int]:
    return [d.size for d in proto.tensor_shape.dim]


def _strings(proto: tensor_pb2.TensorProto) -> np.ndarray:
    return np.array([s.decode("utf-8", errors="replace") for s in proto.string_val], dtype=object).reshape(_shape(proto))


def _floats(proto: tensor_pb2.TensorProto) -> np.ndarray:
    if proto.float_val:
        values = np.array(proto.float_val, dtype=np.float32)
    else:
        values = np.frombuffer(proto.tensor_content, dtype=np.float32)
    return values.reshape(_shape(proto))


def _replies(response) -> list[Reply]:
    """The best reply and its score per message of a default-decoder response."""
    texts, scores = _strings(response.outputs["reply"]), _floats(response.outputs["score"])
    return [Reply(str(t), float(s)) for t, s in zip(texts, scores)]


def _with_alternatives(response: predict_pb2.PredictResponse) -> list[Reply]:
    """Replies of the beam_search / generate signatures: the best reply with its mean
    log-probability, and every alternative with its ranking score, best first."""
    best = _floats(response.outputs["score"])
    alternatives = _strings(response.outputs["alternatives"])
    scores = _floats(response.outputs["alternative_scores"])
    return [
        Reply(str(alts[0]), float(b), tuple((str(a), float(s)) for a, s in zip(alts, sc)))
        for b, alts, sc in zip(best, alternatives, scores)
    ]


class ChatbotClient:
    """Replies from a served chatbot model."""

    def __init__(
        self,
        target: str = "localhost:8500",
        model_name: str = names.MODEL_NAME,
        version: int | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        root_certificates: bytes | None = None,
        channel: grpc.Channel | None = None,
    ):
        self.target, self.model_name, self.version = target, model_name, version
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        options = [("grpc.max_receive_message_length", 64 << 20)]
        if channel is not None:
            self._channel = channel
        elif root_certificates is not None:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates), options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ChatbotClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ calls
    def _call(self, fn: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except grpc.RpcError as exc:
                code = exc.code()
                if code in RETRYABLE and attempt < self.retries:
                    time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
                    delay *= 2
                    continue
                raise ChatbotError(code, exc.details() or "") from None
        raise AssertionError("unreachable")

    def _model_spec(self, signature: str) -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec(name=self.model_name, signature_name=signature)
        if self.version is not None:
            spec.version.value = self.version
        return spec

    def predict(self, inputs: dict, signature: str = names.SERVING_SIGNATURE) -> predict_pb2.PredictResponse:
        """A raw Predict call: ``inputs`` maps input names to TensorProtos."""
        request = predict_pb2.PredictRequest(model_spec=self._model_spec(signature))
        for key, proto in inputs.items():
            request.inputs[key].CopyFrom(proto)
        return self._call(lambda: self._predict.Predict(request, timeout=self.timeout))

    def reply(self, messages: Sequence[str]) -> list[Reply]:
        """The default decoder's replies (the ``serving_default`` signature)."""
        return _replies(self.predict({names.SERVING_INPUT_KEY: string_tensor(messages)}))

    def reply_in_context(self, messages: Sequence[str], contexts: Sequence[str]) -> list[Reply]:
        """The default decoder's replies to messages, each after its previous lines in the
        conversation ("" for none): the ``serving_context`` signature, which a model trained with
        the Transform's ``context_len`` above 0 exports (others refuse it: INVALID_ARGUMENT)."""
        response = self.predict(
            {names.SERVING_INPUT_KEY: string_tensor(messages), names.CONTEXT_INPUT_KEY: string_tensor(contexts)},
            signature=names.CONTEXT_SIGNATURE,
        )
        return _replies(response)

    def beam_reply(self, messages: Sequence[str], width: int = DEFAULT_BEAM_WIDTH) -> list[Reply]:
        """Beam-search replies: the best one and every beam, best first."""
        response = self.predict(
            {names.SERVING_INPUT_KEY: string_tensor(messages), names.BEAM_WIDTH_KEY: int_scalar(width)},
            signature=names.BEAM_SIGNATURE,
        )
        return _with_alternatives(response)

    def generate(self, messages: Sequence[str], options: DecodeOptions) -> list[Reply]:
        """Replies from the ``generate`` signature: every decoding option (beam search or
        sampling, n-gram blocking, minimum length, length penalty, MMI-antiLM) set per request."""
        options.validate()
        inputs = {names.SERVING_INPUT_KEY: string_tensor(messages)}
        for name, dtype in DTYPES.items():
            value = getattr(options, name)
            inputs[name] = float_scalar(float(value)) if dtype == "float32" else int_scalar(int(value))
        response = self.predict(inputs, signature=names.GENERATE_SIGNATURE)
        return _with_alternatives(response)

    def status(self) -> list[VersionStatus]:
        """ModelService.GetModelStatus: each loaded version and its state."""
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name=self.model_name))
        if self.version is not None:
            request.model_spec.version.value = self.version
        response = self._call(lambda: self._models.GetModelStatus(request, timeout=self.timeout))
        return [
            VersionStatus(
                int(v.version),
                get_model_status_pb2.ModelVersionStatus.State.Name(v.state),
                v.status.error_message,
            )
            for v in response.model_version_status
        ]

    def wait_until_available(self, timeout: float = 60.0) -> list[VersionStatus]:
        """Polls GetModelStatus until a version is AVAILABLE (server start, model load)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                versions = self.status()
                if any(v.state == "AVAILABLE" for v in versions):
                    return versions
            except ChatbotError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{self.target}: model {self.model_name!r} not available after {timeout:.0f} s ({last})")
