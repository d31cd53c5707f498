"""Kitty graphics commands parsed and decoded as a terminal would: the frame comes back, one image id."""

from __future__ import annotations

import base64
import re
import sys
import unicodedata
import zlib

import cv2
import numpy as np
from rich.cells import cell_len

from pipeline.core.frames import Face
from tests.media import portrait
from tui.graphics import kitty
from tui.graphics.frames import PixelRenderer, placeholder_strips

APC = re.compile(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")


def parse(commands: str) -> list[tuple[dict[str, str], str]]:
    """Each APC graphics command as (keys, payload); nothing else may be in between."""
    found = [(dict(kv.split("=", 1) for kv in m.group(1).split(",")), m.group(2) or "") for m in APC.finditer(commands)]
    assert APC.sub("", commands) == "", "only graphics commands"
    return found


def decode_transmission(commands: str) -> tuple[dict[str, str], np.ndarray]:
    """The first command's keys and the image its chunks carry."""
    parsed = parse(commands)
    keys = parsed[0][0]
    assert [k.get("m") for k, _ in parsed] == ["1"] * (len(parsed) - 1) + ["0"]
    assert all(len(payload) <= kitty.CHUNK for _, payload in parsed)
    raw = base64.standard_b64decode("".join(payload for _, payload in parsed))
    assert keys["o"] == "z" and keys["f"] == "24"
    pixels = np.frombuffer(zlib.decompress(raw), np.uint8)
    return keys, pixels.reshape(int(keys["v"]), int(keys["s"]), 3)


def test_transmission_decodes_to_the_frame():
    rgb = cv2.cvtColor(cv2.resize(portrait(), (320, 240)), cv2.COLOR_BGR2RGB)
    keys, decoded = decode_transmission(kitty.transmit(rgb, cols=60, rows=22))
    assert np.array_equal(decoded, rgb)
    assert keys["a"] == "T" and keys["U"] == "1" and keys["q"] == "2"
    assert (keys["i"], keys["c"], keys["r"]) == (str(kitty.IMAGE_ID), "60", "22")


def test_placeholders_name_each_cell_and_take_one_cell_each():
    rows = kitty.placeholder_rows(cols=7, rows=3)
    for r, text in enumerate(rows):
        assert cell_len(text) == 7
        cells = [text[i : i + 3] for i in range(0, len(text), 3)]
        assert all(cell[0] == kitty.PLACEHOLDER for cell in cells)
        where = [(kitty.DIACRITICS.index(cell[1]), kitty.DIACRITICS.index(cell[2])) for cell in cells]
        assert where == [(r, c) for c in range(7)]
    strip = placeholder_strips(7, 3)[0]
    segment = next(iter(strip))
    assert segment.style.color.triplet == kitty.id_color() and strip.cell_length == 7
    assert kitty.id_color() == ((kitty.IMAGE_ID >> 16) & 255, (kitty.IMAGE_ID >> 8) & 255, kitty.IMAGE_ID & 255)


def test_diacritics_follow_kittys_rule():
    """kitty's table is the combining marks of class 230 that have no decomposition and are part of none, in
    code point order; newer Unicode versions add marks only after the prefix we carry."""
    in_decompositions = set()
    for code in range(sys.maxunicode + 1):
        mapping = unicodedata.decomposition(chr(code))
        if mapping and not mapping.startswith("<"):
            in_decompositions.update(int(part, 16) for part in mapping.split())
    rule = [
        chr(code)
        for code in range(0x300, 0x900)
        if unicodedata.combining(chr(code)) == 230
        and not unicodedata.decomposition(chr(code))
        and code not in in_decompositions
    ]
    assert "".join(rule[: kitty.MAX_CELLS]) == kitty.DIACRITICS


def test_a_session_reuses_one_image_id():
    renderer = PixelRenderer()
    frames = [np.roll(portrait(), shift, axis=1) for shift in range(0, 50, 10)]
    face = Face(box=(200, 100, 150, 180), score=0.99, face_id=1, label="happy", confidence=0.8)
    ids = set()
    for frame in frames:
        video, graphics = renderer.render(
            frame, (face,), mode="kitty", max_cells=(80, 30), cell_px=(8, 16), colors="8", palette="256"
        )
        keys, decoded = decode_transmission(graphics.payload)
        ids.add(keys["i"])
        assert decoded.shape == (graphics.image_size[1], graphics.image_size[0], 3)
        assert (int(keys["c"]), int(keys["r"])) == graphics.cells == (video.cols, video.rows)
    assert ids == {str(kitty.IMAGE_ID)}
    assert parse(kitty.delete())[0][0] == {"a": "d", "d": "I", "i": str(kitty.IMAGE_ID), "q": "2"}


def test_tmux_passthrough_doubles_escapes():
    wrapped = kitty.tmux_passthrough(kitty.delete())
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b_G") and wrapped.endswith("\x1b\x1b\\\x1b\\")
    assert wrapped[len("\x1bPtmux;") : -2].replace("\x1b\x1b", "\x1b") == kitty.delete()
