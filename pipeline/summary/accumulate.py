"""One pass over a session log into time-weighted sums per condition and face track.

Time weighting: a processed frame's rows hold from its `time_s` until the next processed frame's `time_s`; the
last frame holds for the median of the log's frame intervals. So a stretch filmed at 10 fps weighs as much as an
equally long stretch at 30 fps. A frame's span is cut at window edges, and a frame inside two overlapping windows
counts in both. Photos (the sidecar's `config.stills`) have no time: each image weighs one, and there are no
episodes.

An episode is a run of one emotion label (not `unclear`) on one face track, over consecutive processed frames
inside one window, lasting at least `min_episode` seconds; a frame without the face, another label or the window's
edge ends it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.core.labels import EMOTIONS, UNCLEAR
from pipeline.summary.events import Window
from pipeline.summary.logs import read_blocks

LABELS = (*EMOTIONS, UNCLEAR)
EPSILON_S = 1e-9  # sums of frame spans are floats: a run of 5 x 0.1 s is an episode of 0.5 s
TICKS_PER_S = 10_000  # the log's time_s has 4 decimals: frame intervals are counted in these ticks

Probs = tuple[float, ...] | None
FaceRow = tuple[int, str | None, Probs]


@dataclass
class TrackStats:
    """Sums for one face track over the windows of one condition; two of them add up (`merge`)."""

    face_s: float = 0.0
    label_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LABELS, 0.0))
    prob_s: float = 0.0
    p1: list[float] = field(default_factory=lambda: [0.0] * len(EMOTIONS))
    p2: list[float] = field(default_factory=lambda: [0.0] * len(EMOTIONS))
    episodes: int = 0
    episode_s: float = 0.0

    def add(self, seconds: float, label: str | None, probs: Probs) -> None:
        self.face_s += seconds
        if label is not None:
            self.label_s[label] = self.label_s.get(label, 0.0) + seconds
        if probs is not None:
            self.prob_s += seconds
            for k, p in enumerate(probs):
                self.p1[k] += seconds * p
                self.p2[k] += seconds * p * p

    def merge(self, other: TrackStats) -> None:
        self.face_s += other.face_s
        for label, seconds in other.label_s.items():
            self.label_s[label] = self.label_s.get(label, 0.0) + seconds
        self.prob_s += other.prob_s
        self.p1 = [a + b for a, b in zip(self.p1, other.p1, strict=True)]
        self.p2 = [a + b for a, b in zip(self.p2, other.p2, strict=True)]
        self.episodes += other.episodes
        self.episode_s += other.episode_s

    def shares(self) -> dict[str, float]:
        """Share of the labelled time per label, unclear included (NaN with no labelled time)."""
        total = sum(self.label_s.get(label, 0.0) for label in LABELS)
        return {label: self.label_s.get(label, 0.0) / total if total > 0 else math.nan for label in LABELS}

    def means(self) -> tuple[list[float], list[float]]:
        """Time-weighted mean and standard deviation of each calibrated probability."""
        if self.prob_s <= 0:
            return [math.nan] * len(EMOTIONS), [math.nan] * len(EMOTIONS)
        means = [s / self.prob_s for s in self.p1]
        sds = [math.sqrt(max(0.0, s / self.prob_s - m * m)) for s, m in zip(self.p2, means, strict=True)]
        return means, sds


@dataclass
class ConditionStats:
    """One condition's windows in one log: how much log they hold and how good it is."""

    windows: int = 0
    seconds: float = 0.0
    frames: int = 0
    dropped: int = 0
    face_s: float = 0.0


@dataclass
class LogSummary:
    stills: bool
    conditions: dict[str, ConditionStats]
    tracks: dict[tuple[str, int], TrackStats]


@dataclass
class _Run:
    label: str | None
    seconds: float
    last: int  # ordinal of the run's last processed frame


