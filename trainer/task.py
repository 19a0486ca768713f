"""TFX Trainer entry point (``run_fn``): stream the transformed TFRecords, train, export.

* Data: the transformed TFRecords are streamed (``tf.data``, batches parsed on the fly),
  so memory does not grow with the corpus.
* Devices: :func:`distribution_strategy` picks MirroredStrategy over every visible GPU
  and the default (CPU) strategy otherwise; ``mixed_precision`` turns on mixed_float16 on
  GPU only. The same code runs on both: no flag names a device.
* Outputs in the Trainer's model-run directory: TensorBoard logs (``logs/``), checkpoints
  (``checkpoints/latest.weights.h5`` every epoch, ``checkpoints/best.weights.h5`` at the
  best eval loss), ``history.json``, ``loss_curves.png`` (training and eval loss per
  epoch), ``data.json`` (data report) and ``glove.json`` (when GloVe is used).
* Early stopping on the eval loss restores the best epoch's weights; then ``finetune_epochs``
  passes fine-tune them with a contrastive term (:func:`finetune`) before the export.
* Greedy's collapse (the Evaluator's ``top_reply_share``) is measured on the eval inputs at each
  epoch's end (:mod:`trainer.collapse`, ``collapse_check``) and logged beside the eval loss.

The export (signatures, warm-up requests) is described in :mod:`trainer.export`.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from common import features, names, reply_corpus
from common.ids import token_counts
from common.reports import DataReport, SplitData, Training
from common.settings import from_properties
from trainer import export
from trainer.collapse import LOG_KEY as COLLAPSE_KEY
from trainer.collapse import GreedyCollapse
from trainer.glove import aligned_matrix, resolve
from trainer.model import ModelParams, Seq2Seq, build_model, compile_for_training, network
from trainer.params import TrainerSettings

AUTOTUNE = tf.data.AUTOTUNE
PROGRESS = std_logging.getLogger(names.PROGRESS_LOGGER)
# history.json's prefix of the fine-tuning passes' figures (finetune_loss, finetune_val_loss, ...).
FINETUNE = "finetune_"


def _files(file_patterns: list[str]) -> list[str]:
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    return files


def _keep(batch, max_len: int):
    """Pairs that fit: input at most max_len tokens, reply at most max_len - 1 (+ <eos>)."""
    return tf.logical_and(batch[features.INPUT_LENGTH] <= max_len, batch[features.TARGET_LENGTH] <= max_len - 1)


def make_dataset(
    file_patterns: list[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool,
    drop_long: bool = False,
    seed: int = 42,
) -> tf.data.Dataset:
    """((encoder ids, decoder input ids), decoder target ids) batches, streamed from disk.

    With ``drop_long`` the pairs longer than MAX_LEN are left out instead of truncated."""
    spec = tft_output.transformed_feature_spec()
    max_len = int(spec[features.DECODER_TARGET_IDS].shape[0])
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP", num_parallel_reads=AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    if drop_long:
        ds = ds.map(lambda f: {k: tf.boolean_mask(v, _keep(f, max_len)) for k, v in f.items()}, num_parallel_calls=AUTOTUNE)
        ds = ds.filter(lambda f: tf.size(f[features.INPUT_LENGTH]) > 0)
    ds = ds.map(
        lambda f: ((f[features.ENCODER_INPUT_IDS], f[features.DECODER_INPUT_IDS]), f[features.DECODER_TARGET_IDS]),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def data_report(file_patterns: list[str], tft_output: tft.TFTransformOutput) -> SplitData:
    """Pairs, pairs longer than MAX_LEN, and the out-of-vocabulary share of the tokens."""
    spec = tft_output.transformed_feature_spec()
    max_len = int(spec[features.DECODER_TARGET_IDS].shape[0])
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP").batch(1024)
    ds = ds.map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    totals = np.zeros(4, dtype=np.int64)  # pairs, long pairs, real tokens, <unk> tokens
    for f in ds:
        tokens, unknown = token_counts(
            np.concatenate([f[features.ENCODER_INPUT_IDS].numpy(), f[features.DECODER_TARGET_IDS].numpy()], axis=1)
        )
        totals += [
            int(tf.size(f[features.INPUT_LENGTH])),
            int(tf.reduce_sum(tf.cast(tf.logical_not(_keep(f, max_len)), tf.int64))),
            tokens,
            unknown,
        ]
    pairs, long_pairs, tokens, unk = (int(x) for x in totals)
    return SplitData(pairs=pairs, pairs_longer_than_max_len=long_pairs, oov_share=unk / tokens if tokens else 0.0)


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over the visible GPUs (one or more); the default strategy on CPU."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()


def trainer_settings(custom_config: dict[str, Any] | None) -> TrainerSettings:
    """The Trainer's settings: the defaults of :class:`trainer.params.TrainerSettings`,
    overridden by what the pipeline passed in ``custom_config`` (other keys are ignored)."""
    return from_properties(TrainerSettings, custom_config or {})


def _batches(pairs: int, batch_size: int) -> int:
    """Batches in one pass over ``pairs`` (batches are formed before long pairs are dropped)."""
    return max(1, -(-pairs // batch_size))


class EpochLog(keras.callbacks.Callback):
    """A line per epoch on the ``seq2seq`` progress logger: losses, eval perplexity, step size, time.
    ``label`` names the epoch and ``first`` is the index of the first one counted (fine-tuning
    passes are counted apart)."""

    def __init__(self, epochs: int, label: str = "epoch", first: int = 0):
        super().__init__()
        self.epochs, self.label, self.first, self.started = epochs, label, first, 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        collapse = f", greedy's most frequent reply {logs[COLLAPSE_KEY]:.1%}" if COLLAPSE_KEY in logs else ""
        PROGRESS.info(
            "%s %d/%d: loss %.3f, eval loss %.3f, eval perplexity %.1f%s, learning rate %.2g (%.0f s)",
            self.label,
            epoch + 1 - self.first,
            self.epochs,
            logs.get("loss", float("nan")),
            logs.get("val_loss", float("nan")),
            logs.get("val_perplexity", float("nan")),
            collapse,
            rate,
            time.monotonic() - self.started,
        )


def plot_loss_curves(history: dict[str, list[float]], path: str) -> None:
    """A PNG of the training and eval loss per epoch, the fine-tuning passes after them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    epochs = len(history.get("loss", []))
    for key, label in (("loss", "training loss"), ("val_loss", "eval loss")):
        if history.get(key):
            ax.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=label)
        tuned = history.get(FINETUNE + key, [])
        if tuned:
            x = range(epochs + 1, epochs + len(tuned) + 1)
            ax.plot(x, tuned, marker="s", linestyle="none", label=f"{label}, fine-tuning (contrastive term in training)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked cross-entropy (nats per token)")
    ax.set_title("seq2seq training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def model_params(
    settings: TrainerSettings, vocab_size: int, embedding_dim: int | None = None, frozen_embedding: bool = False
) -> ModelParams:
    """The network's shape from the hyperparameters. A frozen (GloVe) embedding is not tied
    to the output layer: that would freeze the output layer too."""
    return ModelParams(
        vocab_size=vocab_size,
        embedding_dim=embedding_dim or settings.embedding_dim,
        units=settings.units,
        layers=settings.layers,
        dropout=settings.dropout,
        attention=settings.attention,
        bidirectional=settings.bidirectional,
        copy=settings.copy,
        word_dropout=settings.word_dropout,
        tie_embeddings=settings.tie_embeddings and not frozen_embedding,
    )


