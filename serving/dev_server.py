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
INVALID_ARGUMENT with a message saying what was wrong; a batch above the production
batching config's ``max_batch_size`` (``docker/serving/batching.config``) -> INVALID_ARGUMENT,
as TF Serving refuses a task larger than its largest batch; TensorFlow's own errors -> their
own status codes (out of memory -> RESOURCE_EXHAUSTED), with TF's internal node names left out.
A version that fails to load is reported by GetModelStatus (state END and the error, as TF
Serving does) and retried with exponential backoff while the newest loadable one is served.

Stricter than TF Serving where a request could hurt a shared development machine: a
tensor's values must match its declared shape before anything is materialised (TF fills a
short tensor by repeating its last value, so a 44-byte request could declare 20,000
messages), requests are admitted by cost: at most ``max_concurrent`` run the model at once,
and of those only one fewer than the CPU cores may be heavy (decode more than ``LIGHT_ROWS``
rows), so a light request never waits behind a long decode (the others wait up to their
deadline, then RESOURCE_EXHAUSTED); a request that would decode more than ``MAX_DECODE_ROWS``
rows is INVALID_ARGUMENT at once (the exported graph refuses it too, in TF Serving as well);
and the port is bound exclusively (no SO_REUSEPORT: a second server on a used port fails to
start). What it does not do:
server-side batching, REST, multiple models, model config files.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import errno
import functools
import ipaddress
import logging
import os
import re
import socket
import threading
import time
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

from common import names
from common.decode_options import BEAM_SEARCH, DEFAULT_ROWS, MAX_BEAM_WIDTH, MAX_DECODE_ROWS, TOO_MANY_ROWS, decode_rows
from serving.saved_model import version_dirs

BATCHING_CONFIG = Path(__file__).resolve().parent.parent / "docker" / "serving" / "batching.config"
MAX_CONCURRENT = 4  # model calls at once: more only queue for the same 2 cores
# A request decoding more rows than this is heavy: heavy requests run one at a time (fewer than the
# cores), so a long decode never holds every TensorFlow thread and light requests keep a core.
LIGHT_ROWS = 64  # 16 messages with the default decoder
RETRY_SECONDS = (2.0, 600.0)  # first and longest wait before a version that failed to load is tried again
_TF_TO_GRPC = {code.value[0]: code for code in grpc.StatusCode}  # TF's error codes are gRPC's


def production_max_batch(path: Path = BATCHING_CONFIG) -> int:
    """``max_batch_size`` of the production batching config (TF Serving refuses larger requests).
    Read with a regular expression: its proto (BatchingParameters) is not in tensorflow-serving-api."""
    match = re.search(r"^max_batch_size\s*\{\s*value:\s*(\d+)\s*\}", path.read_text(), re.M)
    if not match:
        raise ValueError(f"{path}: no max_batch_size {{ value: N }}")
    return int(match.group(1))


def _value_count(proto) -> int:
    """How many values a TensorProto carries, without materialising it."""
    if proto.tensor_content:
        return len(proto.tensor_content) // max(tf.dtypes.as_dtype(proto.dtype).size, 1)
    fields = ("string_val", "int_val", "int64_val", "float_val", "double_val", "bool_val", "half_val", "uint32_val", "uint64_val")
    return max(len(getattr(proto, f)) for f in fields)


def _check_examples(values: np.ndarray) -> None:
    from google.protobuf.message import DecodeError

    for i, raw in enumerate(values.reshape(-1)):
        try:
            tf.train.Example.FromString(raw)
        except DecodeError:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"examples[{i}] is not a serialized tf.Example") from None


def check_tensor(key: str, proto, rank: int | None, max_batch: int) -> None:
    """Refuses a tensor before it is materialised: its declared shape must be well formed,
    carry exactly as many values as it declares, and a batch at most ``max_batch`` long."""
    if proto.tensor_shape.unknown_rank:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: the shape must be known")
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: negative dimension in shape {dims}")
    if rank is not None and len(dims) != rank:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: expects rank {rank}, got shape {dims}")
    if dims and dims[0] > max_batch:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: batch of {dims[0]} is larger than the maximum batch size {max_batch}"
        )
    declared, values = int(np.prod(dims)) if dims else 1, _value_count(proto)
    if values != declared:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: shape {dims} declares {declared} values, the tensor has {values}"
        )


