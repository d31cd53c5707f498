"""Sixel encoding with numpy: a fixed palette, one bit plane per (band, colour), run-length encoded.

Why a fixed palette: it costs one table lookup per pixel (a per-frame median cut or k-means costs tens of
milliseconds at 320x240 on a busy 2-core machine), and it is the same every frame, so a still scene gives
the same bytes and colours never shimmer between frames. 256 colours are 8 red x 8 green x 4 blue levels
(the eye is least sensitive to blue); 64 colours are 4 x 4 x 4.

Why no Python loop per pixel or per run: a 320x240 frame has 40 bands of 6 rows and typically a few
thousand (band, colour) rows with tens of thousands of runs. Every run becomes one token id; the ids index
a table of pre-built byte strings, and one `b"".join` writes the image.

The format (DEC STD 070, VT340): `ESC P q`, raster attributes `"1;1;W;H`, colour definitions `#n;2;r;g;b`
(percent), then per band of 6 pixel rows, per colour: `#n` and one character per column (63 + the 6-bit
mask of the rows that have this colour), runs as `!count char`, `$` back to the band's start, `-` to the
next band; `ESC \\` ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

PaletteSize = Literal["256", "64"]
PALETTE_SIZES: tuple[PaletteSize, ...] = ("256", "64")
"""Palette sizes, best first (the governor steps down this list)."""

_LEVELS: dict[str, tuple[int, int, int]] = {"256": (8, 8, 4), "64": (4, 4, 4)}
_MIN_RUN = 4  # `!n` plus the character costs 3+ bytes: shorter runs are cheaper written out


@dataclass(frozen=True)
class Palette:
    """A fixed palette of `levels` per channel (r, g, b): colour n = (r * levels_g + g) * levels_b + b."""

    levels: tuple[int, int, int]

    @property
    def size(self) -> int:
        return self.levels[0] * self.levels[1] * self.levels[2]

    def colors(self) -> np.ndarray:
        """(size, 3) uint8 RGB of each palette entry (levels spread evenly over 0..255, black and white kept)."""
        steps = [np.round(np.linspace(0, 255, n)).astype(np.uint8) for n in self.levels]
        r, g, b = np.meshgrid(*steps, indexing="ij")
        return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)

    def index(self, rgb: np.ndarray) -> np.ndarray:
        """(h, w) palette index of each pixel of an (h, w, 3) RGB uint8 image: the nearest level per channel."""
        lr, lg, lb = (_level_lut(n) for n in self.levels)
        return (lr[rgb[..., 0]] * self.levels[1] + lg[rgb[..., 1]]) * self.levels[2] + lb[rgb[..., 2]]


def palette(size: PaletteSize) -> Palette:
    if size not in _LEVELS:
        raise ValueError(f"palette must be one of {', '.join(PALETTE_SIZES)}, not {size!r}")
    return Palette(_LEVELS[size])


@lru_cache(maxsize=8)
def _level_lut(levels: int) -> np.ndarray:
    """Value 0..255 -> nearest of `levels` evenly spread levels (uint16: indices up to 255 multiply safely)."""
    return np.round(np.arange(256) * (levels - 1) / 255).astype(np.uint16)


@lru_cache(maxsize=4)
def _token_table(width: int, colors: int) -> np.ndarray:
    """Byte strings by token id: runs (length * 64 + sixel value), then `#n` for each colour, then `$` and `-`."""
    runs = [
        (bytes([63 + value]) * length if length < _MIN_RUN else b"!%d%c" % (length, 63 + value))
        for length in range(width + 1)
        for value in range(64)
    ]
    selects = [b"#%d" % n for n in range(colors)]
    table = np.empty(len(runs) + colors + 2, dtype=object)
    table[:] = [*runs, *selects, b"$", b"-"]
    return table


def encode(rgb: np.ndarray, size: PaletteSize = "256") -> bytes:
    """One Sixel image (DCS ... ST) of an (h, w, 3) RGB uint8 image, reduced to the fixed palette `size`."""
    pal = palette(size)
    height, width = rgb.shape[:2]
    if height == 0 or width == 0:
        raise ValueError("cannot encode an empty image as Sixel")
    index = pal.index(np.ascontiguousarray(rgb, dtype=np.uint8))
    return encode_indexed(index, pal.colors())


def encode_indexed(index: np.ndarray, colors: np.ndarray) -> bytes:
    """One Sixel image of an (h, w) array of indices into `colors` ((n, 3) uint8 RGB)."""
    height, width = index.shape
    n_colors = len(colors)
    bands = -(-height // 6)
    # Pad to whole bands with an index past the palette: padding rows are simply never drawn.
    padded = np.full((bands * 6, width), n_colors, dtype=np.int64)
    padded[:height] = index
    by_band = padded.reshape(bands, 6, width)

    # The (band, colour) pairs that occur, in band-major order: one sixel row each.
    pair = np.arange(bands)[:, None, None] * (n_colors + 1) + by_band
    present = np.bincount(pair.ravel(), minlength=bands * (n_colors + 1)).reshape(bands, n_colors + 1)[:, :n_colors]
    row_band, row_color = np.nonzero(present)
    row_of_pair = np.full(bands * (n_colors + 1), -1, dtype=np.int64)
    row_of_pair[row_band * (n_colors + 1) + row_color] = np.arange(len(row_band))
    n_rows = len(row_band)

    # Each pixel sets bit r (its row inside the band) of its (band, colour) row at its column. Within one
    # sub-row every column has one colour, so the fancy-indexed OR never sees a repeated index.
    masks = np.zeros(n_rows * width, dtype=np.uint8)
    columns = np.arange(width)
    for r in range(6):
        rows = row_of_pair[pair[:, r, :]]  # (bands, width); -1 where padding
        valid = rows >= 0
        masks[(rows * width + columns)[valid]] |= np.uint8(1 << r)

    # Runs of equal values inside each row.
    change = np.empty(len(masks), dtype=bool)
    change[0] = True
    np.not_equal(masks[1:], masks[:-1], out=change[1:])
    change[::width] = True
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, len(masks)))
    values = masks[starts].astype(np.int64)
    run_rows = starts // width
    # A row's trailing empty run draws nothing: drop it (the row ends with `$` or `-` anyway).
    keep = ~((values == 0) & ((starts + lengths) % width == 0))
    run_ids = (lengths * 64 + values)[keep]
    run_rows = run_rows[keep]

    # Interleave: per row, `#colour`, its runs, then `$` (or `-` after the band's last colour).
    runs_per_row = np.bincount(run_rows, minlength=n_rows)
    first_run = np.cumsum(runs_per_row) - runs_per_row
    run_base = (width + 1) * 64
    out = np.empty(len(run_ids) + 2 * n_rows, dtype=np.int64)
    out[np.arange(len(run_ids)) + 2 * run_rows + 1] = run_ids
    row_index = np.arange(n_rows)
    out[first_run + 2 * row_index] = run_base + row_color
    band_ends = np.append(row_band[1:] != row_band[:-1], True)
    out[first_run + runs_per_row + 2 * row_index + 1] = np.where(
        band_ends, run_base + n_colors + 1, run_base + n_colors
    )
    body = b"".join(_token_table(width, n_colors)[out].tolist())

    used = np.unique(row_color)
    percent = np.round(colors[used].astype(np.float64) * 100 / 255).astype(int)
    header = b"".join(b"#%d;2;%d;%d;%d" % (n, *rgb) for n, rgb in zip(used.tolist(), percent.tolist(), strict=True))
    # P2=1: pixels no colour touches stay as they are (the padding rows of the last band).
    return b'\x1bP0;1;0q"1;1;%d;%d' % (width, height) + header + body + b"\x1b\\"
