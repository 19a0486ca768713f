"""``s2s evaluate``: score an exported model on any corpus directory, with a readable report.

Every pair of the corpus is evaluated (no split). The pairs are read by the ExampleGen's
own loader (:mod:`components.cornell`) and turned into the same tf.Examples
(:func:`common.examples.pair_to_example`); preprocessing is the model's own
Transform graph, through its ``transform_features`` and ``serving_tf_example`` signatures;
the token metrics are :mod:`evaluator.sequence_metrics`, the code the Evaluator's TFMA
metrics use. Replies come from the model's ``serving_default`` (the default decoder) and, where the
model has it, ``beam_search`` signatures. BLEU references are the reference replies as the
model's vocabulary sees them (out-of-vocabulary words are ``<unk>``, cut at MAX_LEN - 1).

Output: a table on stdout, ``evaluation.json`` (every figure), and ``report.html`` with its
pictures (``perplexity_by_genre.png``, ``reply_lengths.png``) saved beside it and embedded.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from common import features, names, reply_corpus
from common.decode_options import DEFAULT_BEAM_WIDTH
from common.ids import token_counts, until_eos
from components.cornell import load_corpus
from evaluator import ngram
from evaluator import sequence_metrics as sm

REQUIRED_SIGNATURES = (names.SERVING_SIGNATURE, names.TF_EXAMPLE_SIGNATURE, names.TRANSFORM_SIGNATURE)


class EvaluationError(ValueError):
    """The model or the corpus cannot be evaluated: says what is missing."""


def _texts(pairs: list, field: str):
    """One text field of each pair, as a string tensor."""
    import tensorflow as tf

    return tf.constant([getattr(p, field) for p in pairs])


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_model(path: str | os.PathLike[str]):
    from serving.saved_model import ModelError, load_checked

    try:
        model_dir, model = load_checked(path, REQUIRED_SIGNATURES)
    except ModelError as exc:
        raise EvaluationError(str(exc)) from None
    if not hasattr(model, "id_to_token"):
        raise EvaluationError(f"{model_dir}: not a seq2seq-tfx chatbot export: no id_to_token table")
    return model_dir, model


def _tokens(ids: np.ndarray, id_to_token: list[str]) -> list[list[str]]:
    return [[id_to_token[i] for i in until_eos(row)] for row in ids]


@dataclasses.dataclass
class TeacherForced:
    """What the teacher-forced pass gathered: token statistics overall, with every input
    swapped for another pair's, and per genre; unknown-token counts; the references."""

    total: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))
    shuffled: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))
    by_genre: dict = dataclasses.field(default_factory=lambda: defaultdict(lambda: np.zeros(3)))
    pairs_by_genre: Counter = dataclasses.field(default_factory=Counter)
    unk: Counter = dataclasses.field(default_factory=Counter)
    references: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def _score(model, pairs: list, batch_size: int) -> TeacherForced:
    """Teacher-forced pass: token statistics overall and per genre, OOV shares, references. A
    second pass scores every reply against another pair's input and previous lines (a fixed
    permutation): how much worse that is measures how much the model uses what it is told."""
    import tensorflow as tf

    from common.examples import pair_to_example

    def examples(batch):
        return tf.constant([pair_to_example(p).SerializeToString() for p in batch])

    transform = model.signatures[names.TRANSFORM_SIGNATURE]
    # Teacher forcing only; models exported before score_tf_example existed decode as well (slower).
    scorer = model.signatures.get(names.SCORE_SIGNATURE) or model.signatures[names.TF_EXAMPLE_SIGNATURE]
    id_to_token = [t.decode() for t in model.id_to_token.numpy()]
    out, permutation, started = TeacherForced(), sm.shuffled_order(len(pairs)), time.perf_counter()
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        serialized = examples(batch)  # once: the Transform and the scorer read the same examples
        transformed, scored = transform(examples=serialized), scorer(examples=serialized)
        labels = transformed[features.DECODER_TARGET_IDS].numpy()
        for side, ids in (("input", transformed[features.ENCODER_INPUT_IDS].numpy()), ("target", labels)):
            tokens, unknown = token_counts(ids)
            out.unk[f"{side}_tokens"] += tokens
            out.unk[f"{side}_unk"] += unknown
        for pair, stats in zip(
            batch, map(sm.token_stats, labels, scored["target_log_probs"].numpy(), scored["predicted_ids"].numpy())
        ):
            out.total += stats
            for genre in pair.genres:
                out.by_genre[genre] += stats
                out.pairs_by_genre[genre] += 1
        others = [pairs[i] for i in permutation[start : start + batch_size]]
        swapped = scorer(
            examples=examples(
                [dataclasses.replace(p, input_text=o.input_text, context_text=o.context_text) for p, o in zip(batch, others)]
            )
        )
        out.shuffled += sm.token_stats(labels, swapped["target_log_probs"].numpy(), swapped["predicted_ids"].numpy())
        out.references += _tokens(labels, id_to_token)
    out.seconds = time.perf_counter() - started
    return out


