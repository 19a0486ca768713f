"""TFX Trainer entry point (``run_fn``): stream the transformed TFRecords, train, export.

The export (signatures, warm-up requests) is described in :mod:`trainer.export`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from s2s import config as C
from trainer import export
from trainer.glove import aligned_matrix
from trainer.model import ModelParams, build_model

AUTOTUNE = tf.data.AUTOTUNE
DATA_REPORT = "data.json"  # in the model-run dir: vocabulary size, long pairs, OOV share per split


def _files(file_patterns: List[str]) -> List[str]:
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    return files


def _keep(features, max_len: int):
    """Pairs that fit: input at most max_len tokens, reply at most max_len - 1 (+ <eos>)."""
    return tf.logical_and(features[C.INPUT_LENGTH] <= max_len, features[C.TARGET_LENGTH] <= max_len - 1)


def make_dataset(
    file_patterns: List[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool,
    drop_long: bool = False,
    seed: int = 42,
) -> tf.data.Dataset:
    """((encoder ids, decoder input ids), decoder target ids) batches, streamed from disk.

    With ``drop_long`` the pairs longer than MAX_LEN are left out instead of truncated."""
    spec = tft_output.transformed_feature_spec()
    max_len = int(spec[C.DECODER_TARGET_IDS].shape[0])
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP", num_parallel_reads=AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    if drop_long:
        ds = ds.map(lambda f: {k: tf.boolean_mask(v, _keep(f, max_len)) for k, v in f.items()}, num_parallel_calls=AUTOTUNE)
        ds = ds.filter(lambda f: tf.size(f[C.INPUT_LENGTH]) > 0)
    ds = ds.map(
        lambda f: ((f[C.ENCODER_INPUT_IDS], f[C.DECODER_INPUT_IDS]), f[C.DECODER_TARGET_IDS]),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def data_report(file_patterns: List[str], tft_output: tft.TFTransformOutput) -> Dict[str, float]:
    """Pairs, pairs longer than MAX_LEN, and the out-of-vocabulary share of the tokens."""
    spec = tft_output.transformed_feature_spec()
    max_len = int(spec[C.DECODER_TARGET_IDS].shape[0])
    ds = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP").batch(1024)
    ds = ds.map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=AUTOTUNE)
    totals = np.zeros(4, dtype=np.int64)  # pairs, long pairs, real tokens, <unk> tokens
    for f in ds:
        ids = tf.concat([f[C.ENCODER_INPUT_IDS], f[C.DECODER_TARGET_IDS]], axis=1)
        real = tf.logical_and(ids != C.PAD_ID, ids != C.EOS_ID)
        totals += [
            int(tf.size(f[C.INPUT_LENGTH])),
            int(tf.reduce_sum(tf.cast(tf.logical_not(_keep(f, max_len)), tf.int64))),
            int(tf.reduce_sum(tf.cast(real, tf.int64))),
            int(tf.reduce_sum(tf.cast(ids == C.UNK_ID, tf.int64))),
        ]
    pairs, long_pairs, tokens, unk = (int(x) for x in totals)
    return {"pairs": pairs, "pairs_longer_than_max_len": long_pairs, "oov_share": unk / tokens if tokens else 0.0}


def run_fn(fn_args) -> None:
    """Called by the TFX Trainer: hyperparameters arrive in ``fn_args.custom_config``."""
    defaults = C.PipelineConfig()
    cfg: Dict[str, Any] = {
        k: getattr(defaults, k)
        for k in ("embedding_dim", "units", "batch_size", "learning_rate", "epochs", "train_steps", "eval_steps", "glove_path", "glove_trainable", "long_pairs")
    }
    cfg.update(fn_args.custom_config or {})
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    vocab_size = tft_output.vocabulary_size_by_name(C.VOCABULARY_NAME) + C.NUM_RESERVED
    embedding_matrix, embedding_dim, glove_report = None, int(cfg["embedding_dim"]), None
    if cfg.get("glove_path"):
        glove = aligned_matrix(cfg["glove_path"], export.vocabulary(tft_output))
        embedding_matrix, embedding_dim = glove.matrix, glove.dim  # GloVe fixes the embedding size
        glove_report = {**glove.summary(), "path": cfg["glove_path"], "trainable": bool(int(cfg["glove_trainable"]))}
        logging.info("GloVe: %s", glove_report)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "glove.json"), "w") as f:
            f.write(json.dumps(glove_report, indent=2))
    params = ModelParams(vocab_size=vocab_size, embedding_dim=embedding_dim, units=int(cfg["units"]))
    logging.info("Trainer: %s, keras %s, config %s", params, keras.__version__, cfg)

    batch_size = int(cfg["batch_size"])
    drop_long = cfg.get("long_pairs", "truncate") == "drop"
    data = {
        "vocabulary_size": vocab_size,
        "long_pairs": "dropped" if drop_long else "truncated",
        "train": data_report(fn_args.train_files, tft_output),
        "eval": data_report(fn_args.eval_files, tft_output),
        "glove": glove_report,
    }
    logging.info("Trainer data: %s", data)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, DATA_REPORT), "w") as f:
        f.write(json.dumps(data, indent=2))
    train = make_dataset(fn_args.train_files, tft_output, batch_size, shuffle=True, drop_long=drop_long)
    evaluation = make_dataset(fn_args.eval_files, tft_output, batch_size, shuffle=False, drop_long=drop_long)
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
