"""``s2s bench quality``: is the chatbot better than a language model that never sees the input,
does its reply depend on what was said, and what do its replies look like?

1. The pipeline's own preprocessing (CornellExampleGen -> StatisticsGen -> SchemaGen ->
   Transform, LocalDagRunner) runs once on the corpus. Every model and baseline below works
   in its token space (Transform ids, ``<unk>``, replies closed by ``<eos>``) and is scored
   on the eval split (movies no model trained on) and on the test split.
2. Models, trained by the Trainer's own code (:func:`trainer.task.train`: early stopping on
   the eval loss, best epoch kept) for at most ``epochs`` epochs: (a) the default model
   (:class:`trainer.params.TrainerSettings`, with any ``--set KEY=VALUE`` overrides); (b) the
   tutorial's configuration (frozen GloVe 50d embedding, one LSTM of 300 units, no
   attention, no dropout), unless ``--no-tutorial``.
3. Baselines that never see the input, trained on the train split's replies
   (:mod:`evaluator.ngram`): an add-one unigram and an interpolated Kneser–Ney trigram.
4. For each model: teacher-forced perplexity and its ratio to the trigram's; input
   dependence (perplexity with the inputs shuffled across pairs, fixed seed, divided by the
   perplexity with the true inputs: 1.0 means the input is ignored); and the replies of
   each decoder of :func:`decoders` (:mod:`trainer.decoding`, the export's own loop): plain
   and blocked greedy, the default decoder (what ``serving_default`` answers), beam search —
   distinct-1/2, the most frequent reply's share, repeated 2-/3-grams and words, fluency,
   mean length against the references', BLEU-1/2. All of it on eval and again on test, each
   split with its own goal lines. Then fixed sample inputs and their replies.

Output: tables, goal lines, and ``quality.json`` in the work directory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import features, names
from common.decode_options import DEFAULT_BEAM_WIDTH
from evaluator import ngram
from pipeline.config import DEFAULT_WORK_DIR, PipelineConfig
from trainer.params import TrainerSettings
from transforms.params import TransformSettings

TUTORIAL = {
    "embedding_dim": 50,
    "units": 300,
    "layers": 1,
    "attention": False,
    "bidirectional": False,
    "copy": False,
    "word_dropout": 0.0,
    "dropout": 0.0,
    "glove_trainable": False,
}
SAMPLE_INPUTS = (
    "Where are you going?",
    "I love you.",
    "The police are coming.",
    "What is your name?",
    "Do you want to dance with me?",
    "I think we should get out of here.",
    "How much money do you have?",
    "Have you seen my brother?",
)
# Goals (issues 16, 21 and 25), judged on the eval split and again on the test split (the
# held-out check) with the default settings; perplexity and input dependence on the mean over seeds.
GOAL_VS_TRIGRAM = 0.75  # perplexity at most this times the Kneser-Ney trigram's
GOAL_INPUT_DEPENDENCE = 1.20
GOAL_TOP_REPLY_SHARE = 0.05
GOAL_DISTINCT2 = 0.12
GOAL_LENGTH_RATIO = 0.30  # mean reply length within 30 % of the references'
GOAL_REPEATED_2GRAM = 0.10  # default decoder: at most this share of replies repeat a bigram
GOAL_FLUENCY_RATIO = 0.10  # default decoder: mean log-probability under the trigram within 10 % of the references'
GOAL_SEARCH_TOP_REPLY = 0.10  # greedy and beam search: the most frequent reply at most this share


def _preprocess(data_dir: str, work_dir: str, transform: TransformSettings):
    """Runs (or reuses, through the pipeline cache) ExampleGen..Transform with the ``transform``
    settings; returns the Transform output dir and the transformed split file patterns."""
    from pipeline import local_runner

    cfg = PipelineConfig.of(data_dir=data_dir, work_dir=work_dir, **dataclasses.asdict(transform))
    local_runner.run(cfg, preprocessing_only=True)
    return transform_outputs(cfg.pipeline_root)


def transform_outputs(pipeline_root: str):
    """The newest Transform graph and transformed split file patterns (train, eval, test)."""
    root = Path(pipeline_root) / "Seq2SeqTransform"

    def newest(pattern: str) -> Path:
        found = sorted(root.glob(pattern), key=lambda p: int(p.parent.name if p.name.startswith("Split-") else p.name))
        if not found:
            raise FileNotFoundError(f"no Transform output matches {root / pattern}")
        return found[-1]

    graph = newest("transform_graph/*")
    examples = newest("transformed_examples/*/Split-train").parent
    return str(graph), *(
        [str(examples / f"Split-{split}" / "*")] for split in (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT)
    )


def load_split(files: list[str], tft_output) -> dict[str, np.ndarray]:
    """A transformed split as arrays: encoder ids, decoder input ids, target ids."""
    from trainer.task import make_dataset

    parts: dict[str, list] = {"encoder": [], "decoder": [], "target": []}
    for (enc, dec), target in make_dataset(files, tft_output, 1024, shuffle=False):
        for key, value in zip(parts, (enc, dec, target)):
            parts[key].append(value.numpy())
    return {key: np.concatenate(value) for key, value in parts.items()}


def teacher_forced(model, split: dict[str, np.ndarray], encoder: np.ndarray | None = None, batch: int = 256) -> np.ndarray:
    """[right, tokens, nll] of the split's targets, given ``encoder`` ids (default: the true inputs)."""
    from evaluator import sequence_metrics as sm
    from trainer.model import teacher_forced as teacher_forced_log_probs

    encoder = split["encoder"] if encoder is None else encoder
    stats = np.zeros(3)
    for i in range(0, len(encoder), batch):
        target = split["target"][i : i + batch]
        stats += sm.token_stats(
            target, *teacher_forced_log_probs(model, encoder[i : i + batch], split["decoder"][i : i + batch], target)
        )
    return stats


