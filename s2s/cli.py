"""``s2s``: the command line of seq2seq-tfx."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from s2s import config as C
from trainer.decode_options import BOUNDS, DTYPES, HELP, DecodeOptions

SAMPLE_INPUTS = ("Hi, how are you?", "Where are you going?", "I don't know what you mean.")

# Flags of `s2s run` that set a PipelineConfig field: (flag, field, type, help).
_RUN_FLAGS = (
    ("--data", "data_dir", str, "corpus directory in the Cornell format"),
    ("--work-dir", "work_dir", str, "pipeline root, metadata and serving directory"),
    ("--encoding", "corpus_encoding", str, "corpus encoding: auto, latin-1 or utf-8"),
    ("--vocab-size", "vocab_size", int, "vocabulary size, reserved tokens excluded"),
    ("--min-frequency", "min_frequency", int, "minimum word frequency in the vocabulary"),
    ("--max-len", "max_len", int, "tokens per side after padding/truncation"),
    ("--long-pairs", "long_pairs", str, "pairs longer than --max-len: truncate (as the tutorial) or drop (counted)"),
    ("--embedding-dim", "embedding_dim", int, "embedding size"),
    ("--units", "units", int, "LSTM units"),
    ("--layers", "layers", int, "LSTM layers in the encoder and in the decoder: 1 or 2"),
    ("--dropout", "dropout", float, "input dropout rate (no recurrent dropout, so cuDNN stays usable)"),
    ("--word-dropout", "word_dropout", float, "share of the decoder's input words replaced by <unk> while training"),
    ("--batch-size", "batch_size", int, "training batch size per device"),
    ("--learning-rate", "learning_rate", float, "Adam learning rate"),
    ("--clipnorm", "clipnorm", float, "gradient clipping by norm (0 = off)"),
    ("--lr-decay", "lr_decay", float, "learning rate multiplied by this after an epoch without a better eval loss (1 = off)"),
    ("--epochs", "epochs", int, "training epochs (ignored when --train-steps is set)"),
    ("--early-stopping", "early_stopping_patience", int, "stop after this many epochs without a better eval loss (0 = off)"),
    ("--train-steps", "train_steps", int, "training steps (0: derived from --epochs)"),
    ("--eval-steps", "eval_steps", int, "validation steps (0: the whole eval split)"),
    ("--glove", "glove_path", str, "GloVe text file (.txt or .txt.gz) to initialise the embedding; its dimension sets the embedding size; \"\" = random"),
    ("--min-accuracy", "min_masked_accuracy", float, "blessing bound on masked token accuracy"),
    ("--max-perplexity", "max_perplexity", float, "blessing bound on perplexity"),
    ("--max-perplexity-increase", "max_perplexity_increase", float, "blessing bound on perplexity vs the last blessed model, relative"),
    ("--max-top-reply-share", "max_top_reply_share", float, "blessing bound on the most frequent greedy reply's share of the test replies (a collapsed model says one thing to everyone)"),
    ("--keep-versions", "keep_versions", int, "model versions kept in the serving directory"),
)


# On/off settings of `s2s run` (--X / --no-X): (flag, field, help).
_RUN_SWITCHES = (
    ("--glove-finetune", "glove_trainable", "fine-tune the GloVe embedding (off: frozen, and then not tied to the output layer)"),
    ("--attention", "attention", "Luong attention over the encoder outputs"),
    ("--bidirectional", "bidirectional", "bidirectional encoder (half the units each way)"),
    ("--copy", "copy", "pointer-generator copy mechanism: replies may copy input words (needs --attention)"),
    ("--tie-embeddings", "tie_embeddings", "the output layer reuses the embedding matrix"),
    ("--mixed-precision", "mixed_precision", "train in mixed_float16 on GPU (no effect on CPU)"),
)


def _bounded(name: str, kind: type):
    """An argparse type: ``kind`` within the decoding option's bounds (refused at parse time)."""
    low, high = BOUNDS[name]

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _fail(message: str, code: int = 2) -> int:
    print(f"s2s: error: {message}", file=sys.stderr)
    return code


