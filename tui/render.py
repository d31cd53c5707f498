"""Frames to terminal cells: half blocks, two pixels per cell, built with numpy.

The pipeline of one frame is: area-average downscale to (cols, 2 * rows) pixels, optional temporal
hysteresis (keep a pixel's previous value unless it moved by more than a threshold: kills sensor noise,
so rows repeat and runs get longer), colour quantisation, overlays drawn into the pixels (face boxes,
landmark dots), one `▀` cell per pixel pair (fg = upper pixel, bg = lower), text labels written into the
cells, and finally one `Strip` per row where runs of cells with the same style are one `Segment`.

Everything per pixel and per cell is numpy; the only Python loop is over runs. Styles are built once per
quantised (fg, bg) key and cached: `Style.parse` per cell is what makes rich-pixels slow on video
(benchmarks/render.py measures both). This module imports Textual's `Strip` but no widget or app.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from PIL.Image import Image
from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from rich_pixels._renderer import Renderer
from textual.strip import Strip

from pipeline.core.frames import Face
from pipeline.processors.head_pose import matrix_from_euler
from tui.annotate import LANDMARK_COLOR, face_marks

UPPER_HALF = "▀"
ColorDepth = Literal["8", "6", "5", "4", "256"]
"""Bits kept per colour channel, or "256": the xterm 256-colour palette."""
COLOR_MODES: tuple[ColorDepth, ...] = ("8", "6", "5", "4", "256")
"""Bits kept per channel (truecolour output) or "256" for the xterm 256-colour palette; best first."""

# Cell keys pack (fg, bg) as two 24-bit colours; BG_ONLY marks a cell whose glyph is a space (no fg needed).
_BG_ONLY = np.int64(1) << 48
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255], dtype=np.uint8)
# Nearest xterm cube level for each 0..255 value, as a lookup table.
_CUBE_INDEX = np.abs(np.arange(256)[:, None] - _CUBE_LEVELS[None, :].astype(int)).argmin(axis=1).astype(np.uint8)


@dataclass
class CellGrid:
    """A block of terminal cells: glyph code points and RGB foreground/background per cell."""

    glyphs: np.ndarray  # (rows, cols) uint32 code points
    fg: np.ndarray  # (rows, cols, 3) uint8 RGB
    bg: np.ndarray  # (rows, cols, 3) uint8 RGB

    @property
    def rows(self) -> int:
        return int(self.glyphs.shape[0])

    @property
    def cols(self) -> int:
        return int(self.glyphs.shape[1])

    def text(self) -> list[str]:
        """The glyphs as one string per row (for tests and debugging)."""
        return [_decode(row) for row in self.glyphs]


@dataclass
class RenderedFrame:
    """What the render thread hands to the UI: strips for every row and which rows changed."""

    strips: list[Strip]
    dirty_rows: list[int]
    cols: int
    rows: int
    bytes_estimate: int = 0
    extras: dict[str, object] = field(default_factory=dict)


def fit_cells(frame_w: int, frame_h: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """The largest (cols, rows) inside the box that keeps the frame's aspect (a cell is two square pixels)."""
    if frame_w <= 0 or frame_h <= 0 or max_cols <= 0 or max_rows <= 0:
        return (0, 0)
    cols = min(max_cols, round(max_rows * 2 * frame_w / frame_h))
    rows = min(max_rows, round(cols * frame_h / frame_w / 2))
    return (max(1, cols), max(1, rows))