def decoders() -> dict[str, Any]:
    """The decoders compared: plain greedy, greedy with trigram blocking (the Evaluator's collapse
    check), the default (serving_default) with and without its antiLM, session 13's default (two
    samples), and beam search as beam_search runs it, with and without its antiLM."""
    from common.decode_options import BEAM_SEARCH, GREEDY, SAMPLING, DecodeOptions

    default = DecodeOptions()
    return {
        "greedy (plain)": dataclasses.replace(GREEDY, no_repeat_ngram=0, no_repeat_word=0, min_length=0),
        "greedy (blocked)": GREEDY,
        "default decoder": default,
        "default, repeats allowed": dataclasses.replace(default, no_repeat_word=0),
        "default without antiLM": dataclasses.replace(default, antilm_weight=0.0),
        "sampling (session 13)": SAMPLING,
        f"beam {DEFAULT_BEAM_WIDTH}": BEAM_SEARCH,
        f"beam {DEFAULT_BEAM_WIDTH} without antiLM": dataclasses.replace(BEAM_SEARCH, antilm_weight=0.0),
    }


def replies(exporter, encoder: np.ndarray, options, batch: int = 256) -> list[list[str]]:
    """The best reply of each input under ``options``, as words."""
    import tensorflow as tf

    from trainer.decoding import option_tensors

    decode = tf.function(lambda ids: exporter.decode(ids, option_tensors(options))[0][:, 0])
    out: list[list[str]] = []
    for i in range(0, len(encoder), batch):
        out += [t.decode().split() for t in decode(tf.constant(encoder[i : i + batch])).numpy()]
    return out


def fluency_scorer(train: dict[str, np.ndarray], words: list[str]):
    """A reply's fluency (words in, mean log-probability per token out) under the Kneser-Ney
    trigram of the train split's replies, in the model's token space (``<eos>`` closes the reply)."""
    return ngram.word_fluency(ngram.KneserNeyTrigramLM([ngram.reply_ids(row) for row in train["target"]], len(words)), words)


def score(model, tft_output, splits: dict[str, dict[str, np.ndarray]], max_len: int, fluency=None) -> dict[str, Any]:
    """Perplexity, input dependence, accuracy and the reply measures of each decoder, per split
    (with ``fluency``, a :func:`fluency_scorer`, the replies' and references' fluency); the
    sample inputs' replies."""
    import tensorflow as tf

    from evaluator import sequence_metrics as sm
    from trainer.export import ChatbotExport, vocabulary

    words = vocabulary(tft_output)
    exporter = ChatbotExport(model, tft_output, max_len)
    result: dict[str, Any] = {}
    for name, split in splits.items():
        permutation = sm.shuffled_order(len(split["encoder"]))
        true, shuffled = teacher_forced(model, split), teacher_forced(model, split, split["encoder"][permutation])
        references = [[words[i] for i in ngram.reply_ids(row) if i != features.EOS_ID] for row in split["target"]]
        result[name] = {
            "pairs": len(split["encoder"]),
            "perplexity": sm.perplexity(true),
            "perplexity_inputs_shuffled": sm.perplexity(shuffled),
            "input_dependence": sm.input_dependence(true, shuffled),
            "masked_accuracy": sm.masked_accuracy(true),
            "decoders": {
                decoder: sm.reply_measures(replies(exporter, split["encoder"], options), references, fluency)
                for decoder, options in decoders().items()
            },
        }
    sample_ids = exporter._encoder_ids(tf.constant(SAMPLE_INPUTS)).numpy()  # noqa: SLF001 - the export's own tokenizer
    result["samples"] = {
        name: [" ".join(r) for r in replies(exporter, sample_ids, options)] for name, options in decoders().items()
    }
    return result


