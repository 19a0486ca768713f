"""``s2s run``: the whole pipeline on this machine (LocalDagRunner), then sample replies."""

from __future__ import annotations

import argparse
import time

from s2s.cli.common import add_settings_flags, fail, root_cause, settings_from_args

SAMPLE_INPUTS = ("Hi, how are you?", "Where are you going?", "I don't know what you mean.")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the whole pipeline locally (LocalDagRunner) and print sample replies")
    run.add_argument("--config", help="TOML or JSON file of settings (flat keys; flags override it)")
    run.add_argument(
        "-v", "--verbose", action="store_true", help="show every log line (the components' INFO logs, third-party warnings)"
    )
    add_settings_flags(run)
    run.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from common.settings import ConfigError
    from components.cornell import CorpusError, check_corpus_dir

    try:
        cfg = settings_from_args(args)
        check_corpus_dir(cfg.run.data_dir)
    except (ConfigError, CorpusError) as exc:
        return fail(str(exc))
    if args.verbose:  # the components' INFO logs too (without -v: s2s.cli.common.console_policy)
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.INFO)
    from pipeline import local_runner

    print(f"s2s run: corpus {cfg.run.data_dir}, work dir {cfg.run.work_dir}", flush=True)
    started = time.monotonic()
    try:
        result = local_runner.run(cfg, console=not args.verbose)
    except local_runner.WorkDirBusyError as exc:
        return fail(str(exc))
    except Exception as exc:
        cause = root_cause(exc, (CorpusError, ConfigError))
        if cause is None:
            raise
        return fail(str(cause))
    seconds = time.monotonic() - started
    for line in result.summary():
        print(line)
    if not result.pushed_to:
        print(
            f"pipeline finished in {seconds:.0f} s; model NOT blessed: an Evaluator threshold was not met, nothing was pushed "
            f"({cfg.evaluator.describe()}); see `s2s status`"
        )
        return 1
    print(f"pipeline finished in {seconds:.0f} s; pushed model: {result.pushed_to}")
    from serving.saved_model import Chatbot

    bot = Chatbot(result.pushed_to)
    for message, reply in zip(SAMPLE_INPUTS, bot.reply(list(SAMPLE_INPUTS))):
        print(f"  > {message}  < {reply or '(empty reply)'}")
    return 0
