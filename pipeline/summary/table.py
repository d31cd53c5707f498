"""The summary table: one row per participant, condition and face track, with the baseline subtracted when asked,
written as CSV or Parquet (owner-only, replaced atomically).

A condition's windows in which no face was seen give one row with an empty `face_id`, so missing data shows.
Shares are of the track's labelled time; `episodes_per_min` is per minute of the track's time on screen.
The face signal columns (blinks, eye aspect ratios, head movement) are there when a log of the study holds those
signals, and empty in the rows of a track or log without them; a study with none has none of the columns.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import UsageError
from pipeline.core.files import write_private_atomic
from pipeline.core.labels import EMOTIONS
from pipeline.summary.accumulate import BLINKS, EARS, HEAD, LABELS, SIGNALS, LogSummary, TrackStats
from pipeline.summary.study import LogEntry

DIGITS = 6
SHARE_COLUMNS = tuple(f"share_{label}" for label in LABELS)
MEAN_COLUMNS = tuple(f"mean_{e}" for e in EMOTIONS)
SD_COLUMNS = tuple(f"sd_{e}" for e in EMOTIONS)
QUALITY_COLUMNS = ("windows", "seconds", "frames", "fps", "frames_dropped", "face_share_any")
TRACK_COLUMNS = ("face_seconds", "face_share", *SHARE_COLUMNS, *MEAN_COLUMNS, *SD_COLUMNS)
EPISODE_COLUMNS = ("episodes", "episodes_per_min", "episode_mean_s")
SIGNAL_COLUMNS = {
    BLINKS: ("blinks", "blinks_per_min"),
    EARS: ("mean_ear_left", "mean_ear_right"),
    HEAD: ("sd_pose_Rx_deg", "sd_pose_Ry_deg", "sd_pose_Rz_deg", "head_speed_deg_s"),
}
DELTA_OF = (*SHARE_COLUMNS, *MEAN_COLUMNS, "episodes_per_min")
ALL_SIGNAL_COLUMNS = frozenset(column for columns in SIGNAL_COLUMNS.values() for column in columns)
SIGNAL_DELTA_OF = {BLINKS: ("blinks_per_min",), EARS: SIGNAL_COLUMNS[EARS], HEAD: SIGNAL_COLUMNS[HEAD]}
INTEGER_COLUMNS = frozenset({"face_id", "windows", "frames", "frames_dropped", "episodes", "blinks"})


@dataclass
class Summary:
    columns: tuple[str, ...]
    rows: list[dict[str, object]]
    pooled: dict[str, dict[str, TrackStats]]  # participant -> condition -> every track pooled (for the figure)
    fields: dict[str, dict[str, str]]  # participant -> the map's columns


def _round(value: float) -> float:
    return round(value, DIGITS) + 0.0 if math.isfinite(value) else math.nan  # + 0.0: no -0.0


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def track_values(stats: TrackStats, stills: bool) -> dict[str, float]:
    """The derived columns of one track's (or a pool's) sums."""
    means, sds = stats.means()
    values: dict[str, float] = {f"share_{label}": share for label, share in stats.shares().items()}
    values.update(zip(MEAN_COLUMNS, means, strict=True))
    values.update(zip(SD_COLUMNS, sds, strict=True))
    values["episodes_per_min"] = math.nan if stills else _ratio(stats.episodes, stats.face_s / 60)
    values["blinks_per_min"] = stats.blinks_per_min()
    values.update(zip(SIGNAL_COLUMNS[EARS], stats.mean_ears(), strict=True))
    values.update(zip(SIGNAL_COLUMNS[HEAD], [*stats.angle_sds_deg(), stats.head_speed_deg_s()], strict=True))
    return values


def _row(
    entry: LogEntry, summary: LogSummary, condition: str, face_id: int | None, signals: tuple[str, ...]
) -> dict[str, object]:
    cond = summary.conditions[condition]
    row: dict[str, object] = {**entry.fields, "log": entry.name, "condition": condition, "face_id": face_id}
    row["weighting"] = "image" if summary.stills else "time"
    row.update(
        windows=cond.windows,
        seconds=math.nan if summary.stills else _round(cond.seconds),
        frames=cond.frames,
        fps=math.nan if summary.stills else _round(_ratio(cond.frames, cond.seconds)),
        frames_dropped=cond.dropped,
        face_share_any=_round(_ratio(cond.face_s, cond.seconds)),
    )
    stats = summary.tracks.get((condition, face_id)) if face_id is not None else None
    signal_columns = [column for group in signals for column in SIGNAL_COLUMNS[group]]
    if stats is None:
        row.update(dict.fromkeys((*TRACK_COLUMNS, *EPISODE_COLUMNS, *signal_columns), math.nan))
        row.update(face_seconds=0.0, face_share=0.0, blinks=None)
        return row
    row["face_seconds"] = math.nan if summary.stills else _round(stats.face_s)
    row["face_share"] = _round(_ratio(stats.face_s, cond.seconds))
    values = track_values(stats, summary.stills)
    row.update({k: _round(v) for k, v in values.items() if k not in ALL_SIGNAL_COLUMNS})
    row["episodes"] = None if summary.stills else stats.episodes
    row["episode_mean_s"] = math.nan if summary.stills else _round(_ratio(stats.episode_s, stats.episodes))
    for column in signal_columns:
        # only this log's signals: another log's columns stay empty here, never a made-up zero
        group = next(g for g in signals if column in SIGNAL_COLUMNS[g])
        row[column] = _round(values[column]) if column in values and group in summary.signals else math.nan
    if BLINKS in signals:
        row["blinks"] = stats.blinks if BLINKS in summary.signals and stats.blink_s > 0 else None
    return row


def build(entries: list[LogEntry], summaries: list[LogSummary], baseline: str | None = None) -> Summary:
    field_names = list(dict.fromkeys(name for entry in entries for name in entry.fields))
    field_names.remove("participant")
    columns = ("participant", *field_names, "log", "condition", "face_id", "weighting", *QUALITY_COLUMNS)
    columns += (*TRACK_COLUMNS, *EPISODE_COLUMNS)
    present = frozenset().union(*(summary.signals for summary in summaries))
    signals = tuple(group for group in SIGNALS if group in present)
    columns += tuple(column for group in signals for column in SIGNAL_COLUMNS[group])
    rows, pooled = [], defaultdict(lambda: defaultdict(TrackStats))  # type: ignore[var-annotated]
    fields = {}
    for entry, summary in zip(entries, summaries, strict=True):
        participant = entry.fields["participant"]
        fields[participant] = entry.fields
        for condition, cond in summary.conditions.items():
            if cond.frames == 0 and cond.seconds == 0:
                continue  # a window the log does not reach
            face_ids: list[int | None] = [f for c, f in sorted(summary.tracks) if c == condition]
            for face_id in face_ids or [None]:
                rows.append(_row(entry, summary, condition, face_id, signals))
            for (track_condition, _), stats in summary.tracks.items():
                if track_condition == condition:
                    pooled[participant][condition].merge(stats)
    stills = any(s.stills for s in summaries)
    if baseline is not None:
        delta_of = (*DELTA_OF, *(column for group in signals for column in SIGNAL_DELTA_OF[group]))
        columns += tuple(f"delta_{c}" for c in delta_of)
        _subtract_baseline(rows, pooled, baseline, stills, delta_of)
    return Summary(columns, rows, {p: dict(c) for p, c in pooled.items()}, fields)


def _subtract_baseline(
    rows: list[dict[str, object]], pooled, baseline: str, stills: bool, delta_of: tuple[str, ...]
) -> None:
    """delta_X = X minus the participant's X over all their tracks in the baseline condition's windows."""
    if not any(baseline in conditions for conditions in pooled.values()):
        raise UsageError(f"--baseline {baseline!r}: no log has a face in a window of that condition")
    base = {p: track_values(c[baseline], stills) for p, c in pooled.items() if baseline in c}
    for row in rows:
        reference = base.get(str(row["participant"]))
        for column in delta_of:
            value = row.get(column)
            ok = reference is not None and isinstance(value, float) and math.isfinite(value)
            row[f"delta_{column}"] = _round(value - reference[column]) if ok else math.nan  # type: ignore[operator,index]


def _cell(value: object) -> object:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def write_table(summary: Summary, path: Path, fmt: str) -> None:
    """Write the table as `fmt` (csv or parquet); empty cells / nulls where a value does not exist."""
    if fmt == "parquet":

        def kind(column: str) -> pa.DataType:
            if column in INTEGER_COLUMNS:
                return pa.int64()
            numeric = any(isinstance(r.get(column), float) for r in summary.rows)
            return pa.float64() if numeric and column not in ("participant", "log", "condition") else pa.string()

        schema = pa.schema([(c, kind(c)) for c in summary.columns])
        data = [{c: None if _cell(r.get(c)) == "" else r.get(c) for c in summary.columns} for r in summary.rows]
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(data, schema=schema), buffer)
        payload = buffer.getvalue()
    else:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(summary.columns)
        writer.writerows([_cell(r.get(c)) for c in summary.columns] for r in summary.rows)
        payload = text.getvalue().encode("utf-8")
    try:
        write_private_atomic(path, payload)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
