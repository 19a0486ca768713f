"""``s2s bench serve|quality|train|preprocess``: benchmarks that print their figures."""

from __future__ import annotations

import argparse

from common.decode_options import DEFAULT_BEAM_WIDTH, MAX_BEAM_WIDTH
from common.settings import ConfigError
from pipeline.config import REPO_ROOT, SAMPLE_DATA_DIR, PipelineConfig
from s2s.cli.common import fail, int_in
from s2s.cli.serve import DEFAULT_MODEL_DIR
from trainer.params import TrainerSettings
from transforms.params import TransformSettings

SHARED_GLOVE = REPO_ROOT.parent / "shared" / "data" / "glove" / "glove.6B.50d.top40k.txt"


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print their figures (see `s2s bench -h`)")
    benches = bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for add in (_serve, _decode, _quality, _train, _preprocess):
        add(benches)


def _serve(benches: argparse._SubParsersAction) -> None:
    """s2s bench serve."""
    bserve = benches.add_parser("serve", help="gRPC latency/throughput vs the tutorial's Python decoding loop, and a load run")
    bserve.add_argument(
        "--model-dir", default=DEFAULT_MODEL_DIR, help="pushed model (default: the newest under artifacts/serving/chatbot)"
    )
    bserve.add_argument(
        "--requests", type=int_in(1, 1_000_000), default=200, help="single requests timed per decoder (default 200)"
    )
    bserve.add_argument(
        "--load-requests", type=int_in(1, 10_000_000), default=10_000, help="requests in the load run (default 10000)"
    )
    bserve.add_argument("--concurrency", type=int_in(1, 256), default=16, help="concurrent clients in the load run (default 16)")
    bserve.add_argument(
        "--beam", type=int_in(1, MAX_BEAM_WIDTH), default=DEFAULT_BEAM_WIDTH, help=f"beam width (default {DEFAULT_BEAM_WIDTH})"
    )
    bserve.add_argument(
        "--loop-replies", type=int_in(1, 10_000), default=20, help="replies timed with the python loop (default 20)"
    )
    bserve.set_defaults(func=serve_main)


def _decode(benches: argparse._SubParsersAction) -> None:
    """s2s bench decode."""
    bdecode = benches.add_parser("decode", help="the exported decoders timed in process: default, greedy, beam; batch 1 and 64")
    bdecode.add_argument(
        "--model-dir", default=DEFAULT_MODEL_DIR, help="pushed model (default: the newest under artifacts/serving/chatbot)"
    )
    bdecode.add_argument("--requests", type=int_in(1, 100_000), default=50, help="batch-1 calls timed per decoder (default 50)")
    bdecode.add_argument(
        "--profile", action="store_true", help="also profile the default decoder at batch 64: CPU time per op family and step"
    )
    bdecode.set_defaults(func=decode_main)


def _quality(benches: argparse._SubParsersAction) -> None:
    """s2s bench quality."""
    epochs = TrainerSettings().epochs
    bqual = benches.add_parser(
        "quality",
        help="default model vs n-gram reply models and the tutorial's configuration: perplexity, input dependence, replies of each decoder",
    )
    bqual.add_argument(
        "--data",
        default=str(SAMPLE_DATA_DIR),
        help="corpus directory (default: the embedded sample; the goal is set on ../shared/data/cornell)",
    )
    bqual.add_argument("--glove", default=str(SHARED_GLOVE), help="GloVe 50d text file for the tutorial configuration")
    bqual.add_argument(
        "--epochs",
        type=int_in(1, 1000),
        default=epochs,
        help=f"training budget for each model, in epochs of the train split (default {epochs}, the Trainer's default)",
    )
    bqual.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting of the default model (repeatable)")
    bqual.add_argument(
        "--work-dir",
        help="where preprocessing and runs go (default: ./artifacts/bench-quality; kept, so a re-run reuses the preprocessing)",
    )
    bqual.add_argument(
        "--no-tutorial", action="store_true", help="train only the default model (not the tutorial's configuration)"
    )
    bqual.add_argument(
        "--seeds",
        type=int_in(1, 20),
        default=1,
        help="train the default model with this many seeds (its seed and the next ones): mean and spread (default 1)",
    )
    bqual.set_defaults(func=quality_main)


