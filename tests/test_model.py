"""The seq2seq network: every configuration decodes step by step exactly as it trains,
stays cuDNN-eligible, and trains under a multi-device MirroredStrategy."""

from __future__ import annotations

import importlib
import itertools
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import features
from common.settings import ConfigError
from pipeline.config import REPO_ROOT, PipelineConfig
from s2s.bench.train import forward_flops_per_example
from tests.conftest import tiny_params
from trainer.model import ModelParams, Seq2Seq, build_model, cudnn_conditions, sequence_mask, teacher_forced

CONFIGS = [
    tiny_params(layers=layers, attention=attention, dropout=0.3, tie_embeddings=tie)
    for layers, attention, tie in itertools.product((1, 2), (False, True), (False, True))
]
# Encoder and output variants: a bidirectional encoder, the copy mechanism, decoder word dropout.
VARIANTS = [
    tiny_params(layers=layers, attention=True, dropout=0.3, tie_embeddings=True, bidirectional=True, copy=copy, word_dropout=0.25)
    for layers, copy in itertools.product((1, 2), (False, True))
] + [tiny_params(attention=True, copy=True)]
# Keras' TensorFlow-backend RNN module (the package re-exports a function under the same name).
keras_tf_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
IDS = lambda p: (  # noqa: E731
    f"layers{p.layers}-{'attention' if p.attention else 'plain'}-{'tied' if p.tie_embeddings else 'untied'}"
    + ("-bidirectional" if p.bidirectional else "")
    + ("-copy" if p.copy else "")
)

# A batch with right padding, an input that cleaning emptied (all padding) and a full row.
ENCODER = np.array([[5, 6, 7, 0, 0], [0, 0, 0, 0, 0], [8, 9, 10, 11, 12]], np.int64)
DECODER = np.array([[features.BOS_ID, 5, 9, 4], [features.BOS_ID, 7, 0, 0], [features.BOS_ID, 12, 13, 14]], np.int64)


def _built(params: ModelParams) -> Seq2Seq:
    keras.utils.set_random_seed(1)
    model = build_model(params, 1e-3, 1.0)
    model((tf.constant(ENCODER), tf.constant(DECODER)))
    return model


@pytest.mark.parametrize("params", CONFIGS + VARIANTS, ids=IDS)
def test_step_by_step_decoding_matches_teacher_forcing(params):
    """The serving decoder (encode + decode_step, one token at a time) gives the logits the
    trained network gives for the same prefix: multi-layer states and attention included."""
    model = _built(params)
    full = model((tf.constant(ENCODER), tf.constant(DECODER)), training=False).numpy()
    state, memory = model.encode(tf.constant(ENCODER))
    assert len(state) == 2 * params.layers
    for t in range(DECODER.shape[1]):
        logits, state = model.decode_step(tf.constant(DECODER[:, t]), state, memory)
        real = DECODER[:, t] != features.PAD_ID  # after padding the teacher-forced states stop moving
        np.testing.assert_allclose(logits.numpy()[real], full[real, t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("params", CONFIGS + VARIANTS, ids=IDS)
def test_every_lstm_is_cudnn_eligible(params):
    """Keras runs an LSTM with cuDNN on GPU only under these conditions; input dropout keeps them."""
    model = _built(params)
    lstms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.LSTM)]
    assert len(lstms) == (3 if params.bidirectional else 2) * params.layers  # forward and backward encoders
    for layer in lstms:
        assert all(cudnn_conditions(layer).values()), (layer.name, cudnn_conditions(layer))
        cell = layer.cell
        # Keras' own test (without the "is a GPU visible" part).
        assert keras_tf_rnn._do_lstm_arguments_support_cudnn(
            cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias
        )
    # Recurrent dropout would take cuDNN away: the check sees it.
    assert not cudnn_conditions(keras.layers.LSTM(4, recurrent_dropout=0.1))["recurrent_dropout is 0"]


def test_masks_fed_to_the_lstms_are_valid_for_cudnn():
    """cuDNN takes only right-padded masks with at least one step per row (Keras asserts it
    on GPU); an input whose words were all stripped (e.g. "?!") must not break serving."""
    for ids in (ENCODER, DECODER):
        mask = sequence_mask(tf.constant(ids))
        assert bool(keras_tf_rnn._is_sequence_right_padded(mask))
        assert not bool(keras_tf_rnn._has_fully_masked_sequence(mask))
    assert bool(keras_tf_rnn._has_fully_masked_sequence(tf.not_equal(ENCODER, 0)))  # the naive mask would be


def test_dropout_acts_in_training_only():
    model = _built(CONFIGS[-1])
    inputs = (tf.constant(ENCODER), tf.constant(DECODER))
    np.testing.assert_array_equal(model(inputs, training=False).numpy(), model(inputs, training=False).numpy())
    assert not np.allclose(model(inputs, training=True).numpy(), model(inputs, training=False).numpy())


# The replies DECODER feeds (each shifted by one step, then <eos>).
TARGET = np.array([[5, 9, 4, features.EOS_ID], [7, features.EOS_ID, 0, 0], [12, 13, 14, features.EOS_ID]], np.int64)


