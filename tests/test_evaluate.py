"""`s2s evaluate`: exact counts, perplexity checked independently, report files, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from common import features, names
from common.examples import pair_to_example
from components.cornell import load_corpus
from s2s import cli
from s2s.bench.serve import PythonLoopBaseline


@pytest.fixture(scope="module")
def evaluated(tiny_model, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(tiny_model / "serving_model"),
                "--data",
                str(tiny_corpus),
                "--out",
                str(out),
                "--beam",
                "2",
            ]
        )
        == 0
    )
    return out, json.loads((out / "evaluation.json").read_text())


def test_counts_match_the_loader(evaluated):
    _, figures = evaluated
    assert figures["pairs_evaluated"] == 4
    assert figures["skipped"]["pairs_with_a_missing_line"] == 3
    assert figures["skipped"]["pairs_with_an_empty_utterance"] == 2
    assert figures["skipped"]["malformed_lines"] == 2
    assert figures["skipped"]["malformed_conversations"] == 2
    assert figures["per_genre"]["comedy"]["pairs"] == 2 and figures["per_genre"]["crime"]["pairs"] == 1
    assert set(figures["replies"]) == {"default", "beam2"}
    assert sum(figures["reply_length"]["histogram"].values()) == 4


def test_perplexity_matches_an_independent_computation(evaluated, tiny_model, tiny_corpus):
    """Teacher-forced, token by token with a Keras copy of the weights (not the export's graph)."""
    _, figures = evaluated
    model_dir = tiny_model / "serving_model"
    keras_copy = PythonLoopBaseline(model_dir)
    transform = tf.saved_model.load(str(model_dir)).signatures[names.TRANSFORM_SIGNATURE]
    pairs, _ = load_corpus(tiny_corpus)
    transformed = transform(examples=tf.constant([pair_to_example(p).SerializeToString() for p in pairs]))
    nll, tokens, right = 0.0, 0, 0
    for enc, dec_in, dec_out in zip(
        *(transformed[k].numpy() for k in (features.ENCODER_INPUT_IDS, features.DECODER_INPUT_IDS, features.DECODER_TARGET_IDS))
    ):
        state, memory = keras_copy.start(enc[None, :])
        for t in range(len(dec_out)):
            if dec_out[t] == features.PAD_ID:
                break
            logits, state = keras_copy.step(dec_in[t], state, memory)
            logits = logits.astype(np.float64)
            log_probs = logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
            nll -= log_probs[dec_out[t]]
            right += int(np.argmax(logits) == dec_out[t])
            tokens += 1
    assert figures["target_tokens"] == tokens
    assert figures["perplexity"] == pytest.approx(np.exp(nll / tokens), rel=1e-4)
    assert figures["masked_token_accuracy"] == pytest.approx(right / tokens)


def test_fluency_is_under_the_trigram_of_the_replies_the_model_was_trained_on(evaluated, tiny_model):
    from common import reply_corpus
    from evaluator import ngram

    out, figures = evaluated
    replies, vocab_size = reply_corpus.read(str(tiny_model / "serving_model"))
    words = [t.decode() for t in tf.saved_model.load(str(tiny_model / "serving_model")).id_to_token.numpy()]
    fluency = ngram.word_fluency(ngram.KneserNeyTrigramLM(replies, vocab_size), words)
    sample = json.loads((out / "evaluation.json").read_text())["sample"]  # all 4 pairs of the tiny corpus
    default = figures["replies"]["default"]
    assert default["fluency"] == pytest.approx(np.mean([fluency(s["default"].split()) for s in sample]))
    assert -20 < default["reference_fluency"] < 0 and figures["replies"]["beam2"]["fluency"] < 0


def test_report_files_name_every_figure(evaluated):
    out, figures = evaluated
    assert (out / "perplexity_by_genre.png").stat().st_size > 1000
    assert (out / "reply_lengths.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    for words in (
        "pairs evaluated",
        "skipped: pairs with a missing line",
        "out-of-vocabulary share",
        "perplexity (teacher forced)",
        "masked token accuracy",
        "default replies: BLEU-1 / BLEU-2",
        "default replies: distinct-1 / distinct-2",
        "default replies: most frequent reply (share)",
        "default replies: with a repeated 2-gram / 3-gram",
        "default replies: with a word twice in a row / a repeated 2-gram, references",
        "default replies: mean length / reference mean length",
        "default replies: fluency / reference fluency (mean log-prob per token, trigram of the train replies)",
        "input dependence",
        "beam2 replies: BLEU-1 / BLEU-2",
        "default reply length",
        "teacher-forced pairs per second",
        "genre comedy",
        "perplexity_by_genre.png",
        "reply_lengths.png",
        "Ready?",
    ):
        assert words in page, words
    assert page.count("data:image/png;base64,") == 2  # the pictures travel inside the page
    assert len(json.loads((out / "evaluation.json").read_text())["sample"]) == 4


def test_directory_without_corpus_files(tiny_model, tmp_path, capsys):
    assert (
        cli.main(
            ["evaluate", "--model", str(tiny_model / "serving_model"), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "missing movie_lines.txt, movie_conversations.txt" in capsys.readouterr().err


def test_model_without_the_signatures(tiny_corpus, tmp_path, capsys):
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x * 2}, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "m" / "1"), signatures={"double": module.f})
    assert cli.main(["evaluate", "--model", str(tmp_path / "m"), "--data", str(tiny_corpus), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a seq2seq-tfx chatbot export: no signature serving_default, serving_tf_example, transform_features" in err


def test_corpus_without_pairs(tiny_model, tiny_corpus, tmp_path, capsys):
    shutil.copy(tiny_corpus / "movie_lines.txt", tmp_path / "movie_lines.txt")
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L98', 'L99']\n")
    assert (
        cli.main(
            ["evaluate", "--model", str(tiny_model / "serving_model"), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "holds no utterance pair to evaluate" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_unwritable_out_is_refused_before_any_work(tiny_model, tiny_corpus, tmp_path, capsys, monkeypatch, where):
    from s2s import evaluation as offline

    monkeypatch.setattr(offline, "evaluate", lambda *a, **k: pytest.fail("evaluated before the output was checked"))
    (tmp_path / "a_file").write_text("x")
    out = str(tmp_path / "a_file" / "report") if where == "under_a_file" else "/proc/s2s-report"
    args = ["evaluate", "--model", str(tiny_model / "serving_model"), "--data", str(tiny_corpus), "--out", out]
    assert cli.main(args) == 2
    assert f"--out {out}: cannot write the report there (" in capsys.readouterr().err
