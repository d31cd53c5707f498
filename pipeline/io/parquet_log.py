"""Session logs as Parquet (pyarrow): typed columns, streamed to disk in row groups, never held whole in memory.

A Parquet file is only readable once its footer is written at close, so it suits outputs that are written
under a temporary name and renamed when complete (`fertui batch`), not a log that must parse after a kill.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

INTEGER_COLUMNS = frozenset({"frame", "face_id", "blinks"})
TEXT_COLUMNS = frozenset({"wall_time", "source", "emotion"})
ROWS_PER_GROUP = 2048  # a few MB with the landmarks: bounded memory, and row groups large enough to read fast


def schema_for(columns: tuple[str, ...]) -> pa.Schema:
    """The log's columns with their types: integers, text, and float64 for every measurement."""

    def kind(column: str) -> pa.DataType:
        return pa.int64() if column in INTEGER_COLUMNS else pa.string() if column in TEXT_COLUMNS else pa.float64()

    return pa.schema([(column, kind(column)) for column in columns])


class ParquetRows:
    """Appends log rows to a Parquet file at `path` (created owner-only), one row group per ROWS_PER_GROUP rows."""

    def __init__(self, path: Path, columns: tuple[str, ...], file_mode: int, *, overwrite: bool = False) -> None:
        from pipeline.io.sinks import open_log_flags

        self.columns = columns
        self.schema = schema_for(columns)
        self._pending: list[dict[str, object]] = []
        fd = os.open(path, open_log_flags(overwrite), file_mode)  # FileExistsError: another writer has it
        os.fchmod(fd, file_mode)
        self._file = os.fdopen(fd, "wb")
        self._writer = pq.ParquetWriter(self._file, self.schema, compression="zstd")

    def add(self, rows: list[dict[str, object]]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= ROWS_PER_GROUP:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_pylist(self._pending, schema=self.schema))
            self._pending = []

    def close(self) -> None:
        """Write what is pending and the footer; the file is complete and readable after this."""
        try:
            self.flush()
            self._writer.close()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()


def is_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def read_parquet_log(path: Path) -> list[dict[str, object]]:
    return pq.read_table(path).to_pylist()
