"""The terminal driver fertui runs on: Textual's own, counting the bytes it writes.

Over SSH the bytes sent to the terminal are what the link has to carry; the status line shows them per second
and the quality governor steers colour depth and frame rate by them (tui/governor.py). The driver also counts
what its writer thread has handed to the terminal, so the app can tell when the terminal falls behind (the
pixel modes then drop frames instead of queueing them: tui/app.py).
"""

from __future__ import annotations

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class _CountingFile:
    """The terminal's file as Textual's writer thread sees it, counting the characters written through it."""

    def __init__(self, file: IO[str] | None) -> None:
        if file is None:  # Textual's default is sys.__stderr__, None only with no terminal at all
            raise RuntimeError("no terminal to write to")
        self._file = file
        self.chars_written = 0

    def write(self, text: str) -> int:
        written = self._file.write(text)
        self.chars_written += len(text)
        return written

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty...: the real file's
        return getattr(self._file, name)


class ByteCountingDriver(LinuxDriver):
    """Textual's driver for POSIX terminals (Linux, macOS), with a count of every byte written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes_written = 0
        self._chars_queued = 0
        self._counting_file = _CountingFile(self._file)
        self._file = self._counting_file  # type: ignore[assignment]  # a proxy of the same file

    def write(self, data: str) -> None:
        self.bytes_written += len(data.encode("utf-8", "surrogateescape"))
        self._chars_queued += len(data)
        super().write(data)

    @property
    def pending_chars(self) -> int:
        """Characters queued for the terminal that its writer thread has not written yet (blocked by a slow
        terminal or link)."""
        return self._chars_queued - self._counting_file.chars_written
