"""The byte-budget governor: steps display quality down when the terminal link cannot keep up.

Textual writes through a queue of 30 frames; a link slower than the stream first builds seconds of
latency, then blocks the UI. So every second the app reports
the bytes it wrote; above budget for two seconds in a row, the governor takes one step down (colour
depth first, it costs the least to the eye, then frame rate); well under budget for five seconds, one
step back up, never above what the user started with.

Every render mode is governed the same way; only the colour steps differ: bits per channel for half-blocks
and Kitty (tui/render.py's COLOR_MODES), palette sizes for Sixel (tui/graphics/sixel.py's PALETTE_SIZES).
The pixel modes first step their image size (PIXEL_CAPS: the picture fills the pane up to the cap), since bytes
grow with the pixels, then their colours, then the frame rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.render import COLOR_MODES

FPS_STEPS = (30.0, 24.0, 20.0, 15.0, 12.0, 10.0, 8.0, 6.0, 5.0)
OVER_SECONDS = 2
UNDER_SECONDS = 5
UNDER_FRACTION = 0.5
PIXEL_CAPS: tuple[tuple[int, int], ...] = ((1280, 960), (960, 720), (640, 480), (480, 360), (320, 240))
"""The largest image a pixel mode sends, from the start down: the picture fills the pane up to the cap."""


@dataclass(frozen=True)
class Quality:
    colors: str  # one of the mode's colour steps
    fps: float
    pixels: tuple[int, int] | None = None  # the pixel modes' image cap (width, height); None: not governed


def quality_ladder(
    start: Quality,
    *,
    govern_colors: bool,
    govern_fps: bool,
    color_steps: Sequence[str] = COLOR_MODES,
    pixel_steps: Sequence[tuple[int, int]] = (),
) -> list[Quality]:
    """Qualities from `start` down to the coarsest allowed: image caps first (`pixel_steps`, largest first, from
    `start.pixels`), then colour steps, then fps steps."""
    ladder = [start]
    pixels = start.pixels
    if pixels is not None and pixels in pixel_steps:
        for cap in pixel_steps[list(pixel_steps).index(pixels) + 1 :]:
            pixels = cap
            ladder.append(Quality(start.colors, start.fps, pixels))
    colors = start.colors
    if govern_colors:
        for mode in color_steps[list(color_steps).index(colors) + 1 :]:
            colors = mode
            ladder.append(Quality(colors, start.fps, pixels))
    if govern_fps:
        for fps in FPS_STEPS:
            if fps < start.fps:
                ladder.append(Quality(colors, fps, pixels))
    return ladder


class QualityGovernor:
    def __init__(
        self,
        start: Quality,
        budget_bytes_per_s: int,
        *,
        govern_colors: bool = True,
        govern_fps: bool = True,
        color_steps: Sequence[str] = COLOR_MODES,
        pixel_steps: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.budget = budget_bytes_per_s
        self.ladder = quality_ladder(
            start, govern_colors=govern_colors, govern_fps=govern_fps, color_steps=color_steps, pixel_steps=pixel_steps
        )
        self.level = 0
        self._over = 0
        self._under = 0

    @property
    def quality(self) -> Quality:
        return self.ladder[self.level]

    def observe(self, bytes_per_s: float) -> Quality | None:
        """Report one second's bytes; returns the new quality when it changes, else None."""
        if bytes_per_s > self.budget:
            self._over, self._under = self._over + 1, 0
        elif bytes_per_s < self.budget * UNDER_FRACTION:
            self._over, self._under = 0, self._under + 1
        else:
            self._over = self._under = 0
        if self._over >= OVER_SECONDS and self.level < len(self.ladder) - 1:
            self.level += 1
            self._over = 0
            return self.quality
        if self._under >= UNDER_SECONDS and self.level > 0:
            self.level -= 1
            self._under = 0
            return self.quality
        return None