def baselines(splits: dict[str, dict[str, np.ndarray]], vocab_size: int) -> dict[str, dict[str, float]]:
    """Unigram and Kneser-Ney trigram perplexities of each scored split's replies."""
    train = [ngram.reply_ids(row) for row in splits[features.TRAIN_SPLIT]["target"]]
    models = {"unigram": ngram.UnigramLM(train, vocab_size), "trigram": ngram.KneserNeyTrigramLM(train, vocab_size)}
    return {
        name: {
            split: ngram.perplexity(lm, [ngram.reply_ids(r) for r in splits[split]["target"]])
            for split in (features.EVAL_SPLIT, features.TEST_SPLIT)
        }
        for name, lm in models.items()
    }


def _train_and_score(
    name: str, cfg: TrainerSettings, tft_output, files: dict[str, list[str]], splits, out: Path, max_len: int, fluency=None
) -> dict[str, Any]:
    from trainer.task import train

    print(
        f"\n== training {name}: {json.dumps({k: v for k, v in sorted(dataclasses.asdict(cfg).items()) if k != 'glove_path'})}",
        flush=True,
    )
    started = time.perf_counter()
    model, params, history = train(cfg, tft_output, files[features.TRAIN_SPLIT], files[features.EVAL_SPLIT], str(out / name))
    seconds = time.perf_counter() - started
    result = score(model, tft_output, {k: splits[k] for k in (features.EVAL_SPLIT, features.TEST_SPLIT)}, max_len, fluency)
    result.update(
        seconds=seconds,
        epochs_run=len(history.get("loss", [])),
        params=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        model=dataclasses.asdict(params),
        val_perplexity_by_epoch=[float(x) for x in history.get("val_perplexity", [])],
    )
    return result


def _goal(ok: bool, text: str) -> bool:
    print(f"goal {'MET ' if ok else 'MISS'}: {text}")
    return ok


def seed_spread(
    results: dict[str, dict[str, Any]], keys: list[str], trigram: float, split: str = features.EVAL_SPLIT
) -> dict[str, tuple[float, float, float, float]]:
    """(mean, standard deviation, min, max) over the runs ``keys`` (the same settings, other seeds)
    of ``split``'s perplexity ratio to the trigram's (``trigram``: its perplexity on that split)
    and of the input dependence; printed."""
    figures = {
        "vs_trigram": [results[k][split]["perplexity"] / trigram for k in keys],
        "input_dependence": [results[k][split]["input_dependence"] for k in keys],
    }
    out = {}
    for name, values in figures.items():
        v = np.asarray(values)
        out[name] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, float(v.min()), float(v.max()))
    (r_mean, r_sd, r_lo, r_hi), (d_mean, d_sd, d_lo, d_hi) = out["vs_trigram"], out["input_dependence"]
    print(
        f"over {len(keys)} seeds: {split} perplexity / trigram mean {r_mean:.4f}, sd {r_sd:.4f} ({r_lo:.4f} to {r_hi:.4f}); "
        f"input dependence mean {d_mean:.4f}, sd {d_sd:.4f} ({d_lo:.4f} to {d_hi:.4f})"
    )
    return out


def _print_perplexities(results: dict[str, dict[str, Any]], base: dict[str, dict[str, float]], labels: dict[str, str]) -> None:
    """The baselines' perplexities, then each model's perplexity, ratio to the trigram's, input
    dependence and masked accuracy on eval and test."""
    trigram, unigram = base["trigram"], base["unigram"]
    print("\nbaselines (reply language models that never see the input; train replies; same token space):")
    for split in (features.EVAL_SPLIT, features.TEST_SPLIT):
        print(f"  {split:<5} unigram (add-one) {unigram[split]:8.2f}   Kneser-Ney trigram {trigram[split]:8.2f}")
    print(
        f"\n{'model':<40}{'split':>6}{'params':>11}{'epochs':>7}{'perplexity':>11}{'/trigram':>9}{'input dep.':>11}{'masked acc':>11}"
    )
    for key, r in results.items():
        for split in (features.EVAL_SPLIT, features.TEST_SPLIT):
            s = r[split]
            print(
                f"{labels[key][:39]:<40}{split:>6}{r['params']:>11,}{r['epochs_run']:>7}{s['perplexity']:>11.2f}"
                f"{s['perplexity'] / trigram[split]:>9.3f}{s['input_dependence']:>11.3f}{s['masked_accuracy']:>11.4f}"
            )


