"""TFX Trainer entry point (``run_fn``): stream the transformed TFRecords, train, export.

The export (signatures, warm-up requests) is described in :mod:`trainer.export`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from s2s import config as C
from trainer import export
from trainer.glove import aligned_matrix
from trainer.model import ModelParams, build_model

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(
    file_patterns: List[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool,
    seed: int = 42,
) -> tf.data.Dataset:
    """((encoder ids, decoder input ids), decoder target ids) batches, streamed from disk."""
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    spec = tft_output.transformed_feature_spec()
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    ds = ds.map(
        lambda f: ((f[C.ENCODER_INPUT_IDS], f[C.DECODER_INPUT_IDS]), f[C.DECODER_TARGET_IDS]),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def run_fn(fn_args) -> None:
    """Called by the TFX Trainer: hyperparameters arrive in ``fn_args.custom_config``."""
    defaults = C.PipelineConfig()
    cfg: Dict[str, Any] = {
        k: getattr(defaults, k)
        for k in ("embedding_dim", "units", "batch_size", "learning_rate", "epochs", "train_steps", "eval_steps", "glove_path", "glove_trainable")
    }
    cfg.update(fn_args.custom_config or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab_size = tft_output.vocabulary_size_by_name(C.VOCABULARY_NAME) + C.NUM_RESERVED
    embedding_matrix, embedding_dim = None, int(cfg["embedding_dim"])
    if cfg.get("glove_path"):
        glove = aligned_matrix(cfg["glove_path"], export.vocabulary(tft_output))
        embedding_matrix, embedding_dim = glove.matrix, glove.dim  # GloVe fixes the embedding size
        report = {**glove.summary(), "path": cfg["glove_path"], "trainable": bool(int(cfg["glove_trainable"]))}
        logging.info("GloVe: %s", report)
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "glove.json"), "w") as f:
            f.write(json.dumps(report, indent=2))
    params = ModelParams(vocab_size=vocab_size, embedding_dim=embedding_dim, units=int(cfg["units"]))
    logging.info("Trainer: %s, keras %s, config %s", params, keras.__version__, cfg)

    batch_size = int(cfg["batch_size"])
    train = make_dataset(fn_args.train_files, tft_output, batch_size, shuffle=True)
    evaluation = make_dataset(fn_args.eval_files, tft_output, batch_size, shuffle=False)
    eval_steps = int(cfg["eval_steps"]) or None
    if eval_steps:
        evaluation = evaluation.repeat().take(eval_steps)

    model = build_model(
        params,
        learning_rate=float(cfg["learning_rate"]),
        embedding_matrix=embedding_matrix,
        train_embedding=embedding_matrix is None or bool(int(cfg["glove_trainable"])),
    )
    callbacks = [keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs"), update_freq="epoch")]
    train_steps = int(cfg["train_steps"])
    if train_steps:
        history = model.fit(train.repeat(), steps_per_epoch=train_steps, epochs=1, validation_data=evaluation, callbacks=callbacks, verbose=2)
    else:
        history = model.fit(train, epochs=int(cfg["epochs"]), validation_data=evaluation, callbacks=callbacks, verbose=2)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "history.json"), "w") as f:
        f.write(json.dumps({k: [float(x) for x in v] for k, v in history.history.items()}, indent=2))

    # MAX_LEN is the Transform's: the padded length of its outputs.
    max_len = int(tft_output.transformed_feature_spec()[C.DECODER_TARGET_IDS].shape[0])
    export.export(model, tft_output, max_len, fn_args.serving_model_dir)
    logging.info("Exported the chatbot SavedModel to %s", fn_args.serving_model_dir)
