"""The contracts the stages share: names, settings machinery, decoding options, the serving
layout, id-row helpers and the tf.Example of a pair. Imports nothing of the project."""
