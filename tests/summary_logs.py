"""Hand-made session logs for the summary tests: frames given as (frame, time_s, faces), written as the real sinks
write them (CSV or JSON Lines through encode_rows, Parquet through ParquetRows), with an events file when asked."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.files import FILE_MODE
from pipeline.core.frames import LOG_COLUMNS, SMOOTHED_PREFIX
from pipeline.core.labels import EMOTIONS
from pipeline.io.log_format import encode_rows
from pipeline.io.parquet_log import ParquetRows

Face = tuple[int, str] | tuple[int, str, dict[str, object]]
"""face id, label (its emotion gets probability 1; unclear: uniform), and optionally more columns of the face's
row (pose_Rx, ear_left, blinks, ...)."""
FrameSpec = tuple[int, float, list[Face]]


def probabilities(label: str) -> dict[str, float]:
    if label in EMOTIONS:
        return {e: 1.0 if e == label else 0.0 for e in EMOTIONS}
    return {e: round(1 / len(EMOTIONS), 6) for e in EMOTIONS}


def log_rows(frames: list[FrameSpec]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for frame, time_s, faces in frames:
        common = {"frame": frame, "time_s": time_s, "wall_time": "2026-01-01T00:00:00.000+00:00", "source": "t.mp4"}
        if not faces:
            rows.append({**dict.fromkeys(LOG_COLUMNS), **common})
        for face_id, label, *more in faces:
            probs = probabilities(label)
            smooth = {SMOOTHED_PREFIX + e: p for e, p in probs.items()}
            box = {"x": 1.0, "y": 2.0, "w": 30.0, "h": 30.0, "det_score": 0.99}
            row = {**common, "face_id": face_id, **box, **probs, **smooth, "emotion": label, "confidence": 1.0}
            rows.append({**row, **(more[0] if more else {})})
    return rows


def write_log(
    path: Path, frames: list[FrameSpec], *, stills: bool = False, columns: tuple[str, ...] = LOG_COLUMNS
) -> Path:
    """The log at `path` in the format its suffix names, and a sidecar saying whether it holds photos.
    `columns`: the log's columns (fewer, for a log written before some existed)."""
    rows = [{column: row.get(column) for column in columns} for row in log_rows(frames)]
    if path.suffix == ".parquet":
        parquet = ParquetRows(path, columns, FILE_MODE)
        parquet.add(rows)
        parquet.close()
    else:
        fmt = "jsonl" if path.suffix == ".jsonl" else "csv"
        path.write_bytes(encode_rows(rows, fmt, header=fmt == "csv", columns=columns))
    meta = {"command": "analyze", "config": {"stills": stills}, "log": path.name}
    Path(f"{path}.meta.json").write_text(json.dumps(meta))
    return path


def write_events(log: Path, events: list[tuple[float, str]]) -> Path:
    """`LOG.events.tsv` with the writer's columns; each event (onset, trial_type) is a key press."""
    lines = ["onset\tduration\ttrial_type\tvalue\tframe\twall_time\tsource"]
    lines += [f"{onset}\t0\t{kind}\tn/a\tn/a\tn/a\tkey" for onset, kind in events]
    path = Path(f"{log}.events.tsv")
    path.write_text("\n".join(lines) + "\n")
    return path


UNEVEN: list[FrameSpec] = [
    (0, 0.0, [(1, "happy")]),
    (1, 0.1, [(1, "happy")]),
    (2, 0.2, [(1, "sad")]),
    (3, 1.0, [(1, "sad")]),
    (4, 1.2, [(1, "neutral")]),
]
"""Five frames at an uneven rate. Spans: 0.1, 0.1, 0.8, 0.2 and, for the last, the median interval 0.15 s (of
0.1, 0.1, 0.2, 0.8): 1.35 s in all, happy 0.2 s, sad 1.0 s, neutral 0.15 s. By frame count happy would be 2/5."""
