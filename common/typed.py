"""The one route a setting takes into a component: a typed execution property of its spec.

Every component of the pipeline is a TFX custom component in the documented form (a spec
class, an executor, and a component class whose constructor builds the spec and calls its
base class's constructor). Its spec is the stock component's spec (or its own) plus one
``ExecutionParameter`` per field of the component's settings dataclass (int, float or str;
bools as 0/1), made by :func:`spec_with`. A ``RuntimeParameter`` given for such a property is a
pipeline parameter that the Kubeflow UI shows (``vocab_size``, ``keep_versions``, ...).

Executors read the settings back with :func:`split_settings`. The stock Transform and Trainer
executors read their user code's options from ``custom_config`` only: :func:`typed_executor`
subclasses them so that ``Do`` first moves the settings there (:func:`fold`), and the
preprocessing_fn and run_fn read one dict either way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from common.settings import ConfigError, exec_type, from_properties


def properties(settings_class: type) -> dict[str, type]:
    """name -> execution-property type of every field of a settings dataclass."""
    return {f.name: exec_type(settings_class, f.name) for f in dataclasses.fields(settings_class)}


def spec_with(base: type, settings_class: type, class_name: str, **extra: ExecutionParameter) -> type:
    """A subclass of the component spec ``base`` with a parameter per setting (and ``extra`` ones).

    Args:
        base: a ComponentSpec class (a stock one, or our own).
        settings_class: the settings dataclass; ``SETTINGS`` on the new spec.
        class_name: the new spec's name.
        extra: further parameters of the spec, by name.

    Returns:
        The spec class.
    """
    parameters = dict(base.PARAMETERS)
    parameters.update({name: ExecutionParameter(type=kind) for name, kind in properties(settings_class).items()})
    parameters.update(extra)
    return type(class_name, (base,), {"PARAMETERS": parameters, "SETTINGS": settings_class})


def settings_arguments(spec_class: type, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's settings arguments: a value (or RuntimeParameter) for each field, no other key.

    Raises:
        ConfigError: a setting is missing, or a name is not one of the spec's settings.
    """
    names = properties(spec_class.SETTINGS)
    missing, unknown = sorted(set(names) - set(settings)), sorted(set(settings) - set(names))
    if missing or unknown:
        raise ConfigError(f"{spec_class.__name__}: settings missing {missing}, unknown {unknown}")
    return dict(settings)


def split_settings(exec_properties: Mapping[str, Any], settings_class: type) -> tuple[Any, dict[str, Any]]:
    """The settings among ``exec_properties`` (validated), and the other properties.

    Args:
        exec_properties: what the orchestrator passes to ``Executor.Do``.
        settings_class: the settings dataclass whose fields are execution properties.

    Returns:
        ``(settings, rest)``: an instance of ``settings_class``, and the properties that are not settings.
    """
    names = properties(settings_class)
    settings = from_properties(settings_class, {k: v for k, v in exec_properties.items() if k in names and v is not None})
    return settings, {k: v for k, v in exec_properties.items() if k not in names}


def fold(exec_properties: Mapping[str, Any], settings_class: type) -> dict[str, Any]:
    """``exec_properties`` with each setting moved into ``custom_config``.

    Args:
        exec_properties: what the orchestrator passes to ``Executor.Do``.
        settings_class: the settings dataclass whose fields are execution properties.

    Returns:
        The properties the stock executor expects.
    """
    props = dict(exec_properties)
    raw = props.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    custom = json.loads(raw) if isinstance(raw, str) and raw else dict(raw or {})
    for name, kind in properties(settings_class).items():
        if props.get(name) is not None:
            custom[name] = kind(props.pop(name))
    props[standard_component_specs.CUSTOM_CONFIG_KEY] = json.dumps(custom, sort_keys=True)
    return props


def typed_executor(base: type, settings_class: type, class_name: str, module: str) -> type:
    """A subclass of the stock executor ``base`` whose ``Do`` folds the settings first; it is
    named ``module.class_name``, the import path the orchestrator (and a KFP spec) uses."""

    def do(self, input_dict, output_dict, exec_properties):
        """The stock ``Do``, the settings moved into ``custom_config`` first (:func:`fold`)."""
        base.Do(self, input_dict, output_dict, fold(exec_properties, settings_class))

    namespace = {"Do": do, "__doc__": f"{base.__name__} reading {settings_class.__name__}.", "__module__": module}
    return type(class_name, (base,), namespace)
