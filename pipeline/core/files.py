"""Files: the one sha256 helper (model files, batch fingerprints)."""

from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def sha256_of(source: bytes | os.PathLike | str) -> str:
    """Hex sha256 of bytes, or of a file's content (read in blocks, so a 100 MB predictor needs no 100 MB)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
