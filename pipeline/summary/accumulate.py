"""One pass over a session log into time-weighted sums per condition and face track.

Time weighting: a processed frame's rows hold from its `time_s` until the next processed frame's `time_s`; the
last frame holds for the median of the log's frame intervals. So a stretch filmed at 10 fps weighs as much as an
equally long stretch at 30 fps. A frame's span is cut at window edges, and a frame inside two overlapping windows
counts in both. Photos (the sidecar's `config.stills`) have no time: each image weighs one, and there are no
episodes.

An episode is a run of one emotion label (not `unclear`) on one face track, over consecutive processed frames
inside one window, lasting at least `min_episode` seconds; a frame without the face, another label or the window's
edge ends it.

Face signals, where the log has them (a session with landmarks; see `SIGNALS`), per track, never filled in where
it has not:
- blinks: the log's `blinks` is the face's running count of blinks (both eyes); each rise counts in the windows
  holding the frame where it rose (where the blink ended). The rate is per minute of the track's time with an
  eye measurement, the only time a blink could have been seen.
- eye aspect ratio per eye: its time-weighted mean.
- head pose: the time-weighted standard deviation of each angle, and the head's mean angular speed: the angle
  the head turned between consecutive processed frames in which it had a pose (the rotation between the two
  orientations, whatever its axis), summed over the window's pairs and divided by their time. Photos have no
  time: they get the eyes' means only.
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
Angles = tuple[float, float, float] | None  # pose_Rx, pose_Ry, pose_Rz (radians)
Signals = tuple[Angles, float | None, float | None, int | None]  # angles, ear_left, ear_right, blinks so far
FaceRow = tuple[int, str | None, Probs, Signals | None]
Quaternion = tuple[float, float, float, float]

BLINKS, EARS, HEAD = "blinks", "ears", "head"
SIGNALS = (BLINKS, EARS, HEAD)
"""The groups of face signal columns a summary can have; a log has those of them it holds values for."""


def quaternion(angles: tuple[float, float, float]) -> Quaternion:
    """The unit quaternion (w, x, y, z) of R = Rx(pose_Rx) @ Ry(pose_Ry) @ Rz(pose_Rz), OpenFace's convention."""
    cx, sx = math.cos(angles[0] / 2), math.sin(angles[0] / 2)
    cy, sy = math.cos(angles[1] / 2), math.sin(angles[1] / 2)
    cz, sz = math.cos(angles[2] / 2), math.sin(angles[2] / 2)
    return (
        cx * cy * cz - sx * sy * sz,
        sx * cy * cz + cx * sy * sz,
        cx * sy * cz - sx * cy * sz,
        cx * cy * sz + sx * sy * cz,
    )


