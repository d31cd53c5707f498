"""`fertui batch`: many videos and photo folders, one log each, resumable, on local cores or a Dask cluster.

Each input is one task: one session with a file source and a log, as `fertui analyze` runs it (pipeline.batch).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands import (
    MODELS_HELP,
    UsageError,
    add_jitter_crops_option,
    add_landmark_options,
    check_focal,
    check_jitter_crops,
    mute_stream,
    require_train_extra,
    say,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from pipeline.batch.inputs import BatchInput
    from pipeline.batch.manifest import Manifest
    from pipeline.batch.task import BatchSettings, TaskSummary

STOP_GRACE_S = 60.0  # after a stop, how long to wait for running tasks to end their sessions and clean up


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import installed_models_dir
    from pipeline.io.log_format import BATCH_FORMATS

    p = sub.add_parser(
        "batch",
        help="analyse many videos and photo folders into one log each (resumable; local cores or Dask)",
        description="Analyse many inputs, one log and sidecar each under --out, with a manifest. "
        "A re-run skips inputs whose log is complete and made with the same settings and models.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files, folders (searched for videos and photo folders) or @list.txt (one path per line)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the logs and manifest.csv")
    p.add_argument("--format", choices=BATCH_FORMATS, default="csv", help="log format (default: csv)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="local worker processes (default: the cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="where tasks run (default: local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: the scheduler, tcp://HOST:PORT")
    p.add_argument("--shard", metavar="I/N", help="only shard I of N of the inputs (a Slurm job array's part)")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="K",
        help="more attempts for a task whose worker died or that failed in fertui itself (default: 2)",
    )
    redo = p.add_mutually_exclusive_group()
    redo.add_argument("--force", action="store_true", help="redo every input, even those already complete")
    redo.add_argument("--retry-failed", action="store_true", help="redo only the inputs the manifest lists as failed")
    p.add_argument("--min-face", type=int, default=20, metavar="PX", help="smallest face to find (default: 20)")
    p.add_argument("--detect-every", type=int, default=5, metavar="N", help="full detection every N frames")
    p.add_argument("--detector", choices=("fast", "package"), default="fast", help="as in analyze (default: fast)")
    p.add_argument("--no-landmarks", action="store_true", help="skip the 68-point landmarks")
    add_jitter_crops_option(p)
    add_landmark_options(p)
    p.add_argument(
        "--models",
        type=Path,
        default=installed_models_dir(),
        metavar="DIR",
        help=MODELS_HELP,
    )
    p.set_defaults(handler=run)


def _settings(args: argparse.Namespace, jobs: int) -> BatchSettings:
    from pipeline.batch.task import BatchSettings
    from pipeline.core.threads import available_cores

    return BatchSettings(
        out_dir=str(args.out.expanduser().absolute()),
        fmt=args.format,
        min_face=args.min_face,
        detect_every=args.detect_every,
        detector=args.detector,
        landmarks=not args.no_landmarks,
        jitter_crops=args.jitter_crops,
        landmark_model=args.landmarks,
        focal=args.focal,
        models_dir=str(args.models.expanduser().absolute()),
        threads=max(1, available_cores() // jobs) if args.executor == "local" else 0,
    )


def _check(args: argparse.Namespace) -> int:
    """The local job count, once the options are known to make sense (UsageError when they do not)."""
    from pipeline.commands.bounds import check_bound
    from pipeline.core.threads import available_cores

    for option in ("--min-face", "--detect-every", "--jobs", "--retries"):
        check_bound(option, getattr(args, option[2:].replace("-", "_")))
    check_jitter_crops(args.jitter_crops)
    check_focal(args.focal)
    if args.detector == "package":
        require_train_extra("--detector package", "mtcnn")
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler tcp://HOST:PORT (see the README's 'Many videos')")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler is for --executor dask")
    # The ModelSet these settings run, checked against its cards once, here: a missing or altered file is one line
    # before any input starts (the fingerprints reuse it).
    from pipeline.batch.task import model_sha256
    from pipeline.engine import DEFAULT_LANDMARK_MODEL

    model_sha256(args.models, args.detector == "fast", not args.no_landmarks, args.landmarks or DEFAULT_LANDMARK_MODEL)
    return args.jobs or available_cores()


def run(args: argparse.Namespace) -> int:
    from pipeline.batch.inputs import expand, holds_readable_image, name_inputs, parse_shard, shard
    from pipeline.batch.manifest import Manifest, manifest_name
    from pipeline.core.files import WriteError, make_private_dir

    jobs = _check(args)
    shard_part = parse_shard(args.shard) if args.shard else None
    paths = expand(args.inputs)
    unreadable = [path for path in paths if path.is_dir() and not holds_readable_image(path)]
    inputs = name_inputs(path for path in paths if path not in unreadable)
    if not inputs:
        held = " (the photo folders there hold no readable image)" if unreadable else ""
        raise UsageError(f"no videos or photo folders found in {' '.join(args.inputs)}{held}")
    if unreadable:
        say(f"fertui batch: note: left out {len(unreadable)} folder(s) with no readable image: {unreadable[0]}")
    if shard_part is not None:
        inputs = shard(inputs, *shard_part)
    settings = _settings(args, jobs)
    try:
        make_private_dir(Path(settings.out_dir))
        manifest = Manifest(Path(settings.out_dir) / manifest_name(shard_part))
    except (WriteError, OSError) as exc:
        raise UsageError(f"cannot use --out {args.out}: {getattr(exc, 'strerror', None) or exc}") from None
    return _run_batch(args, inputs, settings, manifest, jobs)


def _plan(
    args: argparse.Namespace, inputs: list[BatchInput], settings: BatchSettings, manifest: Manifest
) -> tuple[list[BatchInput], list[TaskSummary]]:
    """(inputs to run, summaries of those that are not run): skipped when complete, unless --force."""
    from pipeline.batch.task import completed, reset_attempts

    to_run: list[BatchInput] = []
    not_run: list[TaskSummary] = []
    for item in inputs:
        if args.retry_failed and manifest.status(item.name) != "failed":
            continue
        earlier = None if args.force else completed(item, settings, settings.fingerprint(item))
        if earlier is not None:
            not_run.append(earlier)
        else:
            reset_attempts(settings, item)
            to_run.append(item)
    return to_run, not_run


def _run_batch(
    args: argparse.Namespace, inputs: list[BatchInput], settings: BatchSettings, manifest: Manifest, jobs: int
) -> int:
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pipeline.batch.executors import DaskCluster, Executor, LocalPool
    from pipeline.batch.inputs import expected_frames
    from pipeline.batch.manifest import ManifestError
    from pipeline.engine.session import SignalCatcher, Stop

    to_run, not_run = _plan(args, inputs, settings, manifest)
    manifest.record(*not_run)
    frames = {item.name: expected_frames(item) for item in to_run}
    to_run.sort(key=lambda item: -frames[item.name])  # longest first: the batch ends sooner
    console = Console(stderr=True)
    where = f"Dask at {args.scheduler}" if args.executor == "dask" else f"{jobs} local worker(s)"
    say(f"fertui batch: {len(inputs)} input(s): {len(not_run)} already done, {len(to_run)} to run on {where}")
    counts = {"done": 0, "skipped": len(not_run), "failed": 0, "interrupted": 0}
    executor: Executor
    if args.executor == "dask":
        executor = DaskCluster(settings, args.scheduler, args.retries)
    else:
        executor = LocalPool(settings, jobs, args.retries)
    progress = Progress(
        TextColumn("[bold]batch[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TimeRemainingColumn(),  # weighted by frames: the bar advances by each finished input's frames
        console=console,
    )
    stopped_at: float | None = None
    display = Display(progress)
    with SignalCatcher() as signals:
        display.start(total=sum(frames.values()) or None)
        executor.start(to_run)
        try:
            while executor.pending:
                if signals.received is not None and stopped_at is None:
                    stopped_at = time.monotonic()
                    display.line(f"fertui batch: {Stop.from_signal(signals.received).text}; stopping")
                    executor.stop()
                if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
                    break
                for summary in executor.finished(0.2):
                    counts[summary.status] += 1
                    display.advance(frames.get(summary.input, 0))
                    display.line(_line(summary))
                    try:
                        manifest.record(summary)
                    except ManifestError as exc:
                        # The batch's own bookkeeping failed (the disk filled): stop rather than run inputs
                        # whose outcome cannot be recorded. The running tasks end their sessions cleanly.
                        executor.stop()
                        raise ManifestError(f"batch stopped: {exc}; run the same command again when fixed") from exc
        finally:
            executor.close()
            display.stop()
    say(
        f"fertui batch: {counts['done']} done, {counts['skipped']} skipped (already complete), "
        f"{counts['failed']} failed"
        + (f", {counts['interrupted']} interrupted" if counts["interrupted"] else "")
        + f"; manifest: {manifest.path}"
    )
    if signals.received is not None:
        say("fertui batch: run the same command again to do what is left")
        return 128 + signals.received
    return 1 if counts["failed"] else 0


class Display:
    """The batch's terminal side: a progress bar and one line per finished input. A reader that goes away
    (`2>&1 | head`, a dropped SSH link) ends the display, never the work."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.alive = True
        self._task: TaskID | None = None

    def _guard(self, action: Callable[[], object]) -> None:
        if not self.alive:
            return
        try:
            action()
        except (OSError, ValueError):
            self.alive = False
            mute_stream(self.progress.console.file)

    def start(self, total: float | None) -> None:
        self._task = self.progress.add_task("batch", total=total)
        self._guard(self.progress.start)

    def advance(self, frames: int) -> None:
        if self._task is not None:
            task = self._task
            self._guard(lambda: self.progress.advance(task, frames))

    def line(self, text: str) -> None:
        self._guard(lambda: self.progress.console.print(text))

    def stop(self) -> None:
        self._guard(self.progress.stop)


def _line(summary: TaskSummary) -> str:
    if summary.status == "done":
        return f"done    {summary.input}: {summary.frames} frames, {summary.faces} face(s), {summary.fps:.1f} fps"
    if summary.status == "failed":
        return f"FAILED  {summary.input}: {summary.error}"
    return f"stopped {summary.input}"