def float32_copy(model: Seq2Seq, params: ModelParams) -> Seq2Seq:
    """The same weights in a float32 model (what is exported after mixed-precision training,
    so that the served model does not depend on how it was trained)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = network(params)
        copy((tf.zeros([1, 2], tf.int64), tf.zeros([1, 2], tf.int64)))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def _write_json(path: str, value: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2))


def _embedding(settings: TrainerSettings, tft_output: tft.TFTransformOutput, model_run_dir: str):
    """The initial embedding: (matrix or None, its size, GloVe's report or None). GloVe fixes
    the embedding size; its report goes to ``glove.json`` in the model-run directory."""
    if not settings.glove_path:
        return None, settings.embedding_dim, None
    glove = aligned_matrix(resolve(settings.glove_path), export.vocabulary(tft_output), seed=settings.seed)
    report = {**glove.summary(), "path": settings.glove_path, "trainable": settings.glove_trainable}
    logging.info("GloVe: %s", report)
    _write_json(os.path.join(model_run_dir, "glove.json"), report)
    return glove.matrix, glove.dim, report


def _precision(settings: TrainerSettings, gpus: list) -> tuple[bool, str]:
    """(mixed precision on, what the data report says): mixed_float16 only where a GPU runs it."""
    if settings.mixed_precision and not gpus:
        logging.warning("mixed_precision is set but no GPU is visible: training in float32")
        return False, "float32 (mixed precision was asked for, but no GPU is visible)"
    return settings.mixed_precision, "mixed_float16" if settings.mixed_precision else "float32"


def _callbacks(
    settings: TrainerSettings, model_run_dir: str, epochs: int, average: bool, collapse: GreedyCollapse | None = None
) -> list[keras.callbacks.Callback]:
    """NaN stop, TensorBoard, the latest and the best checkpoint, learning-rate decay and early
    stopping on the eval loss (when set), and the progress line of each epoch. With ``average``
    (the optimizer keeps the weights' moving average: ``ema_epochs``), that average is swapped
    in first at each epoch's end (and for the eval pass), so that every callback after it
    judges, saves and restores the average. ``collapse`` (greedy's collapse on the eval inputs)
    comes next, so that the epoch's logs carry it to every callback after it."""
    checkpoints = os.path.join(model_run_dir, "checkpoints")
    tf.io.gfile.makedirs(checkpoints)
    averaging = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if average else []
    callbacks = [
        *averaging,
        *_every_pass(model_run_dir, collapse),
        keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoints, "best.weights.h5"), save_weights_only=True, monitor="val_loss", save_best_only=True
        ),
    ]
    if settings.lr_decay < 1.0:  # halve (say) the step size whenever an epoch did not improve the eval loss
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=settings.lr_decay, patience=0))
    if settings.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings.early_stopping_patience, restore_best_weights=True
            )
        )
    return [*callbacks, EpochLog(epochs)]


