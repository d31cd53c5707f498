"""One batch task: one input analysed as one session into one log and its sidecar, as `fertui analyze` would.

The log and sidecar are written in DIR/.partial/ under a unique temporary name and moved into place only when
the session is complete: the sidecar last, after any older sidecar is gone, so a log with a sidecar is always
whole and was made with the settings its sidecar's `batch.fingerprint` records. A later run skips an input
whose fingerprint (fertui's version, the settings that change rows, the model files that run, the input's size
and modification time) is unchanged. What a killed
task leaves in .partial/ is removed when that input's next attempt starts; it is never read.

Runs in whichever process executes it: a local pool worker or a Dask worker, which return the TaskSummary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pipeline.batch.inputs import BatchInput
from pipeline.core.errors import FertuiError
from pipeline.core.files import make_private_dir, sha256_of, write_private_atomic
from pipeline.core.paths import installed_models_dir
from pipeline.engine import DEFAULT_LANDMARK_MODEL, EngineConfig
from pipeline.io.events import EventsLog, events_path_for, read_events
from pipeline.io.log_format import FaceKey, meta_path_for
from pipeline.io.sinks import fertui_version

if TYPE_CHECKING:
    from pipeline.processors.base import Processor

PARTIAL_DIR = ".partial"
TaskStatus = Literal["done", "skipped", "failed", "interrupted"]

STOP_REQUESTED = threading.Event()
"""Set in a worker process when the batch is stopped (a signal): the running session stops at the next frame."""


@dataclass(frozen=True)
class BatchSettings:
    """What a batch's tasks share. Everything but `out_dir` and `threads` decides a log's content."""

    out_dir: str
    fmt: str = "csv"
    min_face: int = 20
    detect_every: int = 5
    detector: str = "fast"
    landmarks: bool = True
    jitter_crops: int | None = None  # --jitter-crops (None: the engine's defaults)
    landmark_model: str | None = None  # --landmarks (None: the engine's default)
    focal: float | None = None  # --focal (None: from the frame width)
    models_dir: str = field(default_factory=lambda: str(installed_models_dir()))
    threads: int = 0  # native threads per task (0: the process's default)

    def engine_config(self, stills: bool) -> EngineConfig:
        return (
            EngineConfig(
                min_face=self.min_face,
                detect_every=self.detect_every,
                detector=self.detector,
                landmarks=self.landmarks,
                stills=stills,
                models_dir=Path(self.models_dir),
            )
            .with_jitter_crops(self.jitter_crops)
            .with_landmarks(self.landmark_model, self.focal)
        )

    def fingerprint(self, item: BatchInput) -> dict[str, object]:
        """What must be unchanged for an earlier log of `item` to stand: fertui's version, the settings that change
        a row (the batch's options and the engine's defaults), the model files that run, and the input. Nothing
        else: a stray file in the models folder (a confusion plot, checkpoints/) does not make a log stale.
        ModelError when a model file is missing or does not match its card."""
        # A setting left at None is the engine's default: omitted, so that an option added later with a None
        # default does not make every earlier log look different.
        settings = {
            k: v for k, v in asdict(self).items() if k not in ("out_dir", "threads", "models_dir") and v is not None
        }
        fingerprint: dict[str, object] = {
            "fertui": fertui_version(),
            "settings": settings,
            "engine": engine_defaults(),
            "models": model_sha256(
                Path(self.models_dir),
                self.detector == "fast",
                self.landmarks,
                self.landmark_model or DEFAULT_LANDMARK_MODEL,
            ),
            "input": input_signature(item.path),
        }
        if given_events_path(item).is_file():  # only then: a batch without events keeps its earlier fingerprints
            fingerprint["events"] = input_signature(given_events_path(item))
        return fingerprint


def given_events_path(item: BatchInput) -> Path:
    """`VIDEO.events.tsv` beside a video: the experiment's own events in video time (as `analyze --events` takes)."""
    return Path(f"{item.path}.events.tsv")


