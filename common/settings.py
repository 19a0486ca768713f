"""Typed settings: one dataclass field per setting, with its default, bounds and help.

A component's settings are a frozen dataclass beside the code that uses them (the
ExampleGen's and Pusher's in :mod:`components.params`, the Transform's in
:mod:`transforms.params`, the Trainer's in :mod:`trainer.params`, the Evaluator's in
:mod:`evaluator.params`). Each field is declared with :func:`setting`; everything else —
validation, config-file keys, command-line flags and their help, execution properties,
Kubeflow run parameters — is derived from those fields. This module imports nothing of the
project.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = {"int": int, "float": float, "str": str, "bool": bool}


class ConfigError(ValueError):
    """A setting has a wrong name, type or value."""


def setting(
    default: Any,
    help: str,  # noqa: A002 - the word argparse uses
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: Sequence[str] = (),
    flag: str = "",
) -> Any:
    """A dataclass field with its default, bounds and one line of help.

    Args:
        default: the default value (its type is the field's annotation).
        help: one line for ``--help`` and the README.
        low, high: inclusive bounds; above, below: exclusive bounds.
        choices: the allowed values of a string setting.
        flag: the command-line flag, when it is not ``--`` + the name with dashes.

    Returns:
        A ``dataclasses.field`` carrying the rest as metadata.
    """
    meta = {"help": help, "low": low, "high": high, "above": above, "below": below, "choices": tuple(choices), "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def kind(cls: type, name: str) -> type:
    """The Python type of field ``name`` of settings class ``cls``."""
    hint = typing.get_type_hints(cls)[name]
    return hint if isinstance(hint, type) else KINDS[str(hint)]


def bounds_text(field: dataclasses.Field) -> str:
    """The field's bounds as a reader would write them, e.g. ``>= 1`` or ``(0, 1]``."""
    m = field.metadata
    if m["choices"]:
        return " | ".join(m["choices"])
    lo = f"[{m['low']}" if m["low"] is not None else (f"({m['above']}" if m["above"] is not None else "")
    hi = f"{m['high']}]" if m["high"] is not None else (f"{m['below']})" if m["below"] is not None else "")
    if lo and hi:
        return f"{lo}, {hi}"
    if lo:
        return (">= " if lo[0] == "[" else "> ") + lo[1:]
    if hi:
        return ("<= " if hi[-1] == "]" else "< ") + hi[:-1]
    return ""


def check(obj: Any) -> None:
    """Raises ConfigError naming the first field of ``obj`` outside its bounds or choices."""
    for field in dataclasses.fields(obj):
        if field.metadata:
            check_value(field, getattr(obj, field.name))


def check_value(field: dataclasses.Field, value: Any) -> None:
    """Raises ConfigError if ``value`` is outside the bounds or choices of ``field``."""
    m = field.metadata
    if m["choices"] and value not in m["choices"]:
        raise ConfigError(f"{field.name} must be one of {', '.join(m['choices'])}, got {value!r}")
    bounded = any(m[k] is not None for k in ("low", "high", "above", "below"))
    if bounded and isinstance(value, float) and not math.isfinite(value):
        # NaN compares False with every bound, and an infinity slips past an open one.
        raise ConfigError(f"{field.name} must be a finite number {_in(field)}, got {value!r}")
    out = (
        (m["low"] is not None and value < m["low"])
        or (m["high"] is not None and value > m["high"])
        or (m["above"] is not None and value <= m["above"])
        or (m["below"] is not None and value >= m["below"])
    )
    if out:
        raise ConfigError(f"{field.name} must be {_in(field)}, got {value!r}")


def _in(field: dataclasses.Field) -> str:
    text = bounds_text(field)
    return f"in {text}" if text[0] in "[(" else text


def coerce(cls: type, name: str, value: Any) -> Any:
    """``value`` (from a flag, a config file or a Kubeflow parameter) as field ``name``'s type."""
    want = kind(cls, name)
    if want is bool:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if want is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{name}: expected int, got {value!r}")
    try:
        return want(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {want.__name__}, got {value!r}") from None


def replace(obj: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of settings ``obj`` with ``overrides`` coerced to their types (None: unchanged)."""
    values = {k: coerce(type(obj), k, v) for k, v in overrides.items() if v is not None}
    return dataclasses.replace(obj, **values)


def exec_type(cls: type, name: str) -> type:
    """The execution-property type of a field: TFX and KFP parameters have no bool, so int."""
    want = kind(cls, name)
    return int if want is bool else want


def as_properties(obj: Any) -> dict[str, Any]:
    """Field values as execution properties / Kubeflow run parameters (bools as 0/1)."""
    return {f.name: exec_type(type(obj), f.name)(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def from_properties(cls: type, values: Mapping[str, Any]) -> Any:
    """Settings of ``cls`` from execution properties: the known fields, the rest ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    return replace(cls(), {k: v for k, v in values.items() if k in names})