def _print_replies(results: dict[str, dict[str, Any]], split: str) -> None:
    """The reply measures of every model and decoder on ``split``, and the references'."""
    print(f"\nreplies on the {split} split ({next(iter(results.values()))[split]['pairs']:,} inputs):")
    print(
        f"{'model / decoder':<40}{'dist-1':>8}{'dist-2':>8}{'top reply':>10}{'rep 2g':>8}{'rep 3g':>8}{'rep w':>7}"
        f"{'fluency':>9}{'length':>13}{'BLEU-1':>8}{'BLEU-2':>8}"
    )
    for key, r in results.items():
        for name, m in r[split]["decoders"].items():
            print(
                f"{(key + ': ' + name)[:39]:<40}{m['distinct1']:>8.4f}{m['distinct2']:>8.4f}{m['top_reply_share']:>10.1%}"
                f"{m['repeated_2gram_share']:>8.1%}{m['repeated_3gram_share']:>8.1%}{m['word_repeat_share']:>7.1%}"
                f"{m.get('fluency', float('nan')):>9.3f}"
                f"{m['mean_length']:>6.2f} ({m['reference_mean_length']:.2f}){m['bleu1']:>8.2f}{m['bleu2']:>8.2f}"
            )
    m = next(iter(results.values()))[split]["decoders"]["default decoder"]
    print(
        f"{'references (the target)':<40}{'':>8}{'':>8}{'':>10}{m['reference_repeated_2gram_share']:>8.1%}{'':>8}"
        f"{m['reference_word_repeat_share']:>7.1%}{m.get('reference_fluency', float('nan')):>9.3f}"
    )
    print("  fluency: mean log-probability per token under the Kneser-Ney trigram of the train replies")


def _print_samples(results: dict[str, dict[str, Any]]) -> None:
    """The most frequent replies on eval, the eval perplexity by epoch and the sample replies."""
    for key, r in results.items():
        decoders = r[features.EVAL_SPLIT]["decoders"]
        print(
            f"most frequent replies on eval, {key}: " + "; ".join(f"{name}: {m['top_reply']!r}" for name, m in decoders.items())
        )
        print(f"eval perplexity by epoch, {key}: " + " ".join(f"{x:.1f}" for x in r["val_perplexity_by_epoch"]))
    for key, r in results.items():
        print(f"\nsample replies, {key} (one line per decoder: {' | '.join(r['samples'])}):")
        for i, message in enumerate(SAMPLE_INPUTS):
            print(f"  > {message}")
            for name, texts in r["samples"].items():
                print(f"    {name:<16} {texts[i] or '(empty)'}")


def report(
    results: dict[str, dict[str, Any]], base: dict[str, dict[str, float]], labels: dict[str, str], seeds: list[str] | None = None
) -> dict[str, bool]:
    """Prints the tables and the goal lines, on eval then on test (the held-out check); returns
    the goals by split and name. ``seeds``: the runs of the default settings with other seeds;
    perplexity and input dependence are then judged on their mean."""
    _print_perplexities(results, base, labels)
    for split in (features.EVAL_SPLIT, features.TEST_SPLIT):
        _print_replies(results, split)
    _print_samples(results)
    goals = {}
    for split in (features.EVAL_SPLIT, features.TEST_SPLIT):
        print()
        goals |= {f"{split} {k}": v for k, v in _split_goals(results, base["trigram"][split], split, seeds).items()}
    return goals


