"""A small Sixel decoder for the tests: what a terminal would draw from our bytes, independent of the encoder.

Reads one DCS ... ST image: raster attributes, colour definitions (`#n;2;r;g;b`, percent), colour selects,
sixel characters, `!n` repeats, `$` and `-`. Pixels no colour touched are -1 in the returned index map.
Written from the format's description (DEC STD 070), not from the encoder, so the two can disagree.
"""

from __future__ import annotations

import re

import numpy as np

_DCS = re.compile(rb"\x1bP([0-9;]*)q(.*?)\x1b\\", re.S)
_NUMBER = re.compile(rb"[0-9]+")


class SixelImage:
    def __init__(self, index: np.ndarray, colors: dict[int, tuple[int, int, int]], raster: tuple[int, int]) -> None:
        self.index = index  # (h, w) int: colour register per pixel, -1 where nothing was drawn
        self.colors = colors  # register -> RGB 0..255
        self.raster = raster  # (width, height) from the raster attributes

    def rgb(self) -> np.ndarray:
        """(h, w, 3) uint8; undrawn pixels are black."""
        lut = np.zeros((max(self.colors, default=0) + 2, 3), dtype=np.uint8)
        for register, rgb in self.colors.items():
            lut[register] = rgb
        return lut[np.where(self.index < 0, len(lut) - 1, self.index)]


def _numbers(data: bytes, pos: int) -> tuple[list[int], int]:
    """Parameters `n;n;n` starting at `pos`; returns them and the position after."""
    values = []
    while True:
        match = _NUMBER.match(data, pos)
        values.append(int(match.group()) if match else 0)
        pos = match.end() if match else pos
        if pos < len(data) and data[pos : pos + 1] == b";":
            pos += 1
            continue
        return values, pos


def decode(data: bytes) -> SixelImage:
    found = _DCS.search(data)
    if found is None:
        raise ValueError("no Sixel image (DCS ... q ... ST) in the data")
    body = found.group(2)
    pos = 0
    raster = (0, 0)
    if body.startswith(b'"'):
        values, pos = _numbers(body, 1)
        raster = (values[2], values[3])
    width, height = max(raster[0], 1), max(raster[1], 6)
    canvas = np.full((height + 6, width), -1, dtype=np.int64)
    colors: dict[int, tuple[int, int, int]] = {}
    color = 0
    x = band = 0
    while pos < len(body):
        char = body[pos]
        if char == ord("#"):
            values, pos = _numbers(body, pos + 1)
            if len(values) >= 5:
                if values[1] != 2:
                    raise ValueError("only RGB colour definitions are supported")
                colors[values[0]] = tuple(round(v * 255 / 100) for v in values[2:5])  # type: ignore[assignment]
            color = values[0]
            continue
        repeat = 1
        if char == ord("!"):
            values, pos = _numbers(body, pos + 1)
            repeat, char = values[0], body[pos]
        pos += 1
        if char == ord("$"):
            x = 0
        elif char == ord("-"):
            x, band = 0, band + 1
        elif 63 <= char <= 126:
            bits = char - 63
            if x + repeat > canvas.shape[1] or band * 6 + 6 > canvas.shape[0]:
                grown = np.full((max(canvas.shape[0], band * 6 + 6), max(canvas.shape[1], x + repeat)), -1, np.int64)
                grown[: canvas.shape[0], : canvas.shape[1]] = canvas
                canvas = grown
            for r in range(6):
                if bits & (1 << r):
                    canvas[band * 6 + r, x : x + repeat] = color
            x += repeat
        elif char in b"\r\n":
            continue
        else:
            raise ValueError(f"unexpected byte {bytes([char])!r} in Sixel data")
    return SixelImage(canvas[: raster[1] or canvas.shape[0], : raster[0] or canvas.shape[1]], colors, raster)