def request_rows(signature: str, feed: dict[str, tf.Tensor]) -> int:
    """Rows a checked request will decode (:func:`common.decode_options.decode_rows`): its cost.
    ``serving_tf_example`` decodes with the default decoder and greedy and teacher-forces each
    example. A beam width out of its bounds counts as the nearest bound (the graph refuses it)."""
    key = names.SERVING_INPUT_KEY if names.SERVING_INPUT_KEY in feed else "examples"
    messages = int(feed[key].shape[0]) if key in feed and feed[key].shape.rank else 1
    if signature in (names.GENERATE_SIGNATURE, names.BEAM_SIGNATURE):
        width = min(max(int(feed[names.BEAM_WIDTH_KEY]), 1), MAX_BEAM_WIDTH)
        antilm = float(feed["antilm_weight"]) if signature == names.GENERATE_SIGNATURE else BEAM_SEARCH.antilm_weight
        return decode_rows(messages, width, antilm)
    widths = {
        names.SERVING_SIGNATURE: DEFAULT_ROWS,
        names.CONTEXT_SIGNATURE: DEFAULT_ROWS,
        names.TF_EXAMPLE_SIGNATURE: DEFAULT_ROWS + 2,
    }
    return messages * widths.get(signature, 1)


def release_memory() -> bool:
    """Hands the heap's free pages back to the system (glibc's ``malloc_trim``; a fraction of a
    millisecond). TensorFlow's CPU tensors come from malloc, and glibc keeps what a large batch
    freed: without this the server's RSS only ever grows to its largest batch's. False where
    there is no glibc."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


@functools.cache
def _libc():
    """glibc, loaded once (None without it: no malloc_trim)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


class Admission:
    """Who may run the model now, by cost: at most ``slots`` requests at once, of which at most
    ``heavy_slots`` decode more than ``light_rows`` rows. Requests wait (up to their deadline)
    for their turn."""

    def __init__(self, slots: int, heavy_slots: int, light_rows: int = LIGHT_ROWS):
        self.slots, self.heavy_slots, self.light_rows = slots, min(heavy_slots, slots), light_rows
        self._changed = threading.Condition()
        self.in_model = self.heavy_in_model = 0  # requests running the model now (all, heavy)
        self.peak_in_model = self.peak_heavy = 0  # the most at once since the start

    def acquire(self, rows: int, timeout: float | None) -> bool:
        heavy = rows > self.light_rows
        with self._changed:
            admitted = self._changed.wait_for(
                lambda: self.in_model < self.slots and (not heavy or self.heavy_in_model < self.heavy_slots), timeout
            )
            if admitted:
                self.in_model += 1
                self.heavy_in_model += heavy
                self.peak_in_model = max(self.peak_in_model, self.in_model)
                self.peak_heavy = max(self.peak_heavy, self.heavy_in_model)
            return admitted

    def release(self, rows: int) -> None:
        with self._changed:
            self.in_model -= 1
            self.heavy_in_model -= rows > self.light_rows
            self._changed.notify_all()


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
        path = self.path / names.WARMUP_FILE
        if not path.is_file():
            return 0
        n = 0
        for record in tf.data.TFRecordDataset(str(path)):
            log_record = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            self.predict(log_record.predict_log.request)
            n += 1
        return n

    def predict(self, request: predict_pb2.PredictRequest, max_batch: int = 1 << 30) -> dict[str, np.ndarray]:
        """The request checked (:meth:`prepare`) and run (:meth:`run`)."""
        return self.run(*self.prepare(request, max_batch))

    def prepare(self, request: predict_pb2.PredictRequest, max_batch: int) -> tuple[str, dict[str, tf.Tensor]]:
        """(signature, feed) of a request whose signature, inputs, dtypes and shapes are checked."""
        signature = request.model_spec.signature_name or names.SERVING_SIGNATURE
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
            check_tensor(key, proto, rank, max_batch)
            try:
                value = tf.make_ndarray(proto)
            except (TypeError, ValueError) as exc:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input {key}: malformed tensor ({exc})") from None
            if key == "examples":  # the tf.Example signatures: refuse what does not parse, by index
                _check_examples(value)
            feed[key] = tf.constant(value, dtype=dtype)
        return signature, feed

    def run(self, signature: str, feed: dict[str, tf.Tensor]) -> dict[str, np.ndarray]:
        """The signature's outputs; TensorFlow's errors as RequestErrors with their own codes."""
        try:
            outputs = self.model.signatures[signature](**feed)
            return {k: v.numpy() for k, v in outputs.items()}
        except UnicodeDecodeError:  # TF quoted the request's own non-UTF-8 bytes in its error
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, "the model refused the input (its bytes are malformed)"
            ) from None
        except tf.errors.OpError as exc:  # TF's code is the gRPC code
            code = _TF_TO_GRPC.get(exc.error_code, grpc.StatusCode.INTERNAL)
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise RequestError(code, "out of memory while running the model: send a smaller batch") from None
            raise RequestError(code, clean_tf_message(exc.message) or type(exc).__name__) from None