def _mean_log_prob(model: Seq2Seq, encoder: np.ndarray) -> np.ndarray:
    """Each TARGET reply's mean log-probability per token, given ``encoder`` (NumPy, no dropout)."""
    picked = teacher_forced(model, tf.constant(encoder), tf.constant(DECODER), tf.constant(TARGET))[0].numpy()
    mask = TARGET != features.PAD_ID
    return (picked * mask).sum(axis=1) / mask.sum(axis=1)


def test_contrastive_loss_is_the_softplus_of_another_inputs_margin():
    """Each reply against the next row's input: mean of softplus(log p(y|x') - log p(y|x)), per token."""
    model = _built(tiny_params(attention=True, copy=True, bidirectional=True))  # no dropout: training = inference
    inputs = (tf.constant(ENCODER), tf.constant(DECODER))
    own, other = _mean_log_prob(model, ENCODER), _mean_log_prob(model, np.roll(ENCODER, 1, axis=0))
    expected = np.mean(np.logaddexp(0.0, other - own))
    got = float(model.contrastive_loss(inputs, tf.constant(TARGET), model(inputs, training=True)))
    assert got == pytest.approx(expected, rel=1e-5) and not np.allclose(own, other)


def test_the_contrastive_term_is_in_the_training_loss_only():
    model = _built(tiny_params(attention=True, copy=True))
    inputs, target = (tf.constant(ENCODER), tf.constant(DECODER)), tf.constant(TARGET)
    pred = model(inputs, training=True)
    plain = float(model.compute_loss(inputs, target, pred, training=True))
    model.contrastive = 0.5
    term = float(model.contrastive_loss(inputs, target, pred))
    assert float(model.compute_loss(inputs, target, pred, training=True)) == pytest.approx(plain + 0.5 * term, rel=1e-5)
    assert float(model.compute_loss(inputs, target, pred, training=False)) == pytest.approx(plain, rel=1e-6)
    assert term > 0.1


def test_trainer_settings_reject_unsupported_values():
    with pytest.raises(ConfigError, match=r"layers must be in \[1, 2\]"):
        PipelineConfig().replace(layers=3)
    with pytest.raises(ConfigError, match="dropout"):
        PipelineConfig().replace(dropout=1.0)
    with pytest.raises(ConfigError, match="copy needs attention"):
        PipelineConfig().replace(attention=False)
    with pytest.raises(ConfigError, match="even number of units"):
        PipelineConfig().replace(units=255)


@pytest.mark.parametrize("params", CONFIGS + VARIANTS, ids=IDS)
def test_flop_count_matches_the_weight_shapes(params):
    """The training benchmark's FLOP count: 2 FLOPs per kernel weight per position (every
    kernel multiplies once per position), plus attention's two [t x t x u] products."""
    model = _built(params)
    kernels = sum(int(np.prod(w.shape)) for w in model.weights if "kernel" in w.path)
    if params.tie_embeddings:  # the embedding matrix is also the output layer's kernel
        kernels += params.vocab_size * params.embedding_dim
    t = 5
    expected = 2 * kernels * t + (4 * t * t * params.units if params.attention else 0)
    flops = forward_flops_per_example(
        params.vocab_size,
        params.embedding_dim,
        params.units,
        params.layers,
        params.attention,
        t,
        params.tie_embeddings,
        params.bidirectional,
        params.copy,
    )
    assert flops == expected


def test_trains_under_mirrored_strategy_on_two_devices(tmp_path):
    """The model and its metrics are replica-safe: two logical CPU devices stand in for two GPUs
    (MirroredStrategy is what trainer.task picks when GPUs are visible)."""
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tests.conftest import tiny_params
        from trainer.model import build_model
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = build_model(tiny_params(layers=2, attention=True, dropout=0.2, tie_embeddings=True), 1e-3, 1.0)
        rng = np.random.default_rng(0)
        enc = rng.integers(4, 30, size=(64, 5)); dec = rng.integers(4, 30, size=(64, 4)); dec[:, 0] = 2
        ds = tf.data.Dataset.from_tensor_slices(((enc, dec), np.roll(dec, -1, axis=1))).batch(16)
        history = model.fit(ds, epochs=2, verbose=0).history
        assert strategy.num_replicas_in_sync == 2
        assert np.all(np.isfinite(history["loss"])) and history["loss"][1] < history["loss"][0], history
        print("replicas", strategy.num_replicas_in_sync, "loss", history["loss"])
        """
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas 2" in proc.stdout


def test_copy_distribution_sums_the_attention_of_repeated_input_words():
    from trainer.model import copy_distribution

    weights = tf.constant([[[0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8]]])  # [b=2, t=1, s=3]
    source = tf.constant([[5, 7, 5], [2, 0, 9]], tf.int64)
    dist = copy_distribution(weights, source, 10).numpy()
    expected = np.zeros((2, 1, 10))
    expected[0, 0, 5], expected[0, 0, 7] = 0.7, 0.3
    expected[1, 0, 2], expected[1, 0, 0], expected[1, 0, 9] = 0.1, 0.1, 0.8
    np.testing.assert_allclose(dist, expected, rtol=1e-6)