def _every_pass(model_run_dir: str, collapse: GreedyCollapse | None) -> list[keras.callbacks.Callback]:
    """What every epoch and fine-tuning pass runs: greedy's collapse check (when on), NaN stop,
    TensorBoard and the latest checkpoint."""
    return [
        *([collapse] if collapse else []),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs"), update_freq="epoch"),
        keras.callbacks.ModelCheckpoint(os.path.join(model_run_dir, "checkpoints", "latest.weights.h5"), save_weights_only=True),
    ]


def _training_report(settings: TrainerSettings, history: dict[str, list[float]]) -> Training:
    """The ``training`` section of the data report: epochs run, the best epoch, the fine-tuning
    passes, what was exported (and its greedy collapse)."""
    val = history.get("val_loss", [])
    best = int(np.argmin(val)) if val else -1
    exported = "best epoch" if settings.early_stopping_patience and val else "last epoch"
    collapse = history.get(COLLAPSE_KEY, [])
    share = float(collapse[best if exported == "best epoch" else -1]) if collapse else None
    passes, tuned_val = len(history.get(FINETUNE + "loss", [])), history.get(FINETUNE + "val_perplexity", [])
    if passes and not np.all(np.isfinite(history[FINETUNE + "loss"])):
        passes = 0  # undone by finetune: the weights before it were exported
    if passes:
        exported += f" + {passes} fine-tuning pass{'es' if passes > 1 else ''}"
        share = float(history[FINETUNE + COLLAPSE_KEY][-1]) if FINETUNE + COLLAPSE_KEY in history else None
    return Training(
        epochs_run=len(history.get("loss", [])),
        epochs_max=1 if settings.train_steps else settings.epochs,
        best_epoch=best + 1,
        best_val_perplexity=float(history["val_perplexity"][best]) if val else None,
        exported=exported,
        top_reply_share=share,
        finetune_epochs=passes,
        exported_val_perplexity=float(tuned_val[-1]) if passes and tuned_val else None,
    )


def _datasets(settings: TrainerSettings, tft_output, train_files, eval_files, batch_size: int, data: DataReport):
    """(train, eval, train steps, eval steps): repeated datasets with known steps per epoch, so
    Keras never runs out of data (no warning at every epoch's end) and every evaluation reads
    the same batches."""
    drop_long = settings.long_pairs == "drop"
    train_ds = make_dataset(train_files, tft_output, batch_size, shuffle=True, drop_long=drop_long, seed=settings.seed)
    eval_ds = make_dataset(eval_files, tft_output, batch_size, shuffle=False, drop_long=drop_long)
    train_steps = settings.train_steps or _batches(data.train.pairs, batch_size)
    eval_steps = settings.eval_steps or _batches(data.eval.pairs, batch_size)
    return train_ds.repeat(), eval_ds.repeat().take(eval_steps).repeat(), train_steps, eval_steps


def ema_momentum(epochs: float, steps_per_epoch: int) -> float:
    """The momentum per step of a moving average over about ``epochs`` epochs of
    ``steps_per_epoch`` steps (0, no average, when ``epochs`` is 0): the same horizon in epochs
    whatever the corpus's size (0.9949 for the shared copy's 197 steps, 0.97 for the sample's 33)."""
    return 1.0 - 1.0 / max(epochs * steps_per_epoch, 1.0) if epochs else 0.0


