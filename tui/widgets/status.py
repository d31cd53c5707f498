"""The status bar: source, rates, latency, drops, faces, recording and terminal bytes, two lines."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from pipeline.engine.runner import SourceState


@dataclass(frozen=True)
class StatusFigures:
    source: str
    resolution: str
    source_state: SourceState
    capture_fps: float
    shown_fps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    dropped: int
    faces: int
    recording: bool
    log_path: str
    rows: int
    bytes_per_s: float
    colors: str
    paused: bool
    note: str = ""
    marker: str = ""  # the last marker, for a moment after it was dropped


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _rate(bytes_per_s: float) -> str:
    if bytes_per_s >= 1_000_000:
        return f"{bytes_per_s / 1_000_000:.1f} MB/s"
    return f"{bytes_per_s / 1000:.0f} KB/s"


COMPACT_BELOW = 100
"""Narrower than this many cells (an 80-column terminal), the first line drops its labels so that it fits."""


def status_text(s: StatusFigures, width: int | None = None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    state = "PAUSED" if s.paused else s.source_state
    text.append(f"{s.source} {s.resolution} ", style="bold")
    text.append(f"[{state}] ")
    if width is not None and width < COMPACT_BELOW:  # about 70 cells: captured/shown fps, latency, drops, faces
        text.append(f"{s.capture_fps:.0f}/{s.shown_fps:.0f} fps · ")
        text.append(f"{_ms(s.latency_p50_ms)}/{_ms(s.latency_p95_ms)} ms · ")
        text.append(f"drop {s.dropped} · faces {s.faces}")
    else:
        text.append(f"cap {s.capture_fps:.1f} fps · shown {s.shown_fps:.1f} fps · ")
        text.append(f"lat p50 {_ms(s.latency_p50_ms)} p95 {_ms(s.latency_p95_ms)} ms · ")
        text.append(f"drop {s.dropped} · faces {s.faces}")
    text.append("\n")
    if s.recording:
        text.append("● REC ", style="bold red")
    else:
        text.append("○ not recording ", style="dim")
    text.append(f"tty {_rate(s.bytes_per_s)} · colours {s.colors} · ")
    if s.marker:
        text.append(f"{s.marker} · ", style="bold magenta")
    if s.note:
        text.append(f"{s.note} · ", style="yellow")
    text.append(f"{s.rows} rows → {s.log_path}")
    return text


class StatusBar(Static):
    _shown: Text | None = None

    def show(self, figures: StatusFigures) -> None:
        # Two lines whatever the figures (CSS fixes the height): no layout pass, and nothing when unchanged.
        text = status_text(figures, self.size.width or None)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
