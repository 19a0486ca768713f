"""``s2s serve``: the pushed models over gRPC, by TF Serving when it is on PATH, else the
development server (same API, not TF Serving: it says so when it starts)."""

from __future__ import annotations

import argparse
import os
import sys

from common.names import MODEL_NAME
from pipeline.config import DEFAULT_WORK_DIR
from s2s.cli.common import fail, float_in, int_in

DEFAULT_MODEL_DIR = os.path.join(str(DEFAULT_WORK_DIR), "serving", MODEL_NAME)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the pushed models over gRPC: tensorflow_model_server if on PATH, else a development server",
    )
    serve.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help=f"<serving dir>/<model name> (default {DEFAULT_MODEL_DIR})")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int_in(1, 65535), default=8500, help="gRPC port (default 8500)")
    serve.add_argument(
        "--rest-port", type=int_in(1, 65535), default=8501, help="REST port of tensorflow_model_server (default 8501)"
    )
    serve.add_argument(
        "--poll-seconds", type=float_in(0.05, 3600), default=2.0, help="how often to look for a new version (default 2)"
    )
    serve.add_argument(
        "--max-batch",
        type=int_in(1, 100_000),
        default=None,
        help="development server: largest batch accepted (default: max_batch_size of docker/serving/batching.config, 64)",
    )
    serve.add_argument("--dev", action="store_true", help="use the development server even if tensorflow_model_server is on PATH")
    serve.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from serving import model_server

    model_dir = os.path.abspath(args.model_dir)
    binary = None if args.dev else model_server.find_binary()
    if binary:
        print(f"TensorFlow Serving ({binary}) on {model_dir}: gRPC :{args.port}", flush=True)
        print(
            "warning: tensorflow_model_server listens on every interface (--host does not apply), in plaintext "
            'unless given --ssl_config_file (README, "Serving beyond this machine")',
            file=sys.stderr,
            flush=True,
        )
        proc = model_server.start(model_dir, port=args.port, rest_port=args.rest_port)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait()
    return _dev_server(args, model_dir)


def _dev_server(args: argparse.Namespace, model_dir: str) -> int:
    import logging as std_logging
    import threading

    from serving import dev_server

    std_logging.basicConfig(level=std_logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print(dev_server.BANNER, flush=True)
    if not dev_server.is_loopback(args.host):
        print(
            f"warning: {args.host} exposes the model to the network in plaintext, without authentication: anyone "
            'who reaches the port can use it (README, "Serving beyond this machine": TLS for TF Serving)',
            file=sys.stderr,
            flush=True,
        )
    try:
        server = dev_server.start(
            model_dir, port=args.port, host=args.host, poll_seconds=args.poll_seconds, max_batch=args.max_batch
        )
    except OSError as exc:
        return fail(str(exc))
    servable = server.repository.servable
    where = f"version {servable.version}" if servable else "no version yet: waiting for a push"
    print(f"serving {MODEL_NAME} from {model_dir} ({where}) on {args.host}:{server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