@dataclass(frozen=True)
class TaskSummary:
    """A task's outcome: one row of the manifest."""

    input: str
    status: TaskStatus
    log: str = ""
    frames: int = 0
    rows: int = 0
    faces: int = 0
    seconds: float = 0.0
    host: str = field(default_factory=socket.gethostname)
    attempts: int = 0
    error: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@functools.lru_cache(maxsize=4)
def model_sha256(folder: Path, detector: bool, landmarks: bool, landmark_model: str) -> dict[str, str]:
    """sha256 of each file of the ModelSet that runs (pipeline.runtime.model_set), by its name in the folder.
    Checked against the cards once per process: a batch fingerprints every input with the same models."""
    from pipeline.runtime.model_set import ModelSet

    return ModelSet.load(folder, detector=detector, landmarks=landmarks, landmark_model=landmark_model).sha256()


def engine_defaults() -> dict[str, object]:
    """The engine's settings that change rows and that a batch does not set itself (smoothing, crops per photo,
    the unclear threshold): a new default makes earlier logs stale."""
    batch_sets = {f.name for f in fields(BatchSettings)} | {"min_face", "stills", "models_dir"}
    return {k: v for k, v in EngineConfig().describe().items() if k not in batch_sets and v is not None}


def input_signature(path: Path) -> dict[str, object]:
    """Size and modification time of a file, or of every file in a folder of photos: changed means redo."""
    try:
        if path.is_dir():
            entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
            return {"files": len(entries), "sha256": sha256_of(repr(entries).encode())}
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        return {"missing": True}


