"""Which Kitty graphics features the terminal has, from its XTVERSION answer (`CSI > q`; kitty says `kitty(0.26.5)`).

Unicode placeholders (`U=1`, the cells that name the image) came in kitty 0.28. Older kitty, still what Debian 12
and Ubuntu 22.04/24.04 ship, rejects the `U` key ("Malformed GraphicsCommand control block, invalid key character:
0x55") and shows the placeholder cells as boxes. There the image is placed directly at the pane's cells instead.
A terminal that does not say its version (or is not kitty: Ghostty has placeholders) keeps them.
"""

from __future__ import annotations

import re

PLACEHOLDERS_SINCE = (0, 28, 0)
_KITTY_VERSION = re.compile(r"^kitty\((\d+)\.(\d+)(?:\.(\d+))?\)")


def kitty_version(xtversion: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) when the XTVERSION answer is kitty's, else None."""
    match = _KITTY_VERSION.match(xtversion or "")
    if match is None:
        return None
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def has_placeholders(xtversion: str | None) -> bool:
    """Whether Unicode placeholders can be used: False only for a kitty that says it is older than 0.28."""
    version = kitty_version(xtversion)
    return version is None or version >= PLACEHOLDERS_SINCE
