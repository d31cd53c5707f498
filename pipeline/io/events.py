"""Events beside a session log: markers dropped in the app, an experiment's own events, markers from LSL.

`LOG.events.tsv` lies beside `LOG`, BIDS-style: tab-separated, a header row, the columns EVENT_COLUMNS in that
order, `n/a` for an empty cell. `onset` is in seconds on the log's `time_s` clock, so an event lines up with the
rows of the frames around it. The file is written as the log is: each row with one `os.write`, straight to the
kernel (a killed process leaves a file whose every line parses), created owner-only (0600).

One reader, `read_events`, takes both fertui's own events files and an experiment's events file (`fertui analyze
VIDEO --events FILE.tsv`: BIDS's `onset` and `duration` columns at least, `trial_type` and `value` when present,
other columns ignored); a malformed file is an EventsFileError naming the line.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from pipeline.core.errors import FertuiError
from pipeline.core.files import FILE_MODE, WriteError, make_private_dir, write_all

EVENT_COLUMNS: tuple[str, ...] = ("onset", "duration", "trial_type", "value", "frame", "wall_time", "source")
"""The events file's columns, in order."""

NA = "n/a"
"""BIDS's empty cell."""

EventSource = Literal["key", "note", "file", "lsl", "eyes"]
"""Where an event came from: a number key or a typed note in the app, an experiment's events file, an LSL inlet,
or fertui's own eye stage (a `blink`, its value the face id)."""
EVENT_SOURCES: tuple[str, ...] = get_args(EventSource)

NOTE = "note"
"""The trial_type of a typed note (its text is the value)."""


class EventsFileError(FertuiError):
    """An events file that cannot be read; the message names the file and the line."""


def events_path_for(log: str | os.PathLike) -> Path:
    """`LOG.events.tsv`: the events file of a session log."""
    return Path(f"{os.fspath(log)}.events.tsv")


def iso_utc(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, UTC).isoformat(timespec="milliseconds")


def _clean(text: str) -> str:
    """A cell's text on one line, with no tab (TSV has no quoting)."""
    return " ".join(text.replace("\t", " ").split())


def _number(value: float) -> str:
    return repr(round(float(value), 6))


@dataclass(frozen=True)
class Event:
    """One row of an events file."""

    onset: float  # seconds on the log's time_s clock
    trial_type: str
    value: str | None = None
    duration: float | None = 0.0  # 0: a point event; None: n/a
    frame: int | None = None  # the log's frame it was dropped at, when there is one
    wall_time: str | None = None  # ISO 8601 UTC
    source: EventSource = "key"

    def cells(self) -> list[str]:
        return [
            _number(self.onset),
            NA if self.duration is None else _number(self.duration),
            _clean(self.trial_type) or NA,
            NA if self.value is None or not _clean(self.value) else _clean(self.value),
            NA if self.frame is None else str(self.frame),
            self.wall_time or NA,
            self.source,
        ]

    @property
    def label(self) -> str:
        """What a picture writes beside the event: a note's text, else its trial type."""
        return (self.value or self.trial_type) if self.trial_type == NOTE else self.trial_type


def encode_events(events: Iterable[Event], *, header: bool = False) -> bytes:
    lines = ["\t".join(EVENT_COLUMNS)] if header else []
    lines += ["\t".join(event.cells()) for event in events]
    return "".join(line + "\n" for line in lines).encode("utf-8")


# -- reading ----------------------------------------------------------------------------------------------


