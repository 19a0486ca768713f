"""Feature names, reserved tokens and hyperparameters: the one place they live.

Every other module (the ExampleGen, the Transform graph, the Trainer, the pipeline
definition, the serving client) imports its names from here, and every tunable
value reaches the components through :class:`PipelineConfig`, which the pipeline
passes on as ``custom_config`` so that a changed value is a changed execution
(and never a stale cache hit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

# ---------------------------------------------------------------------------
# Raw features written by the Cornell ExampleGen (one tf.Example per pair).
INPUT_TEXT = "input_text"
TARGET_TEXT = "target_text"
MOVIE_ID = "movie_id"
CONVERSATION_ID = "conversation_id"
INPUT_LINE_ID = "input_line_id"
TARGET_LINE_ID = "target_line_id"
GENRES = "genres"
RAW_TEXT_FEATURES = (INPUT_TEXT, TARGET_TEXT)

# Transformed features produced by the Transform graph.
ENCODER_INPUT_IDS = "encoder_input_ids"
DECODER_INPUT_IDS = "decoder_input_ids"
DECODER_TARGET_IDS = "decoder_target_ids"  # decoder_input_ids shifted left by one step
INPUT_LENGTH = "input_length"  # tokens of the input before truncation
TARGET_LENGTH = "target_length"  # tokens of the reply before truncation
LABEL_KEY = DECODER_TARGET_IDS

# Vocabulary: reserved ids first, then the Transform vocabulary in frequency order.
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
RESERVED_TOKENS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(RESERVED_TOKENS))
NUM_RESERVED = len(RESERVED_TOKENS)
VOCABULARY_NAME = "vocabulary"

# Splits written by the ExampleGen (partitioned by movie, so no movie is in two).
TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT = "train", "eval", "test"

# Exported SavedModel signatures.
SERVING_SIGNATURE = "serving_default"  # raw strings in, reply strings out
TF_EXAMPLE_SIGNATURE = "serving_tf_example"  # serialized tf.Examples in (Evaluator)
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Examples in, features out
BEAM_SIGNATURE = "beam_search"  # raw strings and a beam width in, best reply + alternatives out
GENERATE_SIGNATURE = "generate"  # raw strings and every decoding option in (trainer.decoding.DecodeOptions)
SERVING_INPUT_KEY = "text"
BEAM_WIDTH_KEY = "beam_width"
DEFAULT_BEAM_WIDTH = 4
MAX_INPUT_BYTES = 2_000  # longer messages are rejected (INVALID_ARGUMENT), not silently cut

# GloVe 6B 50d, its 20,000 most frequent words, shipped with the project (PDDL; see
# trainer/assets/README.md); relative to the project root, so it resolves in the pipeline image too.
BUILTIN_GLOVE = "trainer/assets/glove.6B.50d.top20k.txt.gz"

PIPELINE_NAME = "seq2seq-tfx"
MODEL_NAME = "chatbot"

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_WORK_DIR = REPO_ROOT / "artifacts"

# Packages whose source is the user code of the pipeline's components. Their
# content hash goes into custom_config, so an edit re-runs the component instead
# of reusing a cached artifact built by older code.
_CODE_PATHS = {
    "transform": ("transforms", "s2s/config.py"),
    "trainer": ("trainer", "s2s/config.py"),
}


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every knob of a pipeline run. Flags and config files override the defaults."""

    data_dir: str = str(SAMPLE_DATA_DIR)
    work_dir: str = str(DEFAULT_WORK_DIR)
    corpus_encoding: str = "auto"  # auto | latin-1 | utf-8
    # Split ratios (hash buckets of the movie id).
    train_buckets: int = 8
    eval_buckets: int = 1
    test_buckets: int = 1
    # Text processing (Transform).
    vocab_size: int = 15_000
    min_frequency: int = 1
    max_len: int = 20
    long_pairs: str = "truncate"  # pairs longer than max_len: "truncate" (the tutorial) or "drop"
    # Model and training (Trainer).
    embedding_dim: int = 128
    units: int = 256
    layers: int = 1  # stacked LSTM layers in the encoder and in the decoder: 1 or 2
    dropout: float = 0.3  # input dropout (embeddings, between layers, before the output layer)
    attention: bool = True  # Luong attention over the encoder outputs
    bidirectional: bool = True  # bidirectional encoder (half the units each way)
    copy: bool = True  # pointer-generator: the decoder may copy input words (needs attention)
    word_dropout: float = 0.25  # decoder-input words replaced by <unk> while training
    tie_embeddings: bool = True  # the output layer reuses the embedding matrix
    batch_size: int = 64  # per device: MirroredStrategy multiplies it by the number of GPUs
    learning_rate: float = 3e-3
    clipnorm: float = 1.0  # Adam's gradient clipping by norm (0 = off)
    lr_decay: float = 0.5  # the learning rate is multiplied by this after an epoch without a better eval loss (1 = off)
    epochs: int = 20  # at most: early stopping ends training when the eval loss stops improving
    early_stopping_patience: int = 2  # epochs without a better eval loss before stopping (0 = off)
    mixed_precision: bool = False  # mixed_float16 on GPU (ignored, with a warning, on CPU)
    train_steps: int = 0  # 0: derived from epochs and the size of the train split
    eval_steps: int = 0  # 0: the whole eval split
    glove_path: str = BUILTIN_GLOVE  # GloVe text file to initialise the embedding ("" = random)
    glove_trainable: bool = True  # fine-tune the GloVe embedding (False: frozen, and then not tied)
    # Blessing (Evaluator): absolute bounds, and a change bound against the latest blessed model.
    min_masked_accuracy: float = 0.05
    max_perplexity: float = 1_000.0
    max_perplexity_increase: float = 0.02  # relative: at most 2 % worse than the blessed baseline
    max_top_reply_share: float = 0.8  # no model whose most frequent greedy reply is more than this share of its replies
    # Pushing: how many versions stay in the serving directory.
    keep_versions: int = 3
    # Orchestration.
    enable_cache: bool = True

    # ------------------------------------------------------------------ paths
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.work_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.work_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.work_dir, "serving")

    @property
    def serving_model_dir(self) -> str:
        """Where the Pusher writes: ``<serving dir>/<model name>/<version>/``."""
        return os.path.join(self.serving_dir, MODEL_NAME)

    # ------------------------------------------------------- component configs
    def transform_hparams(self) -> dict[str, Any]:
        """Transform's hyperparameters (execution properties; runtime parameters on Kubeflow)."""
        return {"vocab_size": self.vocab_size, "min_frequency": self.min_frequency, "max_len": self.max_len}

    def trainer_hparams(self) -> dict[str, Any]:
        """Trainer's hyperparameters (execution properties; runtime parameters on Kubeflow)."""
        return {
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "layers": self.layers,
            "dropout": self.dropout,
            "attention": int(self.attention),
            "bidirectional": int(self.bidirectional),
            "copy": int(self.copy),
            "word_dropout": self.word_dropout,
            "tie_embeddings": int(self.tie_embeddings),
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "clipnorm": self.clipnorm,
            "lr_decay": self.lr_decay,
            "epochs": self.epochs,
            "early_stopping_patience": self.early_stopping_patience,
            "mixed_precision": int(self.mixed_precision),
            "train_steps": self.train_steps,
            "eval_steps": self.eval_steps,
            "glove_path": self.glove_path if self.glove_path in ("", BUILTIN_GLOVE) or "://" in self.glove_path else os.path.abspath(self.glove_path),
            "glove_trainable": int(self.glove_trainable),
            "long_pairs": self.long_pairs,
        }

    # ------------------------------------------------------------ overriding
    def replace(self, **overrides: Any) -> "PipelineConfig":
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        cleaned = {k: _coerce(k, v) for k, v in overrides.items() if v is not None}
        cfg = dataclasses.replace(self, **cleaned)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        positive = ("vocab_size", "min_frequency", "embedding_dim", "units", "batch_size", "epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_len < 2:
            raise ConfigError(f"max_len must be >= 2 (<bos>/<eos> take a step), got {self.max_len}")
        if self.train_steps < 0 or self.eval_steps < 0:
            raise ConfigError("train_steps and eval_steps must be >= 0 (0 means derived)")
        if self.keep_versions < 1:
            raise ConfigError(f"keep_versions must be >= 1, got {self.keep_versions}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if min(self.train_buckets, self.eval_buckets, self.test_buckets) < 1:
            raise ConfigError("train/eval/test buckets must each be >= 1")
        if self.layers not in (1, 2):
            raise ConfigError(f"layers must be 1 or 2, got {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        if self.copy and not self.attention:
            raise ConfigError("copy needs attention (the copy distribution is the attention over the input)")
        if self.bidirectional and self.units % 2:
            raise ConfigError(f"a bidirectional encoder needs an even number of units, got {self.units}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.clipnorm < 0 or self.early_stopping_patience < 0:
            raise ConfigError("clipnorm and early_stopping_patience must be >= 0 (0 means off)")
        if not 0.0 < self.max_top_reply_share <= 1.0:
            raise ConfigError(f"max_top_reply_share must be in (0, 1], got {self.max_top_reply_share}")
        if self.long_pairs not in ("truncate", "drop"):
            raise ConfigError(f"long_pairs must be truncate or drop, got {self.long_pairs!r}")
        if self.corpus_encoding not in ("auto", "latin-1", "utf-8"):
            raise ConfigError(
                f"corpus_encoding must be auto, latin-1 or utf-8, got {self.corpus_encoding!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A setting has a wrong name, type or value."""


def _coerce(name: str, value: Any) -> Any:
    field = {f.name: f for f in dataclasses.fields(PipelineConfig)}[name]
    kind = {"int": int, "float": float, "str": str, "bool": bool}[str(field.type)]
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}") from None


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads overrides from a TOML or JSON file (flat keys, as the dataclass fields)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            import tomli

            data = tomli.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: cannot parse config: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: expected a table of settings at the top level")
    return dict(data)


def code_version(component: str) -> str:
    """A short content hash of the source files a component's user code imports."""
    digest = hashlib.sha256()
    for entry in _CODE_PATHS[component]:
        root = REPO_ROOT / entry
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
