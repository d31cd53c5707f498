"""The Kitty graphics protocol: zlib-compressed RGB frames shown through Unicode placeholder cells.

Why placeholders: the image is transmitted with a virtual placement (`U=1`) and shown wherever the text holds
U+10EEEE cells whose foreground colour names the image id and whose combining marks name the row and
column. Those cells are ordinary text, so Textual's compositor keeps owning them (a toast or a modal drawn
over the pane covers the image as it covers text), and tmux moves them like text.

Why one image id for the whole session: re-transmitting an id replaces that image, so the placeholder cells
never change and Textual never repaints them per frame; the terminal holds one image, however long the
session (an id per frame would need a delete per frame, and leaks images whenever one is lost).

Every command carries `q=2`: a reply would arrive as input while Textual reads the keyboard.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

IMAGE_ID = 0x46_45_52  # "FER": not 1, which every other program picks; below 2**24 so one colour names it
PLACEHOLDER = "\U0010eeee"
PLACEMENT_ID = 1  # the one direct placement (kitty before 0.28), replaced with each frame
CHUNK = 4096  # base64 bytes per escape: the protocol's limit
ZLIB_LEVEL = 1  # camera frames barely compress harder at higher levels; level 1 is several times faster

# The row/column diacritics of kitty's rowcolumn-diacritics.txt, index = row or column. This is the prefix
# that the rule below reproduces with any Unicode version (tests check it): combining class 230, no
# decomposition of its own and part of none. 129 cells is wider and taller than any video pane we draw.
DIACRITICS = (
    "\u0305\u030d\u030e\u0310\u0312\u033d\u033e\u033f\u0346\u034a\u034b\u034c\u0350\u0351\u0352\u0357"
    "\u035b\u0363\u0364\u0365\u0366\u0367\u0368\u0369\u036a\u036b\u036c\u036d\u036e\u036f\u0483\u0484"
    "\u0485\u0486\u0487\u0592\u0593\u0594\u0595\u0597\u0598\u0599\u059c\u059d\u059e\u059f\u05a0\u05a1"
    "\u05a8\u05a9\u05ab\u05ac\u05af\u05c4\u0610\u0611\u0612\u0613\u0614\u0615\u0616\u0617\u0657\u0658"
    "\u0659\u065a\u065b\u065d\u065e\u06d6\u06d7\u06d8\u06d9\u06da\u06db\u06dc\u06df\u06e0\u06e1\u06e2"
    "\u06e4\u06e7\u06e8\u06eb\u06ec\u0730\u0732\u0733\u0735\u0736\u073a\u073d\u073f\u0740\u0741\u0743"
    "\u0745\u0747\u0749\u074a\u07eb\u07ec\u07ed\u07ee\u07ef\u07f0\u07f1\u07f3\u0816\u0817\u0818\u0819"
    "\u081b\u081c\u081d\u081e\u081f\u0820\u0821\u0822\u0823\u0825\u0826\u0827\u0829\u082a\u082b\u082c"
    "\u082d"
)
MAX_CELLS = len(DIACRITICS)


def transmit(rgb: np.ndarray, cols: int, rows: int, image_id: int = IMAGE_ID, *, placeholders: bool = True) -> str:
    """Commands that (re)transmit an (h, w, 3) RGB uint8 frame as image `image_id`, with a placement `cols` x
    `rows` cells big (the terminal scales the image into them): a virtual one shown by placeholder cells, or,
    without `placeholders` (kitty before 0.28, which rejects the `U` key), one at the cursor that leaves the
    cursor where it is (`C=1`); its placement id replaces the previous frame's."""
    height, width = rgb.shape[:2]
    if not (0 < cols <= MAX_CELLS and 0 < rows <= MAX_CELLS):
        raise ValueError(f"a placement is 1..{MAX_CELLS} cells on a side, not {cols}x{rows}")
    data = base64.standard_b64encode(zlib.compress(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes(), ZLIB_LEVEL))
    where = "U=1" if placeholders else f"p={PLACEMENT_ID},C=1"
    first = f"a=T,f=24,o=z,t=d,s={width},v={height},i={image_id},{where},c={cols},r={rows},q=2"
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    out = []
    for n, chunk in enumerate(chunks):
        keys = first if n == 0 else "q=2"
        out.append(f"\x1b_G{keys},m={int(n < len(chunks) - 1)};{chunk.decode('ascii')}\x1b\\")
    return "".join(out)


def delete(image_id: int = IMAGE_ID) -> str:
    """Delete the image and free its data (leaving the pixel modes, and at exit)."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


def delete_placements(image_id: int = IMAGE_ID) -> str:
    """Take the image off the screen, keeping its data (a directly placed image would show over a modal screen)."""
    return f"\x1b_Ga=d,d=i,i={image_id},q=2\x1b\\"


def placeholder_rows(cols: int, rows: int) -> list[str]:
    """The text of each placeholder row: U+10EEEE with the row's and the column's diacritic, per cell."""
    if not (0 < cols <= MAX_CELLS and 0 < rows <= MAX_CELLS):
        raise ValueError(f"a placement is 1..{MAX_CELLS} cells on a side, not {cols}x{rows}")
    return ["".join(PLACEHOLDER + DIACRITICS[row] + DIACRITICS[col] for col in range(cols)) for row in range(rows)]


def id_color(image_id: int = IMAGE_ID) -> tuple[int, int, int]:
    """The 24-bit foreground colour that names `image_id` in placeholder cells."""
    return ((image_id >> 16) & 0xFF, (image_id >> 8) & 0xFF, image_id & 0xFF)


def tmux_passthrough(commands: str) -> str:
    """Wrap escape sequences so tmux hands them to the outer terminal (needs `set -g allow-passthrough on`)."""
    return "\x1bPtmux;" + commands.replace("\x1b", "\x1b\x1b") + "\x1b\\"