class _Accumulator:
    def __init__(self, windows: list[Window], min_episode: float, stills: bool) -> None:
        self.windows = sorted(windows, key=lambda w: w.start)
        self.min_episode = min_episode
        self.stills = stills
        self.conditions: dict[str, ConditionStats] = {}
        for window in self.windows:
            self.conditions.setdefault(window.condition, ConditionStats()).windows += 1
        self.tracks: dict[tuple[str, int], TrackStats] = {}
        self.runs: dict[int, dict[int, _Run]] = {}  # window position -> face id -> the run going on
        self.active: list[int] = []
        self.next_window = 0
        self.ordinal = 0
        self.previous_frame: int | None = None

    def _track(self, condition: str, face_id: int) -> TrackStats:
        stats = self.tracks.get((condition, face_id))
        if stats is None:
            stats = self.tracks[(condition, face_id)] = TrackStats()
        return stats

    def _close(self, position: int, face_id: int, run: _Run) -> None:
        if self.stills or run.label not in EMOTIONS or run.seconds < self.min_episode - EPSILON_S:
            return
        stats = self._track(self.windows[position].condition, face_id)
        stats.episodes += 1
        stats.episode_s += run.seconds

    def _end_window(self, position: int) -> None:
        for face_id, run in self.runs.pop(position, {}).items():
            self._close(position, face_id, run)

    def add_frame(self, frame: int, start: float, seconds: float, faces: list[FaceRow]) -> None:
        self.ordinal += 1
        gap = 0 if self.previous_frame is None else max(0, frame - self.previous_frame - 1)
        self.previous_frame = frame
        end = start + seconds
        while self.next_window < len(self.windows) and (
            self.windows[self.next_window].start < end or self.windows[self.next_window].start <= start
        ):
            self.active.append(self.next_window)
            self.next_window += 1
        for position in [p for p in self.active if self.windows[p].end <= start]:
            self.active.remove(position)
            self._end_window(position)
        for position in self.active:
            window = self.windows[position]
            overlap = max(0.0, min(end, window.end) - max(start, window.start))
            inside = window.start <= start < window.end
            if overlap <= 0 and not inside:
                continue
            condition = self.conditions[window.condition]
            condition.seconds += overlap
            if inside:
                condition.frames += 1
                condition.dropped += gap
            if faces:
                condition.face_s += overlap
            runs = self.runs.setdefault(position, {})
            for face_id, label, probs in faces:
                self._track(window.condition, face_id).add(overlap, label, probs)
                run = runs.get(face_id)
                if run is not None and run.label == label and run.last == self.ordinal - 1:
                    run.seconds += overlap
                    run.last = self.ordinal
                else:
                    if run is not None:
                        self._close(position, face_id, run)
                    runs[face_id] = _Run(label, overlap, self.ordinal)

    def finish(self) -> LogSummary:
        for position in list(self.runs):
            self._end_window(position)
        return LogSummary(self.stills, self.conditions, self.tracks)


def _median_interval(intervals: Counter[int]) -> float:
    """The median of the counted frame intervals (ticks), in seconds (the mean of the middle two for an even
    count); 0 when there are none."""
    count = sum(intervals.values())
    if not count:
        return 0.0
    wanted = {(count - 1) // 2, count // 2}  # the positions of the middle value(s) in sorted order
    middle, seen = [], 0
    for ticks in sorted(intervals):
        middle += [ticks for position in wanted if seen <= position < seen + intervals[ticks]]
        seen += intervals[ticks]
    return sum(middle) / len(middle) / TICKS_PER_S


def summarize_log(path: Path, windows: list[Window], *, min_episode: float = 0.5, stills: bool = False) -> LogSummary:
    """Stream the log at `path` once into per-condition and per-track sums over `windows`."""
    acc = _Accumulator(windows, min_episode, stills)
    intervals: Counter[int] = Counter()
    pending: tuple[int, float, list[FaceRow]] | None = None
    for block in read_blocks(path):
        probs = block.probs
        for i, frame in enumerate(block.frame):
            start = block.time_s[i]
            if pending is None or frame != pending[0]:
                if pending is not None:
                    interval = start - pending[1]
                    if interval < 0:
                        raise UsageError(f"{path}: time_s goes backwards at frame {frame} ({start} after {pending[1]})")
                    intervals[round(interval * TICKS_PER_S)] += 1
                    acc.add_frame(pending[0], pending[1], 1.0 if stills else interval, pending[2])
                pending = (frame, start, [])
            face_id = block.face_id[i]
            if face_id is not None:
                face_probs = None if probs is None else tuple(column[i] for column in probs)
                if face_probs is not None and None in face_probs:
                    face_probs = None
                pending[2].append((face_id, block.emotion[i], face_probs))  # type: ignore[arg-type]
    if pending is not None:
        acc.add_frame(pending[0], pending[1], 1.0 if stills else _median_interval(intervals), pending[2])
    return acc.finish()
