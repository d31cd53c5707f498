"""The face thumbnails and the landmark outline as pixel images, when the video pane is Sixel or Kitty graphics.

Runs on the render thread (tui/render_loop.py), a few times a second like the half-block panes it replaces. Each
image fills the same cells as the half-block pane did, at the terminal's real pixel size, up to a cap that follows
the video's (the governor steps the video's cap, so the panes' bytes step with it: `pane_cap`). The cells under an
image are like the video pane's: blank cells a Sixel image (or a directly placed Kitty image) is drawn over, or
Kitty placeholder cells naming the image. They are cached per shape, so Textual repaints them only when their shape
changes.

Kitty image ids: the video has one (kitty.IMAGE_ID); the landmark pane has the next; each face card has one by its
slot (its place in the face pane), so a terminal holds at most MAX_FACE_SLOTS + 2 images of ours, whatever the
number of faces seen over a session. The app frees the ids it no longer shows (tui/app.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from textual.strip import Strip

from tui.graphics import kitty, sixel
from tui.graphics.detect import RenderMode
from tui.graphics.frames import DEFAULT_CELL_PX, LETTERBOX, GraphicsFrame, placeholder_strips
from tui.graphics.sixel import PaletteSize
from tui.render import ColorDepth, landmark_drawing, quantise

LANDMARK_IMAGE_ID = kitty.IMAGE_ID + 1
FACE_IMAGE_ID = kitty.IMAGE_ID + 2  # + the card's slot
MAX_FACE_SLOTS = 16
"""Face cards with a pixel thumbnail (the face pane shows about four); later cards, in a crowd, keep half-blocks."""
PANE_CAP_FRACTION = 4
"""A pane image's cap is the video's divided by this: 320x240 while the video may be 1280x960, which is more than
any thumbnail or landmark pane is in pixels, and 80x60 at the governor's smallest video cap (320x240)."""
MIN_PANE_CAP = (64, 48)


def pane_cap(video_cap: tuple[int, int]) -> tuple[int, int]:
    """The largest pane image for a video cap of `video_cap` pixels."""
    return (
        max(MIN_PANE_CAP[0], video_cap[0] // PANE_CAP_FRACTION),
        max(MIN_PANE_CAP[1], video_cap[1] // PANE_CAP_FRACTION),
    )


def face_image_id(slot: int) -> int:
    return FACE_IMAGE_ID + slot


def all_pane_image_ids() -> list[int]:
    """Every Kitty image id the panes may use (freed when the pixel mode ends)."""
    return [LANDMARK_IMAGE_ID, *(face_image_id(slot) for slot in range(MAX_FACE_SLOTS))]


def cells_pixels(cells: tuple[int, int], options: PaneImageOptions) -> tuple[int, int]:
    """The image size for a pane of `cells`: its pixels at the terminal's cell size, scaled down (aspect kept) to
    the pane cap. The cells never change with the picture, so Textual never lays the pane out again for it; a
    capped Sixel image covers the cells' top left, the rest stays black."""
    cell_w, cell_h = options.cell_px or DEFAULT_CELL_PX
    width, height = cells[0] * cell_w, cells[1] * cell_h
    scale = min(1.0, options.max_pixels[0] / width, options.max_pixels[1] / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


@dataclass(frozen=True)
class PaneImage:
    """One pane's image, ready to write, and the cells it is drawn over (or that name it)."""

    graphics: GraphicsFrame
    strips: list[Strip]
    image_id: int  # the Kitty image id (unused by Sixel)


@dataclass(frozen=True)
class PaneImageOptions:
    mode: RenderMode
    cell_px: tuple[int, int] | None
    colors: ColorDepth
    palette: PaletteSize
    tmux: bool
    kitty_placeholders: bool
    max_pixels: tuple[int, int]  # the pane cap (`pane_cap` of the video's)


class PaneImageRenderer:
    """Pane images for one session, keeping each shape's cells (the same Strip objects: no repaint)."""

    def __init__(self) -> None:
        self._strips: dict[tuple[RenderMode, int, int, bool, int], list[Strip]] = {}

    def face(self, crop_bgr: np.ndarray, cells: tuple[int, int], slot: int, options: PaneImageOptions) -> PaneImage:
        """A face crop filling `cells` (its aspect kept, black bars where the crop is narrower than the cells)."""
        width, height = cells_pixels(cells, options)
        crop_h, crop_w = crop_bgr.shape[:2]
        scale = min(width / crop_w, height / crop_h)
        fit_w, fit_h = max(1, round(crop_w * scale)), max(1, round(crop_h * scale))
        rgb = np.zeros((height, width, 3), np.uint8)
        x, y = (width - fit_w) // 2, (height - fit_h) // 2
        resized = cv2.resize(crop_bgr, (fit_w, fit_h), interpolation=cv2.INTER_AREA)
        rgb[y : y + fit_h, x : x + fit_w] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        return self._image(rgb, cells, face_image_id(slot), options)

    def landmarks(
        self, points: np.ndarray, cells: tuple[int, int], options: PaneImageOptions, pose: np.ndarray | None = None
    ) -> PaneImage:
        """The landmark outline (and the head pose's axes when given) drawn at the pane's pixels (lines a pixel or
        two wide, not half-block dots)."""
        width, height = cells_pixels(cells, options)
        rgb = landmark_drawing(points, width, height, thickness=max(1, round(height / 120)), pose=pose)
        return self._image(rgb, cells, LANDMARK_IMAGE_ID, options)

    def _image(self, rgb: np.ndarray, cells: tuple[int, int], image_id: int, options: PaneImageOptions) -> PaneImage:
        cols, rows = cells
        if options.mode == "kitty":
            payload = kitty.transmit(
                quantise(rgb, options.colors), cols, rows, image_id, placeholders=options.kitty_placeholders
            )
            if options.tmux:
                payload = kitty.tmux_passthrough(payload)
        elif options.mode == "sixel":
            payload = sixel.encode(rgb, options.palette).decode("ascii")
        else:
            raise ValueError(f"not a pixel mode: {options.mode!r}")
        at_cursor = options.mode == "sixel" or not options.kitty_placeholders
        graphics = GraphicsFrame(options.mode, payload, (rgb.shape[1], rgb.shape[0]), cells, at_cursor)
        return PaneImage(graphics, self._cells(options.mode, cols, rows, not at_cursor, image_id), image_id)

    def _cells(self, mode: RenderMode, cols: int, rows: int, placeholders: bool, image_id: int) -> list[Strip]:
        key = (mode, cols, rows, placeholders, image_id if placeholders else 0)
        strips = self._strips.get(key)
        if strips is None:
            blank = [Strip.blank(cols, LETTERBOX)] * rows
            strips = placeholder_strips(cols, rows, image_id) if placeholders else blank
            self._strips[key] = strips
        return strips