def _split_goals(results: dict[str, dict[str, Any]], trigram: float, split: str, seeds: list[str] | None) -> dict[str, bool]:
    """The goal lines of one split (``trigram``: the trigram's perplexity on it): the default
    model's perplexity and input dependence (the mean over ``seeds`` when more than one), its
    default decoder's replies against plain greedy's and the references', the searches' collapse."""
    s = results["default"][split]
    m, greedy = s["decoders"]["default decoder"], s["decoders"]["greedy (plain)"]
    ratio, dependence, of = s["perplexity"] / trigram, s["input_dependence"], ""
    length_off = abs(m["mean_length"] / m["reference_mean_length"] - 1.0)
    if seeds and len(seeds) > 1:
        spread = seed_spread(results, seeds, trigram, split)
        ratio, dependence, of = spread["vs_trigram"][0], spread["input_dependence"][0], f" (mean over {len(seeds)} seeds)"

    def goal(ok: bool, text: str) -> bool:
        return _goal(ok, f"[{split}] {text}")

    return {
        "vs_trigram": goal(
            ratio <= GOAL_VS_TRIGRAM,
            f"default perplexity = {ratio:.4f} x the Kneser-Ney trigram's {trigram:.2f}{of} (goal <= {GOAL_VS_TRIGRAM})",
        ),
        "input_dependence": goal(
            dependence >= GOAL_INPUT_DEPENDENCE, f"input dependence {dependence:.4f}{of} (goal >= {GOAL_INPUT_DEPENDENCE})"
        ),
        "top_reply": goal(
            m["top_reply_share"] <= GOAL_TOP_REPLY_SHARE,
            f"default decoder's most frequent reply is {m['top_reply_share']:.1%} of its replies (goal <= {GOAL_TOP_REPLY_SHARE:.0%})",
        ),
        "distinct2": goal(
            m["distinct2"] >= GOAL_DISTINCT2, f"default decoder's distinct-2 {m['distinct2']:.4f} (goal >= {GOAL_DISTINCT2})"
        ),
        "no_loops": goal(
            m["repeated_3gram_share"] == 0.0,
            f"default decoder's replies with a repeated trigram: {m['repeated_3gram_share']:.1%} (goal 0)",
        ),
        "length": goal(
            length_off <= GOAL_LENGTH_RATIO,
            f"default decoder's mean length {m['mean_length']:.2f} is {length_off:.0%} off the references' {m['reference_mean_length']:.2f} (goal within {GOAL_LENGTH_RATIO:.0%})",
        ),
        "bleu2": goal(
            m["bleu2"] >= greedy["bleu2"],
            f"default decoder's BLEU-2 {m['bleu2']:.2f} vs plain greedy's {greedy['bleu2']:.2f} on the same model (goal: not below)",
        ),
        **_fluency_goals(s["decoders"], goal),
    }


def _fluency_goals(decoders: dict[str, dict[str, Any]], goal) -> dict[str, bool]:
    """#25's reply goals: the default decoder reads as well as the references (no word twice in a
    row, few repeated bigrams, fluency near theirs) and the searches do not collapse. ``goal``
    prints and returns one goal (:func:`_goal` with the split's name)."""
    m = decoders["default decoder"]
    fluency_off = abs(m["fluency"] / m["reference_fluency"] - 1.0)
    goals = {
        "no_word_repeats": goal(
            m["word_repeat_share"] == 0.0,
            f"default decoder's replies with a word twice in a row: {m['word_repeat_share']:.1%} (goal 0; references {m['reference_word_repeat_share']:.1%})",
        ),
        "repeated_bigrams": goal(
            m["repeated_2gram_share"] <= GOAL_REPEATED_2GRAM,
            f"default decoder's replies with a repeated bigram: {m['repeated_2gram_share']:.1%} (goal <= {GOAL_REPEATED_2GRAM:.0%}; references {m['reference_repeated_2gram_share']:.1%})",
        ),
        "fluency": goal(
            fluency_off <= GOAL_FLUENCY_RATIO,
            f"default decoder's fluency {m['fluency']:.3f} is {fluency_off:.1%} off the references' {m['reference_fluency']:.3f} (goal within {GOAL_FLUENCY_RATIO:.0%})",
        ),
    }
    for name in ("greedy (blocked)", f"beam {DEFAULT_BEAM_WIDTH}"):
        share = decoders[name]["top_reply_share"]
        goals[f"top_reply {name}"] = goal(
            share <= GOAL_SEARCH_TOP_REPLY,
            f"{name}'s most frequent reply is {share:.1%} of its replies (goal <= {GOAL_SEARCH_TOP_REPLY:.0%})",
        )
    return goals


