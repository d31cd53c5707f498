"""A model's life cycle, above the engine: data, network, training, TFLite conversion, release, calibration and
evaluation. May import anything below it. Importing this package is cheap; TensorFlow is imported only by the
modules that need it (network, train, conversion).
"""

DEFAULT_WIDTHS = (32, 64, 128, 256)
"""Channels of the emotion network's four conv stages, as shipped (pipeline.modelling.network)."""