def fluency_scorer(model_dir, id_to_token: list[str]):
    """A reply's fluency (words in, mean log-probability per token out) under the Kneser-Ney trigram
    of the replies the model was trained on, saved beside it (:mod:`common.reply_corpus`); None when
    the model has none (exported before they were saved)."""
    saved = reply_corpus.read(str(model_dir))
    if saved is None:
        return None
    return ngram.word_fluency(ngram.KneserNeyTrigramLM(*saved), id_to_token)


def _generate(model, pairs: list, references: list, batch_size: int, beam_width: int, fluency=None):
    """Replies of the default decoder (given each message's previous lines when the model reads
    context) and, when asked and exported, beam search: (figures per decoder, reply texts per
    decoder); with ``fluency`` (:func:`fluency_scorer`) the replies' and references' fluency."""
    import tensorflow as tf

    if names.CONTEXT_SIGNATURE in model.signatures:
        in_context = model.signatures[names.CONTEXT_SIGNATURE]
        decoders = {"default": lambda batch: in_context(text=_texts(batch, "input_text"), context=_texts(batch, "context_text"))}
    else:
        decoders = {"default": lambda batch: model.signatures[names.SERVING_SIGNATURE](text=_texts(batch, "input_text"))}
    if beam_width > 0 and names.BEAM_SIGNATURE in model.signatures:
        beam = model.signatures[names.BEAM_SIGNATURE]
        decoders[f"beam{beam_width}"] = lambda batch: beam(
            text=_texts(batch, "input_text"), beam_width=tf.constant(beam_width, tf.int32)
        )
    figures, texts = {}, {}
    for name, decoder in decoders.items():
        started = time.perf_counter()
        texts[name] = [t.decode() for batch in _batches(pairs, batch_size) for t in decoder(batch)["reply"].numpy()]
        elapsed = time.perf_counter() - started
        figures[name] = {
            **sm.reply_measures([t.split() for t in texts[name]], references, fluency),
            "replies_per_second": len(texts[name]) / elapsed if elapsed else float("nan"),
        }
    return figures, texts


def _length_figures(reply_lengths: list[int]) -> dict:
    lengths = np.asarray(reply_lengths)
    return {
        "mean": float(lengths.mean()) if lengths.size else 0.0,
        "p50": float(np.percentile(lengths, 50)) if lengths.size else 0.0,
        "p90": float(np.percentile(lengths, 90)) if lengths.size else 0.0,
        "max": int(lengths.max()) if lengths.size else 0,
        "histogram": {int(k): int(v) for k, v in sorted(Counter(reply_lengths).items())},
    }


def _skipped(counts: dict, not_replied: int) -> dict:
    """What the corpus loader skipped, and the messages too long to reply to."""
    return {
        "pairs_with_a_missing_line": counts["pairs_skipped_missing_line"],
        "pairs_with_an_empty_utterance": counts["pairs_skipped_empty_utterance"],
        "malformed_lines": counts["lines_malformed"],
        "blank_lines": counts["lines_blank"] + counts["conversations_blank"],
        "duplicate_line_ids": counts["lines_duplicate_id"],
        "malformed_conversations": counts["conversations_malformed"],
        "replies_not_generated_input_too_long": not_replied,
    }


