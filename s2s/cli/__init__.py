"""``s2s``: the command line of seq2seq-tfx. A module per command (or pair of commands), each
registering its flags and calling one library function; this module only assembles them."""

from __future__ import annotations

import argparse
import sys

from s2s.cli import bench, chat, corpus, evaluate, kubeflow, run, serve, status
from s2s.cli.common import console_policy, fail

COMMANDS = (run, corpus, serve, chat, status, evaluate, kubeflow, bench)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s", description="seq2seq-tfx: a TFX pipeline for a Keras seq2seq LSTM chatbot on the Cornell corpus."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    _every_command_has_verbose(sub, "s2s")
    return parser


def _every_command_has_verbose(sub: argparse._SubParsersAction, path: str) -> None:
    """``-v`` on every command (and bench's subcommands), and each command's own name for hints."""
    for name, parser in sub.choices.items():
        # argparse has no public way to list a parser's subcommands or options.
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        if nested:
            _every_command_has_verbose(nested[0], f"{path} {name}")
            continue
        if "-v" not in parser._option_string_actions:  # noqa: SLF001
            parser.add_argument(
                "-v", "--verbose", action="store_true", help="show everything: third-party logs and warnings, tracebacks"
            )
        parser.set_defaults(command_path=f"{path} {name}")


def main(argv: list[str] | None = None) -> int:
    """Runs one command; a failure the command did not expect is one line (``-v``: the traceback)."""
    args = make_parser().parse_args(argv)
    console_policy(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if getattr(args, "verbose", False):
            raise
        from serving.saved_model import ModelError

        if isinstance(exc, ModelError):
            return fail(str(exc))
        first = (str(exc).strip().splitlines() or [""])[0]
        return fail(f"{type(exc).__name__}: {first} ({args.command_path} -v shows the traceback)", 1)


if __name__ == "__main__":
    sys.exit(main())
