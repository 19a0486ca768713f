"""``s2s compile`` and ``s2s submit``: the pipeline as a KFP v2 spec, and a run of it."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from common.names import PIPELINE_NAME
from common.settings import ConfigError
from s2s.cli.common import add_dataclass_flags, add_settings_flags, fail, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from pipeline.kubeflow_runner import KubeflowSettings

    comp = sub.add_parser("compile", help="compile the pipeline into a KFP v2 spec (JSON and YAML) for the Kubeflow Pipelines UI")
    comp.add_argument("--output-dir", default=os.path.join("build", "kfp"), help="where to write the spec (default build/kfp)")
    add_dataclass_flags(comp.add_argument_group("Kubeflow settings"), KubeflowSettings)
    comp.add_argument(
        "--beam-arg", action="append", help="extra Beam argument (repeatable), e.g. --beam-arg=--project=my-project"
    )
    comp.add_argument("--config", help="TOML or JSON file of settings: the defaults of the run parameters")
    add_settings_flags(comp, skip=("run",))
    comp.set_defaults(func=compile_main)

    subm = sub.add_parser("submit", help="upload the compiled spec to Kubeflow Pipelines and start a run (kfp.Client)")
    subm.add_argument("--target", choices=("kfp", "vertex"), default="kfp", help="where to run it (default kfp)")
    subm.add_argument("--host", help="kfp: the Kubeflow Pipelines API endpoint, e.g. http://localhost:8080")
    subm.add_argument("--project", help="vertex: the Google Cloud project")
    subm.add_argument("--region", default="us-central1", help="vertex: the region (default us-central1)")
    subm.add_argument(
        "--package",
        default=os.path.join("build", "kfp", f"{PIPELINE_NAME}.yaml"),
        help="compiled spec, YAML (default build/kfp/seq2seq-tfx.yaml)",
    )
    subm.add_argument("--param", action="append", help="run parameter NAME=VALUE (repeatable), e.g. --param train_steps=2000")
    subm.add_argument("--experiment", default=PIPELINE_NAME, help=f"experiment name (default {PIPELINE_NAME})")
    subm.add_argument("--run-name", help="run name")
    subm.add_argument("--token", help="bearer token for the KFP API (optional)")
    subm.add_argument(
        "--pipeline-root",
        default="",
        help="object-store root for the run's artifacts (default: the one compiled into the package); "
        "always sent, since open-source KFP never reads the package's default",
    )
    subm.add_argument("--namespace", help="kfp: the Kubeflow profile namespace (multi-user Kubeflow)")
    subm.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override every task's caching (default: as compiled; ExampleGen and ServedBaseline never cached)",
    )
    subm.set_defaults(func=submit_main)


def compile_main(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_runner

    try:
        cfg = settings_from_args(args)
        names = [f.name for f in dataclasses.fields(kubeflow_runner.KubeflowSettings) if f.metadata]
        settings = kubeflow_runner.KubeflowSettings(
            **{name: getattr(args, name) for name in names}, extra_beam_args=tuple(args.beam_arg or ())
        )
        settings.beam_args()
        paths = kubeflow_runner.compile_pipeline(cfg, settings, args.output_dir)
    except ConfigError as exc:
        return fail(str(exc))
    print(f"KFP v2 package: {paths['yaml']} (pipeline spec" + (" + Kubernetes volumes)" if settings.target == "kfp" else ")"))
    print(f"bare pipeline spec: {paths['json']}")
    root = settings.resolved().pipeline_root
    if settings.target == "kfp":
        print(f"upload the YAML in the Kubeflow Pipelines UI (set the run's pipeline root to {root}), or: s2s submit --host URL")
    else:
        print("start it with: s2s submit --target vertex --project PROJECT")
    return 0


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``NAME=VALUE`` strings as run parameters (ints and floats as numbers)."""
    params: dict[str, object] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param expects NAME=VALUE, got {item!r}")
        for kind in (int, float):
            try:
                params[name] = kind(value)
                break
            except ValueError:
                continue
        else:
            params[name] = value
    return params


def submit_main(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_runner

    package = Path(args.package)
    if not package.is_file():
        return fail(f"{package}: no compiled pipeline here (run `s2s compile` first)")
    try:
        params = parse_params(args.param)
    except ConfigError as exc:
        return fail(str(exc))
    needed = {"kfp": ("host",), "vertex": ("project",)}[args.target]
    missing = [f"--{name}" for name in needed if not getattr(args, name)]
    if missing:
        return fail(f"--target {args.target} needs {', '.join(missing)}")
    where = args.host if args.target == "kfp" else f"Vertex AI Pipelines ({args.project}, {args.region})"
    try:
        if args.target == "kfp":
            run_id = kubeflow_runner.submit(
                package,
                args.host,
                params,
                experiment=args.experiment,
                run_name=args.run_name,
                existing_token=args.token,
                pipeline_root=args.pipeline_root,
                namespace=args.namespace,
                enable_caching=args.cache,
            )
        else:
            run_id = kubeflow_runner.submit_vertex(
                package,
                args.project,
                args.region,
                params,
                run_name=args.run_name,
                pipeline_root=args.pipeline_root,
                enable_caching=args.cache,
            )
    except ConfigError as exc:
        return fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the clients raise many kinds; report one line
        return fail(f"{where}: submit failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    print(f"run {run_id} started on {where}" + (f" (experiment {args.experiment})" if args.target == "kfp" else ""))
    return 0