def _root_cause(exc: BaseException, kinds: tuple) -> Optional[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def build_config(args: argparse.Namespace) -> C.PipelineConfig:
    overrides: Dict[str, object] = {}
    if args.config:
        overrides.update(C.load_config_file(args.config))
    for _flag, field, _type, _help in _RUN_FLAGS:
        value = getattr(args, field)
        if value is not None:
            overrides[field] = value
    if args.no_cache:
        overrides["enable_cache"] = False
    for _flag, flag, _help in _RUN_SWITCHES:
        if getattr(args, flag, None) is not None:
            overrides[flag] = getattr(args, flag)
    cfg = C.PipelineConfig().replace(**overrides)
    return dataclasses.replace(cfg, data_dir=os.path.abspath(cfg.data_dir), work_dir=os.path.abspath(cfg.work_dir))


def cmd_run(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError, check_corpus_dir

    try:
        cfg = build_config(args)
        check_corpus_dir(cfg.data_dir)
    except (C.ConfigError, CorpusError) as exc:
        return _fail(str(exc))
    from pipeline import local_runner

    if args.verbose:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.INFO)
    print(f"s2s run: corpus {cfg.data_dir}\n         work dir {cfg.work_dir}", flush=True)
    started = time.monotonic()
    try:
        result = local_runner.run(cfg)
    except Exception as exc:  # noqa: BLE001 - known input errors become one clear line
        cause = _root_cause(exc, (CorpusError, C.ConfigError))
        if cause is None:
            raise
        return _fail(str(cause))
    elapsed = time.monotonic() - started
    print(f"\npipeline finished in {elapsed:.0f} s")
    report = result.corpus_report
    if report:
        c = report["counts"]
        print(
            f"corpus: {c['pairs']} pairs {report['split_sizes']}; skipped: "
            f"{c['lines_malformed']} malformed lines, {c['lines_blank']} blank lines, "
            f"{c['conversations_malformed']} malformed conversations, "
            f"{c['pairs_skipped_missing_line']} pairs with a missing line "
            f"({c['conversations_with_missing_lines']} conversations), "
            f"{c['pairs_skipped_empty_utterance']} pairs with an empty utterance"
        )
    data = result.data_report
    if data:
        print(
            f"vocabulary: {data['vocabulary_size']} ids (reserved tokens included); out-of-vocabulary share of "
            f"eval tokens {data['eval']['oov_share']:.2%}; pairs longer than max_len ({data['long_pairs']}): "
            f"train {data['train']['pairs_longer_than_max_len']} of {data['train']['pairs']}, "
            f"eval {data['eval']['pairs_longer_than_max_len']} of {data['eval']['pairs']}"
        )
        t = data.get("training")
        if t:
            print(
                f"training: {t['epochs_run']} of {t['epochs_max']} epoch(s) on {', '.join(data['devices'])} "
                f"({data['strategy'].strip('_')}, {data['precision']}, global batch {data['global_batch_size']}); "
                f"best eval perplexity {t['best_val_perplexity']:.1f} at epoch {t['best_epoch']}, {t['exported']} exported"
            )
        glove = data.get("glove")
        if glove:
            print(
                f"GloVe {glove['dim']}d: {glove['found']} of {glove['vocabulary_words']} vocabulary words found "
                f"({glove['coverage']:.1%}), {'fine-tuned' if glove['trainable'] else 'frozen'}"
            )
    if result.metrics:
        print("evaluation (test split): " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(result.metrics.items())))
    if not result.pushed:
        print(
            "model NOT blessed: an Evaluator threshold was not met, nothing was pushed "
            f"(masked token accuracy >= {cfg.min_masked_accuracy}, perplexity <= {cfg.max_perplexity}, "
            f"perplexity at most {cfg.max_perplexity_increase:.0%} above the last blessed model's, "
            f"most frequent reply <= {cfg.max_top_reply_share:.0%} of the replies); "
            "see `s2s status`"
        )
        return 1
    print(f"pushed model: {result.pushed_dir}")
    from serving.saved_model import Chatbot

    bot = Chatbot(result.pushed_dir)
    for message, reply in zip(SAMPLE_INPUTS, bot.reply(list(SAMPLE_INPUTS))):
        print(f"  > {message}\n  < {reply or '(empty reply)'}")
    return 0


