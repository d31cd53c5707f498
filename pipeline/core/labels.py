"""The label vocabulary: the seven emotions in FER-2013's order, and the label shown when none is clear.

Shared by the engine, the log, the UI and training; it lives on its own so none of them imports another's module
for it.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Class order of FER-2013 (label i is EMOTIONS[i]) and of every probability vector in fertui."""

UNCLEAR = "unclear"
"""The label shown when the classifier is not confident enough (the paper's "Neutral/No clear")."""