def _float_cell(path: Path, line: int, column: str, text: str, *, allow_na: bool) -> float | None:
    if allow_na and text.strip() in (NA, ""):
        return None
    try:
        value = float(text)
    except ValueError:
        raise EventsFileError(f"{path} line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise EventsFileError(f"{path} line {line}: {column} {text!r} is not a finite number")
    return value


def _text_cell(row: dict[str, str], column: str) -> str | None:
    text = (row.get(column) or "").strip()
    return None if text in ("", NA) else text


def read_events(path: str | os.PathLike, *, source: EventSource | None = None) -> list[Event]:
    """The events of a TSV file: fertui's own (all of EVENT_COLUMNS) or an experiment's (BIDS: `onset` and
    `duration` at least). `source` overrides each row's `source` (an experiment's file: "file").
    Raises EventsFileError with one line naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EventsFileError(f"{path}: no such events file") from None
    except IsADirectoryError:
        raise EventsFileError(f"{path}: is a folder, not an events file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EventsFileError(f"{path}: cannot read the events file ({exc})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise EventsFileError(f"{path}: empty events file (it needs a header row with onset and duration)")
    header = [name.strip() for name in lines[0].split("\t")]
    missing = [name for name in ("onset", "duration") if name not in header]
    if missing:
        raise EventsFileError(
            f"{path} line 1: the header has no {' or '.join(missing)} column (a tab-separated BIDS events file "
            "starts with onset<TAB>duration)"
        )
    events = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise EventsFileError(f"{path} line {number}: {len(cells)} fields, the header has {len(header)}")
        row = dict(zip(header, cells, strict=True))
        onset = _float_cell(path, number, "onset", row["onset"], allow_na=False)
        duration = _float_cell(path, number, "duration", row["duration"], allow_na=True)
        if duration is not None and duration < 0:
            raise EventsFileError(f"{path} line {number}: duration {row['duration']!r} is negative")
        frame_text = _text_cell(row, "frame")
        if frame_text is not None and not frame_text.isdigit():
            raise EventsFileError(f"{path} line {number}: frame {frame_text!r} is not a frame number")
        origin = source or _text_cell(row, "source") or "file"
        if origin not in EVENT_SOURCES:
            raise EventsFileError(f"{path} line {number}: source {origin!r} is not one of {', '.join(EVENT_SOURCES)}")
        events.append(
            Event(
                onset=float(onset or 0.0),
                duration=duration,
                trial_type=_text_cell(row, "trial_type") or "event",
                value=_text_cell(row, "value"),
                frame=None if frame_text is None else int(frame_text),
                wall_time=_text_cell(row, "wall_time"),
                source=origin,  # type: ignore[arg-type]  # checked against EVENT_SOURCES above
            )
        )
    return events


# -- writing ----------------------------------------------------------------------------------------------


class EventsLog:
    """The events file of a session, written and flushed row by row. Thread-safe: markers come from the UI
    thread, LSL markers from an inlet thread, and the session closes it from a third.

    `create`: make the file (with its header) now, even if no event comes; otherwise on the first event.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.counts: Counter[str] = Counter()
        self.write_error: str | None = None
        self.closed = False
        self._lock = threading.Lock()
        self._fd = -1
        self.created = False
        if create:
            with self._lock:
                self._open()

    def _open(self) -> None:
        make_private_dir(self.path.parent)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(self.path, flags, FILE_MODE)
            os.fchmod(self._fd, FILE_MODE)
            write_all(self._fd, encode_events((), header=True))
            self.created = True
        except OSError as exc:
            raise WriteError(f"cannot write events file {self.path}: {exc.strerror or exc}") from exc

    def add(self, *events: Event) -> None:
        """Append events (one write). After close, or once a write failed, an event is dropped; the write error is
        kept in `write_error`."""
        with self._lock:
            if self.closed or self.write_error is not None:
                return
            try:
                if self._fd < 0:
                    self._open()
                write_all(self._fd, encode_events(events))
            except (OSError, WriteError) as exc:
                self.write_error = str(exc) if isinstance(exc, WriteError) else f"cannot write {self.path}: {exc}"
                return
            for event in events:
                self.counts[event.source] += 1

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)

    def describe(self) -> dict[str, object]:
        """The sidecar's `events_file`: the file (None when no event came and none was asked for), how many
        events, and how many from each source."""
        return {
            "file": self.path.name if self.created else None,
            "events": self.count,
            "by_source": dict(sorted(self.counts.items())),
            "write_error": self.write_error,
        }


# -- marker labels ----------------------------------------------------------------------------------------


def parse_marker_labels(spec: str | None) -> dict[str, str]:
    """`--markers "1=stimulus,2=response"` as {"1": "stimulus", "2": "response", "3": "3", ...}: every digit 1-9
    has a label, by default the digit. Raises ValueError with a line for the user."""
    labels = {str(digit): str(digit) for digit in range(1, 10)}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, label = part.partition("=")
        key, label = key.strip(), _clean(label)
        if not sep or key not in labels or not label:
            raise ValueError(
                f"--markers wants DIGIT=LABEL pairs for the keys 1-9, like 1=stimulus,2=response; not {part!r}"
            )
        labels[key] = label
    return labels
