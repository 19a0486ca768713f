"""The names of the data, from the corpus to the Transform graph's features and vocabulary.

The Cornell ExampleGen names the raw features, the Transform the transformed ones and the
vocabulary. The Transform's code version covers this module (it is in ``preprocessing_fn``'s
import closure), so only what the Transform reads belongs here; the names of signatures,
limits, metrics and reports live in :mod:`common.names`. Imports nothing of the project.
"""

# Raw features written by the Cornell ExampleGen (one tf.Example per pair).
INPUT_TEXT = "input_text"
TARGET_TEXT = "target_text"
MOVIE_ID = "movie_id"
CONVERSATION_ID = "conversation_id"
INPUT_LINE_ID = "input_line_id"
TARGET_LINE_ID = "target_line_id"
GENRES = "genres"
# The conversation's line before the input ("" for a conversation's first pair, or when that
# line is missing or empty): what the encoder reads before the input when the Transform's
# ``context_len`` is above 0.
CONTEXT_TEXT = "context_text"
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
