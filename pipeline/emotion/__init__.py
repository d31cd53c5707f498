"""The emotion classifier: labels, data, model definition, training and evaluation.

Importing this package is cheap; TensorFlow is imported only by the modules that need it.
"""

from pathlib import Path

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Class order of FER-2013 (label i is EMOTIONS[i]) and of every probability vector in fertui."""

UNCLEAR = "unclear"
"""The label shown when the classifier is not confident enough (the paper's "Neutral/No clear")."""

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.npz"
DEFAULT_FERPLUS = DEFAULT_DATA.with_name("ferplus_labels.csv")
MODELS_DIR = PROJECT_ROOT / "models"