def collapse_check(settings: TrainerSettings, eval_ds: tf.data.Dataset, eval_steps: int, steps: int) -> GreedyCollapse | None:
    """Greedy's collapse on the inputs of one eval pass, measured at each epoch's end (None
    with ``collapse_check`` off, or when the eval pass reads no input)."""
    if not settings.collapse_check:
        return None
    inputs = [encoder.numpy() for (encoder, _), _ in eval_ds.take(eval_steps)]
    return GreedyCollapse(np.concatenate(inputs), steps) if inputs else None


def finetune(
    settings: TrainerSettings,
    model: Seq2Seq,
    strategy,
    datasets,
    model_run_dir: str,
    verbose: int,
    collapse: GreedyCollapse | None,
    done: int,
) -> dict[str, list[float]]:
    """The fine-tuning passes (``finetune_epochs``; none: ``{}``) after ``done`` epochs of training.

    From the weights training left (the best epoch's, moving average included), a fresh Adam at
    ``finetune_learning_rate`` without a moving average, the training loss plus the contrastive
    term at ``finetune_contrastive``. Every pass is kept, not only a better eval loss: the term
    trades a little perplexity for replies that depend more on their input and collapse less
    (README, "Session 19"). Should a pass end on a loss that is not finite, the weights before
    fine-tuning are put back (and a warning logged).

    Args:
      settings: the Trainer's settings.
      model: the trained model, built in ``strategy``'s scope; fine-tuned in place.
      strategy: the distribution strategy it was built in.
      datasets: (train, eval, train steps, eval steps) as :func:`_datasets` makes them.
      model_run_dir: TensorBoard's logs and the latest checkpoint go on under it.
      verbose: Keras's progress bar setting.
      collapse: greedy's collapse check, measured after each pass too (or None).
      done: the epochs trained before; the passes are numbered after them (TensorBoard).

    Returns:
      The passes' history, each key prefixed with ``finetune_``.
    """
    if not settings.finetune_epochs:
        return {}
    train_ds, eval_ds, train_steps, eval_steps = datasets
    before = model.get_weights()
    with strategy.scope():
        compile_for_training(model, settings.finetune_learning_rate, settings.clipnorm, contrastive=settings.finetune_contrastive)
    callbacks = [*_every_pass(model_run_dir, collapse), EpochLog(settings.finetune_epochs, "fine-tuning pass", first=done)]
    fit = model.fit(
        train_ds,
        steps_per_epoch=train_steps,
        initial_epoch=done,
        epochs=done + settings.finetune_epochs,
        validation_data=eval_ds,
        validation_steps=eval_steps,
        callbacks=callbacks,
        verbose=verbose,
    )
    history = {FINETUNE + k: [float(x) for x in v] for k, v in fit.history.items()}
    if not all(np.isfinite(history.get(FINETUNE + "loss", [np.nan]))):
        logging.warning("fine-tuning ended on a loss that is not finite: exporting the weights from before it")
        model.set_weights(before)
    return history


