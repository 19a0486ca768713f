"""What the commands share: one-line errors, and flags derived from the settings dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from typing import Any

from common.settings import ConfigError, bounds_text, check_value, coerce, kind
from pipeline.config import PipelineConfig, load_config_file
from trainer.params import BUILTIN_GLOVE


def console_policy(verbose: bool) -> None:
    """One console for every command, set before TensorFlow loads: without ``-v``, TensorFlow's C++
    start-up log (CUDA plugins, oneDNN, CPU-instruction and grappler notices) and the known
    third-party Python warnings (:data:`pipeline.console.NOISE`) are left out; other warnings and
    every error still show. With ``-v``, everything shows."""
    if verbose:
        return
    import warnings

    from pipeline.console import NOISE

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # read when TensorFlow loads; failures still raise with their message
    warnings.filterwarnings("ignore", message="(?s).*(" + "|".join(NOISE) + ")")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def fail(message: str, code: int = 2) -> int:
    """Prints ``s2s: error: message`` to stderr; returns the exit code."""
    print(f"s2s: error: {message}", file=sys.stderr)
    return code


def root_cause(exc: BaseException | None, kinds: tuple[type, ...]) -> BaseException | None:
    """The first exception of ``kinds`` in ``exc``'s chain of causes, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def flag_of(field: dataclasses.Field) -> str:
    """A setting's command-line flag: its own, or ``--`` + its name with dashes."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def bounded(settings_class: type, name: str):
    """An argparse type: the field's type within its bounds, refused at parse time."""
    field = {f.name: f for f in dataclasses.fields(settings_class)}[name]

    def parse(text: str) -> Any:
        try:
            value = coerce(settings_class, name, text)
            check_value(field, value)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{name}: ")) from None
        return value

    return parse


def int_in(low: int, high: int):
    """An argparse type: an int in [low, high], refused at parse time."""
    return _number_in(int, low, high)


def float_in(low: float, high: float):
    """An argparse type: a float in [low, high], refused at parse time."""
    return _number_in(float, low, high)


def _number_in(kind: type, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, got {value:,}")
        return value

    return parse


def directory(must_exist: bool = False):
    """An argparse type: a path that is a directory (or, unless ``must_exist``, does not exist yet)."""

    def parse(text: str) -> str:
        path = os.path.abspath(text)
        if os.path.exists(path) and not os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{text}: not a directory")
        if must_exist and not os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{text}: no such directory")
        return text

    return parse


def unwritable(path: str) -> str | None:
    """Why files cannot be written in directory ``path`` (created if absent), or None if they can:
    found by writing one, as permissions alone do not tell (root, read-only mounts)."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def add_flag(parser: Any, settings_class: type, field: dataclasses.Field, default: Any, value_if_absent: Any) -> None:
    """The flag of one setting: its help with its default and bounds; on/off settings as
    ``--X/--no-X``; the value checked at parse time; ``value_if_absent`` when not given."""
    help_text = field.metadata["help"].replace("%", "%%")
    if kind(settings_class, field.name) is bool:
        shown = f"default: {'on' if default else 'off'}"
        parser.add_argument(
            flag_of(field),
            dest=field.name,
            action=argparse.BooleanOptionalAction,
            default=value_if_absent,
            help=f"{help_text} ({shown})",
        )
        return
    limits = bounds_text(field)
    shown = f"default: {default!r}" + (f"; {limits}" if limits else "")
    parser.add_argument(
        flag_of(field),
        dest=field.name,
        type=bounded(settings_class, field.name),
        default=value_if_absent,
        help=f"{help_text} ({shown})",
    )


def add_dataclass_flags(parser: Any, settings_class: type) -> None:
    """A flag per field of a settings dataclass that has help (see :func:`common.settings.setting`);
    the value (the default when absent) lands in ``dest=name``."""
    defaults = settings_class()
    for field in dataclasses.fields(settings_class):
        if field.metadata:
            default = getattr(defaults, field.name)
            add_flag(parser, settings_class, field, default, default)


def add_settings_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """A flag per setting of :class:`PipelineConfig`, grouped by component; absent flags are
    None, so that a config file's values are not overridden by defaults."""
    defaults = PipelineConfig()
    for section, settings_class, field in PipelineConfig.settings():
        if section not in skip:
            default = getattr(getattr(defaults, section), field.name)
            add_flag(_group(parser, section), settings_class, field, default, None)


def _group(parser: argparse.ArgumentParser, section: str) -> Any:
    title = f"{section.replace('_', ' ')} settings"
    for group in parser._action_groups:  # noqa: SLF001 - argparse keeps no public index of groups
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def settings_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The run's settings: defaults, then ``--config`` file, then flags; paths made absolute.

    Raises:
        ConfigError: a setting has a wrong name, type or value.
    """
    overrides: dict[str, Any] = {}
    if getattr(args, "config", None):
        overrides.update(load_config_file(args.config))
    for _, _, field in PipelineConfig.settings():
        value = getattr(args, field.name, None)
        if value is not None:
            overrides[field.name] = value
    cfg = PipelineConfig().replace(**overrides)
    if os.path.exists(cfg.run.work_dir) and not os.path.isdir(cfg.run.work_dir):
        raise ConfigError(f"work_dir {cfg.run.work_dir}: not a directory")
    glove = cfg.trainer.glove_path
    portable = glove in ("", BUILTIN_GLOVE) or "://" in glove  # the shipped file resolves in the image too
    return cfg.replace(
        data_dir=os.path.abspath(cfg.run.data_dir),
        work_dir=os.path.abspath(cfg.run.work_dir),
        glove_path=glove if portable else os.path.abspath(glove),
    )
