"""DEVELOPMENT SERVER — not TensorFlow Serving.

An in-process gRPC server that implements the same API as ``tensorflow_model_server``
(``tensorflow.serving.PredictionService/Predict`` and
``tensorflow.serving.ModelService/GetModelStatus``, from the tensorflow-serving-api stubs)
on the exported SavedModels of ``<serving dir>/<model name>/<version>/``. It exists
because the model server binary cannot be installed on the project's development machines;
``s2s serve`` runs the real binary whenever it is on PATH, and production runs the
official image (``docker/docker-compose.yml``).

What it mirrors from TF Serving: the newest numeric version is served and a newly pushed
version is loaded (and warmed up with ``assets.extra/tf_serving_warmup_requests``) in the
background, then swapped in; unknown model or version -> NOT_FOUND; unknown signature,
missing or extra inputs, wrong dtype or rank, and every in-graph check of the model
(empty batch, empty or over-long message, invalid UTF-8, bad beam width) ->
INVALID_ARGUMENT with a message saying what was wrong. What it does not do: server-side
batching, REST, multiple models, model config files.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import re
import threading
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from components import features as C
from serving.saved_model import version_dirs

log = logging.getLogger("s2s.dev_server")
BANNER = (
    "DEVELOPMENT SERVER: in-process gRPC PredictionService/ModelService on the exported SavedModel, "
    "NOT TensorFlow Serving (tensorflow_model_server is not on PATH). "
    "For production use docker/docker-compose.yml (tensorflow/serving)."
)


class RequestError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class Servable:
    version: int
    path: Path
    model: object
    # signature -> input name -> (dtype, rank or None)
    inputs: dict[str, dict[str, tuple[tf.DType, int | None]]]

    @classmethod
    def load(cls, path: Path) -> Servable:
        model = tf.saved_model.load(str(path))
        inputs = {}
        for name, fn in model.signatures.items():
            _, kwargs = fn.structured_input_signature
            inputs[name] = {k: (spec.dtype, spec.shape.rank) for k, spec in kwargs.items()}
        servable = cls(int(path.name), path, model, inputs)
        servable.warm_up()
        return servable

    def warm_up(self) -> int:
        """Replays the SavedModel's warm-up requests, as TF Serving does at load."""
        path = self.path / C.WARMUP_FILE
        if not path.is_file():
            return 0
        n = 0
        for record in tf.data.TFRecordDataset(str(path)):
            log_record = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            self.predict(log_record.predict_log.request)
            n += 1
        return n

    def predict(self, request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
        signature = request.model_spec.signature_name or C.SERVING_SIGNATURE
        if signature not in self.inputs:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'Serving signature key "{signature}" not found; this model has: {", ".join(sorted(self.inputs))}',
            )
        expected = self.inputs[signature]
        missing = sorted(set(expected) - set(request.inputs))
        extra = sorted(set(request.inputs) - set(expected))
        if missing or extra:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"signature {signature} takes inputs {sorted(expected)}"
                + (f"; missing: {missing}" if missing else "")
                + (f"; unexpected: {extra}" if extra else ""),
            )
        feed = {}
        for key, proto in request.inputs.items():
            dtype, rank = expected[key]
            if proto.dtype != dtype.as_datatype_enum:
                got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "DT_INVALID"
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: expects dtype {dtype.name}, got {got}")
            try:
                value = tf.make_ndarray(proto)
            except (TypeError, ValueError) as exc:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: malformed tensor ({exc})") from None
            if rank is not None and value.ndim != rank:
                raise RequestError(
                    grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: expects rank {rank}, got shape {list(value.shape)}"
                )
            feed[key] = tf.constant(value, dtype=dtype)
        try:
            outputs = self.model.signatures[signature](**feed)
        except tf.errors.InvalidArgumentError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, clean_tf_message(exc.message)) from None
        return {k: v.numpy() for k, v in outputs.items()}


def clean_tf_message(message: str) -> str:
    """TF's "...assertion failed: [text: ...] [0]\\n\\t [[{{node ...}}]]" -> "text: ... [0]"."""
    match = re.search(r"assertion failed: \[(.*?)\]\s*([^\n]*)", message)
    if match:
        detail = re.sub(r"^\[(.*)\]$", r"\1", match.group(2).strip())
        return f"{match.group(1)} [{detail}]" if detail else match.group(1)
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith("[[")]
    return lines[-1] if lines else message


class ModelRepository:
    """The newest version of one model, reloaded in the background when a newer one appears."""

    def __init__(self, base_path: str | Path, model_name: str = C.MODEL_NAME, poll_seconds: float = 2.0):
        self.base_path, self.model_name, self.poll_seconds = Path(base_path), model_name, poll_seconds
        self._servable: Servable | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    @property
    def servable(self) -> Servable | None:
        return self._servable

    def refresh(self) -> bool:
        """Loads the newest complete version if it is newer than the one served."""
        versions = [v for v in version_dirs(self.base_path) if (v / "saved_model.pb").is_file()]
        if not versions:
            return False
        newest = versions[-1]
        current = self._servable
        if current is not None and int(newest.name) <= current.version:
            return False
        try:
            servable = Servable.load(newest)
        except Exception as exc:  # noqa: BLE001 - a broken push must not take the server down
            log.error("cannot load %s: %s (still serving version %s)", newest, exc, current and current.version)
            return False
        with self._lock:
            self._servable = servable
        log.info("serving %s version %d from %s", self.model_name, servable.version, newest)
        return True

    def start_polling(self) -> None:
        def loop():
            while not self._stop.wait(self.poll_seconds):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def get(self, name: str, version: int | None) -> Servable:
        servable = self._servable
        if name != self.model_name:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        if servable is None:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, f"no version of {name} is loaded yet")
        if version is not None and version != servable.version:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})")
        return servable


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        try:
            spec = request.model_spec
            servable = self.repository.get(spec.name, spec.version.value if spec.HasField("version") else None)
            outputs = servable.predict(request)
        except RequestError as exc:
            context.abort(exc.code, str(exc))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = request.model_spec.signature_name or C.SERVING_SIGNATURE
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request, context):  # noqa: N802 - gRPC method name
        spec = request.model_spec
        try:
            servable = self.repository.get(spec.name, spec.version.value if spec.HasField("version") else None)
        except RequestError as exc:
            context.abort(exc.code, str(exc))
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = servable.version
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response


@dataclasses.dataclass
class DevServer:
    server: grpc.Server
    port: int
    repository: ModelRepository

    def stop(self, grace: float = 1.0) -> None:
        self.repository.stop()
        self.server.stop(grace).wait()


def start(
    model_dir: str | Path,
    port: int = 8500,
    host: str = "127.0.0.1",
    model_name: str = C.MODEL_NAME,
    poll_seconds: float = 2.0,
    max_workers: int = 16,
) -> DevServer:
    """Starts the development server on ``host:port`` (port 0: any free port)."""
    repository = ModelRepository(model_dir, model_name, poll_seconds)
    repository.start_polling()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=max_workers))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(repository), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(repository), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        repository.stop()
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return DevServer(server, bound, repository)