def _fit(
    settings: TrainerSettings,
    params: ModelParams,
    embedding_matrix,
    strategy,
    datasets,
    model_run_dir: str,
    verbose: int,
    collapse: GreedyCollapse | None = None,
):
    """Builds the model in the distribution strategy's scope, fits it and fine-tunes it (:func:`finetune`); returns (model in
    float32, history). Mixed precision, when on, is the global policy only while it trains."""
    train_ds, eval_ds, train_steps, eval_steps = datasets
    epochs = 1 if settings.train_steps else settings.epochs
    momentum = ema_momentum(settings.ema_epochs, train_steps)
    previous_policy = keras.mixed_precision.global_policy()
    if settings.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with strategy.scope():
            model = build_model(
                params,
                learning_rate=settings.learning_rate,
                embedding_matrix=embedding_matrix,
                train_embedding=embedding_matrix is None or settings.glove_trainable,
                clipnorm=settings.clipnorm,
                ema_momentum=momentum,
                contrastive=settings.contrastive,
            )
        fit = model.fit(
            train_ds,
            steps_per_epoch=train_steps,
            epochs=epochs,
            validation_data=eval_ds,
            validation_steps=eval_steps,
            callbacks=_callbacks(settings, model_run_dir, epochs, average=momentum > 0, collapse=collapse),
            verbose=verbose,
        )
        history = {k: [float(x) for x in v] for k, v in fit.history.items()}
        done = len(history.get("loss", []))
        history |= finetune(settings, model, strategy, datasets, model_run_dir, verbose, collapse, done)
        return (float32_copy(model, params) if settings.mixed_precision else model), history
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def train(
    settings: TrainerSettings,
    tft_output: tft.TFTransformOutput,
    train_files: list[str],
    eval_files: list[str],
    model_run_dir: str,
    verbose: int = 0,
):
    """Builds and trains the model described by ``settings``; returns (model, params, history).

    With ``train_steps`` > 0 it trains that many steps as one epoch; otherwise ``epochs``
    passes over the train split, stopped early when the eval loss stops improving. Writes the
    data report (``data.json``: data, devices, training), ``history.json`` and the loss curves."""
    tf.io.gfile.makedirs(model_run_dir)
    keras.utils.set_random_seed(settings.seed)  # Python, NumPy and TensorFlow: weights, dropout, word dropout
    vocab_size = tft_output.vocabulary_size_by_name(features.VOCABULARY_NAME) + features.NUM_RESERVED
    embedding_matrix, embedding_dim, glove_report = _embedding(settings, tft_output, model_run_dir)
    params = model_params(
        settings, vocab_size, embedding_dim, frozen_embedding=embedding_matrix is not None and not settings.glove_trainable
    )
    strategy, gpus = distribution_strategy(), tf.config.list_logical_devices("GPU")
    mixed, precision = _precision(settings, gpus)
    settings = dataclasses.replace(settings, mixed_precision=mixed)
    batch_size = settings.batch_size * strategy.num_replicas_in_sync  # batch_size is per device
    data = DataReport(
        vocabulary_size=vocab_size,
        long_pairs="dropped" if settings.long_pairs == "drop" else "truncated",
        train=data_report(train_files, tft_output),
        eval=data_report(eval_files, tft_output),
        glove=glove_report,
        devices=[d.name for d in gpus] or ["CPU"],
        strategy=type(strategy).__name__,
        dtype_policy="mixed_float16" if mixed else keras.mixed_precision.global_policy().name,
        precision=precision,
        global_batch_size=batch_size,
        seed=settings.seed,
    )
    logging.info("Trainer: %s on %s, keras %s, config %s; data %s", params, data.devices, keras.__version__, settings, data)
    datasets = _datasets(settings, tft_output, train_files, eval_files, batch_size, data)
    max_len = int(tft_output.transformed_feature_spec()[features.DECODER_TARGET_IDS].shape[0])
    collapse = collapse_check(settings, datasets[1], datasets[3], max_len)
    model, history = _fit(settings, params, embedding_matrix, strategy, datasets, model_run_dir, verbose, collapse)
    _write_json(os.path.join(model_run_dir, "history.json"), history)
    plot_loss_curves(history, os.path.join(model_run_dir, "loss_curves.png"))
    report = dataclasses.replace(data, training=_training_report(settings, history))
    with tf.io.gfile.GFile(os.path.join(model_run_dir, DataReport.FILE), "w") as f:
        f.write(report.to_json())
    return model, params, history


def train_replies(file_patterns: list[str], tft_output: tft.TFTransformOutput) -> list[np.ndarray]:
    """The replies of a transformed split as the model reads them: target ids up to and including
    ``<eos>`` (truncated replies as truncated)."""
    replies = []
    for _, targets in make_dataset(file_patterns, tft_output, 1024, shuffle=False):
        replies += [row[row != features.PAD_ID] for row in targets.numpy()]
    return replies


def run_fn(fn_args) -> None:
    """Called by the TFX Trainer: hyperparameters arrive in ``fn_args.custom_config``. Exports the
    model and saves the train split's replies beside it (:mod:`common.reply_corpus`: the reply
    language model the Evaluator's fluency is measured with)."""
    settings = trainer_settings(fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    model, _, _ = train(settings, tft_output, fn_args.train_files, fn_args.eval_files, fn_args.model_run_dir)
    # MAX_LEN is the Transform's: the padded length of its outputs.
    max_len = int(tft_output.transformed_feature_spec()[features.DECODER_TARGET_IDS].shape[0])
    export.export(model, tft_output, max_len, fn_args.serving_model_dir)
    vocab_size = tft_output.vocabulary_size_by_name(features.VOCABULARY_NAME) + features.NUM_RESERVED
    saved = reply_corpus.write(fn_args.serving_model_dir, train_replies(fn_args.train_files, tft_output), vocab_size)
    logging.info("Exported the chatbot SavedModel to %s (with %d train replies)", fn_args.serving_model_dir, saved)
