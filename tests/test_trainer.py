"""The Trainer: one training step through run_fn, the export, and its three signatures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from common import features, names
from tests.conftest import tiny_params
from trainer.model import KerasPerplexity, KerasTokenAccuracy, build_model


def test_run_fn_trains_and_writes_logs(tiny_model):
    history = json.loads((tiny_model / "model_run" / "history.json").read_text())
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert {"masked_token_accuracy", "perplexity", "val_loss"} <= set(history)
    assert list((tiny_model / "model_run" / "logs").rglob("events.out.tfevents*"))


def test_the_train_replies_are_saved_beside_the_model(tiny_model, tiny_transform):
    from common import reply_corpus

    replies, vocab_size = reply_corpus.read(str(tiny_model / "serving_model"))
    # The tiny Trainer reads one file as both splits: its replies are that file's targets.
    targets = [np.asarray(r[features.DECODER_TARGET_IDS]) for r in _transformed_rows(tiny_transform)]
    assert replies == [t[t != features.PAD_ID].tolist() for t in targets] and len(replies) == 96
    assert all(r[-1] == features.EOS_ID for r in replies)
    assert vocab_size == len(tf.saved_model.load(str(tiny_model / "serving_model")).id_to_token.numpy())


def _transformed_rows(tiny_transform):
    spec = {features.DECODER_TARGET_IDS: tf.io.VarLenFeature(tf.int64)}
    dataset = tf.data.TFRecordDataset(str(tiny_transform / "transformed" / "part-0.gz"), compression_type="GZIP")
    return [{k: tf.sparse.to_dense(v).numpy() for k, v in tf.io.parse_single_example(x, spec).items()} for x in dataset]


def test_serving_default_returns_reply_strings(tiny_model):
    model = tf.saved_model.load(str(tiny_model / "serving_model"))
    assert {names.SERVING_SIGNATURE, names.TF_EXAMPLE_SIGNATURE, names.TRANSFORM_SIGNATURE} <= set(model.signatures)
    out = model.signatures[names.SERVING_SIGNATURE](text=tf.constant(["Hi, how are you?", "?!", "Where are you going?"]))
    assert out["reply"].dtype == tf.string and out["reply"].shape == (3,)
    ids, lengths = out["reply_ids"].numpy(), out["reply_length"].numpy()
    assert ids.shape == (3, 8) and np.all((lengths >= 0) & (lengths <= 8))
    for row, n, reply in zip(ids, lengths, out["reply"].numpy()):
        assert features.EOS_ID not in row[:n] and np.all(row[n:] == 0)  # ids stop before <eos>
        assert len(reply.decode().split()) == n  # one word per id
    assert np.all(out["score"].numpy() <= 0.0)  # a mean log-probability
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty or only whitespace"):
        model.signatures[names.SERVING_SIGNATURE](text=tf.constant(["hello", " \t"]))


def test_tf_example_signature_gives_per_token_outputs(tiny_model):
    model = tf.saved_model.load(str(tiny_model / "serving_model"))
    feature = lambda s: tf.train.Feature(bytes_list=tf.train.BytesList(value=[s]))  # noqa: E731
    example = tf.train.Example(
        features=tf.train.Features(feature={features.INPUT_TEXT: feature(b"Hi there."), features.TARGET_TEXT: feature(b"Hello.")})
    ).SerializeToString()
    out = model.signatures[names.TF_EXAMPLE_SIGNATURE](examples=tf.constant([example, example]))
    assert out["target_log_probs"].shape == (2, 8) and out["predicted_ids"].shape == (2, 8)
    assert np.all(out["target_log_probs"].numpy() <= 0.0)
    # score_tf_example: the same teacher-forced outputs, and no decoding (no reply outputs).
    scores = model.signatures[names.SCORE_SIGNATURE](examples=tf.constant([example, example]))
    assert set(scores) == {"target_log_probs", "predicted_ids"}
    np.testing.assert_allclose(scores["target_log_probs"].numpy(), out["target_log_probs"].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(scores["predicted_ids"].numpy(), out["predicted_ids"].numpy())
    transformed = model.signatures[names.TRANSFORM_SIGNATURE](examples=tf.constant([example]))
    assert transformed[features.DECODER_INPUT_IDS].numpy()[0, 0] == features.BOS_ID
    assert transformed[features.DECODER_TARGET_IDS].numpy()[0, 1] == features.EOS_ID  # "hello" then <eos>


def test_loss_and_metrics_ignore_padding():
    model = build_model(tiny_params(vocab_size=10, embedding_dim=4, units=4), 1e-3, 1.0)
    y_true = tf.constant([[5, 6, 0, 0]])
    logits = tf.one_hot([[5, 1, 7, 7]], 10) * 20.0  # right, wrong, then padding positions
    acc, ppl = KerasTokenAccuracy(), KerasPerplexity()
    acc.update_state(y_true, logits)
    ppl.update_state(y_true, logits)
    assert acc.result().numpy() == pytest.approx(0.5)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true[:, :2], logits=logits[:, :2]).numpy()
    assert ppl.result().numpy() == pytest.approx(np.exp(ce.mean()), rel=1e-5)
    # The compiled loss is the mean over the two real tokens, not over all four.
    loss = model.loss(y_true, logits).numpy()
    assert loss == pytest.approx(ce.mean(), rel=1e-5)


def test_long_pairs_are_truncated_or_dropped_and_counted(tiny_transform, tiny_model):
    import tensorflow_transform as tft

    from trainer import task

    report = json.loads((tiny_model / "model_run" / names.DATA_REPORT_FILE).read_text())
    assert report["long_pairs"] == "truncated" and report["vocabulary_size"] > features.NUM_RESERVED
    train = report["train"]
    assert train["pairs"] == 96 and 0 < train["pairs_longer_than_max_len"] < 96  # max_len 8
    assert 0.0 <= train["oov_share"] < 1.0
    output = tft.TFTransformOutput(str(tiny_transform / "transform"))
    files = [str(tiny_transform / "transformed" / "*")]

    def count(drop):
        return sum(int(x[0][0].shape[0]) for x in task.make_dataset(files, output, 10, shuffle=False, drop_long=drop))

    assert count(False) == 96
    assert count(True) == 96 - train["pairs_longer_than_max_len"]


def test_run_fn_writes_checkpoints_and_a_loss_curve_png(tiny_model):
    run = tiny_model / "model_run"
    assert (run / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "checkpoints" / "latest.weights.h5").stat().st_size > 0
    assert (run / "checkpoints" / "best.weights.h5").stat().st_size > 0
    report = json.loads((run / "data.json").read_text())
    assert report["devices"] == ["CPU"] and report["strategy"] == "_DefaultDistributionStrategy"
    assert report["dtype_policy"] == "float32" and report["global_batch_size"] == 32
    assert report["training"]["epochs_run"] == 1 and report["training"]["best_epoch"] == 1
    # By default the best epoch is fine-tuned once more (finetune_epochs 1), and that is what is exported.
    assert report["training"]["finetune_epochs"] == 1
    assert report["training"]["exported"] == "best epoch + 1 fine-tuning pass"


def _train(tiny_transform, tmp_path, **overrides):
    import tensorflow_transform as tft

    from trainer import task

    # No fine-tuning pass unless a test asks for one: the main phase is what most tests here check.
    base = {"embedding_dim": 8, "units": 16, "batch_size": 16, "eval_steps": 2, "train_steps": 0, "finetune_epochs": 0}
    cfg = task.trainer_settings({**base, **overrides})
    files = [str(tiny_transform / "transformed" / "*")]
    output = tft.TFTransformOutput(str(tiny_transform / "transform"))
    model, params, history = task.train(cfg, output, files, files, str(tmp_path / "run"), verbose=0)
    return model, params, history, output, files


def test_early_stopping_keeps_the_best_epochs_weights(tiny_transform, tmp_path):
    from trainer import task
    from trainer.model import build_model

    # A step size this large overshoots (seeded, on CPU: eval loss 19.77, 19.95, 19.99), so the
    # last epoch is not the best one and exporting it would be wrong.
    model, params, history, output, files = _train(
        tiny_transform,
        tmp_path,
        seed=1,
        epochs=3,
        early_stopping_patience=2,
        learning_rate=0.7,
        clipnorm=0.0,
        lr_decay=1.0,
        dropout=0.0,
        word_dropout=0.0,
        ema_epochs=0.0,
    )
    val = history["val_loss"]
    assert len(val) == 3 and int(np.argmin(val)) < len(val) - 1, f"the setup must make a later epoch worse: {val}"
    report = json.loads((tmp_path / "run" / "data.json").read_text())["training"]
    assert report["best_epoch"] == int(np.argmin(val)) + 1 and report["exported"] == "best epoch"
    best = build_model(params, 1e-3, 1.0)
    batch = next(iter(task.make_dataset(files, output, 8, shuffle=False)))[0]
    best(batch)
    best.load_weights(str(tmp_path / "run" / "checkpoints" / "best.weights.h5"))
    # The returned (exported) model is the best epoch's, not the last one's.
    np.testing.assert_allclose(model(batch).numpy(), best(batch).numpy(), rtol=1e-5, atol=1e-5)


def test_weight_averaging_is_what_is_judged_kept_and_handed_on(tiny_transform, tmp_path):
    from trainer import task

    same = {"seed": 3, "epochs": 2, "early_stopping_patience": 2, "lr_decay": 1.0}
    averaged, _, history, output, files = _train(tiny_transform, tmp_path / "a", ema_epochs=2.0, **same)
    _, _, plain = _train(tiny_transform, tmp_path / "b", ema_epochs=0.0, **same)[:3]
    # The average changes what is judged, not how the weights train.
    np.testing.assert_allclose(history["loss"], plain["loss"], rtol=1e-6)
    assert not np.allclose(history["val_loss"], plain["val_loss"], rtol=1e-4), (history["val_loss"], plain["val_loss"])
    # The model handed on (exported) is the averaged one of the best epoch: its eval loss is the best one.
    loss = averaged.evaluate(task.make_dataset(files, output, 16, shuffle=False), steps=2, verbose=0, return_dict=True)
    assert loss["loss"] == pytest.approx(min(history["val_loss"]), rel=1e-5)
    # Greedy's collapse is measured on the average too: the best epoch's figure is the handed-on model's.
    best = int(np.argmin(history["val_loss"]))
    assert history["val_top_reply_share"][best] == pytest.approx(_collapse(averaged, output, files))


def _collapse(model, output, files) -> float:
    """The Evaluator's collapse check on ``model``: greedy's most frequent reply's share of the
    replies to the tiny eval pass's inputs (eval_steps 2 x batch 16)."""
    from common.decode_options import GREEDY
    from evaluator.sequence_metrics import top_reply_share
    from s2s.bench.quality import replies
    from trainer import task
    from trainer.export import ChatbotExport

    inputs = np.concatenate([x[0][0].numpy() for x in task.make_dataset(files, output, 16, shuffle=False).take(2)])
    words = replies(ChatbotExport(model, output, 8), inputs, GREEDY)
    assert len(words) == 32
    return top_reply_share(words)


