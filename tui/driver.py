"""The terminal driver fertui runs on: Textual's own, counting the bytes it writes.

Over SSH the bytes sent to the terminal are what the link has to carry; the status line shows them per second
and the quality governor steers colour depth and frame rate by them (tui/governor.py).
"""

from __future__ import annotations

from typing import Any

from textual.drivers.linux_driver import LinuxDriver


class ByteCountingDriver(LinuxDriver):
    """Textual's driver for POSIX terminals (Linux, macOS), with a count of every byte written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes_written = 0

    def write(self, data: str) -> None:
        self.bytes_written += len(data.encode("utf-8", "surrogateescape"))
        super().write(data)
