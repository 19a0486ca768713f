"""The names the stages hand each other beyond the data: the exported model's signatures and
inputs, serving limits, the pipeline and model names, metric names and the reports written
beside artifacts. Not read by the Transform, so editing one never re-runs it (its code version
does not cover this module). Imports nothing of the project.
"""

# Exported SavedModel signatures and their inputs.
SERVING_SIGNATURE = "serving_default"  # raw strings in, reply strings out (the default decoder)
TF_EXAMPLE_SIGNATURE = "serving_tf_example"  # serialized tf.Examples in (Evaluator): scores and replies
SCORE_SIGNATURE = "score_tf_example"  # serialized tf.Examples in: teacher-forced scores only, no decoding
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Examples in, features out
BEAM_SIGNATURE = "beam_search"  # raw strings and a beam width in, best reply + alternatives out
GENERATE_SIGNATURE = "generate"  # raw strings and every decoding option in (common.decode_options)
# Raw strings and the conversation's previous lines in (exported when the model reads context).
CONTEXT_SIGNATURE = "serving_context"
SERVING_INPUT_KEY = "text"
CONTEXT_INPUT_KEY = "context"
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
