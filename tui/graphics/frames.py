"""The video pane in a pixel mode: the annotated frame as one Sixel image or one Kitty transmission.

Runs on the render thread (tui/render_loop.py), so scaling, drawing and encoding never hold the UI thread.
The pane's cells do not change from frame to frame: blank cells the Sixel image is drawn over, or the Kitty
placeholder cells that name the image. So Textual repaints them only when their shape changes, and the
per-frame bytes are the image alone (the app writes them, tui/app.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from pipeline.core.frames import Face
from tui.annotate import annotate
from tui.graphics import kitty, sixel
from tui.graphics.detect import RenderMode
from tui.graphics.sixel import PaletteSize
from tui.render import ColorDepth, RenderedFrame, quantise

MAX_PIXELS = (320, 240)
"""The image cap where none is given (the governor's smallest; the app starts from tui/governor.py's PIXEL_CAPS,
so the picture fills the pane's reported pixels): bytes and encoding time grow with the pixels (benchmarks/app.py)."""
LETTERBOX = Style(bgcolor=Color.from_rgb(0, 0, 0))
"""The cells under and around a Sixel image: unstyled cells take the terminal's default background, which is
white in xterm and shows as a frame where the image does not fill its last row and column of cells."""


def letterbox_background(color_system: ColorSystem | None) -> str:
    """SGR that makes the letterbox colour the current background, written (after saving the cursor and its
    attributes) right before a Sixel image.

    mlterm paints the part of an image's cells that the image does not cover (the rest of its last cell row, the
    padding rows of its last band of six) with the *current* background, not the cells' own: after Textual's
    writes that is the default background, white in mlterm's default colours, which drew a white line under the
    picture. Restoring the cursor after the image restores the attributes too (DECRC)."""
    if color_system is None or LETTERBOX.bgcolor is None:
        return ""
    codes = LETTERBOX.bgcolor.downgrade(color_system).get_ansi_codes(foreground=False)
    return f"\x1b[{';'.join(codes)}m"


DEFAULT_CELL_PX = (10, 20)
"""Assumed cell size when the terminal reports none (textual-image's default too)."""


@dataclass(frozen=True)
class GraphicsFrame:
    """One frame's image, ready to write: the escape sequences and what they draw."""

    mode: RenderMode
    payload: str
    image_size: tuple[int, int]  # pixels (width, height)
    cells: tuple[int, int]  # cells (cols, rows) the image covers
    at_cursor: bool = False  # drawn where the cursor is (Sixel, Kitty placed directly), not by placeholder cells

    @property
    def bytes(self) -> int:
        return len(self.payload)  # ASCII: one byte per character


def pixel_layout(
    frame_size: tuple[int, int],
    max_cells: tuple[int, int],
    cell_px: tuple[int, int] | None,
    mode: RenderMode,
    max_pixels: tuple[int, int] = MAX_PIXELS,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """(image pixels, cells) for a frame in a pane of `max_cells`: the frame's aspect kept, at most `max_pixels`.

    Sixel is drawn one image pixel per screen pixel, so its cells are the ones the image covers. Kitty is
    scaled by the terminal into its cells, so the cells fill the pane and the pixels are at most the pane's.
    """
    frame_w, frame_h = frame_size
    cell_w, cell_h = cell_px or DEFAULT_CELL_PX
    max_cols, max_rows = max_cells
    if mode == "kitty":
        max_cols, max_rows = min(max_cols, kitty.MAX_CELLS), min(max_rows, kitty.MAX_CELLS)
        cols = max(1, min(max_cols, round(max_rows * cell_h * frame_w / frame_h / cell_w)))
        rows = max(1, min(max_rows, round(cols * cell_w * frame_h / frame_w / cell_h)))
        box = (cols * cell_w, rows * cell_h)
    else:
        box = (max_cols * cell_w, max_rows * cell_h)
    scale = min(box[0] / frame_w, box[1] / frame_h, max_pixels[0] / frame_w, max_pixels[1] / frame_h)
    width, height = max(1, int(frame_w * scale)), max(1, int(frame_h * scale))
    if mode != "kitty":
        cols, rows = math.ceil(width / cell_w), math.ceil(height / cell_h)
    return (width, height), (cols, rows)


class PixelRenderer:
    """Frames to images for one video stream; keeps the pane's cells while their shape holds."""

    def __init__(self) -> None:
        self._cells_for: tuple[RenderMode, int, int, bool] | None = None
        self._strips: list[Strip] = []

    def render(
        self,
        image_bgr: np.ndarray,
        faces: tuple[Face, ...],
        *,
        mode: RenderMode,
        max_cells: tuple[int, int],
        cell_px: tuple[int, int] | None,
        colors: ColorDepth,
        palette: PaletteSize,
        tmux: bool = False,
        kitty_placeholders: bool = True,
        max_pixels: tuple[int, int] = MAX_PIXELS,
        boxes: bool = True,
        landmarks: bool = True,
    ) -> tuple[RenderedFrame, GraphicsFrame]:
        frame_h, frame_w = image_bgr.shape[:2]
        (width, height), (cols, rows) = pixel_layout((frame_w, frame_h), max_cells, cell_px, mode, max_pixels)
        rgb = cv2.cvtColor(cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        annotate(rgb, faces, width / frame_w, height / frame_h, boxes=boxes, landmarks=landmarks)
        if mode == "kitty":
            # Fewer bits per channel give zlib runs to find: camera noise otherwise defeats it.
            payload = kitty.transmit(quantise(rgb, colors), cols, rows, placeholders=kitty_placeholders)
            if tmux:
                payload = kitty.tmux_passthrough(payload)
        elif mode == "sixel":
            payload = sixel.encode(rgb, palette).decode("ascii")
        else:
            raise ValueError(f"not a pixel mode: {mode!r}")
        at_cursor = mode == "sixel" or not kitty_placeholders
        dirty = self._update_cells(mode, cols, rows, placeholders=not at_cursor)
        video = RenderedFrame(strips=self._strips, dirty_rows=dirty, cols=cols, rows=rows, bytes_estimate=len(payload))
        return video, GraphicsFrame(mode, payload, (width, height), (cols, rows), at_cursor)

    def _update_cells(self, mode: RenderMode, cols: int, rows: int, *, placeholders: bool) -> list[int]:
        """The pane's cells: rebuilt (all rows dirty) only when the mode or the shape changes."""
        key = (mode, cols, rows, placeholders)
        if key == self._cells_for:
            return []
        self._cells_for = key
        self._strips = placeholder_strips(cols, rows) if placeholders else [Strip.blank(cols, LETTERBOX)] * rows
        return list(range(rows))


def placeholder_strips(cols: int, rows: int, image_id: int = kitty.IMAGE_ID) -> list[Strip]:
    """Kitty placeholder cells, the image id in their foreground colour."""
    style = Style(color=Color.from_rgb(*kitty.id_color(image_id)))
    return [Strip([Segment(text, style)], cols) for text in kitty.placeholder_rows(cols, rows)]
