"""The windows of time a log's events file (`LOG.events.tsv`, read by `pipeline.io.events`) makes.

A condition is the value of one of the file's columns (`trial_type`, `value` or `source`) at an event. A window is
a stretch of the log's clock named by a condition: between consecutive events (`between_events`: from one event's
onset to the next one's, the last to the log's end, and the time before the first event named BEFORE_FIRST), around
each event (`around_events`: [onset + a, onset + b]), or the whole session (WHOLE_SESSION) when a log has no events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.io.events import EventsFileError, events_path_for, read_events

MISSING = ("", "n/a")
WHOLE_SESSION = "(whole session)"
BEFORE_FIRST = "(before first event)"


@dataclass(frozen=True)
class Condition:
    """An event as a summary uses it: when it happened and the condition it starts."""

    onset: float
    condition: str


@dataclass(frozen=True)
class Window:
    """[start, end) on the log's clock, in seconds; `index` tells two windows of one condition apart."""

    condition: str
    start: float
    end: float
    index: int = 0


CONDITION_COLUMNS = ("trial_type", "value", "source")
"""The events file's columns a condition can be named by (`--conditions`)."""


def read_conditions(path: Path, column: str) -> list[Condition]:
    """The events of `path` (read by the events file's one reader, pipeline.io.events) with a value in `column`, in
    onset order; UsageError, one line, when the file or the column is not right."""
    if column not in CONDITION_COLUMNS:
        raise UsageError(f"--conditions {column!r}: choose one of {', '.join(CONDITION_COLUMNS)}")
    try:
        events = read_events(path)
    except EventsFileError as exc:
        raise UsageError(str(exc)) from None
    conditions = [Condition(e.onset, str(getattr(e, column) or "")) for e in events]
    return sorted((c for c in conditions if c.condition not in MISSING), key=lambda c: c.onset)


def parse_window(text: str) -> tuple[float, float]:
    """`-0.5,3.0` -> (-0.5, 3.0): seconds around an event's onset; the first below the second."""
    try:
        before, after = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--window {text!r}: give two numbers of seconds, such as -0.5,3.0") from None
    if not (math.isfinite(before) and math.isfinite(after)) or before >= after:
        raise UsageError(f"--window {text!r}: the start must be before the end, such as -0.5,3.0")
    return before, after


def between_events(events: list[Condition]) -> list[Window]:
    """From each onset to the next (the last: to the log's end); the time before the first is BEFORE_FIRST."""
    if not events:
        return [Window(WHOLE_SESSION, -math.inf, math.inf)]
    windows = [Window(BEFORE_FIRST, -math.inf, events[0].onset)]
    ends = [e.onset for e in events[1:]] + [math.inf]
    windows += [Window(e.condition, e.onset, end, i) for i, (e, end) in enumerate(zip(events, ends, strict=True))]
    return [w for w in windows if w.end > w.start]


def around_events(events: list[Condition], window: tuple[float, float]) -> list[Window]:
    """[onset + a, onset + b] around each event (they may overlap); the whole session when there are none."""
    if not events:
        return [Window(WHOLE_SESSION, -math.inf, math.inf)]
    return [Window(e.condition, e.onset + window[0], e.onset + window[1], i) for i, e in enumerate(events)]


def windows_for(
    log: Path,
    column: str | None,
    around: tuple[float, float] | None = None,
    only: set[str] | None = None,
    source: Path | None = None,
) -> list[Window]:
    """The log's windows, sorted by start: by `column` of its events file (`LOG.events.tsv`, else the recorded
    video's `SOURCE.events.tsv`), only the events whose condition is in `only` when given; or the whole session."""
    path = events_path_for(log)
    if not path.is_file() and source is not None:
        path = events_path_for(source)
    if column is None or not path.is_file():
        return [Window(WHOLE_SESSION, -math.inf, math.inf)]
    events = [e for e in read_conditions(path, column) if only is None or e.condition in only]
    windows = around_events(events, around) if around is not None else between_events(events)
    return sorted(windows, key=lambda w: (w.start, w.index))
