"""`fertui analyze`: a video, image, folder, camera or the demo through the engine, headless, into a session log."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands import (
    MODELS_HELP,
    UsageError,
    add_jitter_crops_option,
    add_landmark_options,
    add_lsl_options,
    build_checked_processors,
    check_focal,
    check_jitter_crops,
    check_lsl_options,
    open_checked_source,
    require_train_extra,
    say,
)

if TYPE_CHECKING:
    from pipeline.engine.session import Session
    from pipeline.io.sources import FrameSource

DEMO_ANALYZE_FRAMES = 200


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import installed_models_dir

    p = sub.add_parser("analyze", help="analyse a video, image, folder, camera or the demo; write a session log")
    p.add_argument("source", help='video file, image, folder of images, camera ("0", "/dev/video0") or "demo"')
    p.add_argument("--out", type=Path, default=None, help="session log (default: fertui-<source>-<time>.csv here)")
    p.add_argument("--format", choices=("csv", "jsonl"), default=None, help="log format (default: csv)")
    p.add_argument("--min-face", type=int, default=20, metavar="PX", help="smallest face to find (default: 20)")
    p.add_argument("--detect-every", type=int, default=5, metavar="N", help="full detection every N frames")
    p.add_argument(
        "--detector",
        choices=("fast", "package"),
        default="fast",
        help="fast: FastMTCNN tracked between detections (default); package: mtcnn's detect_faces on every frame",
    )
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames (demo: 200)")
    p.add_argument("--no-landmarks", action="store_true", help="skip the 68-point landmarks")
    add_jitter_crops_option(p)
    add_landmark_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing log")
    p.add_argument("--models", type=Path, default=installed_models_dir(), help=MODELS_HELP)
    p.add_argument(
        "--events",
        type=Path,
        default=None,
        metavar="FILE.tsv",
        help="a video's events (BIDS TSV: onset and duration in seconds of video time, trial_type, value): "
        "checked, then carried into LOG.events.tsv and the report",
    )
    add_lsl_options(p)
    p.set_defaults(handler=run)


def _log_stem(spec: str) -> str:
    return "demo" if spec == "demo" else (Path(spec).stem or Path(spec).name or "camera").replace(" ", "_")


def check_options(args: argparse.Namespace) -> str:
    """The log format, once the options are known to make sense (UsageError when they do not)."""
    from pipeline.commands.bounds import check_bound
    from pipeline.io.log_format import check_text_log_name, log_format_for

    for option in ("--min-face", "--detect-every", "--max-frames"):
        check_bound(option, getattr(args, option[2:].replace("-", "_")))
    check_jitter_crops(args.jitter_crops)
    check_focal(args.focal)
    check_text_log_name("--out", args.out)
    check_lsl_options(args)
    return args.format or log_format_for(args.out)


def check_source_options(args: argparse.Namespace, source: FrameSource) -> None:
    """--events needs a video file (its onsets are in video time); LSL streams a camera as it is analysed."""
    if args.events is not None and (source.live or source.stills):
        raise UsageError(f"--events takes a video's events in video time; {args.source} is not a video file")
    if (args.lsl or args.lsl_markers) and not source.live:
        option = "--lsl" if args.lsl else "--lsl-markers"
        raise UsageError(
            f"{option} streams a camera as it is analysed; {args.source} is a recording (play it live with "
            f"`fertui --source {args.source} {option}`, or give its events with --events)"
        )


def run(args: argparse.Namespace) -> int:
    from pipeline.core.files import WriteError
    from pipeline.engine import EngineConfig
    from pipeline.engine.session import Session, session_metadata
    from pipeline.io.events import EventsLog, events_path_for, read_events
    from pipeline.io.sinks import SessionLog, check_writable, default_log_path

    fmt = check_options(args)
    if args.detector == "package":
        require_train_extra("--detector package", "mtcnn")
    given_events = read_events(args.events, source="file") if args.events is not None else None
    out = args.out or default_log_path(_log_stem(args.source), fmt)
    events_path = events_path_for(out)
    try:
        check_writable(out, overwrite=args.overwrite)
        if given_events is not None or args.lsl_markers:
            check_writable(events_path, overwrite=args.overwrite)
    except WriteError as exc:
        raise UsageError(str(exc)) from exc
    max_frames = args.max_frames or (DEMO_ANALYZE_FRAMES if args.source == "demo" else None)
    source = open_checked_source(args.source, live=False, max_frames=max_frames)
    events = None
    try:
        check_source_options(args, source)
        config = (
            EngineConfig(
                min_face=args.min_face,
                detect_every=args.detect_every,
                detector=args.detector,
                landmarks=not args.no_landmarks,
                stills=source.stills,
                models_dir=args.models,
            )
            .with_jitter_crops(args.jitter_crops)
            .with_landmarks(args.landmarks, args.focal)
        )
        processors = build_checked_processors(config)
        metadata = session_metadata("analyze", source, config, processors)
        streams = None
        if args.lsl or args.lsl_markers:
            from pipeline.io.lsl import LslStreams, model_sha256

            streams = LslStreams(outlets=args.lsl, markers_from=args.lsl_markers, model_sha256=model_sha256(metadata))
        try:
            if given_events is not None or args.lsl_markers:
                events = EventsLog(events_path, create=True)
                events.add(*(given_events or ()))
            log = SessionLog(
                out, fmt, metadata, overwrite=args.overwrite, landmarks=config.landmarks, per_image=source.stills
            )
        except WriteError as exc:
            raise UsageError(str(exc)) from exc
    except BaseException:
        source.close()
        if events is not None:
            events.close()
            events.path.unlink(missing_ok=True)
        raise
    return analyze(Session(source, processors, log, events=events, streams=streams))


def analyze(session: Session) -> int:
    """Run the session to its end or a signal, with a progress bar; report and return the exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pipeline.engine.session import SignalCatcher, StopReason

    source, log, runner = session.source, session.log, session.runner
    assert log is not None, "analyze always records"
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]analyze[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TextColumn("{task.fields[fps]:5.1f} fps"),
        TextColumn("[bold yellow]{task.fields[state]}"),  # a lost camera: "source lost, retrying"
        TimeRemainingColumn(),
        console=console,
    )
    with SignalCatcher() as signals:
        session.start()
        try:
            # A terminal that went away (SIGHUP after an SSH drop) fails the progress bar's writes;
            # that must not keep the log from closing.
            with contextlib.suppress(OSError), progress:
                task = progress.add_task("analyze", total=source.frame_count, fps=0.0, state="")
                # Until the session stops by itself (the end, the disk filling: nothing more can be recorded,
                # an error) or a signal asks it to.
                while not session.wait(0.1) and signals.received is None:
                    stats = runner.stats()
                    state = "source lost, retrying (the gap is logged)" if stats.source_state == "lost" else ""
                    progress.update(task, completed=stats.frames_processed, fps=stats.processed_fps, state=state)
                stats = runner.stats()
                progress.update(task, completed=stats.frames_processed, fps=stats.processed_fps)
        finally:
            stop = session.stop(signals.stop)
    stats = runner.stats()
    if log.write_error:
        say(f"fertui: warning: {log.write_error}")
    if stop.reason is StopReason.SIGNAL:
        for note in input_notes(source, stats):
            say(f"fertui: note: {note}")
        say(f"fertui: {stop.text}; log closed with {log.rows_written} rows: {log.path}")
        return stop.exit_code
    if stop.reason is not StopReason.FINISHED:
        say(f"fertui: analysis stopped: {stop.text}; log closed with {log.rows_written} rows: {log.path}")
        return stop.exit_code
    blinks = session.eyes[0].blink_counts() if session.eyes and not source.stills else None
    print_summary(log, console=Console() if sys.stdout.isatty() else Console(width=150), blinks=blinks)
    if session.events is not None:
        count = session.events.count
        say(f"events: {count} in {session.events.path}", err=False)
    for note in input_notes(source, stats):
        say(f"fertui: note: {note}")
    return 0


