"""Building the real app on the fake source and fixed results, and waiting on it without sleeping blindly."""

from __future__ import annotations

import time
from pathlib import Path

from textual.pilot import Pilot

from pipeline.core.labels import EMOTIONS
from tests.fakes import FakeSource, FixedResultsProcessor
from tui.app import FertuiApp, make_app
from tui.config import AppConfig
from tui.widgets.status import StatusFigures

FROZEN_STATUS = StatusFigures(
    source="fake",
    resolution="320x240",
    source_state="running",
    capture_fps=20.0,
    shown_fps=20.0,
    latency_p50_ms=42.0,
    latency_p95_ms=61.0,
    dropped=0,
    faces=2,
    recording=True,
    log_path="session.csv",
    rows=128,
    bytes_per_s=250_000,
    colors="6",
    paused=False,
)


def fake_app(folder: Path, **config) -> FertuiApp:
    config.setdefault("export_dir", folder)
    config.setdefault("log_path", folder / "session.csv")
    return make_app(AppConfig(source="fake", **config), source=FakeSource(), processors=[FixedResultsProcessor()])


async def wait_until(pilot: Pilot, condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until `condition()` is true (it is checked between event-loop turns)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def wait_for_panels(pilot: Pilot) -> None:
    """Until a frame is shown, the panes have drawn it, and the session share has data for every face."""
    app: FertuiApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: app.last_view is not None, what="a shown frame")
    await wait_until(pilot, lambda: app.last_view.shares["happy"] > 0, what="session shares")
    # Frames keep arriving while the panes redraw at 4 Hz, so wait for the panes to reach this frame or a
    # later one (frame indices only grow), not for them to match whatever frame is newest at the check.
    first_with_shares = app.last_view.result.frame.index
    await wait_until(
        pilot,
        lambda: app._panels_shown_for is not None and app._panels_shown_for.frame.index >= first_with_shares,
        what="panels drawn",
    )
    await pilot.pause(0.1)


def video_text(app: FertuiApp) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in app.query_one("#video").strips)


def styles_in_video(app: FertuiApp) -> set[tuple[int, int, int]]:
    colors = set()
    for strip in app.query_one("#video").strips:
        for segment in strip:
            for color in (segment.style.color, segment.style.bgcolor):
                if color is not None and color.triplet is not None:
                    colors.add(tuple(color.triplet))
    return colors


ALL_EMOTIONS = EMOTIONS