def cmd_corpus_report(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError, load_corpus

    try:
        pairs, report = load_corpus(args.data, args.encoding)
    except CorpusError as exc:
        return _fail(str(exc))
    print(report.summary())
    print(f"encodings: {report.encodings}")
    print(f"movies with pairs: {len({p.movie_id for p in pairs})}")
    return 0


def cmd_download_corpus(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError
    from s2s import download

    try:
        target = download.download_corpus(args.url, args.dest, sha256=args.sha256, timeout=args.timeout, force=args.force)
    except (download.DownloadError, CorpusError) as exc:
        return _fail(str(exc))
    print(f"corpus ready: {target}\nrun it with: s2s run --data '{target}'")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving import model_server

    model_dir = os.path.abspath(args.model_dir)
    binary = None if args.dev else model_server.find_binary()
    if binary:
        print(f"TensorFlow Serving ({binary}) on {model_dir}: gRPC :{args.port}", flush=True)
        proc = model_server.start(model_dir, port=args.port, rest_port=args.rest_port)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait()
    import logging as std_logging
    import threading

    from serving import dev_server

    std_logging.basicConfig(level=std_logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print(dev_server.BANNER, flush=True)
    try:
        server = dev_server.start(model_dir, port=args.port, host=args.host, poll_seconds=args.poll_seconds)
    except OSError as exc:
        return _fail(str(exc))
    servable = server.repository.servable
    where = f"version {servable.version}" if servable else "no version yet: waiting for a push"
    print(f"serving {C.MODEL_NAME} from {model_dir} ({where}) on {args.host}:{server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _print_reply(reply, beam: int) -> None:
    print(f"bot> {reply.text or '(empty reply)'}   [score {reply.score:.2f}]")
    if beam > 1:
        for i, (text, score) in enumerate(reply.alternatives[1:], start=2):
            print(f"     {i}. {text or '(empty reply)'}   [{score:.2f}]")


def cmd_chat(args: argparse.Namespace) -> int:
    from serving.client import ChatbotClient, ChatbotError

    client = ChatbotClient(args.server, model_name=args.model, version=args.version, timeout=args.timeout)

    options = {name: getattr(args, name) for name in DTYPES if getattr(args, name) is not None}
    if args.beam is not None:
        options.setdefault("beam_width", args.beam)
    shown = options.get("beam_width", 1)

    def ask(message: str):
        if options:  # any decoding option: the generate signature, everything else at its default
            return client.generate([message], DecodeOptions(**options))[0]
        return client.reply([message])[0]

    if args.message is not None:
        try:
            _print_reply(ask(args.message), shown)
        except ChatbotError as exc:
            return _fail(f"{args.server}: {exc}")
        return 0

    history_file = os.path.expanduser("~/.s2s_chat_history")
    try:
        import readline

        try:
            readline.read_history_file(history_file)
        except OSError:
            pass
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
            try:
                readline.write_history_file(history_file)
            except OSError:
                pass
        client.close()
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_runner

    try:
        cfg = build_config(args)
        settings = kubeflow_runner.KubeflowSettings(
            pipeline_root=args.pipeline_root,
            data_dir=args.kfp_data,
            image=args.image,
            beam_environment=args.beam_env,
            extra_beam_args=tuple(args.beam_arg or ()),
            gpu_type=args.gpu_type,
            gpu_count=args.gpu_count,
            trainer_cpu=args.trainer_cpu,
            trainer_memory_gb=args.trainer_memory,
            step_cpu=args.step_cpu,
            step_memory_gb=args.step_memory,
        )
        settings.beam_args()
        paths = kubeflow_runner.compile_pipeline(cfg, settings, args.output_dir)
    except C.ConfigError as exc:
        return _fail(str(exc))
    print(f"KFP v2 pipeline spec: {paths['json']}\n                      {paths['yaml']}")
    print("upload either in the Kubeflow Pipelines UI, or: s2s submit --host URL")
    return 0


def _parse_params(items) -> Dict[str, object]:
    params: Dict[str, object] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise C.ConfigError(f"--param expects NAME=VALUE, got {item!r}")
        for kind in (int, float):
            try:
                params[name] = kind(value)
                break
            except ValueError:
                continue
        else:
            params[name] = value
    return params


def cmd_submit(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_runner

    package = Path(args.package)
    if not package.is_file():
        return _fail(f"{package}: no compiled pipeline here (run `s2s compile` first)")
    try:
        params = _parse_params(args.param)
    except C.ConfigError as exc:
        return _fail(str(exc))
    try:
        run_id = kubeflow_runner.submit(package, args.host, params, experiment=args.experiment, run_name=args.run_name, existing_token=args.token)
    except Exception as exc:  # noqa: BLE001 - the KFP client raises many kinds; report one line
        return _fail(f"{args.host}: submit failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    print(f"run {run_id} started on {args.host} (experiment {args.experiment})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline import status

    cfg = C.PipelineConfig(work_dir=os.path.abspath(args.work_dir))
    try:
        runs = status.latest_runs(cfg, limit=args.runs)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    print(status.format_runs(runs) if runs else f"no pipeline run recorded in {cfg.metadata_path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from components.cornell import CorpusError
    from s2s import evaluate

    out = args.out or os.path.join(str(C.DEFAULT_WORK_DIR), "evaluation", time.strftime("%Y%m%d-%H%M%S"))
    try:
        figures = evaluate.evaluate(args.model, args.data, out, encoding=args.encoding, batch_size=args.batch_size, beam_width=args.beam)
    except (evaluate.EvaluationError, CorpusError) as exc:
        return _fail(str(exc))
    print(evaluate.table(figures))
    print(f"\nreport: {os.path.join(out, 'report.html')}\nfigures: {os.path.join(out, 'evaluation.json')}")
    return 0


def cmd_bench_serve(args: argparse.Namespace) -> int:
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
        return _fail(f"{exc} (run `make run` first to push a model)")


def cmd_bench_quality(args: argparse.Namespace) -> int:
    from s2s.bench import quality

    overrides: Dict[str, object] = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            return _fail(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    try:
        C.PipelineConfig().replace(**overrides)
        return quality.run(args.data, args.glove, work_dir=args.work_dir, epochs=args.epochs, overrides=overrides,
                           tutorial=not args.no_tutorial)
    except (C.ConfigError, FileNotFoundError) as exc:
        return _fail(str(exc))


def cmd_bench_train(args: argparse.Namespace) -> int:
    from s2s.bench import train

    return train.run(steps=args.steps, lines=args.lines, conversations=args.conversations, keep=args.keep)


def cmd_bench_preprocess(args: argparse.Namespace) -> int:
    from s2s.bench import preprocess

    return preprocess.run(args.lines, args.conversations, args.vocab_size, args.max_len, keep=args.keep)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s", description="seq2seq-tfx: a TFX pipeline for a Keras seq2seq LSTM chatbot on the Cornell corpus."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the whole pipeline locally (LocalDagRunner) and print sample replies")
    run.add_argument("--config", help="TOML or JSON file of settings (flat keys; flags override it)")
    defaults = C.PipelineConfig()
    for flag, field, kind, text in _RUN_FLAGS:
        run.add_argument(flag, dest=field, type=kind, default=None, help=f"{text} (default: {getattr(defaults, field)!r})")
    for flag, field, text in _RUN_SWITCHES:
        run.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=None,
                         help=f"{text} (default: {'on' if getattr(defaults, field) else 'off'})")
    run.add_argument("--no-cache", action="store_true", help="re-run every component instead of reusing cached outputs")
    run.add_argument("-v", "--verbose", action="store_true", help="show the components' INFO logs")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("corpus-report", help="read a corpus directory and print what the loader kept and skipped")
    report.add_argument("--data", default=str(C.SAMPLE_DATA_DIR), help="corpus directory (default: the embedded sample)")
    report.add_argument("--encoding", default="auto", choices=("auto", "latin-1", "utf-8"))
    report.set_defaults(func=cmd_corpus_report)

    from s2s.download import OFFICIAL_URL

    dl = sub.add_parser("download-corpus", help="fetch the official corpus zip, check it and unpack it")
    dl.add_argument("--url", default=OFFICIAL_URL, help=f"zip to fetch (default: {OFFICIAL_URL})")
    dl.add_argument("--dest", default=os.path.join("data", "cornell"), help="directory to unpack into (default: data/cornell)")
    dl.add_argument("--sha256", help="expected sha256 of the zip; the download is rejected if it differs")
    dl.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    dl.add_argument("--force", action="store_true", help="replace an existing corpus in --dest")
    dl.set_defaults(func=cmd_download_corpus)

    default_model_dir = os.path.join(str(C.DEFAULT_WORK_DIR), "serving", C.MODEL_NAME)
    serve = sub.add_parser(
        "serve",
        help="serve the pushed models over gRPC: tensorflow_model_server if on PATH, else a development server",
    )
    serve.add_argument("--model-dir", default=default_model_dir, help=f"<serving dir>/<model name> (default {default_model_dir})")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    serve.add_argument("--rest-port", type=int, default=8501, help="REST port of tensorflow_model_server (default 8501)")
    serve.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for a new version (default 2)")
    serve.add_argument("--dev", action="store_true", help="use the development server even if tensorflow_model_server is on PATH")
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser("chat", help="talk to the served chatbot over gRPC (interactive, or one --message)")
    chat.add_argument("--server", default="localhost:8500", help="host:port of the model server (default localhost:8500)")
    chat.add_argument("--model", default=C.MODEL_NAME, help=f"model name (default {C.MODEL_NAME})")
    chat.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    chat.add_argument("--message", help="send one message, print the reply and exit")
    chat.add_argument("--beam", type=_bounded("beam_width", int), default=None, help="beam width (the same as --beam-width)")
    decoding = chat.add_argument_group("decoding options (any of them sends the request to the generate signature; "
                                       "without them the server's default decoder answers)")
    for name, default in dataclasses.asdict(DecodeOptions()).items():
        decoding.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_bounded(name, type(default)), default=None,
                              help=f"{HELP[name]} (default {default})")
    chat.add_argument("--timeout", type=float, default=10.0, help="deadline per request in seconds (default 10)")
    chat.set_defaults(func=cmd_chat)

    st = sub.add_parser("status", help="the latest runs: component states and durations, metrics per slice, blessing, pushed version")
    st.add_argument("--work-dir", default=str(C.DEFAULT_WORK_DIR), help="the run's work dir (default ./artifacts)")
    st.add_argument("--runs", type=int, default=3, help="how many runs to show (default 3)")
    st.set_defaults(func=cmd_status)

    ev = sub.add_parser("evaluate", help="score an exported model on any corpus directory; table, JSON and HTML report")
    ev.add_argument("--model", default=default_model_dir, help="a pushed version directory, or a serving directory (its newest version)")
    ev.add_argument("--data", default=str(C.SAMPLE_DATA_DIR), help="corpus directory in the Cornell format (default: the embedded sample)")
    ev.add_argument("--out", help="report directory (default artifacts/evaluation/<time>)")
    ev.add_argument("--encoding", default="auto", choices=("auto", "latin-1", "utf-8"))
    ev.add_argument("--batch-size", type=int, default=256, help="examples per model call (default 256)")
    ev.add_argument("--beam", type=int, default=C.DEFAULT_BEAM_WIDTH, help=f"beam width for beam-search replies, 0 to skip (default {C.DEFAULT_BEAM_WIDTH})")
    ev.set_defaults(func=cmd_evaluate)

    from pipeline.kubeflow_runner import BEAM_ENVIRONMENTS, DEFAULT_IMAGE, KubeflowSettings

    kd = KubeflowSettings()
    comp = sub.add_parser("compile", help="compile the pipeline into a KFP v2 spec (JSON and YAML) for the Kubeflow Pipelines UI")
    comp.add_argument("--output-dir", default=os.path.join("build", "kfp"), help="where to write the spec (default build/kfp)")
    comp.add_argument("--pipeline-root", default=kd.pipeline_root, help=f"gs://, s3:// or a mounted volume path (default {kd.pipeline_root})")
    comp.add_argument("--kfp-data", default=kd.data_dir, help=f"corpus directory as the step pods see it (default {kd.data_dir})")
    comp.add_argument("--image", default=DEFAULT_IMAGE, help=f"pipeline image built from docker/Dockerfile (default {DEFAULT_IMAGE})")
    comp.add_argument("--beam-env", default="direct", help=f"Beam arguments preset: {', '.join(BEAM_ENVIRONMENTS)} (default direct)")
    comp.add_argument("--beam-arg", action="append", help="extra Beam argument (repeatable), e.g. --beam-arg=--project=my-project")
    comp.add_argument("--gpu-type", default=kd.gpu_type, help=f"Trainer accelerator type (default {kd.gpu_type})")
    comp.add_argument("--gpu-count", type=int, default=kd.gpu_count, help=f"Trainer accelerator count, 0 for none (default {kd.gpu_count})")
    comp.add_argument("--trainer-cpu", type=float, default=kd.trainer_cpu, help=f"Trainer CPU limit (default {kd.trainer_cpu:g})")
    comp.add_argument("--trainer-memory", type=float, default=kd.trainer_memory_gb, help=f"Trainer memory limit, GB (default {kd.trainer_memory_gb:g})")
    comp.add_argument("--step-cpu", type=float, default=kd.step_cpu, help=f"other steps' CPU limit (default {kd.step_cpu:g})")
    comp.add_argument("--step-memory", type=float, default=kd.step_memory_gb, help=f"other steps' memory limit, GB (default {kd.step_memory_gb:g})")
    comp.add_argument("--config", help="TOML or JSON file of settings: the defaults of the run parameters")
    for flag, field, kind, text in _RUN_FLAGS:
        if field not in ("data_dir", "work_dir"):
            comp.add_argument(flag, dest=field, type=kind, default=None, help=text)
    comp.set_defaults(func=cmd_compile, data_dir=None, work_dir=None, no_cache=False)

    subm = sub.add_parser("submit", help="upload the compiled spec to Kubeflow Pipelines and start a run (kfp.Client)")
    subm.add_argument("--host", required=True, help="Kubeflow Pipelines API endpoint, e.g. http://localhost:8080")
    subm.add_argument("--package", default=os.path.join("build", "kfp", f"{C.PIPELINE_NAME}.yaml"), help="compiled spec, YAML (default build/kfp/seq2seq-tfx.yaml)")
    subm.add_argument("--param", action="append", help="run parameter NAME=VALUE (repeatable), e.g. --param train_steps=2000")
    subm.add_argument("--experiment", default=C.PIPELINE_NAME, help=f"experiment name (default {C.PIPELINE_NAME})")
    subm.add_argument("--run-name", help="run name")
    subm.add_argument("--token", help="bearer token for the KFP API (optional)")
    subm.set_defaults(func=cmd_submit)

    bench = sub.add_parser("bench", help="benchmarks that print their figures (see `s2s bench -h`)")
    benches = bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    bserve = benches.add_parser("serve", help="gRPC latency/throughput vs the tutorial's Python decoding loop, and a load run")
    bserve.add_argument("--model-dir", default=default_model_dir, help="pushed model (default: the newest under artifacts/serving/chatbot)")
    bserve.add_argument("--requests", type=int, default=200, help="single requests timed per decoder (default 200)")
    bserve.add_argument("--load-requests", type=int, default=10_000, help="requests in the load run (default 10000)")
    bserve.add_argument("--concurrency", type=int, default=16, help="concurrent clients in the load run (default 16)")
    bserve.add_argument("--beam", type=int, default=C.DEFAULT_BEAM_WIDTH, help=f"beam width (default {C.DEFAULT_BEAM_WIDTH})")
    bserve.add_argument("--loop-replies", type=int, default=20, help="replies timed with the python loop (default 20)")
    bserve.set_defaults(func=cmd_bench_serve)
    bqual = benches.add_parser("quality", help="default model vs n-gram reply models and the tutorial's configuration: "
                               "perplexity, input dependence, replies of each decoder")
    bqual.add_argument("--data", default=str(C.SAMPLE_DATA_DIR), help="corpus directory (default: the embedded sample; the goal is set on ../shared/data/cornell)")
    bqual.add_argument("--glove", default=str(C.REPO_ROOT.parent / "shared" / "data" / "glove" / "glove.6B.50d.top40k.txt"),
                       help="GloVe 50d text file for the tutorial configuration")
    bqual.add_argument("--epochs", type=int, default=C.PipelineConfig().epochs,
                       help=f"training budget for each model, in epochs of the train split (default {C.PipelineConfig().epochs}, the Trainer's default)")
    bqual.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting of the default model (repeatable)")
    bqual.add_argument("--work-dir", help="where preprocessing and runs go (default: ./artifacts/bench-quality; kept, so a re-run reuses the preprocessing)")
    bqual.add_argument("--no-tutorial", action="store_true", help="train only the default model (not the tutorial's configuration)")
    bqual.set_defaults(func=cmd_bench_quality)
    from s2s.bench.preprocess import FULL_CONVERSATIONS, FULL_LINES

    btrain = benches.add_parser("train", help="training tokens/s, step time, FLOP/s vs matmul FLOP/s, peak RSS at the full corpus's size")
    btrain.add_argument("--steps", type=int, default=300, help="training steps to time (default 300)")
    btrain.add_argument("--lines", type=int, default=FULL_LINES, help=f"corpus lines to generate (default {FULL_LINES:,}, the real corpus)")
    btrain.add_argument("--conversations", type=int, default=FULL_CONVERSATIONS, help=f"conversations to generate (default {FULL_CONVERSATIONS:,})")
    btrain.add_argument("--keep", help="keep the generated corpus and pipeline outputs in this directory (and reuse the corpus)")
    btrain.set_defaults(func=cmd_bench_train)

    bprep = benches.add_parser("preprocess", help="ExampleGen+Transform at the full corpus's size vs the tutorial's in-memory Python")
    bprep.add_argument("--lines", type=int, default=FULL_LINES, help=f"lines to generate (default {FULL_LINES:,}, the real corpus)")
    bprep.add_argument("--conversations", type=int, default=FULL_CONVERSATIONS, help=f"conversations (default {FULL_CONVERSATIONS:,})")
    bprep.add_argument("--vocab-size", type=int, default=15_000, help="vocabulary size (default 15000)")
    bprep.add_argument("--max-len", type=int, default=20, help="MAX_LEN (default 20)")
    bprep.add_argument("--keep", help="generate and keep the corpus and the pipeline's outputs in this directory")
    bprep.set_defaults(func=cmd_bench_preprocess)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
