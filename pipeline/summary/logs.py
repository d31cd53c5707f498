"""A session log read in bounded chunks: CSV, JSON Lines or Parquet (told apart by content, as `read_log` does).

Only the columns a summary needs are read (never the 136 landmark columns), one block of rows at a time, so a log
of many hours costs the memory of one block. Each block comes as plain Python lists per column, in the log's
order; the same log in CSV and in Parquet gives the same values in the same order. The face signals (head pose
angles, eye aspect ratios, the blink count) are read where the log has those columns; logs from before they
existed have none, and a session without landmarks leaves them empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from pipeline.core.errors import UsageError
from pipeline.core.frames import POSE_COLUMNS
from pipeline.core.labels import EMOTIONS
from pipeline.io.parquet_log import is_parquet

REQUIRED = ("frame", "time_s", "face_id", "emotion")
ANGLE_COLUMNS = POSE_COLUMNS[:3]  # pose_Rx, pose_Ry, pose_Rz (radians); the translation says nothing of movement
EAR_COLUMNS = ("ear_left", "ear_right")
BLINK_COLUMN = "blinks"  # the face's blinks so far in the session (both eyes), on each of its rows
COLUMNS = (*REQUIRED, *EMOTIONS)
TYPES = {"frame": pa.int64(), "time_s": pa.float64(), "face_id": pa.int64(), "emotion": pa.string()}
TYPES.update({emotion: pa.float64() for emotion in EMOTIONS})
TYPES.update({column: pa.float64() for column in (*ANGLE_COLUMNS, *EAR_COLUMNS)})
# read as a number and made an integer here: a JSON Lines log exported from a CSV one before read_log typed the
# count as an integer holds 3.0, which pyarrow will not parse as int64
TYPES[BLINK_COLUMN] = pa.float64()
# One thread and small blocks: the reader cannot run ahead of the (single-threaded) summary, and the peak stays
# flat however long the log (benchmarks.summarize: 4 MB blocks read on several threads peaked 2x higher).
BLOCK_BYTES = 1 << 20  # CSV and JSON Lines: 1 MB of text per block
BLOCK_ROWS = 8192  # Parquet: rows per batch


@dataclass(frozen=True)
class Block:
    """One chunk of a log: a list per column; `probs` is None where the log has no probability columns."""

    frame: list[int]
    time_s: list[float]
    face_id: list[int | None]
    emotion: list[str | None]
    probs: list[list[float | None]] | None
    angles: list[list[float | None]] | None = None  # pose_Rx, pose_Ry, pose_Rz; None: the log has no such columns
    ears: list[list[float | None]] | None = None  # ear_left, ear_right
    blinks: list[int | None] | None = None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _header(path: Path) -> tuple[str, list[str]]:
    """The log's format and its column names."""
    if is_parquet(path):
        return "parquet", list(pq.ParquetFile(path).schema_arrow.names)
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline().strip()
    if not first:
        raise UsageError(f"{path}: empty, not a fertui session log")
    if first.startswith("{"):
        return "jsonl", list(json.loads(first))
    return "csv", [name.strip() for name in next(csv.reader([first]))]


def _batches(path: Path, fmt: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    types = {c: TYPES[c] for c in columns}
    if fmt == "parquet":
        # pre_buffer off: with it, pyarrow caches the column chunks it read ahead, and a 10 h log's peak doubled
        parquet = pq.ParquetFile(path, pre_buffer=False)
        yield from parquet.iter_batches(batch_size=BLOCK_ROWS, columns=columns, use_threads=False)
    elif fmt == "csv":
        convert = pa_csv.ConvertOptions(include_columns=columns, column_types=types, strings_can_be_null=True)
        yield from pa_csv.open_csv(
            path, pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES), convert_options=convert
        )
    else:
        parse = pa_json.ParseOptions(explicit_schema=pa.schema(types), unexpected_field_behavior="ignore")
        yield from pa_json.open_json(
            path, pa_json.ReadOptions(use_threads=False, block_size=BLOCK_BYTES), parse_options=parse
        )


def read_blocks(path: Path) -> Iterator[Block]:
    """The log's rows, block by block (UsageError, one line, for a file that is not a fertui session log)."""
    try:
        fmt, names = _header(path)
    except (OSError, UnicodeDecodeError, ValueError, pa.ArrowException) as exc:
        raise UsageError(f"{path}: not a fertui session log ({_first_line(exc)})") from exc
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise UsageError(f"{path}: not a fertui session log (no {', '.join(missing)} column)")
    has_probs = all(e in names for e in EMOTIONS)
    has_angles = all(c in names for c in ANGLE_COLUMNS)
    has_ears = all(c in names for c in EAR_COLUMNS)
    has_blinks = BLINK_COLUMN in names
    columns = [c for c in COLUMNS if c in REQUIRED or has_probs]
    columns += [*(ANGLE_COLUMNS if has_angles else ()), *(EAR_COLUMNS if has_ears else ())]
    columns += [BLINK_COLUMN] if has_blinks else []
    try:
        for batch in _batches(path, fmt, columns):
            if batch.num_rows == 0:
                continue
            data = {name: batch.column(name).to_pylist() for name in columns}
            if None in data["frame"] or None in data["time_s"]:
                raise UsageError(f"{path}: not a fertui session log (a row without frame or time_s)")
            yield Block(
                data["frame"],
                data["time_s"],
                data["face_id"],
                data["emotion"],
                [data[e] for e in EMOTIONS] if has_probs else None,
                [data[c] for c in ANGLE_COLUMNS] if has_angles else None,
                [data[c] for c in EAR_COLUMNS] if has_ears else None,
                [None if count is None else round(count) for count in data[BLINK_COLUMN]] if has_blinks else None,
            )
    except (OSError, UnicodeDecodeError, ValueError, pa.ArrowException) as exc:
        raise UsageError(f"{path}: not a fertui session log ({_first_line(exc)})") from exc
