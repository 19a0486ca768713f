"""Each setting is defined once (a field of its component's settings dataclass) and everything
else is derived from it: flags and their help, config-file keys, execution properties, Kubeflow
run parameters and validation. A new field missing from any of them fails here."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.code_version import PACKAGES, code_version, module_closure
from common.settings import ConfigError, exec_type, kind
from common.typed import settings_arguments
from pipeline.config import REPO_ROOT, PipelineConfig
from s2s import cli
from s2s.cli.common import flag_of, settings_from_args

SETTINGS = list(PipelineConfig.settings())
IDS = [field.name for _, _, field in SETTINGS]


def _out_of_bounds(field: dataclasses.Field):
    """A value just outside the field's bounds or choices, or None if it has none."""
    m = field.metadata
    if m["choices"]:
        return "no-such-choice"
    for key, step in (("low", -1), ("above", 0), ("high", 1), ("below", 0)):
        if m[key] is not None:
            return m[key] + step
    return None


@pytest.mark.parametrize("section, settings_class, field", SETTINGS, ids=IDS)
def test_every_setting_has_help_a_flag_a_config_key_and_validation(section, settings_class, field, tmp_path):
    assert field.metadata["help"], f"{field.name} has no help"
    parser = cli.make_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    [action] = [a for a in run._actions if a.dest == field.name]
    assert flag_of(field) in action.option_strings
    default = getattr(getattr(PipelineConfig(), section), field.name)
    shown = ("on" if default else "off") if kind(settings_class, field.name) is bool else repr(default)
    assert field.metadata["help"].replace("%", "%%") in action.help and shown in action.help
    # A config-file key of the same name.
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({field.name: default}))
    args = parser.parse_args(["run", "--config", str(config)])
    assert getattr(getattr(settings_from_args(args), section), field.name) == default or field.name.endswith("_dir")
    # Out-of-bounds values are refused by the dataclass and at parse time.
    bad = _out_of_bounds(field)
    if bad is not None:
        with pytest.raises(ConfigError, match=field.name):
            PipelineConfig().replace(**{field.name: bad})
        with pytest.raises(SystemExit):
            parser.parse_args(["run", flag_of(field), str(bad)])


def _component_specs() -> dict:
    from components.example_gen import CornellExampleGenSpec
    from components.pusher import AtomicPusherSpec
    from evaluator.component import Seq2SeqEvaluatorSpec
    from trainer.component import Seq2SeqTrainerSpec
    from transforms.component import Seq2SeqTransformSpec

    specs = (CornellExampleGenSpec, Seq2SeqTransformSpec, Seq2SeqTrainerSpec, Seq2SeqEvaluatorSpec, AtomicPusherSpec)
    return {spec.SETTINGS: spec for spec in specs}


def test_every_component_setting_is_a_typed_execution_property_of_its_component():
    specs = _component_specs()
    sections = {section: cls for section, cls, _ in SETTINGS if section != "run"}
    assert set(specs) == set(sections.values())  # one component per settings class, no other
    for settings_class, spec in specs.items():
        for field in dataclasses.fields(settings_class):
            assert spec.PARAMETERS[field.name].type == exec_type(settings_class, field.name)


def test_a_component_refuses_a_missing_or_unknown_setting():
    from components.pusher import AtomicPusherSpec

    assert settings_arguments(AtomicPusherSpec, {"keep_versions": 2}) == {"keep_versions": 2}
    with pytest.raises(ConfigError, match=r"missing \['keep_versions'\], unknown \['keep'\]"):
        settings_arguments(AtomicPusherSpec, {"keep": 2})


def test_component_settings_are_kubeflow_run_parameters_with_their_defaults(tmp_path):
    assert cli.main(["compile", "--output-dir", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "seq2seq-tfx.json").read_text())
    params = spec["root"]["inputDefinitions"]["parameters"]
    component_settings = [(cls, f) for section, cls, f in SETTINGS if section != "run"]
    assert set(params) == {f.name for _, f in component_settings}
    for cls, field in component_settings:
        value = getattr(cls(), field.name)
        assert params[field.name]["defaultValue"] == (int(value) if isinstance(value, bool) else value), field.name
    # Each reaches its component's task, and no other.
    tasks = spec["root"]["dag"]["tasks"]
    for _, field in component_settings:
        takers = [name for name, task in tasks.items() if field.name in task.get("inputs", {}).get("parameters", {})]
        assert len(takers) == 1, (field.name, takers)
        assert tasks[takers[0]]["inputs"]["parameters"][field.name] == {"componentInputParameter": field.name}


def test_cross_field_rules_are_checked_after_every_flag_is_read():
    args = cli.make_parser().parse_args(["run", "--units", "255", "--no-bidirectional"])
    assert settings_from_args(args).trainer.units == 255  # odd units are fine one way
    with pytest.raises(ConfigError, match="even number of units"):
        settings_from_args(cli.make_parser().parse_args(["run", "--units", "255"]))


def test_setting_names_are_unique_across_components():
    assert len(IDS) == len(set(IDS))


def test_code_versions_cover_exactly_the_code_each_component_runs():
    transform = {p.relative_to(REPO_ROOT).as_posix() for p in module_closure("transforms.preprocessing")}
    trainer = {p.relative_to(REPO_ROOT).as_posix() for p in module_closure("trainer.task")}
    assert {"transforms/preprocessing.py", "transforms/params.py", "common/features.py"} <= transform
    assert "common/names.py" not in transform
    assert not any(p.startswith(("trainer/", "s2s/", "pipeline/", "serving/")) for p in transform)
    assert {"trainer/task.py", "trainer/model.py", "trainer/export.py", "trainer/decoding.py", "trainer/params.py"} <= trainer
    assert not any(p.startswith(("s2s/", "pipeline/", "serving/", "evaluator/")) for p in trainer)
    assert "components/pusher.py" not in trainer and "pipeline/config.py" not in trainer
    assert code_version("transforms.preprocessing.preprocessing_fn") != code_version("trainer.task.run_fn")


