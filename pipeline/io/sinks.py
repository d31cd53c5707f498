"""Where results go: the session log sink (CSV or JSON Lines; Parquet for batch outputs) with its metadata sidecar,
and its summary. The format itself (encode, read, tally) is pipeline.io.log_format; owner-only files and atomic
writes are pipeline.core.files.

The log is what a researcher takes home, so it is written to survive anything:
- the header and every frame's rows are written with one `os.write` each, straight to the kernel, so a
  killed process leaves a file whose every line parses (minus at most the frame being written);
- if a write fails (the disk fills), the partial frame is cut off again, recording stops, and the
  reason is kept in `write_error` and in the metadata;
- the sidecar `<log>.meta.json` is written at start (marked interrupted, since nothing has closed it
  yet) and replaced atomically at close with the end time, counts and `interrupted` + `reason`;
- files are created owner-only (0600) and new folders 0700: the log is biometric-derived data.
A Parquet log (pipeline.io.parquet_log) is buffered in row groups and only readable once closed; `fertui batch`
writes it under a temporary name and renames it when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from pipeline.core.files import (
    DISK_FULL_ERRNOS,
    FILE_MODE,
    WriteError,
    make_private_dir,
    overwrite_in_place,
    why_unwritable,
    write_all,
    write_private_atomic,
)
from pipeline.core.frames import SMOOTHED_PREFIX, FrameResult, log_columns, result_rows
from pipeline.io.log_format import BATCH_FORMATS, EmotionTally, FaceKey, encode_rows, meta_path_for

if TYPE_CHECKING:
    from pipeline.io.parquet_log import ParquetRows

NOT_CLOSED = "the process ended before closing the log"


class SinkError(WriteError):
    """The log cannot be written; the message is one line for the user."""


class Sink(Protocol):
    """Anything the runner hands every result to, in order, from the processing thread."""

    def write(self, result: FrameResult) -> None: ...

    def close(self, reason: str | None = None) -> None: ...


@runtime_checkable
class EventSink(Sink, Protocol):
    """A sink that also keeps the run's events (a source lost or restored), as the session log's metadata does."""

    def record_event(self, event: dict[str, object]) -> None: ...


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fertui_version() -> str:
    from pipeline import __version__

    return __version__


def default_log_path(stem: str, fmt: str, folder: str | os.PathLike = ".") -> Path:
    """`folder/fertui-<stem>-<date>-<time>-<pid>.<fmt>`: the log a session writes when none is named. The process
    id keeps sessions started in the same second apart (`for f in *.mp4; do fertui analyze "$f" & done`)."""
    return Path(folder).expanduser() / f"fertui-{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.{fmt}"


def open_log_flags(overwrite: bool) -> int:
    """os.open flags for a new log: O_EXCL, so a second writer on one path is refused rather than interleaved;
    with `overwrite`, an existing file is truncated instead."""
    return os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL) | getattr(os, "O_CLOEXEC", 0)


def already_exists(path: str | os.PathLike) -> SinkError:
    return SinkError(f"{os.fspath(path)} already exists; choose another --out or pass --overwrite")


def check_writable(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse, with one line, a log location that cannot be written, before any work starts."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise SinkError(f"cannot write log {path}: it is a folder")
    if path.exists() and not overwrite:
        raise already_exists(path)
    parent = path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SinkError(f"cannot write log {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SinkError(f"cannot write log {path}: {why_unwritable(existing)}")
    if path.exists() and not os.access(path, os.W_OK):
        raise SinkError(f"cannot write log {path}: {why_unwritable(path)}")
    return path


class SessionLog:
    """The session log sink: `with SessionLog(path, "csv", metadata) as log: ... log.write(result)`.

    Thread-safe: the runner writes from its processing thread while another thread may close it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fmt: str = "csv",
        metadata: dict[str, object] | None = None,
        *,
        overwrite: bool = False,
        landmarks: bool = False,
        per_image: bool = False,
    ) -> None:
        """`per_image`: the source's frames are photos; the summary then counts a face per image."""
        if fmt not in BATCH_FORMATS:
            raise SinkError(f"unknown log format {fmt!r} (choose csv, jsonl or parquet)")
        self.path = check_writable(path, overwrite=overwrite)
        self.meta_path = meta_path_for(self.path)
        self.fmt = fmt
        self.landmarks = landmarks  # the 68 points as x_0..x_67, y_0..y_67 after the other columns
        self.columns = log_columns(landmarks)
        self.metadata = dict(metadata or {})
        self.recording = True
        self.rows_written = 0
        self.frames_written = 0
        self.write_error: str | None = None
        self._rows_lost = False
        self.tally = EmotionTally(per_image)
        self.closed = False
        self._lock = threading.Lock()
        self._good_size = 0
        self._started = _now_iso()
        self._close_state: dict[str, object] = {}
        self._parquet: ParquetRows | None = None
        self._fd = -1
        make_private_dir(self.path.parent)
        try:
            if fmt == "parquet":
                from pipeline.io.parquet_log import ParquetRows

                self._parquet = ParquetRows(self.path, self.columns, FILE_MODE, overwrite=overwrite)
            else:
                self._fd = os.open(self.path, open_log_flags(overwrite), FILE_MODE)
        except FileExistsError as exc:  # another session created it since check_writable: it is that one's log
            raise already_exists(self.path) from exc
        except OSError as exc:
            raise SinkError(f"cannot write log {self.path}: {exc.strerror or exc}") from exc
        try:
            if self._fd >= 0:
                os.fchmod(self._fd, FILE_MODE)
            if fmt == "csv":
                self._append(encode_rows((), "csv", header=True, columns=self.columns))
            self._write_meta(interrupted=True, reason=NOT_CLOSED, ended=None)
        except OSError as exc:
            self._close_file()
            for leftover in (self.path, self.meta_path):  # a refused start leaves no half-made session behind
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise SinkError(f"cannot write log {self.path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.close(None if exc is None else f"{type(exc).__name__}: {exc}")

    def _append(self, data: bytes) -> None:
        try:
            write_all(self._fd, data)
        except OSError:
            os.ftruncate(self._fd, self._good_size)  # cut a partial frame so every line still parses
            os.lseek(self._fd, self._good_size, os.SEEK_SET)
            raise
        self._good_size += len(data)

    def write(self, result: FrameResult) -> None:
        """Append the result's rows (one per face, or one with no face id) and flush them."""
        with self._lock:
            if self.closed or not self.recording:
                return
            rows = result_rows(result, landmarks=self.landmarks)
            try:
                if self._parquet is not None:
                    self._parquet.add(rows)
                else:
                    self._append(encode_rows(rows, self.fmt, columns=self.columns))
            except OSError as exc:
                self.recording = False
                self.write_error = f"recording stopped: cannot write {self.path}: {exc.strerror or exc}"
                self._rows_lost = True
                return
            self.rows_written += len(rows)
            self.frames_written += 1
            for row in rows:
                self.tally.add(row)

    def summary(self) -> dict[FaceKey, dict[str, object]]:
        return self.tally.summary()

    def close(self, reason: str | None = None) -> None:
        """Close the log and rewrite the metadata; a reason marks the session as interrupted. A failure to close
        the file (the last row group or the footer did not fit, or anything else) is kept in `write_error` and
        marks the log interrupted, never raised."""
        self.close_within(reason, None)

    def close_within(self, reason: str | None, timeout: float | None) -> bool:
        """`close`, giving up after `timeout` seconds of waiting for a write that is stuck: False, the log still
        open (None: wait as long as it takes); True once the log is closed."""
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return False
        try:
            if self.closed:
                return True
            self.closed = True
            close_error: str | None = None
            try:
                self._close_file()
            except OSError as exc:
                close_error = f"cannot write {self.path}: {exc.strerror or exc}"
            except Exception as exc:
                close_error = f"cannot close {self.path}: {type(exc).__name__}: {exc}"
            finally:
                if close_error is not None:
                    self.write_error = self.write_error or close_error
                    reason = reason or close_error
                if self._rows_lost:  # frames after the failed write are missing: not a whole session
                    reason = reason or self.write_error
                self._close_state = {"interrupted": reason is not None, "reason": reason, "ended": _now_iso()}
            self._try_write_meta()
            return True
        finally:
            self._lock.release()

    def _close_file(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            return
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)

    def update_metadata(self, **extra: object) -> None:
        """Add to the metadata (run statistics, events); rewritten at once if the log is already closed."""
        with self._lock:
            self.metadata.update(extra)
            if self.closed:
                self._try_write_meta()

    def record_event(self, event: dict[str, object]) -> None:
        """Add a run event (a source lost or restored) to the metadata's `events`, on disk at once.

        Written now rather than at close, so a session killed during a camera gap still says so.
        """
        with self._lock:
            events = cast(list, self.metadata.setdefault("events", []))
            events.append(dict(event))
            if self.closed:
                self._try_write_meta()
                return
            try:
                self._write_meta(interrupted=True, reason=NOT_CLOSED, ended=None)
            except OSError as exc:
                self.write_error = self.write_error or f"cannot write {self.meta_path}: {exc.strerror or exc}"

    def _try_write_meta(self) -> None:
        state = self._close_state or {"interrupted": True, "reason": NOT_CLOSED, "ended": None}
        try:
            self._write_meta(**state)  # type: ignore[arg-type]  # the saved keyword arguments of close()
        except OSError as exc:
            self.write_error = self.write_error or f"cannot write {self.meta_path}: {exc.strerror or exc}"

    def _write_meta(self, *, interrupted: bool, reason: str | None, ended: str | None) -> None:
        meta = {
            **self.metadata,
            "log": self.path.name,
            "format": self.fmt,
            "columns": list(self.columns),
            "smoothed_prefix": SMOOTHED_PREFIX,
            "fertui_version": fertui_version(),
            "started": self._started,
            "ended": ended,
            "frames": self.frames_written,
            "rows": self.rows_written,
            "interrupted": interrupted,
            "reason": reason,
            "write_error": self.write_error,
        }
        data = json.dumps(meta, indent=2, default=str).encode("utf-8") + b"\n"
        try:
            write_private_atomic(self.meta_path, data)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            # The disk is full: a new temporary file cannot be made, yet the sidecar must say what happened (rows
            # written, the write error). The same metadata without indentation is smaller than the sidecar already
            # on disk, so it is written over it in place, in blocks the file already holds.
            compact = json.dumps(meta, separators=(",", ":"), default=str).encode("utf-8") + b"\n"
            if not overwrite_in_place(self.meta_path, compact):
                raise