def _train(benches: argparse._SubParsersAction) -> None:
    """s2s bench train."""
    btrain = benches.add_parser(
        "train", help="training tokens/s, step time, FLOP/s vs matmul FLOP/s, peak RSS at the full corpus's size"
    )
    btrain.add_argument("--steps", type=int_in(20, 1_000_000), default=300, help="training steps to time (default 300)")
    _corpus_size_flags(btrain)
    btrain.add_argument("--keep", help="keep the generated corpus and pipeline outputs in this directory (and reuse the corpus)")
    btrain.set_defaults(func=train_main)


def _preprocess(benches: argparse._SubParsersAction) -> None:
    """s2s bench preprocess."""
    transform = TransformSettings()
    bprep = benches.add_parser(
        "preprocess", help="ExampleGen+Transform at the full corpus's size vs the tutorial's in-memory Python"
    )
    _corpus_size_flags(bprep)
    bprep.add_argument(
        "--vocab-size",
        type=int_in(1, 10_000_000),
        default=transform.vocab_size,
        help=f"vocabulary size (default {transform.vocab_size})",
    )
    bprep.add_argument(
        "--max-len", type=int_in(2, 10_000), default=transform.max_len, help=f"MAX_LEN (default {transform.max_len})"
    )
    bprep.add_argument("--keep", help="generate and keep the corpus and the pipeline's outputs in this directory")
    bprep.set_defaults(func=preprocess_main)


def _corpus_size_flags(parser: argparse.ArgumentParser) -> None:
    """--lines and --conversations of a generated corpus (default: the real corpus's size)."""
    from s2s.bench.preprocess import FULL_CONVERSATIONS, FULL_LINES

    parser.add_argument(
        "--lines",
        type=int_in(100, 100_000_000),
        default=FULL_LINES,
        help=f"corpus lines to generate (default {FULL_LINES:,}, the real corpus's)",
    )
    parser.add_argument(
        "--conversations",
        type=int_in(10, 100_000_000),
        default=FULL_CONVERSATIONS,
        help=f"conversations to generate (default {FULL_CONVERSATIONS:,})",
    )


def serve_main(args: argparse.Namespace) -> int:
    from s2s.bench import serve

    try:
        return serve.run(
            args.model_dir,
            requests=args.requests,
            load_requests=args.load_requests,
            concurrency=args.concurrency,
            beam=args.beam,
            loop_replies=args.loop_replies,
        )
    except FileNotFoundError as exc:
        return fail(f"{exc} (run `make run` first to push a model)")


def decode_main(args: argparse.Namespace) -> int:
    from s2s.bench import decode

    try:
        return decode.run(args.model_dir, requests=args.requests, profile=args.profile)
    except FileNotFoundError as exc:
        return fail(f"{exc} (run `make run` first to push a model)")


def quality_main(args: argparse.Namespace) -> int:
    from s2s.bench import quality

    overrides: dict[str, object] = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            return fail(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    try:
        PipelineConfig().replace(**overrides)
        return quality.run(
            args.data,
            args.glove,
            work_dir=args.work_dir,
            epochs=args.epochs,
            overrides=overrides,
            tutorial=not args.no_tutorial,
            seeds=args.seeds,
        )
    except (ConfigError, FileNotFoundError) as exc:
        return fail(str(exc))


def train_main(args: argparse.Namespace) -> int:
    from s2s.bench import train

    return train.run(steps=args.steps, lines=args.lines, conversations=args.conversations, keep=args.keep)


def preprocess_main(args: argparse.Namespace) -> int:
    from s2s.bench import preprocess

    return preprocess.run(args.lines, args.conversations, args.vocab_size, args.max_len, keep=args.keep)
