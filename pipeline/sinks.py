"""Where results go: the session log (CSV or JSON Lines; Parquet for batch outputs) with its metadata sidecar,
and its summary.

The log is what a researcher takes home, so it is written to survive anything:
- the header and every frame's rows are written with one `os.write` each, straight to the kernel, so a
  killed process leaves a file whose every line parses (minus at most the frame being written);
- if a write fails (the disk fills), the partial frame is cut off again, recording stops, and the
  reason is kept in `write_error` and in the metadata;
- the sidecar `<log>.meta.json` is written at start (marked interrupted, since nothing has closed it
  yet) and replaced atomically at close with the end time, counts and `interrupted` + `reason`;
- files are created owner-only (0600) and new folders 0700: the log is biometric-derived data.
A Parquet log (pipeline.parquet_log) is buffered in row groups and only readable once closed; `fertui batch`
writes it under a temporary name and renames it when complete.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from pipeline.errors import FertuiError, UsageError
from pipeline.frames import LOG_COLUMNS, SMOOTHED_PREFIX, FrameResult, log_columns, result_rows
from pipeline.labels import EMOTIONS, UNCLEAR

if TYPE_CHECKING:
    from pipeline.parquet_log import ParquetRows

FORMATS = ("csv", "jsonl")
"""Formats that parse after a kill, line by line: the live app and `analyze`."""
BATCH_FORMATS = (*FORMATS, "parquet")
FILE_MODE = 0o600
DIR_MODE = 0o700
NOT_CLOSED = "the process ended before closing the log"


class SinkError(FertuiError):
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


def meta_path_for(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.meta.json")


def make_private_dir(folder: Path) -> None:
    """Create `folder` (and missing parents) owner-only; existing folders are left as they are."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc


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


def why_unwritable(path: Path) -> str:
    """Why os.access refused to write `path`: a read-only file system (a mounted image, a read-only share) is not
    the same fix as a missing permission."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        read_only = False
    return os.strerror(errno.EROFS) if read_only else "permission denied"


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (tmp file + os.replace), owner-only. The temporary name is unique to
    this process and call, so two writers never write into one temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def overwrite_in_place(path: Path, data: bytes) -> bool:
    """Write `data` over the start of the existing file `path` and cut the rest, without allocating: only when
    `data` is no longer than the file (False otherwise, the file untouched). For a full disk, where
    write_private_atomic cannot make its temporary file; not atomic, so only as that fallback."""
    try:
        if path.stat().st_size < len(data):
            return False
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        _write_all(fd, data)
        os.ftruncate(fd, len(data))
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
    if column in ("frame", "face_id"):
        return int(value)
    if column in ("wall_time", "source", "emotion"):
        return value
    return float(value)


def read_log(path: str | os.PathLike) -> list[dict[str, object]]:
    """Rows of a session log (CSV, JSON Lines or Parquet, told apart by content), typed like result_rows.

    A last line cut off mid-row (a writer killed while writing it) is left out, as the log format promises; a
    row that is cut or malformed anywhere else raises ValueError naming it.
    """
    from pipeline.parquet_log import is_parquet, read_parquet_log

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
                from pipeline.parquet_log import ParquetRows

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
                self._append(_encode_csv(None, header=True, columns=self.columns))
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
            _write_all(self._fd, data)
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