def input_notes(source, stats) -> list[str]:
    """What the source skipped, could not read or lost for a while, one line each, for the end of a run."""
    info = source.describe()
    notes = []
    losses = sum(1 for event in stats.events if event["event"] == "source_lost")
    if losses:
        notes.append(
            f"the source was lost {losses} time(s); the gaps are in the log ({stats.gap_frames} rows with no face, "
            "source '(source lost)') and in the metadata's events"
        )
    skipped = list(info.get("skipped") or ())
    if skipped:
        names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        notes.append(f"skipped {len(skipped)} file(s) that are not readable images: {names}")
    if info.get("undecodable_frames"):
        notes.append(f"skipped {info['undecodable_frames']} video frame(s) that could not be decoded")
    if info.get("ended_early"):
        notes.append(
            f"the video ended after {info['frames_read']} of the {info['frame_count']} frames its header announces "
            "(truncated or damaged file); everything read is in the log"
        )
    return notes


def print_summary(log, console, blinks: dict[str, dict[str, int]] | None = None) -> None:
    """The table per face; `blinks` (video with landmarks): each face id's blinks, a column after the emotions."""
    from rich.table import Table

    from pipeline.core.labels import EMOTIONS, UNCLEAR
    from pipeline.io.log_format import face_label

    summary = log.summary()
    if log.tally.per_image:
        # Photos: face ids restart in every image, so a face is (image, id), and each is one observation.
        images = len({key[0] for key in summary if isinstance(key, tuple)})
        title = f"photos: {len(summary)} face(s) over {images} of {log.frames_written} image(s): emotion per face"
    else:
        title = f"{log.frames_written} frames, {len(summary)} face(s): share of frames per emotion"
    table = Table(title=title)
    table.add_column("image #face" if log.tally.per_image else "face", justify="right")
    if not log.tally.per_image:
        table.add_column("frames", justify="right")
        table.add_column("seen (s)", justify="right")
    for label in (*EMOTIONS, UNCLEAR):
        table.add_column(label, justify="right")
    if blinks is not None:
        table.add_column("blinks", justify="right")
    for key, info in summary.items():
        share = info["share"]
        timing = () if log.tally.per_image else (str(info["frames"]), f"{info['first_s']:.1f}-{info['last_s']:.1f}")
        blink_cell = () if blinks is None else (str(blinks.get(str(key), {}).get("blinks", 0)),)
        table.add_row(
            face_label(key), *timing, *(f"{share.get(label, 0.0):.0%}" for label in (*EMOTIONS, UNCLEAR)), *blink_cell
        )
    console.print(table)
    console.print(f"log: {log.path} ({log.rows_written} rows); metadata: {log.meta_path}")
