"""The live app's display defaults, in a module that imports nothing, so `fertui --help` can name them without
loading Textual (tui/config.py uses them; tests/test_docs.py checks the help and the README against them)."""

from __future__ import annotations

from typing import Final

LOCAL_FPS: Final = 20.0
LOCAL_COLORS: Final = "5"  # 5 bits: bounded distinct styles, ~45 KB a frame at 80x30 cells (benchmarks/app.py)
SSH_FPS: Final = 12.0
SSH_COLORS: Final = "4"
# Pixel modes send a whole image per frame (tens of KB at 320x240, benchmarks/app.py): over SSH they start
# slow and coarse, and the governor steps them down from there; locally they aim for the source's rate.
SSH_PIXEL_FPS: Final = 8.0
SSH_PALETTE: Final = "64"
LOCAL_PALETTE: Final = "256"
