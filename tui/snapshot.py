"""What the `e` and `s` keys write: the session log exported with a summary, and an annotated PNG snapshot."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import cv2

from pipeline.core.files import DIR_MODE, FILE_MODE
from pipeline.core.frames import FrameResult
from pipeline.io.log_format import encode_rows, face_label, is_photo_log, read_log, summarize_rows
from pipeline.io.sinks import SessionLog
from pipeline.summary.accumulate import summarize_log
from pipeline.summary.events import windows_for
from pipeline.summary.study import LogEntry
from pipeline.summary.table import build, write_table
from tui.annotate import annotated_frame


@dataclass(frozen=True)
class LogSnapshot:
    log: Path
    summary: Path
    rows: int
    table: Path | None = None  # the summary table (`fertui summarize`'s columns), when the log has rows


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _unique(path: Path) -> Path:
    """`path`, or `path` with -2, -3... before the suffix when it already exists."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _complete_lines(path: Path) -> bytes:
    """The log's bytes up to its last newline: the runner may be appending a frame right now."""
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def snapshot_log(log: SessionLog, export_dir: Path, fmt: str) -> LogSnapshot:
    """Write the session log so far as `fmt` (csv or jsonl) into `export_dir`, with a summary JSON beside it."""
    export_dir = Path(export_dir).expanduser()
    export_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # owner-only when fertui creates it
    stamp = _stamp()
    out = _unique(export_dir / f"fertui-export-{stamp}.{fmt}")
    data = _complete_lines(log.path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / f"log.{log.fmt}"
        copy.write_bytes(data)
        rows = read_log(copy) if data.strip() else []
        if fmt == log.fmt:
            shutil.copyfile(copy, out)
            os.chmod(out, FILE_MODE)
        else:
            _write_private(out, encode_rows(rows, fmt, header=True, columns=log.columns))
    summary_path = out.with_name(f"{out.stem}.summary.json")
    _write_private(summary_path, json.dumps(session_summary(log, rows, out), indent=2, default=str).encode() + b"\n")
    table = summary_table(log, out) if rows else None
    return LogSnapshot(out, summary_path, len(rows), table)


def summary_table(log: SessionLog, exported: Path) -> Path:
    """`fertui summarize` of the exported log, beside it as `<name>.summary.csv`: conditions from the session
    log's events file (by trial_type) when it has one, else the whole session."""
    entry = LogEntry(exported, log.path.name, meta=log.metadata, fields={"participant": log.path.name})
    windows = windows_for(log.path, "trial_type")
    summary = build([entry], [summarize_log(exported, windows, stills=entry.stills)])
    path = _unique(exported.with_name(f"{exported.stem}.summary.csv"))
    write_table(summary, path, "csv")
    return path


def session_summary(log: SessionLog, rows: list[dict[str, object]], exported: Path) -> dict[str, object]:
    """Frames, faces and the share of face-frames per label, overall and per face (a track's id in a video,
    "image #id" among photos)."""
    labels = Counter(str(row["emotion"]) for row in rows if row.get("face_id") is not None and row.get("emotion"))
    face_rows = sum(labels.values())
    times = [float(cast(float, row["time_s"])) for row in rows if row.get("time_s") is not None]
    return {
        "log": str(exported),
        "session_log": str(log.path),
        "exported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "source": log.metadata.get("source"),
        "rows": len(rows),
        "frames": len({row["frame"] for row in rows}),
        "duration_s": round(max(times) - min(times), 3) if times else 0.0,
        "share": {label: round(n / face_rows, 4) for label, n in labels.most_common()},
        # Photos' face ids restart in every image, so a face there is "image #id" (as in analyze's table).
        "faces": {face_label(key): face for key, face in summarize_rows(rows, per_image=is_photo_log(rows)).items()},
    }


def save_snapshot(result: FrameResult, folder: Path, *, boxes: bool = True, landmarks: bool = True) -> Path:
    """Write the annotated frame as an owner-only (0600) PNG in `folder`; returns its path."""
    folder = Path(folder).expanduser()
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # owner-only when fertui creates it
    ok, png = cv2.imencode(".png", annotated_frame(result, boxes=boxes, landmarks=landmarks))
    if not ok:
        raise OSError("PNG encoding failed")
    path = _unique(folder / f"fertui-snapshot-{_stamp()}-f{result.frame.index}.png")
    _write_private(path, png.tobytes())
    return path
