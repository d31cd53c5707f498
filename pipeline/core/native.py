"""What native libraries print: silenced where the user should see fertui's own lines only."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Hide what C++ libraries print on file descriptor 2 (TFLite's "INFO: Created ... XNNPACK delegate" line
    when the model loads); the user gets fertui's own lines only. Python errors still surface as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
