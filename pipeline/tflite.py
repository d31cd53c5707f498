"""One way to make a TFLite interpreter, for the emotion classifier and the MTCNN networks alike."""

from __future__ import annotations

import warnings
from typing import Any


def make_interpreter(model_content: bytes, num_threads: int) -> Any:
    """An interpreter for a TFLite model held in memory: LiteRT's when installed, else the one in TensorFlow.

    TensorFlow's own warns on creation that LiteRT replaces it; that notice is silenced here.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - a class, named as one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_content=model_content, num_threads=num_threads)
