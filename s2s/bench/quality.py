"""``s2s bench quality``: the default model against the tutorial's configuration and a
unigram model, on the same splits, the same vocabulary and the same budget of examples.

1. The pipeline's own preprocessing (CornellExampleGen -> StatisticsGen -> SchemaGen ->
   Transform, LocalDagRunner) runs once on the corpus with the tutorial's vocabulary
   (15,000) and MAX_LEN (20). Both models train on its train split and are scored on its
   eval split (movies neither model saw).
2. (a) the default model: :class:`s2s.config.PipelineConfig`'s Trainer settings (with any
   ``--set KEY=VALUE`` overrides); (b) the tutorial's configuration: frozen GloVe 50d
   embedding, one LSTM of 300 units, no attention, no dropout. Both train with the same
   Trainer code (:func:`trainer.task.train`: masked loss, Adam, clipping, batch size) for
   the same number of steps, so they see the same examples; early stopping is off, so
   neither stops before the budget is spent. What differs is the model configuration.
   (c) a unigram model: add-one smoothed frequencies of the train split's target tokens.
3. For each: eval perplexity (exp of the masked mean cross-entropy; target tokens
   including the closing ``<eos>``), masked token accuracy, BLEU-2 and distinct-1/-2 of
   greedy replies (greedy decoding is the exported model's own, :class:`trainer.export.ChatbotExport`),
   and five sample replies.

Output: a table, the goal lines, and ``quality.json`` in the work directory.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from s2s import config as C

GOAL_VS_TUTORIAL = 0.25  # default perplexity at least 25 % lower than the tutorial configuration's
GOAL_VS_UNIGRAM = 2.0  # and at least 2x lower than the unigram model's
TUTORIAL = {"embedding_dim": 50, "units": 300, "layers": 1, "attention": 0, "dropout": 0.0, "glove_trainable": 0}
SAMPLE_COUNT = 5


def _preprocess(data_dir: str, work_dir: str, vocab_size: int, max_len: int):
    """Runs (or reuses, through the pipeline cache) ExampleGen..Transform; returns the
    Transform output dir and the transformed train/eval file patterns."""
    from pipeline import local_runner

    cfg = C.PipelineConfig(data_dir=data_dir, work_dir=work_dir, vocab_size=vocab_size, max_len=max_len)
    local_runner.run(cfg, preprocessing_only=True)
    return transform_outputs(cfg.pipeline_root)


def transform_outputs(pipeline_root: str):
    """The newest Transform graph and transformed train/eval file patterns under a pipeline root."""
    root = Path(pipeline_root) / "Seq2SeqTransform"

    def newest(pattern: str) -> Path:
        found = sorted(root.glob(pattern), key=lambda p: int(p.parent.name if p.name.startswith("Split-") else p.name))
        if not found:
            raise FileNotFoundError(f"no Transform output matches {root / pattern}")
        return found[-1]

    graph = newest("transform_graph/*")
    examples = newest("transformed_examples/*/Split-train").parent
    return str(graph), [str(examples / "Split-train" / "*")], [str(examples / "Split-eval" / "*")]


def unigram_perplexity(train_files: List[str], eval_files: List[str], tft_output, vocab_size: int) -> float:
    """Perplexity on the eval targets of add-one smoothed train target-token frequencies."""
    from trainer.task import make_dataset

    counts = np.zeros(vocab_size, np.float64)
    for _, target in make_dataset(train_files, tft_output, 1024, shuffle=False):
        t = target.numpy().reshape(-1)
        counts += np.bincount(t[t != C.PAD_ID], minlength=vocab_size)
    counts[C.PAD_ID] = 0.0
    probs = (counts + 1.0) / (counts.sum() + vocab_size - 1)  # <pad> is never a target
    nll, tokens = 0.0, 0
    for _, target in make_dataset(eval_files, tft_output, 1024, shuffle=False):
        t = target.numpy().reshape(-1)
        t = t[t != C.PAD_ID]
        nll -= float(np.log(probs[t]).sum())
        tokens += t.size
    return math.exp(nll / tokens)


def score(model, tft_output, eval_files: List[str], max_len: int, batch_size: int = 256) -> Dict[str, Any]:
    """Perplexity, masked accuracy, BLEU-2, distinct-1/2 and sample replies on the eval split."""
    import tensorflow as tf

    from trainer import sequence_metrics as sm
    from trainer.export import ChatbotExport, vocabulary
    from trainer.task import make_dataset

    words = vocabulary(tft_output)
    exporter = ChatbotExport(model, tft_output, max_len)
    greedy = tf.function(exporter.greedy_decode)
    stats = np.zeros(3)
    hyps, refs, replies, samples = [], [], [], []
    for (enc, dec_in), target in make_dataset(eval_files, tft_output, batch_size, shuffle=False):
        log_probs = tf.nn.log_softmax(tf.cast(model((enc, dec_in)), tf.float32))
        target_log_probs = tf.gather(log_probs, target, batch_dims=2)
        stats += sm.token_stats(target, target_log_probs, tf.argmax(log_probs, axis=-1))
        _, ids, _, _ = greedy(enc)
        for e, hyp, ref in zip(enc.numpy(), ids.numpy(), target.numpy()):
            hyps.append(sm.id_text(hyp))
            refs.append(sm.id_text(ref))
            reply = [words[int(i)] for i in sm.id_text(hyp).split()]
            replies.append(reply)
            if len(samples) < SAMPLE_COUNT:
                samples.append({
                    "input": " ".join(words[i] for i in e if i != C.PAD_ID),
                    "reference": " ".join(words[int(i)] for i in sm.id_text(ref).split()),
                    "reply": " ".join(reply),
                })
    return {
        "perplexity": sm.perplexity(stats),
        "masked_accuracy": sm.masked_accuracy(stats),
        "bleu2": sm.corpus_bleu(hyps, refs, max_order=2),
        "distinct1": sm.distinct_n(replies, 1),
        "distinct2": sm.distinct_n(replies, 2),
        "eval_pairs": len(hyps),
        "samples": samples,
    }


def _train_and_score(name: str, cfg: Dict[str, Any], tft_output, train_files, eval_files, out: Path, max_len: int) -> Dict[str, Any]:
    from trainer.task import train

    print(f"\n== training {name}: {json.dumps({k: v for k, v in sorted(cfg.items()) if k != 'glove_path'})}", flush=True)
    started = time.perf_counter()
    model, params, history = train(cfg, tft_output, train_files, eval_files, str(out / name))
    seconds = time.perf_counter() - started
    result = score(model, tft_output, eval_files, max_len)
    result.update(
        seconds=seconds,
        params=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        model=params.__dict__,
        val_perplexity_by_epoch=[float(x) for x in history.get("val_perplexity", [])],
    )
    return result


def run(
    data_dir: str,
    glove_path: str,
    work_dir: str | None = None,
    epochs: int = 10,
    overrides: Dict[str, Any] | None = None,
    vocab_size: int = 15_000,
    max_len: int = 20,
) -> int:
    import tensorflow_transform as tft

    work = Path(work_dir or os.path.join(C.DEFAULT_WORK_DIR, "bench-quality")).resolve()
    if not glove_path or not Path(glove_path).is_file():
        raise FileNotFoundError(f"the tutorial configuration needs a GloVe 50d text file: {glove_path!r} not found (--glove)")
    started = time.perf_counter()
    graph, train_files, eval_files = _preprocess(os.path.abspath(data_dir), str(work), vocab_size, max_len)
    tft_output = tft.TFTransformOutput(graph)
    vocab = tft_output.vocabulary_size_by_name(C.VOCABULARY_NAME) + C.NUM_RESERVED
    print(f"preprocessing: {time.perf_counter() - started:.0f} s; vocabulary {vocab:,} ids (MAX_LEN {max_len})", flush=True)

    base = C.PipelineConfig().replace(**(overrides or {})).trainer_hparams()
    # Same budget for both: the same steps of the same batch size; no early stop.
    budget = {"epochs": epochs, "train_steps": 0, "eval_steps": 0, "early_stopping_patience": 0, "glove_path": ""}
    default_cfg = {**base, **budget}
    tutorial_cfg = {**base, **budget, **TUTORIAL, "glove_path": os.path.abspath(glove_path)}
    runs = work / "runs"
    results = {
        "default": _train_and_score("default", default_cfg, tft_output, train_files, eval_files, runs, max_len),
        "tutorial": _train_and_score("tutorial", tutorial_cfg, tft_output, train_files, eval_files, runs, max_len),
    }
    unigram = unigram_perplexity(train_files, eval_files, tft_output, vocab)
    train_pairs = json.loads((runs / "default" / "data.json").read_text())["train"]["pairs"]

    print(f"\nquality on the eval split ({results['default']['eval_pairs']:,} pairs, movies unseen in training); "
          f"budget: {epochs} epochs = {epochs * train_pairs:,} examples seen by each model")
    print(f"{'model':<44}{'params':>12}{'train s':>9}{'perplexity':>12}{'masked acc':>12}{'BLEU-2':>8}{'dist-1':>8}{'dist-2':>8}")
    labels = {
        "default": "(a) default: " + ", ".join(f"{k}={default_cfg[k]}" for k in ("embedding_dim", "units", "layers", "attention", "tie_embeddings", "dropout")),
        "tutorial": "(b) tutorial: GloVe 50d frozen, LSTM 300",
    }
    for key in ("default", "tutorial"):
        r = results[key]
        print(f"{labels[key][:43]:<44}{r['params']:>12,}{r['seconds']:>9.0f}{r['perplexity']:>12.2f}{r['masked_accuracy']:>12.4f}"
              f"{r['bleu2']:>8.2f}{r['distinct1']:>8.3f}{r['distinct2']:>8.3f}")
    print(f"{'(c) unigram (add-one, train targets)':<44}{'':>12}{'':>9}{unigram:>12.2f}")
    for key in ("default", "tutorial"):
        print(f"eval perplexity by epoch, {key}: " + " ".join(f"{x:.1f}" for x in results[key]["val_perplexity_by_epoch"]))
    for key in ("default", "tutorial"):
        print(f"\nsample replies, {key}:")
        for s in results[key]["samples"]:
            print(f"  > {s['input']}\n    reply: {s['reply'] or '(empty)'}   [reference: {s['reference']}]")

    d, t = results["default"]["perplexity"], results["tutorial"]["perplexity"]
    lower = 1.0 - d / t
    ok_t, ok_u = lower >= GOAL_VS_TUTORIAL, unigram / d >= GOAL_VS_UNIGRAM
    print(f"\ngoal {'MET ' if ok_t else 'MISS'}: default perplexity {d:.2f} is {lower:.1%} lower than the tutorial configuration's {t:.2f} (goal >= {GOAL_VS_TUTORIAL:.0%})")
    print(f"goal {'MET ' if ok_u else 'MISS'}: default perplexity is {unigram / d:.2f}x lower than unigram's {unigram:.2f} (goal >= {GOAL_VS_UNIGRAM:.0f}x)")
    summary = {
        "data_dir": os.path.abspath(data_dir), "epochs": epochs, "examples_seen": epochs * train_pairs, "vocabulary": vocab,
        "max_len": max_len, "unigram_perplexity": unigram, "results": results,
        "goals": {"vs_tutorial": ok_t, "vs_unigram": ok_u},
    }
    (work / "quality.json").write_text(json.dumps(summary, indent=2))
    print(f"figures: {work / 'quality.json'}")
    return 0
