"""The Trainer's settings (see :mod:`common.settings`): the model's shape, the training
loop and the embedding's initialisation. The typed execution properties of the Trainer
component, the Kubeflow run parameters and the ``s2s run`` flags are derived from here."""

from __future__ import annotations

import dataclasses

from common.settings import ConfigError, check, setting

# GloVe 6B 50d, its 20,000 most frequent words, shipped with the project (PDDL; see
# trainer/assets/README.md); relative to the project root, so it resolves in the pipeline image too.
BUILTIN_GLOVE = "trainer/assets/glove.6B.50d.top20k.txt.gz"


@dataclasses.dataclass(frozen=True)
class TrainerSettings:
    # The network (trainer.model.ModelParams takes its shape from these).
    embedding_dim: int = setting(128, "embedding size (a GloVe file sets it to its own dimension)", low=1)
    units: int = setting(256, "LSTM units", low=1)
    layers: int = setting(1, "stacked LSTM layers in the encoder and in the decoder", low=1, high=2)
    dropout: float = setting(0.3, "input dropout rate (no recurrent dropout, so cuDNN stays usable)", low=0.0, below=1.0)
    attention: bool = setting(True, "Luong attention over the encoder outputs")
    bidirectional: bool = setting(True, "bidirectional encoder (half the units each way)")
    copy: bool = setting(True, "pointer-generator copy mechanism: replies may copy input words (needs attention)")
    word_dropout: float = setting(0.25, "share of the decoder's input words replaced by <unk> while training", low=0.0, below=1.0)
    tie_embeddings: bool = setting(True, "the output layer reuses the embedding matrix")
    # The training loop.
    batch_size: int = setting(64, "training batch size per device (MirroredStrategy multiplies it by the GPUs)", low=1)
    learning_rate: float = setting(3e-3, "Adam learning rate", above=0.0)
    clipnorm: float = setting(1.0, "gradient clipping by norm (0 = off)", low=0.0)
    lr_decay: float = setting(
        0.5, "learning rate multiplied by this after an epoch without a better eval loss (1 = off)", above=0.0, high=1.0
    )
    ema_epochs: float = setting(
        1.0,
        "Polyak averaging: evaluate, keep and export the moving average of the weights over about this many "
        "epochs of steps (momentum per step 1 - 1/(ema_epochs x steps per epoch)); 0 = off: the last step's weights",
        low=0.0,
        high=100.0,
    )
    contrastive: float = setting(
        0.0,
        "weight of a contrastive term in the training loss: each reply must be more probable after its own input "
        "than after another input of the batch (training-time MMI; one more forward pass per step); 0 = off",
        low=0.0,
        high=10.0,
    )
    finetune_epochs: int = setting(
        1,
        "after training (the best epoch restored): this many more passes over the train split at "
        "--finetune-learning-rate, without the moving average and with the contrastive term at --finetune-contrastive; "
        "their weights are exported whatever their eval loss (0 = off)",
        low=0,
        high=100,
    )
    finetune_learning_rate: float = setting(2e-4, "Adam learning rate of the fine-tuning passes", above=0.0)
    finetune_contrastive: float = setting(
        0.75, "weight of the contrastive term (see --contrastive) in the fine-tuning passes", low=0.0, high=10.0
    )
    epochs: int = setting(20, "training epochs at most (early stopping may end sooner; ignored with --train-steps)", low=1)
    early_stopping_patience: int = setting(
        2, "stop after this many epochs without a better eval loss (0 = off)", low=0, flag="--early-stopping"
    )
    collapse_check: bool = setting(
        True,
        "at each epoch's end, greedy-decode the eval inputs (trigram blocking, no antiLM: the Evaluator's collapse check) "
        "and log the most frequent reply's share (val_top_reply_share)",
    )
    mixed_precision: bool = setting(False, "train in mixed_float16 on GPU (ignored, with a warning, on CPU)")
    train_steps: int = setting(0, "training steps as one epoch (0: derived from --epochs)", low=0)
    eval_steps: int = setting(0, "validation steps (0: the whole eval split)", low=0)
    long_pairs: str = setting(
        "truncate", "pairs longer than --max-len: truncate (as the tutorial) or drop (counted)", choices=("truncate", "drop")
    )
    seed: int = setting(
        0,
        "random seed of training: initial weights, shuffling, dropout and word dropout (same seed, data and CPU: same model)",
        low=0,
        high=2**31 - 1,
    )
    # The embedding's initialisation.
    glove_path: str = setting(
        BUILTIN_GLOVE,
        'GloVe text file (.txt or .txt.gz) to initialise the embedding; its dimension sets the embedding size; "" = random',
        flag="--glove",
    )
    glove_trainable: bool = setting(
        True, "fine-tune the GloVe embedding (off: frozen, and then not tied to the output layer)", flag="--glove-finetune"
    )

    def __post_init__(self) -> None:
        check(self)
        if self.copy and not self.attention:
            raise ConfigError("copy needs attention (the copy distribution is the attention over the input)")
        if self.bidirectional and self.units % 2:
            raise ConfigError(f"a bidirectional encoder needs an even number of units, got {self.units}")
