"""``s2s chat``: talk to the served chatbot over gRPC, interactively or one ``--message``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys

from common import names
from common.decode_options import DTYPES, DecodeOptions
from components.params import ExampleGenSettings
from s2s.cli.common import bounded, fail, float_in, int_in

HISTORY_FILE = "~/.s2s_chat_history"
# The conversation's last lines sent as a message's context: as many as a training pair's hold.
CONTEXT_LINES = ExampleGenSettings.context_lines


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.add_parser("chat", help="talk to the served chatbot over gRPC (interactive, or one --message)")
    chat.add_argument("--server", default="localhost:8500", help="host:port of the model server (default localhost:8500)")
    chat.add_argument("--model", default=names.MODEL_NAME, help=f"model name (default {names.MODEL_NAME})")
    chat.add_argument("--version", type=int_in(1, 2**63 - 1), default=None, help="model version (default: the newest)")
    chat.add_argument("--message", help="send one message, print the reply and exit")
    chat.add_argument(
        "--context",
        default=None,
        help="the conversation before --message, its lines oldest first (the serving_context signature of models "
        f"trained with context_len > 0). Interactively, each message goes with the conversation's last {CONTEXT_LINES} "
        "lines as its context whenever the model reads context",
    )
    chat.add_argument(
        "--beam", type=bounded(DecodeOptions, "beam_width"), default=None, help="beam width (the same as --beam-width)"
    )
    decoding = chat.add_argument_group(
        "decoding options (any of them sends the request to the generate signature; "
        "without them the server's default decoder answers)"
    )
    for field in dataclasses.fields(DecodeOptions):
        decoding.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=field.name,
            type=bounded(DecodeOptions, field.name),
            default=None,
            help=f"{field.metadata['help']} (default {field.default})",
        )
    chat.add_argument("--timeout", type=float_in(0.1, 3600), default=10.0, help="deadline per request in seconds (default 10)")
    chat.set_defaults(func=main)


def _print_reply(reply, beam: int) -> None:
    print(f"bot> {reply.text or '(empty reply)'}   [score {reply.score:.2f}]")
    if beam > 1:
        for i, (text, score) in enumerate(reply.alternatives[1:], start=2):
            print(f"     {i}. {text or '(empty reply)'}   [{score:.2f}]")


def _no_context_signature(exc) -> bool:
    """Whether the server refused a request because the model has no serving_context signature."""
    return exc.code.name == "INVALID_ARGUMENT" and names.CONTEXT_SIGNATURE in exc.message and "not found" in exc.message


def main(args: argparse.Namespace) -> int:
    from serving.client import ChatbotClient, ChatbotError

    client = ChatbotClient(args.server, model_name=args.model, version=args.version, timeout=args.timeout)
    options = {name: getattr(args, name) for name in DTYPES if getattr(args, name) is not None}
    if args.beam is not None:
        options.setdefault("beam_width", args.beam)
    shown = options.get("beam_width", 1)

    if options and args.context is not None:
        return fail("--context goes with the default decoder (serving_context): leave out the decoding options")
    # The lines before each message: the given ones, or interactively the conversation's last lines
    # (as many as the ExampleGen gives a pair by default), while the model reads context: one
    # without serving_context is asked without, from then on.
    conversation = {
        "lines": [args.context] if args.context else [],
        "in_context": args.context is not None or args.message is None,
    }

    def ask(message: str):
        if options:  # any decoding option: the generate signature, everything else at its default
            return client.generate([message], DecodeOptions(**options))[0]
        if conversation["in_context"]:
            try:
                reply = client.reply_in_context([message], [" ".join(conversation["lines"])])[0]
                history = [*conversation["lines"], message, reply.text]
                conversation["lines"] = history[-CONTEXT_LINES:] if CONTEXT_LINES else []
                return reply
            except ChatbotError as exc:
                if args.context is not None or not _no_context_signature(exc):
                    raise
                conversation["in_context"] = False
        return client.reply([message])[0]

    if args.message is not None:
        try:
            _print_reply(ask(args.message), shown)
        except ChatbotError as exc:
            return fail(f"{args.server}: {exc}")
        return 0
    return _interactive(client, ask, shown, args)


def _interactive(client, ask, shown: int, args: argparse.Namespace) -> int:
    from serving.client import ChatbotError

    history = os.path.expanduser(HISTORY_FILE)
    try:
        import readline

        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    except ImportError:  # pragma: no cover - no readline on this platform
        readline = None
    print(f"chatting with {args.model} at {args.server} (Ctrl-D or Ctrl-C to leave)")
    try:
        while True:
            try:
                message = input("you> ")
            except EOFError:
                print()
                break
            if not message.strip():
                continue
            try:
                _print_reply(ask(message), shown)
            except ChatbotError as exc:
                print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)
        client.close()
    return 0
