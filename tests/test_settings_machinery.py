"""The settings machinery (common/settings.py) on a settings class of its own: bounds as a
reader writes them, the messages of values out of bounds, and values coerced from flags, config
files and Kubeflow parameters. Every component's settings (and the decoding options) use it."""

from __future__ import annotations

import dataclasses
import math

import pytest

from common.settings import (
    ConfigError,
    as_properties,
    bounds_text,
    check,
    coerce,
    exec_type,
    from_properties,
    kind,
    replace,
    setting,
)


@dataclasses.dataclass(frozen=True)
class Knobs:
    count: int = setting(3, "closed both ends", low=1, high=10)
    rate: float = setting(0.5, "open both ends", above=0.0, below=1.0)
    size: int = setting(8, "a floor", low=1)
    cap: float = setting(2.0, "a ceiling", high=5.0)
    edge: float = setting(0.1, "an open floor", above=0.0)
    top: float = setting(0.1, "an open ceiling", below=1.0)
    mode: str = setting("a", "choices", choices=("a", "b"), flag="--the-mode")
    on: bool = setting(True, "a switch")
    name: str = setting("x", "free text")

    def __post_init__(self) -> None:
        check(self)


FIELDS = {f.name: f for f in dataclasses.fields(Knobs)}


def test_bounds_read_as_a_reader_writes_them():
    texts = {name: bounds_text(field) for name, field in FIELDS.items()}
    assert texts == {
        "count": "[1, 10]",
        "rate": "(0.0, 1.0)",
        "size": ">= 1",
        "cap": "<= 5.0",
        "edge": "> 0.0",
        "top": "< 1.0",
        "mode": "a | b",
        "on": "",
        "name": "",
    }
    assert FIELDS["mode"].metadata["flag"] == "--the-mode" and FIELDS["count"].metadata["help"] == "closed both ends"
    assert Knobs().count == 3  # the default


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("count", 0, "count must be in [1, 10], got 0"),
        ("count", 11, "count must be in [1, 10], got 11"),
        ("rate", 0.0, "rate must be in (0.0, 1.0), got 0.0"),
        ("rate", 1.0, "rate must be in (0.0, 1.0), got 1.0"),
        ("size", 0, "size must be >= 1, got 0"),
        ("cap", 5.5, "cap must be <= 5.0, got 5.5"),
        ("edge", 0.0, "edge must be > 0.0, got 0.0"),
        ("top", 1.0, "top must be < 1.0, got 1.0"),
        ("mode", "c", "mode must be one of a, b, got 'c'"),
        ("rate", math.nan, "rate must be a finite number in (0.0, 1.0), got nan"),
        ("edge", math.inf, "edge must be a finite number > 0.0, got inf"),
        ("top", -math.inf, "top must be a finite number < 1.0, got -inf"),
    ],
)
def test_a_value_out_of_bounds_is_refused_naming_the_setting_and_its_bounds(name, value, message):
    with pytest.raises(ConfigError) as err:
        Knobs(**{name: value})
    assert str(err.value) == message


def test_the_bounds_themselves_are_allowed():
    Knobs(count=1)
    Knobs(count=10)
    Knobs(size=1, cap=5.0, rate=1e-9, edge=1e-9, top=0.999, mode="b", name=str(math.nan))


@pytest.mark.parametrize(
    "value, expected",
    [(True, True), (1, True), ("yes", True), ("ON", True), ("1", True), ("True", True)]
    + [(False, False), (0, False), ("off", False), ("No", False), ("0", False), ("false", False)],
)
def test_switches_read_every_spelling_of_true_and_false(value, expected):
    assert coerce(Knobs, "on", value) is expected


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("on", "maybe", "on: expected true/false, got 'maybe'"),
        ("on", 2, "on: expected true/false, got 2"),
        ("count", 3.5, "count: expected int, got 3.5"),
        ("count", "abc", "count: expected int, got 'abc'"),
        ("rate", "fast", "rate: expected float, got 'fast'"),
        ("count", None, "count: expected int, got None"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_setting(name, value, message):
    with pytest.raises(ConfigError) as err:
        coerce(Knobs, name, value)
    assert str(err.value) == message


def test_values_are_coerced_to_the_fields_types():
    assert coerce(Knobs, "count", "7") == 7 and isinstance(coerce(Knobs, "count", "7"), int)
    assert coerce(Knobs, "count", 3.0) == 3 and isinstance(coerce(Knobs, "count", 3.0), int)
    assert coerce(Knobs, "rate", "0.25") == 0.25 and isinstance(coerce(Knobs, "rate", 1), float)
    assert coerce(Knobs, "name", 12) == "12"
    assert [kind(Knobs, n) for n in ("count", "rate", "mode", "on")] == [int, float, str, bool]


def test_replace_and_properties_round_trip():
    knobs = replace(Knobs(), {"count": "4", "on": "off", "rate": None})
    assert (knobs.count, knobs.on, knobs.rate) == (4, False, 0.5)  # None: unchanged
    with pytest.raises(ConfigError, match="count must be in"):
        replace(Knobs(), {"count": "40"})
    properties = as_properties(knobs)
    assert properties["on"] == 0 and type(properties["on"]) is int  # TFX and KFP have no bool
    assert exec_type(Knobs, "on") is int and exec_type(Knobs, "rate") is float and exec_type(Knobs, "mode") is str
    assert from_properties(Knobs, {**properties, "not_a_setting": 1}) == knobs
    assert from_properties(Knobs, {}) == Knobs()