def clean_tf_message(message: str) -> str:
    """TF's "...assertion failed: [text: ...] [0]\\n\\t [[{{node ...}}]]" -> "text: ... [0]"."""
    match = re.search(r"assertion failed: \[(.*?)\]\s*([^\n]*)", message)
    if match:
        detail = re.sub(r"^\[(.*)\]$", r"\1", _without_internals(match.group(2).strip()))
        return f"{match.group(1)} [{detail}]" if detail else match.group(1)
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith("[[")]
    text = lines[-1] if lines else message
    return _without_internals(text)


def _without_internals(text: str) -> str:
    """``text`` without TF's node and op names (``[[{{node ...}}]]``, ``[Op:...]``)."""
    text = re.sub(r"\s*\[\[.*?\]\]|\s*\{\{(node|function_node) [^}]*\}\}", "", text)
    text = re.sub(r"\s*\(defined at [^)]*\)|\s*\[Op:[^\]]*\]", "", text)
    return text.strip(" ;:")


@dataclasses.dataclass
class _Failure:
    """A version that failed to load: why, and when it may be tried again."""

    error: str
    attempts: int
    retry_at: float


class ModelRepository:
    """The newest loadable version of one model, reloaded in the background when a newer one appears.

    A version that fails to load is remembered with its error (GetModelStatus reports it) and
    tried again after 2 s, 4 s, 8 s ... up to 10 minutes; meanwhile the newest version that
    does load is served, an older one included (on a restart with a corrupt newest push)."""

    def __init__(self, base_path: str | Path, model_name: str = names.MODEL_NAME, poll_seconds: float = 2.0, load: bool = True):
        self.base_path, self.model_name, self.poll_seconds = Path(base_path), model_name, poll_seconds
        self._servable: Servable | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: dict[int, _Failure] = {}
        if load:
            self.refresh()

    @property
    def servable(self) -> Servable | None:
        return self._servable

    def refresh(self) -> bool:
        """Loads the newest version newer than the one served that loads; True if one did."""
        current = self._servable
        served = current.version if current else -1
        now = time.monotonic()
        present = {int(v.name): v for v in version_dirs(self.base_path)}
        for gone in set(self.failures) - set(present):  # deleted: no longer a failed version
            del self.failures[gone]
        candidates = [v for n, v in sorted(present.items()) if (v / "saved_model.pb").is_file() and n > served]
        for path in reversed(candidates):  # newest first
            version = int(path.name)
            failure = self.failures.get(version)
            if failure and now < failure.retry_at:
                continue
            try:
                servable = Servable.load(path)
            except Exception as exc:  # noqa: BLE001 - a broken push must not take the server down
                attempts = failure.attempts + 1 if failure else 1
                wait = min(RETRY_SECONDS[0] * 2 ** (attempts - 1), RETRY_SECONDS[1])
                self.failures[version] = _Failure(f"{type(exc).__name__}: {clean_tf_message(str(exc))}", attempts, now + wait)
                log.error("cannot load %s (attempt %d, next in %.0f s): %s", path, attempts, wait, exc)
                continue
            self.failures.pop(version, None)
            with self._lock:
                self._servable = servable
            log.info("serving %s version %d from %s", self.model_name, servable.version, path)
            return True
        return False

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
        if version is not None and version in self.failures:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND, f"version {version} of {name} failed to load: {self.failures[version].error}"
            )
        if servable is None:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, f"no version of {name} is loaded yet")
        if version is not None and version != servable.version:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})")
        return servable


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository: ModelRepository, max_batch: int, admission: Admission):
        self.repository, self.max_batch, self.admission = repository, max_batch, admission

    def _outputs(self, request, context) -> tuple[Servable, dict[str, np.ndarray]]:
        spec = request.model_spec
        servable = self.repository.get(spec.name, spec.version.value if spec.HasField("version") else None)
        signature, feed = servable.prepare(request, self.max_batch)
        rows = request_rows(signature, feed)
        if rows > MAX_DECODE_ROWS:  # the graph refuses it too; refused here before it waits for a turn
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{TOO_MANY_ROWS} {rows}")
        remaining = context.time_remaining()
        if not self.admission.acquire(rows, None if remaining is None else max(remaining, 0.0)):
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, "server busy: no model slot before the deadline")
        try:
            return servable, servable.run(signature, feed)
        finally:
            self.admission.release(rows)
            if rows > self.admission.light_rows:
                release_memory()

    def Predict(self, request, context):
        try:
            servable, outputs = self._outputs(request, context)
        except RequestError as exc:
            context.abort(exc.code, str(exc))
        except Exception as exc:
            log.exception("Predict failed")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = request.model_spec.signature_name or names.SERVING_SIGNATURE
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request, context):
        """The served version (AVAILABLE) and every version that failed to load (END, with its
        error), as TF Serving reports them; a requested version alone."""
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        repo = self.repository
        if spec.name != repo.model_name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        states = {v: (get_model_status_pb2.ModelVersionStatus.END, f.error) for v, f in repo.failures.items()}
        if repo.servable is not None:
            states[repo.servable.version] = (get_model_status_pb2.ModelVersionStatus.AVAILABLE, "")
        if version is not None:
            states = {v: s for v, s in states.items() if v == version}
        if not states:
            code = grpc.StatusCode.NOT_FOUND if version is not None or repo.failures else grpc.StatusCode.UNAVAILABLE
            context.abort(code, f"no version of {spec.name} " + (f"{version} " if version is not None else "") + "is loaded")
        response = get_model_status_pb2.GetModelStatusResponse()
        for v, (state, error) in sorted(states.items(), reverse=True):
            status = response.model_version_status.add()
            status.version, status.state = v, state
            if error:
                status.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                status.status.error_message = error
        return response


