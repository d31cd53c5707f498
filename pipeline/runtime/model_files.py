"""Model files and their cards: every model fertui loads is checked against the sha256 its card records.

A card is a Markdown file for people with one fenced ```json block for the loader. Nothing here imports
TensorFlow: the runtime loads TFLite files with LiteRT.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.core.errors import FertuiError
from pipeline.core.files import sha256_of

_JSON_BLOCK = re.compile(r"```json\s*\n(.*?)\n```", re.DOTALL)


class ModelError(FertuiError):
    """A model file is missing, does not match its model card, or cannot be read."""


def read_card_json(card_path: Path, missing_hint: str) -> dict:
    """The one ```json block of a model card. `missing_hint` says how to make the card when it is absent."""
    if not card_path.is_file():
        raise ModelError(f"model card not found: {card_path} ({missing_hint})")
    blocks = _JSON_BLOCK.findall(card_path.read_text(encoding="utf-8"))
    if len(blocks) != 1:
        raise ModelError(f"{card_path} must hold exactly one ```json block, found {len(blocks)}")
    try:
        return json.loads(blocks[0])
    except ValueError as exc:
        raise ModelError(f"{card_path}: the json block does not parse ({exc})") from None


def read_verified(path: Path, sha256: str) -> bytes:
    """The bytes of a model file, after checking them against the sha256 its card records."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path} (it is listed in the model card beside it)")
    content = path.read_bytes()  # hashed and loaded from the same bytes
    actual = sha256_of(content)
    if actual != sha256:
        raise ModelError(
            f"{path} does not match its model card: sha256 {actual[:16]}... expected {sha256[:16]}... "
            "(re-export the model or restore the file)"
        )
    return content
