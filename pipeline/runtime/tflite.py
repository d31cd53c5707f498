"""One way to make a TFLite interpreter, for the emotion classifier and the MTCNN networks alike."""

from __future__ import annotations

from typing import Any

from ai_edge_litert.interpreter import Interpreter


def make_interpreter(model_content: bytes, num_threads: int) -> Any:
    """A LiteRT interpreter for a TFLite model held in memory (LiteRT needs no TensorFlow, so starts fast)."""
    return Interpreter(model_content=model_content, num_threads=num_threads)
