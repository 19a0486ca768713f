"""Stock TFX components whose settings are typed execution properties.

The stock Transform and Trainer take settings only inside ``custom_config``, a JSON string,
which Kubeflow cannot expose as separate run parameters. :func:`spec_with` adds each field of
a settings dataclass as its own execution property (int, float or str; bools as 0/1), so
the KFP compiler turns a ``RuntimeParameter`` for it into a pipeline parameter that the
Kubeflow UI shows (``vocab_size``, ``learning_rate``, ...). :func:`fold` is what their
executors do first: move those values into ``custom_config`` and hand over to the stock
executor, so the preprocessing_fn and run_fn read one dict either way. The components
themselves live beside their code: :mod:`transforms.component`, :mod:`trainer.component`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from common.settings import exec_type


def properties(settings_class: type) -> dict[str, type]:
    """name -> execution-property type of every field of a settings dataclass."""
    return {f.name: exec_type(settings_class, f.name) for f in dataclasses.fields(settings_class)}


def spec_with(base: type, settings_class: type, class_name: str) -> type:
    """A subclass of the component spec ``base`` with a parameter per setting."""
    parameters = dict(base.PARAMETERS)
    parameters.update({name: ExecutionParameter(type=kind) for name, kind in properties(settings_class).items()})
    return type(class_name, (base,), {"PARAMETERS": parameters, "SETTINGS": settings_class})


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


def respec(component: base_component.BaseComponent, spec_class: type, values: Mapping[str, Any]):
    """The stock component's spec (channels, properties) plus the settings' ``values``."""
    spec = component.spec
    outputs = {}
    for key, output in spec.outputs.items():
        # Fresh channels, so that they are bound to the new component, not the stock one.
        fresh = types.Channel(type=output.type)
        fresh.matching_channel_name = getattr(output, "matching_channel_name", None)
        outputs[key] = fresh
    names = properties(spec_class.SETTINGS)
    return spec_class(**spec.inputs, **outputs, **spec.exec_properties, **{k: values[k] for k in names})