def turn_deg(a: Quaternion, b: Quaternion) -> float:
    """The angle of the rotation from orientation `a` to `b`, in degrees (0 to 180)."""
    dot = abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3])
    return math.degrees(2 * math.acos(min(1.0, dot)))


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
    blink_s: float = 0.0  # time with a blink count (eyes measured)
    blinks: int = 0
    ear_s: list[float] = field(default_factory=lambda: [0.0, 0.0])  # time with a ratio, left and right eye
    ear_sum: list[float] = field(default_factory=lambda: [0.0, 0.0])
    pose_s: float = 0.0  # time with a head pose
    angle1: list[float] = field(default_factory=lambda: [0.0] * 3)  # time-weighted sums of each angle (radians)
    angle2: list[float] = field(default_factory=lambda: [0.0] * 3)  # and of its square
    turn_deg: float = 0.0  # the head's turns between consecutive frames with a pose
    turn_s: float = 0.0  # and the time they took

    def add_signals(self, seconds: float, signals: Signals, *, head: bool) -> None:
        """A row's eye and (`head`: video) head pose values, held for `seconds`."""
        angles, ear_left, ear_right, blinks = signals
        if blinks is not None:
            self.blink_s += seconds
        for eye, ratio in enumerate((ear_left, ear_right)):
            if ratio is not None and math.isfinite(ratio):
                self.ear_s[eye] += seconds
                self.ear_sum[eye] += seconds * ratio
        if head and angles is not None:
            self.pose_s += seconds
            for k, angle in enumerate(angles):
                self.angle1[k] += seconds * angle
                self.angle2[k] += seconds * angle * angle

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
        self.blink_s += other.blink_s
        self.blinks += other.blinks
        self.ear_s = [a + b for a, b in zip(self.ear_s, other.ear_s, strict=True)]
        self.ear_sum = [a + b for a, b in zip(self.ear_sum, other.ear_sum, strict=True)]
        self.pose_s += other.pose_s
        self.angle1 = [a + b for a, b in zip(self.angle1, other.angle1, strict=True)]
        self.angle2 = [a + b for a, b in zip(self.angle2, other.angle2, strict=True)]
        self.turn_deg += other.turn_deg
        self.turn_s += other.turn_s

    def blinks_per_min(self) -> float:
        return self.blinks / (self.blink_s / 60) if self.blink_s > 0 else math.nan

    def mean_ears(self) -> list[float]:
        return [total / s if s > 0 else math.nan for total, s in zip(self.ear_sum, self.ear_s, strict=True)]

    def angle_sds_deg(self) -> list[float]:
        """Time-weighted standard deviation of pose_Rx, pose_Ry, pose_Rz, in degrees."""
        if self.pose_s <= 0:
            return [math.nan] * 3
        sds = []
        for total, squares in zip(self.angle1, self.angle2, strict=True):
            mean = total / self.pose_s
            sds.append(math.degrees(math.sqrt(max(0.0, squares / self.pose_s - mean * mean))))
        return sds

    def head_speed_deg_s(self) -> float:
        return self.turn_deg / self.turn_s if self.turn_s > 0 else math.nan

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
    signals: frozenset[str] = frozenset()  # of SIGNALS: those the log holds values for


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
        self.signals: set[str] = set()
        self.blink_counts: dict[int, int] = {}  # face id -> its last logged blink count
        # window position -> face id -> (ordinal, time_s, orientation) of its last frame with a pose in the window
        self.orientations: dict[int, dict[int, tuple[int, float, Quaternion]]] = {}

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
        self.orientations.pop(position, None)

    def _face_signals(self, faces: list[FaceRow]) -> dict[int, tuple[int, Quaternion | None]]:
        """Per face with signals: the blinks that ended in this frame, and the head's orientation (video)."""
        found = {}
        for face_id, _, _, signals in faces:
            if signals is None:
                continue
            angles, ear_left, ear_right, blinks = signals
            new_blinks = 0
            if blinks is not None and not self.stills:
                self.signals.add(BLINKS)
                last = self.blink_counts.get(face_id)
                new_blinks = max(0, blinks - last) if last is not None else 0
                self.blink_counts[face_id] = blinks
            if ear_left is not None or ear_right is not None:
                self.signals.add(EARS)
            orientation = None
            if angles is not None and not self.stills:
                self.signals.add(HEAD)
                orientation = quaternion(angles)
            found[face_id] = (new_blinks, orientation)
        return found

    def add_frame(self, frame: int, start: float, seconds: float, faces: list[FaceRow]) -> None:
        self.ordinal += 1
        gap = 0 if self.previous_frame is None else max(0, frame - self.previous_frame - 1)
        self.previous_frame = frame
        end = start + seconds
        measured = self._face_signals(faces)
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
            for face_id, label, probs, signals in faces:
                stats = self._track(window.condition, face_id)
                stats.add(overlap, label, probs)
                if signals is not None:
                    stats.add_signals(overlap, signals, head=not self.stills)
                if inside and face_id in measured:
                    self._add_movement(position, face_id, stats, start, *measured[face_id])
                run = runs.get(face_id)
                if run is not None and run.label == label and run.last == self.ordinal - 1:
                    run.seconds += overlap
                    run.last = self.ordinal
                else:
                    if run is not None:
                        self._close(position, face_id, run)
                    runs[face_id] = _Run(label, overlap, self.ordinal)

    def _add_movement(
        self, position: int, face_id: int, stats: TrackStats, start: float, blinks: int, orientation: Quaternion | None
    ) -> None:
        """Blinks that ended in this frame, and the head's turn since the face's previous frame in the window."""
        stats.blinks += blinks
        if orientation is None:
            return
        last = self.orientations.setdefault(position, {}).get(face_id)
        if last is not None and last[0] == self.ordinal - 1:
            stats.turn_deg += turn_deg(last[2], orientation)
            stats.turn_s += start - last[1]
        self.orientations[position][face_id] = (self.ordinal, start, orientation)

    def finish(self) -> LogSummary:
        for position in list(self.runs):
            self._end_window(position)
        return LogSummary(self.stills, self.conditions, self.tracks, frozenset(self.signals))


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


def _angles(rx: float | None, ry: float | None, rz: float | None) -> Angles:
    return None if rx is None or ry is None or rz is None else (rx, ry, rz)


def summarize_log(path: Path, windows: list[Window], *, min_episode: float = 0.5, stills: bool = False) -> LogSummary:
    """Stream the log at `path` once into per-condition and per-track sums over `windows`."""
    acc = _Accumulator(windows, min_episode, stills)
    intervals: Counter[int] = Counter()
    pending: tuple[int, float, list[FaceRow]] | None = None
    for block in read_blocks(path):
        probs, angles, ears, blinks = block.probs, block.angles, block.ears, block.blinks
        has_signals = angles is not None or ears is not None or blinks is not None
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
                signals: Signals | None = None
                if has_signals:
                    signals = (
                        None if angles is None else _angles(angles[0][i], angles[1][i], angles[2][i]),
                        None if ears is None else ears[0][i],
                        None if ears is None else ears[1][i],
                        None if blinks is None else blinks[i],
                    )
                pending[2].append((face_id, block.emotion[i], face_probs, signals))  # type: ignore[arg-type]
    if pending is not None:
        acc.add_frame(pending[0], pending[1], 1.0 if stills else _median_interval(intervals), pending[2])
    return acc.finish()
