"""`fertui` with no subcommand: the terminal app on a camera, a recording, photos or the demo."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    say,
)


def add_options(parser: argparse.ArgumentParser) -> None:
    from pipeline.core.paths import installed_models_dir
    from tui import defaults as display  # the app's own defaults (tui.config), without loading Textual

    parser.add_argument("--demo", action="store_true", help="run on the built-in demo (no camera needed)")
    parser.add_argument("--source", default=None, help='camera ("0", "/dev/video0"), video, image, folder or "demo"')
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help=f"display frame rate (default: {display.LOCAL_FPS:g}, over SSH {display.SSH_FPS:g}, "
        f"{display.SSH_PIXEL_FPS:g} for Sixel or Kitty)",
    )
    parser.add_argument(
        "--colors",
        choices=("8", "6", "5", "4", "256"),
        default=None,
        help=f"bits per colour channel, or the 256-colour palette (default: {display.LOCAL_COLORS}, "
        f"over SSH {display.SSH_COLORS})",
    )
    parser.add_argument(
        "--render",
        default="halfblock",
        metavar="MODE",
        help="video as halfblock (default, any terminal), sixel, kitty, or auto (what the terminal answers for)",
    )
    parser.add_argument(
        "--palette",
        default=None,
        metavar="N",
        help=f"Sixel colours: 256 or 64 (default: {display.LOCAL_PALETTE}, over SSH {display.SSH_PALETTE})",
    )
    parser.add_argument("--size", default=None, metavar="COLSxROWS", help="largest video size in cells, e.g. 80x24")
    parser.add_argument("--export-dir", type=Path, default=Path("."), help="where e and s write (default: here)")
    parser.add_argument("--export-format", choices=("csv", "jsonl"), default="csv", help="format e exports")
    parser.add_argument("--log", type=Path, default=None, metavar="PATH", help="session log (default: in export dir)")
    parser.add_argument("--no-record", action="store_true", help="start with recording off (r turns it on)")
    add_jitter_crops_option(parser)
    add_landmark_options(parser)
    parser.add_argument("--models", type=Path, default=installed_models_dir(), help=MODELS_HELP)
    parser.add_argument(
        "--markers",
        default=None,
        metavar="1=LABEL,...",
        help='labels of the marker keys 1-9, like "1=stimulus,2=response" (default: the digit)',
    )
    add_lsl_options(parser)


NO_CAMERA_HINT = "try `fertui --demo` or `fertui --source FILE`"


def live_config(args: argparse.Namespace, graphics=None):
    """The app's settings from the command line; `graphics`: what the terminal answered (tui/graphics/detect.py)."""
    from pipeline.io.events import parse_marker_labels
    from pipeline.io.log_format import check_text_log_name
    from tui.config import AppConfig, parse_size, running_over_ssh
    from tui.graphics.detect import RENDER_CHOICES, TerminalGraphics
    from tui.graphics.sixel import PALETTE_SIZES

    if args.fps is not None and not 1 <= args.fps <= 60:
        raise UsageError("--fps must be between 1 and 60")
    if args.render not in RENDER_CHOICES:
        raise UsageError(f"--render must be one of {', '.join(RENDER_CHOICES)}, not {args.render!r}")
    if args.palette is not None and args.palette not in PALETTE_SIZES:
        raise UsageError(f"--palette must be one of {', '.join(PALETTE_SIZES)}, not {args.palette!r}")
    check_text_log_name("--log", args.log)
    check_jitter_crops(args.jitter_crops)
    check_focal(args.focal)
    try:
        labels = parse_marker_labels(args.markers)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    check_lsl_options(args)
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
        jitter_crops=args.jitter_crops,
        landmark_model=args.landmarks,
        focal=args.focal,
        ssh=running_over_ssh(),
        render=args.render,
        palette=args.palette,
        graphics=graphics or TerminalGraphics(),
        marker_labels=tuple(labels[str(digit)] for digit in range(1, 10)),
        lsl=args.lsl,
        lsl_markers=args.lsl_markers,
    )


def probe_terminal():
    """Ask the terminal what it can show, before Textual starts reading its input (none when not a tty)."""
    import sys

    from tui.graphics.detect import TerminalGraphics, probe

    stdin, terminal = sys.__stdin__, sys.__stderr__  # Textual reads stdin and writes to stderr
    if stdin is None or terminal is None or not (stdin.isatty() and terminal.isatty()):
        return TerminalGraphics(how="not a terminal: not probed")
    return probe(stdin.fileno(), terminal.fileno())


def run(args: argparse.Namespace) -> int:
    """The terminal app. Textual is imported here only, so the headless subcommands never load it."""
    import os

    from pipeline.core.files import WriteError
    from pipeline.io.sinks import check_writable
    from tui.config import SSH_TEXTUAL_FPS
    from tui.graphics.colour_depth import apply_colour_depth

    live_config(args)  # bad options are reported before the terminal is asked anything
    config = live_config(args, probe_terminal())
    apply_colour_depth(config.graphics)  # before Textual's import, which reads it
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's stderr notes would scribble on the screen
    if config.ssh:
        os.environ.setdefault("TEXTUAL_FPS", SSH_TEXTUAL_FPS)  # read by Textual at import time
    if config.log_path is not None:
        try:
            check_writable(config.log_path)
        except WriteError as exc:
            raise UsageError(str(exc)) from exc
    camera = config.source.isdigit() or config.source.startswith("/dev/video")
    try:
        source = open_checked_source(config.source, live=True)
    except UsageError as exc:
        raise UsageError(f"{exc}; {NO_CAMERA_HINT}" if camera else str(exc)) from exc
    try:
        from tui.app import live_engine_config, make_app

        engine_config = live_engine_config(config, source)
        processors = build_checked_processors(engine_config)
        try:
            app = make_app(config, source=source, processors=processors, engine_config=engine_config)
        except WriteError as exc:
            raise UsageError(str(exc)) from exc
    except BaseException:
        source.close()
        raise
    from pipeline.engine.session import SignalCatcher, StopReason

    with SignalCatcher(on_signal=app.signal_received):
        try:
            app.run()
        finally:
            stop = app.shutdown_engine()  # idempotent: the app stops the engine on unmount; this covers a crash
    log = app.session_log
    if log is not None:
        why = f"; {stop.text}" if stop.text else ""
        say(f"fertui: session log {log.path} ({log.rows_written} rows){why}", err=False)
    events = app.session.events
    if events is not None and events.created:
        say(f"fertui: events {events.path} ({events.count} event{'' if events.count == 1 else 's'})", err=False)
    if stop.reason in (StopReason.STAGE_ERROR, StopReason.SOURCE_FAILED, StopReason.DISK_FULL):
        say(f"fertui: stopped: {stop.text}")
    return stop.exit_code
