"""What `s2s run` prints: a start and an end line per component, cached or ran with its figure,
epoch lines from the Trainer's logger, and no third-party noise (warnings that matter still show)."""

from __future__ import annotations

import io
import logging
import warnings

from components import features as C
from pipeline import console


def test_component_lines_say_ran_or_cached_with_the_figure():
    out = io.StringIO()
    nodes = ["CornellExampleGen", "Seq2SeqTrainer"]
    figures = {"CornellExampleGen": "3341 pairs", "Seq2SeqTrainer": ""}
    absl = logging.getLogger("absl")
    with console.quiet(nodes, figures.get, out=out):
        absl.info("Component %s is running.", "CornellExampleGen")
        absl.info("A cached execution %d is used.", 7)
        absl.info("Component %s is finished.", "CornellExampleGen")
        absl.info("Component %s is running.", "Seq2SeqTrainer")
        logging.getLogger(C.PROGRESS_LOGGER).info("epoch 1/2: loss 5.0")
        absl.info("Component %s is finished.", "Seq2SeqTrainer")
        absl.info("Some other INFO record of TFX")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] CornellExampleGen ..."
    assert lines[1] == "[1/2] CornellExampleGen: cached; 3341 pairs"
    assert lines[2] == "[2/2] Seq2SeqTrainer ..."
    assert lines[3] == "      epoch 1/2: loss 5.0"
    assert lines[4].startswith("[2/2] Seq2SeqTrainer: ran ") and lines[4].endswith(" s")
    assert len(lines) == 5


def test_known_noise_is_dropped_and_other_warnings_stay(capsys):
    with console.quiet([], lambda node: ""):
        logging.getLogger("absl").warning("ArtifactQuery.property_predicate is not supported.")
        logging.getLogger("absl").warning("the disk is almost full")
        warnings.warn("You are using a non-supported Python version (3.10.13).", FutureWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert "the disk is almost full" in err
    assert "ArtifactQuery" not in err and "non-supported Python" not in err
    assert logging.getLogger("absl").setLevel.__self__ is logging.getLogger("absl")  # restored after the run