def _prepare(data_dir: str, work: Path, transform: TransformSettings):
    """ExampleGen and Transform (reused when done before); returns (the Transform's output,
    split -> file patterns, split -> loaded ids, vocabulary size with the reserved ids) and
    prints what it took."""
    import tensorflow_transform as tft

    started = time.perf_counter()
    graph, *patterns = _preprocess(os.path.abspath(data_dir), str(work), transform)
    files = dict(zip((features.TRAIN_SPLIT, features.EVAL_SPLIT, features.TEST_SPLIT), patterns))
    tft_output = tft.TFTransformOutput(graph)
    vocab = tft_output.vocabulary_size_by_name(features.VOCABULARY_NAME) + features.NUM_RESERVED
    splits = {name: load_split(f, tft_output) for name, f in files.items()}
    print(
        f"preprocessing: {time.perf_counter() - started:.0f} s; vocabulary {vocab:,} ids (MAX_LEN {transform.max_len}"
        + (f", previous lines' last {transform.context_len} tokens" if transform.context_len else "")
        + "); "
        + ", ".join(f"{name} {len(s['target']):,} pairs" for name, s in splits.items()),
        flush=True,
    )
    return tft_output, files, splits, vocab


def _show_progress() -> None:
    """The Trainer's epoch lines on stdout, once (not again by the root logger TFX configured)."""
    progress = logging.getLogger(names.PROGRESS_LOGGER)
    progress.setLevel(logging.INFO)
    progress.propagate = False
    progress.addHandler(logging.StreamHandler(sys.stdout))


def _configs(base, seeds: int, glove_path: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(name -> Trainer settings, name -> label): the default model, its other seeds, and the
    tutorial's configuration when ``glove_path`` is given."""
    shown = ("embedding_dim", "units", "attention", "copy", "bidirectional", "word_dropout", "dropout")
    configs = {"default": base}
    labels = {"default": "(a) default: " + ", ".join(f"{k}={getattr(base, k)}" for k in shown)}
    for i in range(1, seeds):
        configs[f"default, seed {base.seed + i}"] = dataclasses.replace(base, seed=base.seed + i)
        labels[f"default, seed {base.seed + i}"] = f"(a) default, seed {base.seed + i}"
    if glove_path:
        configs["tutorial"] = dataclasses.replace(base, **TUTORIAL, glove_path=os.path.abspath(glove_path))
        labels["tutorial"] = "(b) tutorial: GloVe 50d frozen, LSTM 300"
    return configs, labels


def run(
    data_dir: str,
    glove_path: str,
    epochs: int,
    work_dir: str | None = None,
    overrides: dict[str, Any] | None = None,
    tutorial: bool = True,
    seeds: int = 1,
) -> int:
    """Trains and scores the default model (and the tutorial's); prints the report.

    Args:
        data_dir, glove_path, work_dir: the corpus, the tutorial's GloVe file, where runs go.
        epochs: the training budget of each model.
        overrides: settings of the default model by name (Transform settings included).
        tutorial: also train the tutorial's configuration.
        seeds: train the default model with this many seeds (its ``seed`` and the next ones) and
            report the mean and spread of perplexity and input dependence.

    Returns:
        The exit code (0).
    """
    _show_progress()
    work = Path(work_dir or os.path.join(DEFAULT_WORK_DIR, "bench-quality")).resolve()
    if tutorial and (not glove_path or not Path(glove_path).is_file()):
        raise FileNotFoundError(
            f"the tutorial configuration needs a GloVe 50d text file: {glove_path!r} not found (--glove, or --no-tutorial)"
        )
    settings = PipelineConfig().replace(**{"epochs": epochs, **(overrides or {})})
    max_len = settings.transform.max_len
    tft_output, files, splits, vocab = _prepare(data_dir, work, settings.transform)
    base_line = baselines(splits, vocab)

    configs, labels = _configs(settings.trainer, seeds, glove_path if tutorial else None)
    runs = work / "runs"
    from trainer.export import vocabulary

    fluency = fluency_scorer(splits[features.TRAIN_SPLIT], vocabulary(tft_output))
    results = {
        name: _train_and_score(name, cfg, tft_output, files, splits, runs, max_len, fluency) for name, cfg in configs.items()
    }
    goals = report(results, base_line, labels, [k for k in configs if k.startswith("default")])
    summary = {
        "data_dir": os.path.abspath(data_dir),
        "max_epochs": epochs,
        "seeds": [configs[k].seed for k in configs if k.startswith("default")],
        **{"vocabulary": vocab, "max_len": max_len, "baselines": base_line, "results": results, "goals": goals},
        "sample_inputs": list(SAMPLE_INPUTS),
    }
    (work / "quality.json").write_text(json.dumps(summary, indent=2))
    print(f"figures: {work / 'quality.json'}")
    return 0