def _token_figures(scored: TeacherForced) -> dict:
    unk = scored.unk
    return {
        "oov_share_input": unk["input_unk"] / unk["input_tokens"] if unk["input_tokens"] else 0.0,
        "oov_share_target": unk["target_unk"] / unk["target_tokens"] if unk["target_tokens"] else 0.0,
        "perplexity": sm.perplexity(scored.total),
        "perplexity_inputs_shuffled": sm.perplexity(scored.shuffled),
        "input_dependence": sm.input_dependence(scored.total, scored.shuffled),
        "masked_token_accuracy": sm.masked_accuracy(scored.total),
        "target_tokens": int(scored.total[sm.TOKENS]),
    }


def _replyable(pairs: list, with_context: bool) -> list[int]:
    """The pairs the serving signature replies to: those whose message (and previous lines, when
    it is sent) is at most MAX_INPUT_BYTES; the others are counted, not replied to."""
    sent = ("input_text", "context_text") if with_context else ("input_text",)
    return [i for i, p in enumerate(pairs) if max(len(getattr(p, f).encode()) for f in sent) <= names.MAX_INPUT_BYTES]


def evaluate(
    model_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    encoding: str = "auto",
    batch_size: int = 256,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    samples: int = 15,
) -> dict:
    """Scores the model at ``model_path`` on every pair of the corpus in ``data_dir`` and writes
    the report to ``out_dir``: load, score (teacher forced), generate, write.

    Returns:
        Every figure (what ``evaluation.json`` holds).
    """
    model_dir, model = _load_model(model_path)
    pairs, report = load_corpus(data_dir, encoding)
    if not pairs:
        raise EvaluationError(f"{data_dir}: the corpus holds no utterance pair to evaluate\n{report.summary()}")
    scored = _score(model, pairs, batch_size)
    replyable = _replyable(pairs, names.CONTEXT_SIGNATURE in model.signatures)
    figures_replies, replies_text = _generate(
        model,
        [pairs[i] for i in replyable],
        [scored.references[i] for i in replyable],
        max(1, batch_size // 4),
        beam_width,
        fluency_scorer(model_dir, [t.decode() for t in model.id_to_token.numpy()]),
    )
    counts = report.as_dict()
    figures = {
        "model": str(model_dir),
        "data": str(Path(data_dir).resolve()),
        "pairs_read": counts["pairs"],
        "pairs_evaluated": len(pairs),
        "skipped": _skipped(counts, len(pairs) - len(replyable)),
        **_token_figures(scored),
        "replies": figures_replies,
        "reply_length": _length_figures([len(t.split()) for t in replies_text["default"]]),
        "throughput": {"teacher_forced_pairs_per_second": len(pairs) / scored.seconds},
        "per_genre": {
            genre: {
                "pairs": scored.pairs_by_genre[genre],
                "perplexity": sm.perplexity(stats),
                "masked_token_accuracy": sm.masked_accuracy(stats),
            }
            for genre, stats in sorted(scored.by_genre.items())
        },
    }
    step = max(1, len(replyable) // max(samples, 1))
    sample = [
        {
            "input": pairs[i].input_text,
            "reference": pairs[i].target_text,
            **{name: replies_text[name][k] for name in replies_text},
        }
        for k, i in list(enumerate(replyable))[::step][:samples]
    ]
    _write(figures, sample, Path(out_dir))
    return figures


# --------------------------------------------------------------------- output
def _decoder_rows(name: str, r: dict) -> list[tuple[str, str]]:
    """The table rows of one decoder's replies."""
    rows = []
    rows.append(
        (
            f"{name} replies: BLEU-1 / BLEU-2",
            f"{r['bleu1']:.2f} / {r['bleu2']:.2f}",
        )
    )
    rows.append((f"{name} replies: distinct-1 / distinct-2", f"{r['distinct1']:.4f} / {r['distinct2']:.4f}"))
    rows.append((f"{name} replies: most frequent reply (share)", f"{r['top_reply_share']:.2%} ({r['top_reply']!r})"))
    rows.append(
        (
            f"{name} replies: with a repeated 2-gram / 3-gram",
            f"{r['repeated_2gram_share']:.2%} / {r['repeated_3gram_share']:.2%}",
        )
    )
    rows.append(
        (
            f"{name} replies: with a word twice in a row / a repeated 2-gram, references",
            f"{r['word_repeat_share']:.2%} / {r['reference_word_repeat_share']:.2%}, {r['reference_repeated_2gram_share']:.2%}",
        )
    )
    rows.append(
        (f"{name} replies: mean length / reference mean length", f"{r['mean_length']:.2f} / {r['reference_mean_length']:.2f}")
    )
    if "fluency" in r:
        rows.append(
            (
                f"{name} replies: fluency / reference fluency (mean log-prob per token, trigram of the train replies)",
                f"{r['fluency']:.3f} / {r['reference_fluency']:.3f}",
            )
        )
    rows.append((f"{name} replies per second", f"{r['replies_per_second']:.0f}"))
    return rows


def table(figures: dict) -> str:
    rows = [
        ("model", figures["model"]),
        ("data", figures["data"]),
        ("pairs evaluated", f"{figures['pairs_evaluated']:,}"),
    ]
    rows += [(f"skipped: {k.replace('_', ' ')}", f"{v:,}") for k, v in figures["skipped"].items()]
    rows += [
        ("out-of-vocabulary share (input / reply)", f"{figures['oov_share_input']:.2%} / {figures['oov_share_target']:.2%}"),
        ("perplexity (teacher forced)", f"{figures['perplexity']:.2f}"),
        (
            "input dependence (perplexity with shuffled inputs / with the true ones)",
            f"{figures['input_dependence']:.3f} ({figures['perplexity_inputs_shuffled']:.2f})",
        ),
        ("masked token accuracy", f"{figures['masked_token_accuracy']:.2%}"),
    ]
    for name, r in figures["replies"].items():
        rows += _decoder_rows(name, r)
    rl = figures["reply_length"]
    rows.append(
        ("default reply length: mean / p50 / p90 / max", f"{rl['mean']:.1f} / {rl['p50']:.0f} / {rl['p90']:.0f} / {rl['max']}")
    )
    rows.append(("teacher-forced pairs per second", f"{figures['throughput']['teacher_forced_pairs_per_second']:.0f}"))
    for genre, g in figures["per_genre"].items():
        rows.append(
            (
                f"genre {genre} ({g['pairs']} pairs): perplexity / accuracy",
                f"{g['perplexity']:.1f} / {g['masked_token_accuracy']:.2%}",
            )
        )
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _plots(figures: dict, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    genres = figures["per_genre"]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(genres) + 1)))
    if genres:
        ordered = sorted(genres, key=lambda g: genres[g]["perplexity"])
        ax.barh(ordered, [genres[g]["perplexity"] for g in ordered], color="#4c72b0")
        ax.axvline(figures["perplexity"], color="#c44e52", linestyle="--", label=f"all pairs: {figures['perplexity']:.1f}")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no genre metadata (movie_titles_metadata.txt) in the corpus", ha="center", va="center")
    ax.set_xlabel("perplexity (teacher forced, lower is better)")
    ax.set_title("Perplexity by movie genre")
    paths["perplexity_by_genre"] = _save(plt, fig, out / "perplexity_by_genre.png")

    hist = figures["reply_length"]["histogram"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(list(hist), list(hist.values()), color="#55a868")
    ax.set_xlabel("default decoder's reply length (tokens)")
    ax.set_ylabel("replies")
    ax.set_title("Reply length distribution")
    paths["reply_lengths"] = _save(plt, fig, out / "reply_lengths.png")
    return paths


def _save(plt, fig, path: Path) -> Path:
    """Writes ``fig`` to ``path`` (PNG) and closes it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _write(figures: dict, sample: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps({**figures, "sample": sample}, indent=2, sort_keys=True))
    pictures = _plots(figures, out)
    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in (line.split("  ", 1) for line in table(figures).splitlines())
    )
    imgs = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        f"<figcaption>{esc(path.name)}</figcaption></figure>"
        for name, path in pictures.items()
    )
    columns = list(sample[0]) if sample else []
    samples_html = (
        "<tr>"
        + "".join(f"<th>{esc(c)}</th>" for c in columns)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{esc(str(s[c]))}</td>" for c in columns) + "</tr>" for s in sample)
    )
    (out / "report.html").write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>seq2seq-tfx evaluation</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}img{{max-width:100%}}</style>
</head><body><h1>seq2seq-tfx evaluation</h1>
<h2>Figures</h2><table>{rows}</table>
<h2>Pictures</h2>{imgs}
<h2>Sample of inputs, replies and references</h2><table>{samples_html}</table>
</body></html>""",
        encoding="utf-8",
    )