def completed(item: BatchInput, settings: BatchSettings, fingerprint: dict[str, object]) -> TaskSummary | None:
    """The summary of an earlier complete log of `item` made with this fingerprint, else None."""
    log = Path(settings.out_dir) / item.log_name(settings.fmt)
    try:
        meta = json.loads(meta_path_for(log).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    batch = meta.get("batch") if isinstance(meta, dict) else None
    if not isinstance(batch, dict) or meta.get("interrupted") is not False or not log.is_file():
        return None
    if batch.get("fingerprint") != json.loads(json.dumps(fingerprint)):
        return None
    return TaskSummary(
        input=item.name,
        status="skipped",
        log=item.log_name(settings.fmt),
        frames=int(batch.get("frames", 0)),
        rows=int(batch.get("rows", 0)),
        faces=int(batch.get("faces", 0)),
        seconds=float(batch.get("seconds", 0.0)),
        host=str(batch.get("host", "")),
        attempts=0,
    )


def _attempts_file(settings: BatchSettings, item: BatchInput) -> Path:
    return Path(settings.out_dir) / PARTIAL_DIR / f"{item.key}.attempts"


def reset_attempts(settings: BatchSettings, item: BatchInput) -> None:
    with contextlib.suppress(FileNotFoundError):
        _attempts_file(settings, item).unlink()


def attempts_so_far(settings: BatchSettings, item: BatchInput) -> int:
    try:
        return int(_attempts_file(settings, item).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _start_attempt(settings: BatchSettings, item: BatchInput) -> int:
    """Count this attempt (a Dask worker that dies mid-task is followed by another attempt elsewhere) and remove
    what an earlier, killed attempt left behind."""
    partial = Path(settings.out_dir) / PARTIAL_DIR
    make_private_dir(partial)
    attempt = attempts_so_far(settings, item) + 1
    write_private_atomic(_attempts_file(settings, item), str(attempt).encode())
    for leftover in partial.glob(f"{item.key}.*"):
        if leftover.suffix != ".attempts":
            with contextlib.suppress(OSError):
                leftover.unlink()
    return attempt


def _faces(tally_summary: dict[FaceKey, dict[str, object]], stills: bool) -> int:
    """Faces found: tracks in a video; in a folder of photos (ids restart per photo), faces over all photos."""
    if stills:
        return sum(int(str(face["frames"])) for face in tally_summary.values())
    return len(tally_summary)


def run_task(item: BatchInput, settings: BatchSettings) -> TaskSummary:
    """Analyse `item` into its log; an input that cannot be analysed is a "failed" summary, not an exception."""
    from pipeline.core.native import native_stderr_silenced
    from pipeline.core.threads import limit_threads
    from pipeline.engine import build_processors
    from pipeline.engine.session import Session, Stop, StopReason, session_metadata
    from pipeline.io.sinks import SessionLog
    from pipeline.io.sources import open_source

    started = time.perf_counter()
    attempt = _start_attempt(settings, item)
    log_name = item.log_name(settings.fmt)

    def outcome(status: TaskStatus, error: str = "", frames: int = 0, rows: int = 0, faces: int = 0) -> TaskSummary:
        seconds = round(time.perf_counter() - started, 3)
        log = log_name if status == "done" else ""
        return TaskSummary(item.name, status, log, frames, rows, faces, seconds, attempts=attempt, error=error)

    if settings.threads:
        limit_threads(settings.threads)
    try:
        fingerprint = settings.fingerprint(item)
        source = open_source(str(item.path), live=False)
        source.open()
    except FertuiError as exc:
        return outcome("failed", error=str(exc))
    processors: list[Processor] = []
    events: EventsLog | None = None
    try:
        given = given_events_path(item)
        given_events = read_events(given, source="file") if given.is_file() and not source.stills else None
        config = settings.engine_config(stills=source.stills)
        with native_stderr_silenced():
            processors = build_processors(config)
        token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        partial_log = Path(settings.out_dir) / PARTIAL_DIR / f"{item.key}.{token}.{settings.fmt}"
        batch = {"input": item.name, "path": str(item.path), "fingerprint": fingerprint}
        metadata = session_metadata("batch", source, config, processors, batch=batch)
        if given_events is not None:
            events = EventsLog(events_path_for(partial_log), create=True)
            events.add(*given_events)
        log = SessionLog(partial_log, settings.fmt, metadata, landmarks=config.landmarks)
    except FertuiError as exc:
        for processor in processors:  # a long-lived worker must not keep their threads
            processor.close()
        source.close()
        if events is not None:
            events.close()
            events.path.unlink(missing_ok=True)
        return outcome("failed", error=str(exc))

    session = Session(source, processors, log, events=events)
    session.start()
    while not session.wait(0.2) and not STOP_REQUESTED.is_set():
        pass
    asked = Stop(StopReason.SIGNAL, "the batch was stopped") if STOP_REQUESTED.is_set() else None
    stop = session.stop(None if session.runner.done else asked)
    if stop.reason is not StopReason.FINISHED:
        for leftover in (log.path, log.meta_path, events_path_for(log.path)):
            with contextlib.suppress(OSError):
                leftover.unlink()
        status: TaskStatus = "interrupted" if stop.reason is StopReason.SIGNAL else "failed"
        return outcome(status, error=stop.text or "", frames=log.frames_written)
    summary = outcome(
        "done", frames=log.frames_written, rows=log.rows_written, faces=_faces(log.summary(), config.stills)
    )
    _move_into_place(log.path, log.meta_path, Path(settings.out_dir) / log_name, summary)
    reset_attempts(settings, item)
    return summary


def _move_into_place(partial_log: Path, partial_meta: Path, final: Path, summary: TaskSummary) -> None:
    """Rename the complete log to its final name, then write its sidecar (which says it is complete) last."""
    meta = json.loads(partial_meta.read_text(encoding="utf-8"))
    meta["log"] = final.name
    if isinstance(meta.get("events_file"), dict) and meta["events_file"].get("file"):
        meta["events_file"]["file"] = events_path_for(final).name
    meta["batch"].update(
        frames=summary.frames, rows=summary.rows, faces=summary.faces, seconds=summary.seconds, host=summary.host
    )
    make_private_dir(final.parent)
    final_meta = meta_path_for(final)
    with contextlib.suppress(FileNotFoundError):
        final_meta.unlink()  # an older sidecar must never describe the new log
    with contextlib.suppress(FileNotFoundError):
        events_path_for(final).unlink()  # nor an older events file sit beside it
    os.replace(partial_log, final)
    if events_path_for(partial_log).exists():
        os.replace(events_path_for(partial_log), events_path_for(final))
    write_private_atomic(final_meta, json.dumps(meta, indent=2, default=str).encode("utf-8") + b"\n")
    partial_meta.unlink()
