"""Transform and Trainer with typed hyperparameters as execution properties.

The stock components take hyperparameters only inside ``custom_config``, a JSON string,
which Kubeflow cannot expose as separate run parameters. These subclasses add each
hyperparameter as its own execution property (an int or a float), so the KFP compiler
turns a ``RuntimeParameter`` for it into a pipeline parameter that the Kubeflow UI shows
(``vocab_size``, ``max_len``, ``train_steps``, ``learning_rate``, ...). Their executors fold
the values into ``custom_config`` and hand over to the stock executors: the
preprocessing_fn and run_fn see one dict either way. Locally the values are plain numbers.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping

from tfx import types
from tfx.components import Trainer, Transform
from tfx.components.trainer import executor as trainer_executor
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import base_beam_component, base_component, executor_spec
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

TRANSFORM_HPARAMS = {"vocab_size": int, "max_len": int, "min_frequency": int}
TRAINER_HPARAMS = {
    "train_steps": int,
    "epochs": int,
    "eval_steps": int,
    "batch_size": int,
    "learning_rate": float,
    "embedding_dim": int,
    "units": int,
    "layers": int,
    "dropout": float,
    "attention": int,
    "bidirectional": int,
    "copy": int,
    "word_dropout": float,
    "tie_embeddings": int,
    "clipnorm": float,
    "lr_decay": float,
    "early_stopping_patience": int,
    "mixed_precision": int,
    "glove_path": str,
    "glove_trainable": int,
    "long_pairs": str,
}


def _fold(exec_properties: Dict[str, Any], names: Mapping[str, type]) -> Dict[str, Any]:
    """exec_properties with each named hyperparameter moved into custom_config."""
    props = dict(exec_properties)
    raw = props.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    custom = json.loads(raw) if isinstance(raw, str) and raw else dict(raw or {})
    for name, kind in names.items():
        if props.get(name) is not None:
            custom[name] = kind(props.pop(name))
    props[standard_component_specs.CUSTOM_CONFIG_KEY] = json.dumps(custom, sort_keys=True)
    return props


def _spec_with(base: type, names: Mapping[str, type], class_name: str) -> type:
    parameters = dict(base.PARAMETERS)
    parameters.update({name: ExecutionParameter(type=kind) for name, kind in names.items()})
    return type(class_name, (base,), {"PARAMETERS": parameters})


Seq2SeqTransformSpec = _spec_with(standard_component_specs.TransformSpec, TRANSFORM_HPARAMS, "Seq2SeqTransformSpec")
Seq2SeqTrainerSpec = _spec_with(standard_component_specs.TrainerSpec, TRAINER_HPARAMS, "Seq2SeqTrainerSpec")


class Seq2SeqTransformExecutor(transform_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, _fold(exec_properties, TRANSFORM_HPARAMS))


class Seq2SeqTrainerExecutor(trainer_executor.GenericExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, _fold(exec_properties, TRAINER_HPARAMS))


def _respec(component: base_component.BaseComponent, spec_class: type, hparams: Mapping[str, Any]):
    """The stock component's spec (channels, properties) plus the hyperparameters."""
    spec = component.spec
    outputs = {}
    for key, output in spec.outputs.items():
        # Fresh channels, so that they are bound to the new component, not the stock one.
        fresh = types.Channel(type=output.type)
        fresh.matching_channel_name = getattr(output, "matching_channel_name", None)
        outputs[key] = fresh
    return spec_class(**spec.inputs, **outputs, **spec.exec_properties, **hparams)


class Seq2SeqTransform(Transform):
    """Transform whose vocab_size / max_len / min_frequency are execution properties."""

    SPEC_CLASS = Seq2SeqTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Seq2SeqTransformExecutor)

    def __init__(self, *, vocab_size, max_len, min_frequency, **transform_kwargs):  # pylint: disable=super-init-not-called
        stock = Transform(**transform_kwargs)
        spec = _respec(stock, Seq2SeqTransformSpec, dict(vocab_size=vocab_size, max_len=max_len, min_frequency=min_frequency))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)


class Seq2SeqTrainer(Trainer):
    """Trainer whose training hyperparameters are execution properties."""

    SPEC_CLASS = Seq2SeqTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Seq2SeqTrainerExecutor)

    def __init__(self, *, hparams: Mapping[str, Any], **trainer_kwargs):  # pylint: disable=super-init-not-called
        stock = Trainer(**trainer_kwargs)
        spec = _respec(stock, Seq2SeqTrainerSpec, {k: hparams[k] for k in TRAINER_HPARAMS})
        base_component.BaseComponent.__init__(self, spec=spec)
