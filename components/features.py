"""The names the data is given, from the corpus to the served model: the leaf of the project.

The Cornell ExampleGen names the raw features, the Transform the transformed ones and the
vocabulary, the export the signatures. Every package imports its names from here; this
module imports nothing of the project, so it sits at the bottom of the import graph.
"""

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

# Exported SavedModel signatures and their inputs.
SERVING_SIGNATURE = "serving_default"  # raw strings in, reply strings out (the default decoder)
TF_EXAMPLE_SIGNATURE = "serving_tf_example"  # serialized tf.Examples in (Evaluator): scores and replies
SCORE_SIGNATURE = "score_tf_example"  # serialized tf.Examples in: teacher-forced scores only, no decoding
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Examples in, features out
BEAM_SIGNATURE = "beam_search"  # raw strings and a beam width in, best reply + alternatives out
GENERATE_SIGNATURE = "generate"  # raw strings and every decoding option in (trainer.decode_options)
SERVING_INPUT_KEY = "text"
BEAM_WIDTH_KEY = "beam_width"
MAX_INPUT_BYTES = 2_000  # longer messages are rejected (INVALID_ARGUMENT), not silently cut
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"  # in a SavedModel: TF Serving's warm-up

PIPELINE_NAME = "seq2seq-tfx"
MODEL_NAME = "chatbot"

# Metric names, the same in Keras' training history and in the Evaluator's results.
MASKED_TOKEN_ACCURACY = "masked_token_accuracy"
PERPLEXITY = "perplexity"
TOP_REPLY_SHARE = "top_reply_share"

# Reports the components write beside their artifacts.
LOAD_REPORT_FILE = "load_report.json"  # ExampleGen: what the corpus loader kept and skipped
DATA_REPORT_FILE = "data.json"  # Trainer (model-run dir): vocabulary, long pairs, OOV share, training

# The logger of progress lines a person watching a run wants (epochs); `s2s run` shows it.
PROGRESS_LOGGER = "seq2seq"