def downscale(image_bgr: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Area-average the frame to (2 * rows, cols) RGB pixels."""
    small = cv2.resize(image_bgr, (cols, 2 * rows), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def quantise(pixels: np.ndarray, mode: ColorDepth) -> np.ndarray:
    """Reduce colour depth: keep `mode` bits per channel (bin centres), or snap to the xterm 6x6x6 cube."""
    if mode == "256":
        return _CUBE_LEVELS[_CUBE_INDEX[pixels]]
    bits = int(mode)
    if bits >= 8:
        return pixels
    drop = 8 - bits
    mask = np.uint8((0xFF << drop) & 0xFF)
    return (pixels & mask) | np.uint8(1 << (drop - 1))


def half_blocks(pixels: np.ndarray) -> CellGrid:
    """Pair pixel rows into `▀` cells: fg = upper pixel, bg = lower pixel. Height must be even."""
    rows = pixels.shape[0] // 2
    glyphs = np.full((rows, pixels.shape[1]), ord(UPPER_HALF), dtype=np.uint32)
    return CellGrid(glyphs, np.ascontiguousarray(pixels[0::2]), np.ascontiguousarray(pixels[1::2]))


def write_text(grid: CellGrid, row: int, col: int, text: str, fg: tuple[int, int, int], bg: tuple[int, int, int]):
    """Write `text` into the cells from (row, col), clipped to the grid."""
    if not 0 <= row < grid.rows or col >= grid.cols or not text:
        return
    if col < 0:
        text, col = text[-col:], 0
    text = text[: grid.cols - col]
    end = col + len(text)
    grid.glyphs[row, col:end] = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    grid.fg[row, col:end] = fg
    grid.bg[row, col:end] = bg


def _decode(codes: np.ndarray) -> str:
    return np.ascontiguousarray(codes, dtype="<u4").tobytes().decode("utf-32-le")


def cell_keys(grid: CellGrid) -> np.ndarray:
    """One int64 style key per cell; a `▀` whose halves match becomes a space with only a background."""
    fg = grid.fg.astype(np.int64)
    bg = grid.bg.astype(np.int64)
    fg24 = (fg[..., 0] << 16) | (fg[..., 1] << 8) | fg[..., 2]
    bg24 = (bg[..., 0] << 16) | (bg[..., 1] << 8) | bg[..., 2]
    solid = (grid.glyphs == ord(UPPER_HALF)) & (fg24 == bg24)
    grid.glyphs[solid] = ord(" ")
    return np.where(solid, _BG_ONLY | bg24, (fg24 << 24) | bg24)


class StyleCache:
    """Rich `Style` objects by cell key, built directly (never parsed), bounded in size.

    Colours are cached too (by 24-bit value), so a new style costs two dict hits and one Style().
    """

    def __init__(self, palette_256: bool = False, max_size: int = 65536) -> None:
        self.palette_256 = palette_256
        self.max_size = max_size
        self.styles: dict[int, Style] = {}
        self._colors: dict[int, Color] = {}

    def _color(self, rgb24: int) -> Color:
        color = self._colors.get(rgb24)
        if color is None:
            r, g, b = (rgb24 >> 16) & 0xFF, (rgb24 >> 8) & 0xFF, rgb24 & 0xFF
            if self.palette_256:
                cube = 16 + 36 * int(_CUBE_INDEX[r]) + 6 * int(_CUBE_INDEX[g]) + int(_CUBE_INDEX[b])
                color = Color.from_ansi(cube)
            else:
                color = Color.from_rgb(r, g, b)
            self._colors[rgb24] = color
        return color

    def get(self, key: int) -> Style:
        style = self.styles.get(key)
        if style is None:
            if len(self.styles) >= self.max_size:
                self.styles.clear()
            bg = self._color(key & 0xFFFFFF)
            fg = None if key & _BG_ONLY else self._color((key >> 24) & 0xFFFFFF)
            style = self.styles[key] = Style.from_color(fg, bg)
        return style

    def __len__(self) -> int:
        return len(self.styles)


def row_segments(keys: np.ndarray, text: str, styles: StyleCache) -> list[Segment]:
    """Segments of one row: one per run of equal style keys."""
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    ends = np.append(starts[1:], len(keys)).tolist()
    run_keys = keys[starts].tolist()
    cached, make = styles.styles.get, styles.get  # every style has a colour, so a cached one is truthy
    return [Segment(text[s:e], cached(k) or make(k)) for s, e, k in zip(starts.tolist(), ends, run_keys, strict=True)]


def grid_strips(
    grid: CellGrid,
    styles: StyleCache,
    previous: tuple[np.ndarray, np.ndarray, list[Strip]] | None = None,
) -> tuple[list[Strip], list[int], tuple[np.ndarray, np.ndarray, list[Strip]]]:
    """Strips for every row, reusing `previous` strips for rows whose cells did not change.

    Returns (strips, dirty row indices, state to pass back as `previous` next time).
    """
    keys = cell_keys(grid)
    glyphs = grid.glyphs
    if previous is not None and previous[0].shape == keys.shape:
        prev_keys, prev_glyphs, prev_strips = previous
        changed = np.any(keys != prev_keys, axis=1) | np.any(glyphs != prev_glyphs, axis=1)
        dirty = np.flatnonzero(changed).tolist()
        strips = list(prev_strips)
    else:
        dirty = list(range(grid.rows))
        strips = [Strip.blank(grid.cols)] * grid.rows
    if dirty:
        text = _decode(glyphs)
        cols = grid.cols
        for y in dirty:
            strips[y] = Strip(row_segments(keys[y], text[y * cols : (y + 1) * cols], styles), cols)
    return strips, dirty, (keys, glyphs.copy(), strips)


def draw_faces(
    pixels: np.ndarray,
    faces: Iterable[Face],
    scale_x: float,
    scale_y: float,
    *,
    boxes: bool,
    landmarks: bool,
) -> list[tuple[int, int, str, tuple[int, int, int]]]:
    """Draw box outlines and landmark dots into the pixel grid (in place), where tui.annotate.face_marks puts them.

    Returns the labels to write afterwards: (pixel x, pixel y of the box top, text, colour).
    """
    labels = []
    for mark in face_marks(faces, scale_x, scale_y, boxes=boxes, landmarks=landmarks):
        if mark.points is not None:
            xs = np.clip(mark.points[:, 0], 0, pixels.shape[1] - 1)
            ys = np.clip(mark.points[:, 1], 0, pixels.shape[0] - 1)
            pixels[ys, xs] = LANDMARK_COLOR
        if mark.top_left is not None and mark.bottom_right is not None:
            cv2.rectangle(pixels, mark.top_left, mark.bottom_right, mark.color, thickness=1)
            labels.append((mark.top_left[0], mark.top_left[1], mark.caption, mark.color))
    return labels


def write_labels(grid: CellGrid, labels: Iterable[tuple[int, int, str, tuple[int, int, int]]]) -> None:
    """Captions above each box (inside its top edge when the box touches the top), dark text on the box colour."""
    for px, py, text, color in labels:
        row = py // 2 - 1 if py >= 2 else py // 2
        write_text(grid, row, px, text, (0, 0, 0), color)


class HalfBlockRenderer(Renderer):
    """fertui's frame renderer: a rich-pixels `Renderer`, vectorised, with a fast path to Textual strips.

    `render` (the rich-pixels interface, PIL in, segments out) makes it usable with
    `rich_pixels.Pixels.from_image(image, renderer=HalfBlockRenderer())`; the app uses `render_frame`.
    One instance per video stream: it keeps the previous frame for hysteresis and row reuse.
    """

    def __init__(self, colors: ColorDepth = "6", *, hysteresis: int = 0, default_color: str | None = None) -> None:
        super().__init__(default_color=default_color)
        if colors not in COLOR_MODES:
            raise ValueError(f"colors must be one of {', '.join(COLOR_MODES)}, not {colors!r}")
        self.colors = colors
        self.hysteresis = hysteresis
        self.styles = StyleCache(palette_256=colors == "256")
        self._previous_pixels: np.ndarray | None = None
        self._previous_strips: tuple[np.ndarray, np.ndarray, list[Strip]] | None = None

    def set_colors(self, colors: ColorDepth) -> None:
        if colors != self.colors:
            self.colors = colors
            self.styles = StyleCache(palette_256=colors == "256")
            self._previous_strips = None

    # rich-pixels interface -------------------------------------------------------------------------
    def render(self, image: Image, resize: tuple[int, int] | None) -> list[Segment]:
        rgb = np.asarray(image.convert("RGB"))
        cols, height = resize if resize else (rgb.shape[1], rgb.shape[0])
        rows = (height + 1) // 2
        pixels = cv2.resize(rgb, (cols, 2 * rows), interpolation=cv2.INTER_AREA)
        grid = half_blocks(quantise(pixels, self.colors))
        keys = cell_keys(grid)
        text = _decode(grid.glyphs)
        segments: list[Segment] = []
        newline = Segment("\n", self.null_style)
        for y in range(rows):
            segments += row_segments(keys[y], text[y * cols : (y + 1) * cols], self.styles)
            segments.append(newline)
        return segments

    # fast path ----------------------------------------------------------------------------------------
    def cells(
        self,
        image_bgr: np.ndarray,
        cols: int,
        rows: int,
        faces: Sequence[Face] = (),
        *,
        boxes: bool = True,
        landmarks: bool = True,
    ) -> CellGrid:
        """The cell grid of a frame at (cols, rows), overlays included."""
        pixels = downscale(image_bgr, cols, rows)
        if self.hysteresis and self._previous_pixels is not None and self._previous_pixels.shape == pixels.shape:
            moved = np.abs(pixels.astype(np.int16) - self._previous_pixels).max(axis=2) > self.hysteresis
            pixels = np.where(moved[..., None], pixels, self._previous_pixels).astype(np.uint8)
        self._previous_pixels = pixels
        pixels = quantise(pixels, self.colors).copy()
        height, width = image_bgr.shape[:2]
        labels = draw_faces(pixels, faces, cols / width, 2 * rows / height, boxes=boxes, landmarks=landmarks)
        grid = half_blocks(pixels)
        write_labels(grid, labels)
        return grid

    def render_frame(
        self,
        image_bgr: np.ndarray,
        cols: int,
        rows: int,
        faces: Sequence[Face] = (),
        *,
        boxes: bool = True,
        landmarks: bool = True,
    ) -> RenderedFrame:
        """Strips for a frame, reusing the previous frame's strips for unchanged rows."""
        grid = self.cells(image_bgr, cols, rows, faces, boxes=boxes, landmarks=landmarks)
        strips, dirty, self._previous_strips = grid_strips(grid, self.styles, self._previous_strips)
        return RenderedFrame(strips=strips, dirty_rows=dirty, cols=cols, rows=rows)


def crop_face(image_bgr: np.ndarray, box: Sequence[float], margin: float = 0.25) -> np.ndarray:
    """A square crop around a face box with a margin, clipped to the frame (never empty)."""
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    height, width = image_bgr.shape[:2]
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((2, 2, 3), dtype=np.uint8)
    return image_bgr[y0:y1, x0:x1]


# The 68-point iBUG 300-W layout: (first index, last index, closed?) for each feature's outline.
LANDMARK_OUTLINE: tuple[tuple[int, int, bool], ...] = (
    (0, 16, False),  # jaw
    (17, 21, False),  # brow (image left)
    (22, 26, False),  # brow (image right)
    (27, 30, False),  # nose bridge
    (31, 35, False),  # nostrils
    (36, 41, True),  # eye (image left)
    (42, 47, True),  # eye (image right)
    (48, 59, True),  # outer lip
    (60, 67, True),  # inner lip
)


NOSE_TIP = 30  # iBUG point: where the head pose axes start
POSE_AXIS_COLORS = ((240, 70, 70), (250, 210, 40), (80, 160, 255))
"""RGB of the head's axes in the landmark pane: across the face (red), down it (yellow), out of it (blue): not the
landmarks' green."""
POSE_AXIS_LENGTH = 0.4
"""Each axis, at full length, as a share of the face's larger side on the canvas."""


def pose_axis_offsets(pose: np.ndarray, length: float) -> np.ndarray:
    """(3, 2) picture offsets of the head's axes, `length` long before foreshortening: its x (across the face, to
    the right of the picture when facing the camera), its y (down the face) and its forward direction (out of the
    face, where it looks). The log's pose: R = Rx @ Ry @ Rz takes the head's axes into the camera's (x right, y
    down, z away from the camera), so they are R's columns, and forward is -z; drawn as seen (z dropped), an axis
    pointing at the camera is short."""
    rotation = matrix_from_euler(*np.asarray(pose, dtype=np.float64)[:3])
    return length * np.stack([rotation[:2, 0], rotation[:2, 1], -rotation[:2, 2]])


def landmark_drawing(
    landmarks: np.ndarray,
    width: int,
    height: int,
    color=LANDMARK_COLOR,
    thickness: int = 1,
    pose: np.ndarray | None = None,
) -> np.ndarray:
    """The 68 landmarks as a line drawing (jaw, brows, nose, eyes, lips) on a black (height, width, 3) RGB image,
    centred and as large as fits (the landmark pane: half-block pixels, or the pane's real pixels), with the head
    pose's axes from the nose tip when `pose` (Rx, Ry, Rz, ...) is given."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    points = np.asarray(landmarks, dtype=np.float32)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.maximum(high - low, 1.0)
    margin = thickness // 2
    scale = min((width - 1 - 2 * margin) / span[0], (height - 1 - 2 * margin) / span[1])
    offset = (np.array([width - 1, height - 1]) - span * scale) / 2
    canvas_points = np.round((points - low) * scale + offset).astype(np.int32)
    for first, last, closed in LANDMARK_OUTLINE:
        cv2.polylines(pixels, [canvas_points[first : last + 1]], closed, color, thickness=thickness)
    if pose is not None and np.all(np.isfinite(np.asarray(pose, dtype=np.float64)[:3])):
        nose = (points[NOSE_TIP] - low) * scale + offset
        ends = nose + pose_axis_offsets(pose, POSE_AXIS_LENGTH * float(span.max() * scale))
        start = tuple(int(v) for v in np.round(nose))
        for end, axis_color in zip(ends, POSE_AXIS_COLORS, strict=True):  # forward last: on top
            cv2.line(pixels, start, tuple(int(v) for v in np.round(end)), axis_color, thickness=thickness)
    return pixels


def landmark_outline(
    landmarks: np.ndarray, cols: int, rows: int, color=LANDMARK_COLOR, pose: np.ndarray | None = None
) -> CellGrid:
    """The landmark drawing (with the pose's axes when given) in a (cols, rows) half-block canvas."""
    return half_blocks(landmark_drawing(landmarks, cols, 2 * rows, color, pose=pose))


def render_cells(grid: CellGrid, styles: StyleCache) -> list[Strip]:
    """Strips for a small, one-off grid (face crops, the landmark canvas)."""
    strips, _dirty, _state = grid_strips(grid, styles)
    return strips


def render_image(
    image_bgr: np.ndarray, cols: int, rows: int, styles: StyleCache, colors: ColorDepth = "6"
) -> list[Strip]:
    """Strips for a still image stretched to (cols, rows) cells (face crops in the face pane)."""
    return render_cells(half_blocks(quantise(downscale(image_bgr, cols, rows), colors)), styles)


def strips_bytes(strips: Iterable[Strip]) -> int:
    """Bytes these strips cost when written (SGR + text + reset per segment, plus a cursor move per row)."""
    total = 0
    for strip in strips:
        for segment in strip:
            style = segment.style
            total += len(segment.text.encode()) + (
                len(style._make_ansi_codes(ColorSystem.TRUECOLOR)) + 7 if style else 0
            )
        total += 8
    return total