def test_editing_a_module_changes_the_code_version_of_the_components_that_run_it(tmp_path, monkeypatch):
    # A copy of the project whose files the test edits; the versions are of its contents.
    import shutil

    from common import code_version as versions
    from pipeline.pipeline import PREPROCESSING_FN, RUN_FN

    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(versions, "REPO_ROOT", tmp_path)

    def current():
        return {fn: versions.code_version(fn) for fn in (PREPROCESSING_FN, RUN_FN)}

    before = current()

    def edit(relative: str) -> dict[str, bool]:
        """Changes the body of one function in the copy, keeping every path; which versions moved."""
        path = tmp_path / relative
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"""', '"""Edited. ', 1), encoding="utf-8")
        after = current()
        changed = {fn: after[fn] != before[fn] for fn in before}
        before.update(after)
        return changed

    assert edit("trainer/model.py") == {PREPROCESSING_FN: False, RUN_FN: True}
    assert edit("transforms/preprocessing.py") == {PREPROCESSING_FN: True, RUN_FN: False}
    assert edit("common/features.py") == {PREPROCESSING_FN: True, RUN_FN: True}
    # A serving limit, a signature or a report name is not the Transform's: editing one re-runs the
    # Trainer (its export names the signatures) and never the Transform.
    assert edit("common/names.py") == {PREPROCESSING_FN: False, RUN_FN: True}
    assert edit("serving/client.py") == {PREPROCESSING_FN: False, RUN_FN: False}


def test_the_pipeline_hands_each_component_the_version_of_its_own_code():
    from pipeline.pipeline import EVALUATOR_EXECUTOR, EXAMPLE_GEN_EXECUTOR, PREPROCESSING_FN, RUN_FN, create_pipeline

    pipeline = create_pipeline(PipelineConfig.of(), "/nonexistent/root")
    config = {c.id: json.loads(c.exec_properties["custom_config"]) for c in pipeline.components if c.id.startswith("Seq2Seq")}
    assert config["Seq2SeqTransform"]["code_version"] == code_version(PREPROCESSING_FN)
    assert config["Seq2SeqTrainer"]["code_version"] == code_version(RUN_FN)
    # The executors of our own that run beside TFX's carry theirs as an execution property.
    properties = {c.id: c.exec_properties for c in pipeline.components}
    assert properties["CornellExampleGen"]["code_version"] == code_version(EXAMPLE_GEN_EXECUTOR)
    assert properties["Evaluator"]["code_version"] == code_version(EVALUATOR_EXECUTOR)
    assert "components/cornell.py" in {p.relative_to(REPO_ROOT).as_posix() for p in module_closure("components.example_gen")}
    assert "evaluator/metrics.py" in {p.relative_to(REPO_ROOT).as_posix() for p in module_closure("evaluator.component")}


def _project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found & {*PACKAGES, "s2s"}


STAGES = ("components", "transforms", "trainer", "evaluator", "serving")


def _package_imports() -> dict[str, set[str]]:
    """package -> the other project packages its modules import."""
    return {
        package: set().union(*(_project_imports(p) for p in (REPO_ROOT / package).rglob("*.py"))) - {package}
        for package in (*PACKAGES, "s2s")
    }


def test_the_house_is_a_comb_contracts_at_the_bottom_stages_side_by_side_the_command_line_on_top():
    graph = _package_imports()
    assert set(PACKAGES) == {"common", *STAGES, "pipeline"}, "a new package must take its place in the comb"
    assert graph["common"] == set(), "common/ (the contracts) imports nothing of the project"
    for stage in STAGES:
        assert graph[stage] <= {"common"}, f"{stage} imports another stage: {sorted(graph[stage] - {'common'})}"
    assert graph["pipeline"] <= {"common", *STAGES}, "pipeline/ wires the stages and never imports the command line"


def test_no_function_outside_the_tests_is_longer_than_a_screen():
    long = []
    for package in (*PACKAGES, "s2s", "scripts"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                    long.append(
                        f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                    )
    assert not long, "functions over 60 lines: " + ", ".join(long)


def test_the_contracts_import_no_beam_and_no_tfx_but_the_settings_plumbing():
    for path in (REPO_ROOT / "common").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "apache_beam" not in text, path.name
        assert "from tfx" not in text or path.name == "typed.py", path.name


def test_bad_flag_value_is_one_line_at_parse_time():
    out = subprocess.run([sys.executable, "-m", "s2s.cli", "run", "--dropout", "1.5"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "dropout must be in [0.0, 1.0)" in out.stderr and "Traceback" not in out.stderr


FLOATS = [
    (s, c, f)
    for s, c, f in SETTINGS
    if kind(c, f.name) is float and any(f.metadata[k] is not None for k in ("low", "high", "above", "below"))
]


@pytest.mark.parametrize("section, settings_class, field", FLOATS, ids=[f.name for _, _, f in FLOATS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_no_float_setting_takes_a_value_that_slips_past_its_bounds(section, settings_class, field, value):
    # NaN compares False with every bound; an infinity slips past an open one (#24, finding 3).
    with pytest.raises(ConfigError, match=f"{field.name} must be a finite number"):
        dataclasses.replace(settings_class(), **{field.name: float(value)})


def test_decode_options_refuse_nan():
    from common.decode_options import DecodeOptions

    with pytest.raises(ConfigError, match="temperature must be a finite number"):
        dataclasses.replace(DecodeOptions(), temperature=float("nan")).validate()
