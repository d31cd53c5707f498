"""The `fertui` command: the live app (default) and the headless subcommands.

Heavy imports (TensorFlow, Textual) happen inside the subcommand that needs them, so `fertui --help`
is instant and `fertui analyze` never loads Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import cast

from pipeline.errors import FertuiError

EXIT_BAD_INPUT = 2


class UsageError(FertuiError):
    """Bad input from the user: reported as one line on stderr with exit code 2."""


TRAIN_EXTRA_HINT = "pip install 'fertui[train]' (or uv tool install 'fertui[train]'; a checkout's uv sync has it)"


def _require_train_extra(what: str, module: str = "tensorflow") -> None:
    """One line naming the extra when `what` needs a package that only `fertui[train]` installs."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs {module}, which is not installed: {TRAIN_EXTRA_HINT}")


def _add_train(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA

    p = sub.add_parser("train", help="train the emotion classifier on FER-2013")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--labels",
        choices=("fer2013", "ferplus", "ferplus-votes"),
        default="fer2013",
        help="fer2013: original labels (default); ferplus: FER+ majority; ferplus-votes: the FER+ vote distribution",
    )
    p.add_argument(
        "--original-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="with ferplus-votes: mix W of the original label into each target (default: 0)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1, help="(default: %(default)s)")
    p.add_argument("--webcam-augment", action="store_true", help="also train on webcam-like blur, gamma and noise")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--out", type=Path, default=Path("runs/emotion"), help="run folder (default: %(default)s)")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    _require_train_extra("fertui train")
    from pipeline.emotion.train import TrainConfig, train

    if not 0.0 <= args.original_weight <= 1.0:
        raise UsageError("--original-weight must be in [0, 1]")
    config = TrainConfig(
        data=str(args.data),
        labels=args.labels,
        original_weight=args.original_weight,
        label_smoothing=args.label_smoothing,
        webcam_augment=args.webcam_augment,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        limit=args.limit,
    )
    state = train(config, args.out, resume=args.resume)
    print(f"best val accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; run in {args.out}")
    return 0


# -- shared by analyze and the live path --------------------------------------------------------------

DEMO_ANALYZE_FRAMES = 200