def _weights(run_dir) -> dict:
    import h5py

    out = {}
    with h5py.File(run_dir / "checkpoints" / "latest.weights.h5") as f:
        f.visititems(lambda name, item: out.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return out


def test_the_same_seed_trains_the_same_model_and_another_seed_another(tiny_transform, tmp_path):
    """Training is reproducible on CPU: every random source (initial weights, shuffling, dropout,
    word dropout) follows the ``seed`` setting, and the epoch's collapse check (on in "a", off in
    "b") draws none of them."""
    runs = {}
    for name, seed, check in (("a", 7, 1), ("b", 7, 0), ("c", 8, 1)):
        _, _, history, _, _ = _train(
            tiny_transform, tmp_path / name, seed=seed, epochs=1, dropout=0.3, word_dropout=0.25, collapse_check=check
        )
        runs[name] = (history["loss"], _weights(tmp_path / name / "run"))
        assert ("val_top_reply_share" in history) == bool(check)
    assert runs["a"][0] == runs["b"][0], (runs["a"][0], runs["b"][0])
    assert runs["a"][1].keys() == runs["b"][1].keys() and len(runs["a"][1]) > 5
    for key, value in runs["a"][1].items():
        np.testing.assert_array_equal(value, runs["b"][1][key], err_msg=key)
    assert runs["a"][0] != runs["c"][0]
    assert json.loads((tmp_path / "a" / "run" / "data.json").read_text())["seed"] == 7


def test_the_contrastive_setting_reaches_the_training_loss(tiny_transform, tmp_path):
    """``contrastive`` adds its weighted term to the loss the Trainer minimises (softplus of a
    margin near 0 for an untrained model: 0.95 per unit of weight here, seeded on CPU); the eval
    loss stays the cross-entropy."""
    plain = _train(tiny_transform, tmp_path / "plain", train_steps=1, seed=3)
    mmi = _train(tiny_transform, tmp_path / "mmi", train_steps=1, seed=3, contrastive=2.0)
    assert mmi[0].contrastive == 2.0 and plain[0].contrastive == 0.0
    assert 1.0 < mmi[2]["loss"][0] - plain[2]["loss"][0] < 3.0, (mmi[2]["loss"], plain[2]["loss"])
    assert abs(mmi[2]["val_loss"][0] - plain[2]["val_loss"][0]) < 0.05


# The overshooting setup of test_early_stopping_keeps_the_best_epochs_weights: the last epoch is not the best.
OVERSHOOT = {
    "seed": 1,
    "epochs": 3,
    "early_stopping_patience": 2,
    "learning_rate": 0.7,
    "clipnorm": 0.0,
    "lr_decay": 1.0,
    "dropout": 0.0,
    "word_dropout": 0.0,
    "ema_epochs": 0.0,
}


def _eval_loss(model, output, files) -> float:
    from trainer import task

    ds = task.make_dataset(files, output, 16, shuffle=False)
    return model.evaluate(ds, steps=2, verbose=0, return_dict=True)["loss"]


def test_finetuning_starts_from_the_best_epoch(tiny_transform, tmp_path):
    """The fine-tuning pass starts from the best epoch's weights, not the last epoch's (at a step
    size too small to move them, the exported model is the best checkpoint's), and the report
    says what was exported."""
    from trainer import task
    from trainer.model import build_model

    model, params, history, output, files = _train(
        tiny_transform, tmp_path, **OVERSHOOT, finetune_epochs=1, finetune_learning_rate=1e-9
    )
    val = history["val_loss"]
    assert len(val) == 3 and int(np.argmin(val)) < 2, f"the setup must make a later epoch worse: {val}"
    assert len(history["finetune_loss"]) == 1 and len(history["finetune_val_loss"]) == 1
    best = build_model(params, 1e-3, 1.0)
    batch = next(iter(task.make_dataset(files, output, 8, shuffle=False)))[0]
    best(batch)
    best.load_weights(str(tmp_path / "run" / "checkpoints" / "best.weights.h5"))
    np.testing.assert_allclose(model(batch).numpy(), best(batch).numpy(), rtol=1e-4, atol=1e-4)
    report = json.loads((tmp_path / "run" / "data.json").read_text())["training"]
    assert report["exported"] == "best epoch + 1 fine-tuning pass" and report["finetune_epochs"] == 1
    assert report["best_epoch"] == int(np.argmin(val)) + 1 and report["epochs_run"] == 3
    assert report["exported_val_perplexity"] == pytest.approx(history["finetune_val_perplexity"][0])
    assert report["top_reply_share"] == history["finetune_val_top_reply_share"][0]


def test_finetuning_trains_with_its_contrastive_term_and_its_weights_are_exported(tiny_transform, tmp_path):
    """The pass's loss carries ``finetune_contrastive`` (the main phase's ``contrastive`` stays 0),
    and the model handed on is the pass's, whatever its eval loss."""
    same = {"seed": 3, "train_steps": 1, "finetune_epochs": 1}
    plain = _train(tiny_transform, tmp_path / "plain", **same, finetune_contrastive=0.0)
    mmi = _train(tiny_transform, tmp_path / "mmi", **same, finetune_contrastive=2.0)
    assert plain[2]["loss"] == mmi[2]["loss"], "the main phase has no contrastive term"
    assert mmi[0].contrastive == 2.0 and plain[0].contrastive == 0.0
    gap = mmi[2]["finetune_loss"][0] - plain[2]["finetune_loss"][0]
    assert 1.0 < gap < 3.0, (mmi[2]["finetune_loss"], plain[2]["finetune_loss"])
    model, _, history, output, files = mmi
    assert history["finetune_val_loss"][0] != pytest.approx(history["val_loss"][0], rel=1e-4)
    assert _eval_loss(model, output, files) == pytest.approx(history["finetune_val_loss"][0], rel=1e-5)


def test_a_finetuning_pass_that_diverges_is_not_exported(tiny_transform, tmp_path, monkeypatch):
    """A fine-tuning pass ending on a loss that is not finite leaves the weights from before it."""
    from trainer import task

    real = task.compile_for_training
    monkeypatch.setattr(task, "compile_for_training", lambda model, lr, *a, **k: real(model, float("nan"), *a, **k))
    model, _, history, output, files = _train(tiny_transform, tmp_path, seed=3, train_steps=2, finetune_epochs=1)
    assert not np.isfinite(history["finetune_loss"][-1])
    assert _eval_loss(model, output, files) == pytest.approx(history["val_loss"][0], rel=1e-5)
    report = json.loads((tmp_path / "run" / "data.json").read_text())["training"]
    assert report["exported"] == "best epoch" and report["finetune_epochs"] == 0


def test_greedy_collapse_is_measured_at_each_epochs_end_as_the_evaluator_measures_it(tiny_transform, tmp_path):
    model, _, history, output, files = _train(
        tiny_transform, tmp_path, seed=2, epochs=2, early_stopping_patience=0, ema_epochs=0.0, learning_rate=0.01
    )
    # Seeded on CPU: 3 / 32 replies, then 27 / 32 (this step size drives the tiny model to its mode).
    shares = history["val_top_reply_share"]
    assert len(shares) == 2 and 0.0 < shares[0] < shares[1] < 1.0, shares
    # The last epoch's figure is the Evaluator's check on the exported model, words compared whole.
    assert shares[-1] == pytest.approx(_collapse(model, output, files))
    training = json.loads((tmp_path / "run" / "data.json").read_text())["training"]
    assert training["exported"] == "last epoch" and training["top_reply_share"] == pytest.approx(shares[-1])


def test_mixed_precision_without_a_gpu_trains_in_float32(tiny_transform, tmp_path):
    import keras

    model, _, history, _, _ = _train(tiny_transform, tmp_path, train_steps=1, mixed_precision=1)
    report = json.loads((tmp_path / "run" / "data.json").read_text())
    assert report["dtype_policy"] == "float32" and model.compute_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # nothing leaks to later code
    assert "no GPU is visible" in report["precision"]
    assert np.isfinite(history["loss"][0])


def test_two_layer_attention_model_exports_and_serves(tiny_transform, tmp_path):
    from .conftest import run_trainer

    out = run_trainer(
        tiny_transform,
        tmp_path,
        {
            "embedding_dim": 8,
            "units": 16,
            "batch_size": 32,
            "train_steps": 2,
            "eval_steps": 1,
            "layers": 2,
            "attention": 1,
            "tie_embeddings": 0,
            "finetune_epochs": 0,
        },
    )
    model = tf.saved_model.load(str(out / "serving_model"))
    assert json.loads(model.architecture.numpy())["layers"] == 2
    messages = tf.constant(["Hi, how are you?", "?!", "Where are you going tonight?"])
    from common.decode_options import BEAM_SEARCH
    from trainer.decoding import option_tensors

    # beam_search is generate with BEAM_SEARCH's options at the asked width (width 1 is greedy
    # decoding with them); other options (MMI-antiLM) rank otherwise.
    generate = model.signatures[names.GENERATE_SIGNATURE]
    for width in (1, 3):
        beam = model.signatures[names.BEAM_SIGNATURE](text=messages, beam_width=tf.constant(width))
        same = generate(text=messages, **option_tensors(dataclasses.replace(BEAM_SEARCH, beam_width=width)))
        other = dataclasses.replace(BEAM_SEARCH, beam_width=width, antilm_weight=0.5, antilm_steps=100)
        plain = generate(text=messages, **option_tensors(other))
        assert beam["alternatives"].shape == (3, width)
        assert beam["alternatives"].numpy().tolist() == same["alternatives"].numpy().tolist()
        np.testing.assert_allclose(beam["alternative_scores"], same["alternative_scores"], rtol=1e-5)
        assert not np.allclose(beam["alternative_scores"], plain["alternative_scores"], rtol=1e-3)
