"""The Sixel encoder on real pictures: decoded (by the tests' own decoder, and by libsixel where installed),
the image is the frame reduced to the palette."""

from __future__ import annotations

import shutil
import subprocess

import cv2
import numpy as np
import pytest
from rich.color import ColorSystem

from tests.media import portrait
from tests.sixel_decoder import decode
from tui.graphics import sixel
from tui.graphics.frames import letterbox_background


def hopper_rgb(width: int, height: int) -> np.ndarray:
    small = cv2.resize(portrait("hopper"), (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def palette_image(rgb: np.ndarray, size: sixel.PaletteSize) -> np.ndarray:
    pal = sixel.palette(size)
    return pal.colors()[pal.index(rgb)]


@pytest.mark.parametrize("size", ["256", "64"])
@pytest.mark.parametrize("shape", [(320, 240), (161, 97)])  # 97 rows: the last band is partly padding
def test_round_trip_gives_the_frame_in_the_palette(size, shape):
    rgb = hopper_rgb(*shape)
    image = decode(sixel.encode(rgb, size))
    assert image.raster == shape
    assert image.index.shape == (shape[1], shape[0]) and (image.index >= 0).all(), "every pixel drawn"
    assert len(image.colors) <= int(size)
    # Colours travel as percentages: a palette level comes back within one level of 255.
    assert np.abs(image.rgb().astype(int) - palette_image(rgb, size)).max() <= 1
    # And the palette is the nearest level per channel: at most half a step from the frame (blue has 4 levels
    # in both palettes, so half of 255 / 3), plus the percentage rounding.
    assert np.abs(image.rgb().astype(int) - rgb).max() <= 255 / 3 / 2 + 1
    assert np.abs(image.rgb().astype(float) - rgb).mean() < {"256": 16, "64": 24}[size]


def test_64_colours_cost_fewer_bytes_than_256():
    rgb = hopper_rgb(320, 240)
    assert len(sixel.encode(rgb, "64")) < len(sixel.encode(rgb, "256"))


def test_flat_rows_are_run_length_encoded():
    rgb = np.full((240, 320, 3), 200, np.uint8)
    data = sixel.encode(rgb)
    assert data.count(b"!320~") == 40  # one run per band, all six rows set
    assert len(data) < 40 * 12 + 60
    assert (decode(data).index >= 0).all()


def test_a_colour_that_ends_early_in_a_band_leaves_the_rest_untouched():
    rgb = np.zeros((6, 10, 3), np.uint8)
    rgb[:, :3] = 255  # white only in the first three columns
    image = decode(sixel.encode(rgb))
    assert image.rgb()[:, :3].min() == 255 and image.rgb()[:, 3:].max() == 0


def test_unknown_palette_is_refused():
    with pytest.raises(ValueError, match="palette"):
        sixel.encode(np.zeros((6, 6, 3), np.uint8), "128")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("sixel2png") is None, reason="libsixel-bin (sixel2png) is not installed")
def test_libsixel_decodes_the_same_picture(tmp_path):
    rgb = hopper_rgb(320, 240)
    (tmp_path / "frame.six").write_bytes(sixel.encode(rgb, "256"))
    subprocess.run(["sixel2png", "-i", str(tmp_path / "frame.six"), "-o", str(tmp_path / "frame.png")], check=True)
    decoded = cv2.cvtColor(cv2.imread(str(tmp_path / "frame.png")), cv2.COLOR_BGR2RGB)
    assert decoded.shape == rgb.shape
    assert np.abs(decoded.astype(int) - palette_image(rgb, "256")).max() <= 1


def test_the_letterbox_background_in_each_colour_system():
    """Written before each Sixel image: mlterm fills what the image leaves of its last cell row with the current
    background, which Textual leaves at the default (white in mlterm): a white line under the picture."""
    assert letterbox_background(ColorSystem.TRUECOLOR) == "\x1b[48;2;0;0;0m"
    assert letterbox_background(ColorSystem.EIGHT_BIT) == "\x1b[48;5;16m"
    assert letterbox_background(ColorSystem.STANDARD) == "\x1b[40m"
    assert letterbox_background(None) == ""  # no colours at all: nothing to set