def _say(line: str, *, err: bool = True) -> None:
    """Print one line, surviving a terminal that has gone away (SIGHUP after an SSH drop)."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr if err else sys.stdout, flush=True)


def _open_source(spec: str, **options: object):
    from pipeline.sources import open_source

    try:
        source = open_source(spec, **options)  # type: ignore[arg-type]  # options are open_source's own keywords
        source.open()
    except FertuiError as exc:
        raise UsageError(str(exc)) from exc
    return source


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide what C++ libraries print on file descriptor 2 (TFLite's "INFO: Created ... XNNPACK delegate" line
    when the model loads); the user gets fertui's own lines only. Python errors still surface as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _build_processors(config):
    from pipeline.engine import build_processors

    try:
        with _native_stderr_silenced():
            return build_processors(config)
    except FertuiError as exc:
        raise UsageError(str(exc)) from exc


# -- fertui analyze --------------------------------------------------------------------------------------


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import MODELS_DIR

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
    p.add_argument("--overwrite", action="store_true", help="replace an existing log")
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="models folder (default: %(default)s)")
    p.set_defaults(handler=_run_analyze)


def _default_log_path(spec: str, fmt: str) -> Path:
    stem = "demo" if spec == "demo" else (Path(spec).stem or Path(spec).name or "camera").replace(" ", "_")
    return Path(f"fertui-{stem}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}")


def _check_analyze_options(args: argparse.Namespace) -> str:
    if args.min_face < 12:
        raise UsageError("--min-face must be at least 12 pixels (the detector's smallest window)")
    if args.detect_every < 1:
        raise UsageError("--detect-every must be at least 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError("--max-frames must be at least 1")
    if args.format:
        return args.format
    return "jsonl" if args.out is not None and args.out.suffix.lower() in (".jsonl", ".json") else "csv"


def _run_analyze(args: argparse.Namespace) -> int:
    from pipeline.engine import EngineConfig
    from pipeline.session import Session, session_metadata
    from pipeline.sinks import SessionLog, SinkError, check_writable

    fmt = _check_analyze_options(args)
    if args.detector == "package":
        _require_train_extra("--detector package", "mtcnn")
    out = args.out or _default_log_path(args.source, fmt)
    try:
        check_writable(out, overwrite=args.overwrite)
    except SinkError as exc:
        raise UsageError(str(exc)) from exc
    max_frames = args.max_frames or (DEMO_ANALYZE_FRAMES if args.source == "demo" else None)
    source = _open_source(args.source, live=False, max_frames=max_frames)
    try:
        config = EngineConfig(
            min_face=args.min_face,
            detect_every=args.detect_every,
            detector=args.detector,
            landmarks=not args.no_landmarks,
            stills=source.stills,
            models_dir=args.models,
        )
        processors = _build_processors(config)
        try:
            metadata = session_metadata("analyze", source, config, processors)
            log = SessionLog(out, fmt, metadata, overwrite=args.overwrite)
        except SinkError as exc:
            raise UsageError(str(exc)) from exc
    except BaseException:
        source.close()
        raise
    return _analyze(Session(source, processors, log))


def _analyze(session) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from pipeline.session import SignalCatcher, StopReason

    source, log, runner = session.source, session.log, session.runner
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
        _say(f"fertui: warning: {log.write_error}")
    if stop.reason is StopReason.SIGNAL:
        for note in _input_notes(source, stats):
            _say(f"fertui: note: {note}")
        _say(f"fertui: {stop.text}; log closed with {log.rows_written} rows: {log.path}")
        return stop.exit_code
    if stop.reason is not StopReason.FINISHED:
        _say(f"fertui: analysis stopped: {stop.text}; log closed with {log.rows_written} rows: {log.path}")
        return stop.exit_code
    _print_summary(log, console=Console() if sys.stdout.isatty() else Console(width=150))
    for note in _input_notes(source, stats):
        _say(f"fertui: note: {note}")
    return 0


def _input_notes(source, stats) -> list[str]:
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


def _print_summary(log, console) -> None:
    from rich.table import Table

    from pipeline.labels import EMOTIONS, UNCLEAR

    summary = log.summary()
    table = Table(title=f"{log.frames_written} frames, {len(summary)} face(s): share of frames per emotion")
    table.add_column("face", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("seen (s)", justify="right")
    for label in (*EMOTIONS, UNCLEAR):
        table.add_column(label, justify="right")
    for face_id, info in summary.items():
        share = info["share"]
        table.add_row(
            str(face_id),
            str(info["frames"]),
            f"{info['first_s']:.1f}-{info['last_s']:.1f}",
            *(f"{share.get(label, 0.0):.0%}" for label in (*EMOTIONS, UNCLEAR)),
        )
    console.print(table)
    console.print(f"log: {log.path} ({log.rows_written} rows); metadata: {log.meta_path}")


# -- fertui report -----------------------------------------------------------------------------------------


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="draw a session log: emotions over time and their share, per face")
    p.add_argument("log", type=Path, help="a session log written by fertui (CSV or JSON Lines)")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: LOG with .png)")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pipeline.report import render_report
    from pipeline.sinks import read_log

    if not args.log.is_file():
        raise UsageError(f"{args.log}: no such file")
    try:
        rows = read_log(args.log)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.log}: not a fertui session log ({exc})") from exc
    if not rows or "face_id" not in rows[0] or "time_s" not in rows[0]:
        raise UsageError(f"{args.log}: not a fertui session log (no rows with face_id and time_s)")
    out = args.out or args.log.with_suffix(".png")
    try:
        drawn = render_report(rows, out, title=f"{args.log.name}")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    print(f"report: {drawn['path']} ({len(cast(list, drawn['faces']))} face(s), {drawn['frames']} frames)")
    return 0


# -- the live path: the terminal app ----------------------------------------------------------------------


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    from pipeline.emotion import MODELS_DIR

    parser.add_argument("--demo", action="store_true", help="run on the built-in demo (no camera needed)")
    parser.add_argument("--source", default=None, help='camera ("0", "/dev/video0"), video, image, folder or "demo"')
    parser.add_argument("--fps", type=float, default=None, help="display frame rate (default: 20, over SSH 12)")
    parser.add_argument(
        "--colors",
        choices=("8", "6", "5", "4", "256"),
        default=None,
        help="bits per colour channel, or the 256-colour palette (default: 6, over SSH 5)",
    )
    parser.add_argument("--size", default=None, metavar="COLSxROWS", help="largest video size in cells, e.g. 80x24")
    parser.add_argument("--export-dir", type=Path, default=Path("."), help="where e and s write (default: here)")
    parser.add_argument("--export-format", choices=("csv", "jsonl"), default="csv", help="format e exports")
    parser.add_argument("--log", type=Path, default=None, metavar="PATH", help="session log (default: in export dir)")
    parser.add_argument("--no-record", action="store_true", help="start with recording off (r turns it on)")
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="models folder (default: %(default)s)")


NO_CAMERA_HINT = "try `fertui --demo` or `fertui --source FILE`"


def _live_config(args: argparse.Namespace):
    from tui.config import AppConfig, parse_size, running_over_ssh

    if args.fps is not None and not 1 <= args.fps <= 60:
        raise UsageError("--fps must be between 1 and 60")
    try:
        size = parse_size(args.size) if args.size else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return AppConfig(
        source="demo" if args.demo else (args.source or "0"),
        fps=args.fps,
        colors=args.colors,
        size=size,
        export_dir=args.export_dir,
        export_format=args.export_format,
        log_path=args.log,
        record=not args.no_record,
        models_dir=args.models,
        ssh=running_over_ssh(),
    )


def _run_live(args: argparse.Namespace) -> int:
    """The terminal app. Textual is imported here only, so the headless subcommands never load it."""
    import os

    from pipeline.engine import EngineConfig
    from pipeline.sinks import SinkError, check_writable
    from tui.config import SSH_TEXTUAL_FPS

    config = _live_config(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's stderr notes would scribble on the screen
    if config.ssh:
        os.environ.setdefault("TEXTUAL_FPS", SSH_TEXTUAL_FPS)  # read by Textual at import time
    if config.log_path is not None:
        try:
            check_writable(config.log_path)
        except SinkError as exc:
            raise UsageError(str(exc)) from exc
    camera = config.source.isdigit() or config.source.startswith("/dev/video")
    try:
        source = _open_source(config.source, live=True)
    except UsageError as exc:
        raise UsageError(f"{exc}; {NO_CAMERA_HINT}" if camera else str(exc)) from exc
    try:
        processors = _build_processors(EngineConfig(models_dir=config.models_dir, stills=source.stills))
        from tui.app import make_app

        try:
            app = make_app(config, source=source, processors=processors)
        except SinkError as exc:
            raise UsageError(str(exc)) from exc
    except BaseException:
        source.close()
        raise
    from pipeline.session import SignalCatcher, StopReason

    with SignalCatcher(on_signal=app.signal_received):
        try:
            app.run()
        finally:
            stop = app.shutdown_engine()  # idempotent: the app stops the engine on unmount; this covers a crash
    log = app.session_log
    if log is not None:
        why = f"; {stop.text}" if stop.text else ""
        _say(f"fertui: session log {log.path} ({log.rows_written} rows){why}", err=False)
    if stop.reason in (StopReason.STAGE_ERROR, StopReason.SOURCE_FAILED, StopReason.DISK_FULL):
        _say(f"fertui: stopped: {stop.text}")
    return stop.exit_code


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR

    p = sub.add_parser("eval", help="evaluate the emotion model on FER-2013 (the paper's Table 3)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument("--split", default="test", help="test (PrivateTest, default) or val (PublicTest)")
    p.add_argument("--labels", default="fer2013", help="fer2013 (default) or ferplus (FER+ majority vote)")
    p.add_argument(
        "--model", type=Path, default=MODELS_DIR, help="model folder with MODEL_CARD.md (default: %(default)s)"
    )
    p.add_argument(
        "--path",
        choices=("direct", "photo"),
        default="direct",
        help="direct: the 48x48 images, one crop each (default); photo: each image upscaled into a scene and run "
        "through the app's photo path (real detector, face_crop, alignment jitters), as `fertui calibrate` does",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images of the split")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="write the confusion matrix as a PNG")
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from pipeline.emotion.classifier import EmotionClassifier
    from pipeline.emotion.data import Split, load_split
    from pipeline.emotion.evaluate import evaluate, plot_confusion, report_dict, report_table, risk_coverage_table

    if args.split not in ("test", "val"):
        raise UsageError(f"unknown split '{args.split}' (choose test or val)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    split = load_split(args.data, args.split, args.labels)
    if args.limit is not None:
        split = Split(split.name, split.images[: args.limit], split.labels[: args.limit], split.labels_name)
    model_dir = args.model.parent if args.model.is_file() else args.model
    with _native_stderr_silenced():
        classifier = EmotionClassifier.load(model_dir)
    if args.model.is_file() and args.model.resolve() != classifier.path.resolve():
        raise UsageError(f"{args.model} is not the model its card names ({classifier.path.name})")
    if args.path == "direct":
        report = evaluate(classifier, split)
    else:
        from pipeline.emotion.detection_path import run_path

        with _native_stderr_silenced():
            path = run_path(split.images, classifier)
        found = Split(split.name, split.images[path.detected], split.labels[path.detected], split.labels_name)
        report = report_dict(path.probs, found, classifier)
        report["path"] = f", photo path: {len(path.detected)} of {len(split)} found"
        report["detection_rate"] = path.detection_rate
    if args.plot:
        try:
            plot_confusion(report, args.plot)
        except OSError as exc:
            raise UsageError(f"cannot write the plot {args.plot}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(report))
    else:
        from rich.console import Console

        console = Console()
        console.print(report_table(report))
        console.print(risk_coverage_table(report))
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR
    from pipeline.emotion.calibration import COVERAGE

    p = sub.add_parser(
        "calibrate",
        help="fit the temperature and choose the unclear rule on val through the app's photo path; rewrite the card",
    )
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="model folder (default: %(default)s)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--coverage",
        type=float,
        default=COVERAGE,
        help="share of detected val faces given an emotion name; the rest are unclear (default: %(default)s)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images of each split")
    p.set_defaults(handler=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.emotion.evaluate import report_table, risk_coverage_table
    from pipeline.emotion.release import calibrate_model_dir

    if not 0.0 < args.coverage <= 1.0:
        raise UsageError("--coverage must be in (0, 1]")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    console = Console()
    with console.status("val and test through the photo path (5-10 minutes on 2 cores)"), _native_stderr_silenced():
        result = calibrate_model_dir(args.models, data=args.data, coverage=args.coverage, limit=args.limit)
    _print_calibration(console, result)
    console.print(report_table(result["test_path"]))
    console.print(risk_coverage_table(result["test_path"]))
    console.print(f"wrote {args.models / 'MODEL_CARD.md'}")
    return 0


def _print_calibration(console, result: dict) -> None:
    from rich.table import Table

    temperature = result["temperature"]
    console.print(
        f"temperature {temperature['value']:.3f} (val negative log-likelihood {temperature['val_nll']['before']} -> "
        f"{temperature['val_nll']['after']}); unclear: {result['unclear']['criterion']}"
    )
    table = Table(title="expected calibration error on test (15 bins)")
    for column in ("path", "faces", "before", "after", "accuracy"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for row in result["calibration"]["ece"]:
        table.add_row(
            row["path"], str(row["n"]), f"{row['before']:.4f}", f"{row['after']:.4f}", f"{row['accuracy']:.4f}"
        )
    console.print(table)


def _add_export(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR

    p = sub.add_parser("export", help="turn a training run into the model the app loads (+ MODEL_CARD.md)")
    p.add_argument("--run", type=Path, default=Path("runs/emotion"), help="training run folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="model folder to write (default: %(default)s)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument("--no-flip-tta", action="store_true", help="do not average each face with its mirror image")
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    _require_train_extra("fertui export")
    from rich.console import Console

    from pipeline.emotion.evaluate import report_table
    from pipeline.emotion.release import export_run

    with _native_stderr_silenced():
        result = export_run(args.run, args.out, data=args.data, flip_tta=not args.no_flip_tta)
    console = Console()
    console.print(report_table(result["test"]))
    _print_calibration(console, result)
    exported = result["exported"]
    shipped = ", ".join(f"{name} {acc:.4f}" for name, acc in exported["val_accuracy_as_shipped"].items())
    console.print(f"exported {exported['file']} (epoch {exported['epoch']}); val accuracy as shipped: {shipped}")
    console.print(f"wrote {args.out / 'emotion.tflite'} and {args.out / 'MODEL_CARD.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fertui", description="Real-time facial expression recognition in the terminal"
    )
    _add_live_options(parser)
    sub = parser.add_subparsers(dest="command")
    _add_train(sub)
    _add_analyze(sub)
    _add_report(sub)
    _add_eval(sub)
    _add_export(sub)
    _add_calibrate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter is not for users
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None) or _run_live
    try:
        return handler(args)
    except FertuiError as exc:
        print(f"fertui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fertui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`fertui eval --json | head`): stop quietly, as a shell tool does.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
