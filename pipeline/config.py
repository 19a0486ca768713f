"""A pipeline run's settings: each component's settings class, plus where the run reads and writes.

:class:`PipelineConfig` only composes the settings defined beside their code; a setting's
name, default, bounds and help live in its section's dataclass. Config files and flags use
the flat field names (unique across sections).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from common.settings import ConfigError, as_properties, check, replace, setting
from components.params import ExampleGenSettings, PusherSettings
from evaluator.params import EvaluatorSettings
from trainer.params import TrainerSettings
from transforms.params import TransformSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_WORK_DIR = REPO_ROOT / "artifacts"


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Where a run reads its corpus and keeps its outputs."""

    data_dir: str = setting(str(SAMPLE_DATA_DIR), "corpus directory in the Cornell format", flag="--data")
    work_dir: str = setting(str(DEFAULT_WORK_DIR), "pipeline root, metadata and serving directory")
    enable_cache: bool = setting(True, "reuse cached component outputs (--no-cache re-runs every component)", flag="--cache")

    def __post_init__(self) -> None:
        check(self)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every setting of a pipeline run, by component. Flags and config files override the defaults."""

    run: RunSettings = dataclasses.field(default_factory=RunSettings)
    example_gen: ExampleGenSettings = dataclasses.field(default_factory=ExampleGenSettings)
    transform: TransformSettings = dataclasses.field(default_factory=TransformSettings)
    trainer: TrainerSettings = dataclasses.field(default_factory=TrainerSettings)
    evaluator: EvaluatorSettings = dataclasses.field(default_factory=EvaluatorSettings)
    pusher: PusherSettings = dataclasses.field(default_factory=PusherSettings)

    # ------------------------------------------------------------ the settings
    @classmethod
    def settings(cls) -> Iterator[tuple[str, type, dataclasses.Field]]:
        """(section, its settings class, field) for every setting, in declaration order."""
        for section in dataclasses.fields(cls):
            section_cls = section.default_factory  # type: ignore[misc]
            for field in dataclasses.fields(section_cls):
                yield section.name, section_cls, field

    @classmethod
    def of(cls, **flat: Any) -> PipelineConfig:
        """The defaults with flat overrides, e.g. ``PipelineConfig.of(vocab_size=500)``."""
        return cls().replace(**flat)

    def replace(self, **flat: Any) -> PipelineConfig:
        """A copy with settings overridden by their flat names (None leaves a setting as it is)."""
        owner = {field.name: section for section, _, field in self.settings()}
        unknown = sorted(set(flat) - set(owner))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(owner))}")
        sections: dict[str, Any] = {}
        for name in {owner[name] for name in flat}:
            mine = {k: v for k, v in flat.items() if owner[k] == name}
            try:
                sections[name] = replace(getattr(self, name), mine)
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc)) from None
        return dataclasses.replace(self, **sections)

    def component_properties(self) -> dict[str, Any]:
        """Every component's settings as execution properties (Kubeflow run parameters) by name:
        all but the run's own (where it reads and writes, caching)."""
        sections = (f.name for f in dataclasses.fields(self) if f.name != "run")
        return {name: value for section in sections for name, value in as_properties(getattr(self, section)).items()}

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {field.name: getattr(getattr(self, section), field.name) for section, _, field in self.settings()}

    # ------------------------------------------------------------ paths
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.run.work_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.run.work_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.run.work_dir, "serving")

    @property
    def serving_model_dir(self) -> str:
        """Where the Pusher writes: ``<serving dir>/<model name>/<version>/``."""
        from common.names import MODEL_NAME

        return os.path.join(self.serving_dir, MODEL_NAME)


_names = [field.name for _, _, field in PipelineConfig.settings()]
assert len(_names) == len(set(_names)), "setting names must be unique across sections"


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads overrides from a TOML or JSON file (flat keys, as the settings' names)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            import tomli

            data = tomli.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{p}: cannot parse config: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: expected a table of settings at the top level")
    return dict(data)
