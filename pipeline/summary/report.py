"""A picture of a session: per face, emotion probabilities over time and the share of each emotion.

Uses matplotlib's object API with the Agg canvas (no display, no global pyplot state), and writes the
PNG owner-only like every other export.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from pipeline.core.files import write_private_atomic
from pipeline.core.frames import SMOOTHED_PREFIX
from pipeline.core.labels import EMOTIONS, UNCLEAR
from pipeline.io.log_format import FaceKey, face_key, face_label, is_photo_log, summarize_rows

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pipeline.io.events import Event

MAX_FACES = 8
"""At most this many faces (those seen longest) get a row in the picture."""

COLORS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#ffbf00",
    "sad": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#7f7f7f",
    UNCLEAR: "#c7c7c7",
}


def _series(rows: list[dict[str, object]], face: FaceKey, per_image: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """Times and (N, 7) probabilities of one face: the smoothed ones when the log has them, else raw."""
    own = [r for r in rows if face_key(r, per_image) == face]
    smoothed = all(r.get(SMOOTHED_PREFIX + EMOTIONS[0]) is not None for r in own)
    prefix = SMOOTHED_PREFIX if smoothed else ""
    own = [r for r in own if r.get(prefix + EMOTIONS[0]) is not None]
    times = np.array([r["time_s"] for r in own], dtype=np.float64)
    probs = np.array([[r[prefix + e] for e in EMOTIONS] for r in own], dtype=np.float64).reshape(-1, len(EMOTIONS))
    return times, probs, "smoothed" if smoothed else "raw"


PROBABILITY_LIMITS = (-0.04, 1.04)
"""The probability axis runs a little past 0 and 1, so that a line at 0 or 1 is drawn inside the axes rather than
under their frame (a face at probability 1 would otherwise look like an empty plot)."""

EVENT_COLOR = "#222222"
EVENT_LABEL_CHARS = 24


def _draw_events(axis: Axes, events: Sequence[Event]) -> None:
    """Each event as a labelled vertical line over the probabilities (an event with a duration: a shaded span)."""
    for event in events:
        if event.duration:
            axis.axvspan(event.onset, event.onset + event.duration, color=EVENT_COLOR, alpha=0.08, linewidth=0)
        axis.axvline(event.onset, color=EVENT_COLOR, linestyle="--", linewidth=0.9, alpha=0.8)
        label = event.label if len(event.label) <= EVENT_LABEL_CHARS else event.label[: EVENT_LABEL_CHARS - 1] + "…"
        axis.text(
            event.onset, 0.98, f" {label}", rotation=90, va="top", ha="left", fontsize="x-small", color=EVENT_COLOR,
            transform=axis.get_xaxis_transform(), clip_on=True,
        )  # fmt: skip


def render_report(
    rows: list[dict[str, object]], out: str | os.PathLike, title: str = "", events: Sequence[Event] = ()
) -> dict[str, object]:
    """Draw the session picture for log rows into `out` (PNG, mode 0600), with `events` (the log's events file)
    as labelled vertical lines over each face's probabilities. Returns what was drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    per_image = is_photo_log(rows)  # photos: face ids restart in every image, so a face is (image, id)
    summary = summarize_rows(rows, per_image=per_image)
    order = list(summary)
    faces = sorted(order, key=lambda f: -cast(int, summary[f]["frames"]))[:MAX_FACES]
    faces.sort(key=order.index)
    frames = len({r["frame"] for r in rows})
    n_rows = max(1, len(faces))
    figure = Figure(figsize=(12, 2.6 * n_rows + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    if per_image:
        images = len({key[0] for key in summary if isinstance(key, tuple)})
        heading = f"fertui photos: {len(summary)} face(s) over {images} of {frames} image(s)"
    else:
        heading = f"fertui session: {frames} frames, {len(summary)} face(s)"
    figure.suptitle(f"{title}: {heading}" if title else heading)
    grid = figure.add_gridspec(n_rows, 2, width_ratios=(3, 1))
    if not faces:
        axis = figure.add_subplot(grid[0, :])
        axis.axis("off")
        axis.text(0.5, 0.5, f"no face found in {frames} frames", ha="center", va="center", fontsize=14)
        if events:
            timeline = figure.add_subplot(grid[0, :], frameon=False)
            timeline.set_yticks([])
            timeline.set_xlabel("time (s)")
            span = [float(cast(float, r["time_s"])) for r in rows if r.get("time_s") is not None]
            span += [e.onset for e in events]
            timeline.set_xlim(min(span), max(span) + 1e-3)
            _draw_events(timeline, events)
    for row, face in enumerate(faces):
        times, probs, kind = _series(rows, face, per_image)
        timeline = figure.add_subplot(grid[row, 0])
        for column, emotion in enumerate(EMOTIONS):
            timeline.plot(times, probs[:, column], color=COLORS[emotion], label=emotion, linewidth=1.4)
        _draw_events(timeline, events)
        timeline.set_ylim(*PROBABILITY_LIMITS)
        timeline.set_ylabel(f"face {face_label(face)}\n{kind} p")
        timeline.set_xlabel("time (s)")
        timeline.grid(alpha=0.3)
        if row == 0:
            timeline.legend(ncol=len(EMOTIONS), fontsize="small", loc="upper left", bbox_to_anchor=(0, 1.25))
        share = cast(dict[str, float], summary[face]["share"])
        labels = [label for label in (*EMOTIONS, UNCLEAR) if label in share]
        bars = figure.add_subplot(grid[row, 1])
        values = [share[label] for label in labels]
        bars.barh(labels, values, color=[COLORS.get(label, "#333333") for label in labels])
        bars.set_xlim(0, PROBABILITY_LIMITS[1])
        bars.invert_yaxis()
        bars.set_xlabel(f"share of {summary[face]['frames']} frames")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_private_atomic(Path(out), buffer.getvalue())
    return {
        "faces": faces,
        "faces_total": len(summary),
        "frames": frames,
        "per_image": per_image,
        "events": len(events),
        "path": str(out),
    }