def listen(server: grpc.Server, host: str, port: int) -> int:
    """Binds ``server`` to ``host:port``; returns the port. OSError saying why when it cannot."""
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:  # grpcio >= 1.60 raises where older versions returned 0
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen on {address}: {why_not_listening(host, port)}")
    return bound


def why_not_listening(host: str, port: int) -> str:
    """Why ``host:port`` cannot be listened on, found by binding a plain socket to it."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return f"unknown host {host!r} ({exc.strerror})"
    with socket.socket(family, kind) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            reasons = {
                errno.EADDRINUSE: "the port is in use by another process",
                errno.EADDRNOTAVAIL: f"{host} is not an address of this machine",
                errno.EACCES: "permission denied (ports below 1024 need privileges)",
            }
            return reasons.get(exc.errno, exc.strerror or str(exc))
    return "gRPC refused the address"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass
class DevServer:
    server: grpc.Server
    port: int
    repository: ModelRepository
    admission: Admission  # in_model / peak_in_model / peak_heavy: requests running the model

    def stop(self, grace: float = 1.0) -> None:
        self.repository.stop()
        self.server.stop(grace).wait()


def start(
    model_dir: str | Path,
    port: int = 8500,
    host: str = "127.0.0.1",
    model_name: str = names.MODEL_NAME,
    poll_seconds: float = 2.0,
    max_workers: int = 16,
    max_batch: int | None = None,
    max_concurrent: int = MAX_CONCURRENT,
    heavy_concurrent: int | None = None,
) -> DevServer:
    """Starts the development server on ``host:port`` (port 0: any free port).

    Args:
        model_dir: ``<serving dir>/<model name>``, the numeric versions under it.
        port, host: where to listen, bound before the model loads; a port in use, an unknown
            host or an address of another machine is an OSError saying which, a port out of
            range a ValueError.
        model_name, poll_seconds: the served model's name; how often to look for new versions.
        max_workers: gRPC threads; requests beyond them queue in gRPC.
        max_batch: largest batch accepted (default: the production batching config's).
        max_concurrent: requests running the model at once.
        heavy_concurrent: of them, requests decoding more than ``LIGHT_ROWS`` rows (default: one
            fewer than the CPU cores, at least one).

    Returns:
        The running server (``.port`` is the bound port).
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    max_batch = max_batch or production_max_batch()
    repository = ModelRepository(model_dir, model_name, poll_seconds, load=False)
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[("grpc.so_reuseport", 0)],  # a second server on this port must fail, not share it
        maximum_concurrent_rpcs=max_workers * 4,  # beyond this, RESOURCE_EXHAUSTED at once
    )
    if heavy_concurrent is None:
        heavy_concurrent = max(len(os.sched_getaffinity(0)) - 1, 1)
    admission = Admission(max_concurrent, heavy_concurrent)
    service = _PredictionService(repository, max_batch, admission)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(repository), server)
    bound = listen(server, host, port)  # before the model loads: a bad address is known at once
    repository.refresh()
    repository.start_polling()
    server.start()
    return DevServer(server, bound, repository, admission)
