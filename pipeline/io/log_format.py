"""The session log's format, apart from the sink that writes it: CSV and JSON Lines rows (encode), reading any
session log back (CSV, JSON Lines or Parquet, told apart by content), the per-face tally of labels, and the
sidecar's name. Parquet's own reader and writer are pipeline.io.parquet_log.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from pipeline.core.errors import UsageError
from pipeline.core.frames import LOG_COLUMNS
from pipeline.core.labels import EMOTIONS, UNCLEAR

FORMATS = ("csv", "jsonl")
"""Formats that parse after a kill, line by line: the live app and `analyze`."""


BATCH_FORMATS = (*FORMATS, "parquet")


def log_format_for(path: str | os.PathLike | None, default: str = "csv") -> str:
    """The log format a path names by its suffix (.jsonl or .json: JSON Lines, .csv: CSV), else `default`."""
    suffix = Path(path).suffix.lower() if path is not None else ""
    return "jsonl" if suffix in (".jsonl", ".json") else "csv" if suffix == ".csv" else default


def check_text_log_name(option: str, path: str | os.PathLike | None) -> None:
    """Raise UsageError when `path`, given as `option`, names a Parquet file as a session log.

    A session log is written row by row so that a crash loses nothing; Parquet's footer is written last, so a
    cut-off Parquet file is unreadable. Parquet is for batch, which writes each input's log once it is complete.
    """
    if path is not None and Path(path).suffix.lower() in (".parquet", ".pq"):
        raise UsageError(
            f"{option} {os.fspath(path)}: a session log is CSV or JSON Lines (.csv, .jsonl), written as it goes; "
            "for Parquet, use `fertui batch INPUT --out DIR --format parquet`"
        )


def meta_path_for(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.meta.json")


def _encode_csv(
    rows: Iterable[dict[str, object]] | None, header: bool = False, columns: tuple[str, ...] = LOG_COLUMNS
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows or ():
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return buffer.getvalue().encode("utf-8")


def _encode_jsonl(rows: Iterable[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows).encode("utf-8")


def encode_rows(
    rows: Iterable[dict[str, object]], fmt: str, *, header: bool = False, columns: tuple[str, ...] = LOG_COLUMNS
) -> bytes:
    """Log rows as the bytes of a session log in `fmt` ("csv" or "jsonl"); `header` adds the CSV header line.
    CSV rows have `columns` (LOG_COLUMNS, or log_columns(True) with the landmarks)."""
    return _encode_csv(rows, header=header, columns=columns) if fmt == "csv" else _encode_jsonl(rows)


FaceKey = int | tuple[str, int]
"""A face of a session: its face_id in a video (a track), or (image file, face_id) among photos, whose ids restart
in every image."""


def face_key(row: dict[str, object], per_image: bool = False) -> FaceKey | None:
    """The face a log row belongs to (None for a row with no face); see FaceKey."""
    face_id = row.get("face_id")
    if face_id is None or face_id == "":
        return None
    number = int(cast(int, face_id))
    return (str(row.get("source") or ""), number) if per_image else number


def face_label(key: FaceKey) -> str:
    """How a face is named to the user: "1" in a video, "hopper.jpg #1" among photos."""
    return f"{key[0]} #{key[1]}" if isinstance(key, tuple) else str(key)


def is_photo_log(rows: Iterable[dict[str, object]]) -> bool:
    """Whether a log's faces come from several images (a folder of photos): face ids then restart per image."""
    return len({row.get("source") for row in rows if face_key(row) is not None}) > 1


class EmotionTally:
    """Per face (see FaceKey): how many processed frames showed each label (for the end-of-run table and exports).

    `per_image`: the frames are photos, so a face is (image, face_id), not face_id alone.
    """

    def __init__(self, per_image: bool = False) -> None:
        self.per_image = per_image
        self.counts: dict[FaceKey, Counter[str]] = defaultdict(Counter)
        self.first_s: dict[FaceKey, float] = {}
        self.last_s: dict[FaceKey, float] = {}

    def add(self, row: dict[str, object]) -> None:
        key = face_key(row, self.per_image)
        if key is None:
            return
        label = row.get("emotion") or ""
        self.counts[key][str(label) or "none"] += 1
        time_s = float(cast(float, row["time_s"]))
        self.first_s.setdefault(key, time_s)
        self.last_s[key] = time_s

    def summary(self) -> dict[FaceKey, dict[str, object]]:
        """{face: {"frames", "first_s", "last_s", "share": {label: fraction of the face's frames}}}: tracks by id,
        photos' faces in the order of their images."""
        out: dict[FaceKey, dict[str, object]] = {}
        for key in list(self.counts) if self.per_image else sorted(self.counts):
            counts = self.counts[key]
            total = sum(counts.values())
            labels = [*EMOTIONS, UNCLEAR, *sorted(set(counts) - {*EMOTIONS, UNCLEAR})]
            out[key] = {
                "frames": total,
                "first_s": self.first_s[key],
                "last_s": self.last_s[key],
                "share": {label: counts[label] / total for label in labels if counts[label]},
            }
        return out


def summarize_rows(rows: Iterable[dict[str, object]], *, per_image: bool = False) -> dict[FaceKey, dict[str, object]]:
    """Per face share of time per emotion label, from log rows (see EmotionTally.summary)."""
    tally = EmotionTally(per_image)
    for row in rows:
        tally.add(row)
    return tally.summary()


def _parse_cell(column: str, value: str) -> object:
    if value == "":
        return None
    if column in ("frame", "face_id", "blinks"):  # integers, as result_rows writes them
        return int(value)
    if column in ("wall_time", "source", "emotion"):
        return value
    return float(value)


def read_log(path: str | os.PathLike) -> list[dict[str, object]]:
    """Rows of a session log (CSV, JSON Lines or Parquet, told apart by content), typed like result_rows.

    A last line cut off mid-row (a writer killed while writing it) is left out, as the log format promises; a
    row that is cut or malformed anywhere else raises ValueError naming it.
    """
    from pipeline.io.parquet_log import is_parquet, read_parquet_log

    path = Path(path)
    if is_parquet(path):
        return read_parquet_log(path)
    with path.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    if text.startswith("{"):
        lines = text.splitlines()
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                if number == len(lines) and not text.endswith("\n"):
                    break  # the last line, cut off mid-row
                raise ValueError(f"line {number} is not a JSON object") from None
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or ()
    rows = []
    for row in reader:
        if None in row or any(row.get(c) is None for c in columns):  # too many or too few fields
            if reader.line_num == len(text.splitlines()) and not text.endswith("\n"):
                break  # the last line, cut off mid-row
            raise ValueError(f"line {reader.line_num} has {len(row) - (None in row)} of {len(columns)} fields")
        rows.append({c: _parse_cell(c, row[c]) for c in columns})
    return rows
