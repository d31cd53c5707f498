"""The whole app under a pseudo-terminal on the demo source: shown fps and bytes written per frame.

Starts the app in a pty (TERM=xterm-256color, COLORTERM=truecolor, 132x44 cells, video limited to 80x30
cells: more than 80x24, and the 4:3 demo fills it exactly), reads and counts every byte it writes for
--seconds, presses q, and reads the display figures the app stores in the session log's metadata.

--engine none (default): the app with no processors, so the figures are the display path's own (what the
terminal side can sustain). --engine full: the real `fertui --demo` with the detection, landmark and
emotion models (needs --models DIR with emotion.tflite); on a busy 2-core machine detection, not the
display, then limits the frame rate. --video-faces N (with --engine full): instead of the demo, a generated
640x480 30 fps clip with N faces (benchmarks/scenes.py) played by `fertui --source CLIP` at its own pace, as a
recording is played live: capture-to-screen latency and the frames dropped when processing falls behind.
--render sixel|kitty (with --palette 256|64 for Sixel): the pixel video pane instead of half-blocks; the pty
reports 10x20-pixel cells, and the figures add the images counted on the pty and their bytes (with --engine full,
the face thumbnails and the landmark outline are images too: pane_images_written, pane_bytes_per_shown_frame).
--modes runs several in turn (e.g. halfblock,sixel:256,sixel:64,kitty) and prints a list. --terminal COLSxROWS
emulates a whole terminal of that size (e.g. 80x24, 120x40): the pty has that size and the video is limited only
by the layout (not by --size's 80x30, unless --size is given too).
Prints one JSON object (a list with --modes).
Run: uv run python -m benchmarks.app [--engine full --models models [--video-faces 2]] [--render sixel]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

COLS, ROWS = 132, 44
CELL_PX = (10, 20)  # what the pty reports per cell (its pixel size), for the pixel modes' image size
# The first bytes of one frame's picture in each mode: the video is up once one arrives, and counting them
# in the measured window counts the images written.
FRAME_MARKERS = {"halfblock": "▀".encode(), "sixel": b"\x1bP0;1;0q", "kitty": b"\x1b_Ga=T"}
DEFAULT_VIDEO_SIZE = "80x30"
ROOT = Path(__file__).resolve().parents[1]


def run_display_only(
    log: Path,
    export_dir: Path,
    colors: str | None,
    fps: float | None,
    size: str | None,
    render: str,
    palette: str | None,
) -> None:
    """The child in --engine none mode: the real app on the demo source with no processors."""
    sys.path.insert(0, str(ROOT))
    from tui.app import make_app
    from tui.config import AppConfig, parse_size, running_over_ssh
    from tui.graphics.detect import TerminalGraphics, tty_cell_px

    # A pixel mode asked for by name needs no probe (the user wins), only the cell size the pty reports.
    graphics = TerminalGraphics(cell_px=tty_cell_px(2)) if render != "halfblock" else TerminalGraphics()

    config = AppConfig(
        source="demo",
        size=parse_size(size) if size else None,
        log_path=log,
        export_dir=export_dir,
        colors=colors,
        fps=fps,
        ssh=running_over_ssh(),
        render=render,
        palette=palette,  # type: ignore[arg-type]  # checked by display_settings
        graphics=graphics,
    )
    app = make_app(config, processors=[])
    try:
        app.run()
    finally:
        app.shutdown_engine()


def child_command(args: argparse.Namespace, log: Path, folder: Path) -> list[str]:
    extra = [*(["--colors", args.colors] if args.colors else []), *(["--fps", str(args.fps)] if args.fps else [])]
    extra += [*(["--size", video_size(args)] if video_size(args) else []), "--render", args.render]
    extra += ["--palette", args.palette] if args.palette else []
    if args.engine == "full":
        fertui = Path(sys.executable).with_name("fertui")
        source = ["--demo"]
        if args.video_faces:
            from benchmarks.scenes import scene_frames, write_video

            # Long enough for start-up and the measured window; the faces cross the frame once over the clip.
            clip = write_video(folder / "clip.avi", scene_frames(args.video_faces, round(30 * (args.seconds + 6))))
            source = ["--source", str(clip)]
        return [
            str(fertui),
            *source,
            "--log",
            str(log),
            "--export-dir",
            str(folder),
            "--models",
            str(args.models),
            *extra,
        ]
    return [sys.executable, __file__, "--child", "--log", str(log), "--export-dir", str(folder), *extra]


def video_size(args: argparse.Namespace) -> str | None:
    """--size, or the 80x30 default where no --terminal is emulated (then the whole layout decides)."""
    return args.size or (None if args.terminal else DEFAULT_VIDEO_SIZE)


def terminal_size(args: argparse.Namespace) -> tuple[int, int]:
    if not args.terminal:
        return COLS, ROWS
    cols, _, rows = args.terminal.lower().partition("x")
    if not (cols.isdigit() and rows.isdigit()) or int(cols) < 40 or int(rows) < 12:
        raise SystemExit(f"--terminal wants COLSxROWS of at least 40x12, like 80x24, not {args.terminal!r}")
    return int(cols), int(rows)


def run_in_pty(
    command: list[str], seconds: float, startup_timeout: float, marker: bytes, size: tuple[int, int] = (COLS, ROWS)
) -> dict[str, float]:
    cols, rows = size
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal, then become the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, cols * CELL_PX[0], rows * CELL_PX[1]))
        os.execvpe(command[0], command, env)
    total = 0
    measured = 0
    images = 0
    tail = b""  # a marker split across two reads is still counted once
    started = time.monotonic()
    window_start = None
    quit_sent = False
    while True:
        ready, _, _ = select.select([fd], [], [], 0.1)
        now = time.monotonic()
        if ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            total += len(chunk)
            if window_start is None and marker in tail + chunk:  # the first frame's picture: video is up
                window_start = now
            elif window_start is not None and not quit_sent:
                measured += len(chunk)
                images += (tail + chunk).count(marker) - tail.count(marker)
            tail = chunk[-len(marker) :]
        if window_start is None and now - started > startup_timeout:
            os.write(fd, b"q")
            raise SystemExit("the app showed no video in time")
        if window_start is not None and not quit_sent and now - window_start >= seconds:
            os.write(fd, b"q")
            quit_sent = True
            window = now - window_start
    _, _, usage = os.wait4(pid, 0)
    return {
        "pty_bytes_total": total,
        "images_in_window": images,
        "pty_bytes_in_window": measured,
        "window_s": round(window, 2),
        # CPU seconds of the whole app process, start-up included: less at the mercy of other load than fps.
        "app_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def measure(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "session.csv"
        marker = FRAME_MARKERS[args.render]
        size = terminal_size(args)
        command = child_command(args, log, folder)
        pty_figures = run_in_pty(command, args.seconds, startup_timeout=180, marker=marker, size=size)
        meta = json.loads(log.with_name(log.name + ".meta.json").read_text())
    display = meta.get("display", {})
    frames_in_window = display.get("shown_fps", 0) * pty_figures["window_s"]
    return {
        "engine": args.engine,
        "render": display.get("render"),
        "palette": display.get("palette"),
        "terminal": list(size),
        "video_cells": display.get("video_cells"),
        "image_size": display.get("image_size"),
        "colors": display.get("colors"),
        "fps_target": display.get("fps_target"),
        "shown_fps": display.get("shown_fps"),
        "frames_shown": display.get("frames_shown"),
        "bytes_per_frame_pty": round(pty_figures["pty_bytes_in_window"] / frames_in_window)
        if frames_in_window
        else None,
        "bytes_per_frame_app_count": display.get("bytes_per_shown_frame"),
        "bytes_per_image": display.get("bytes_per_image"),
        # The face thumbnails and the landmark outline as images (pixel modes, --engine full: --engine none has no
        # faces). Their bytes are in bytes_per_frame_pty too, and the pty's image count includes them.
        "pane_images_written": display.get("pane_images_written"),
        "pane_bytes_per_shown_frame": round(display["pane_image_bytes"] / display["frames_shown"])
        if display.get("frames_shown") and display.get("pane_image_bytes") is not None
        else None,
        "images_per_s_pty": round(pty_figures["images_in_window"] / pty_figures["window_s"], 2)
        if args.render != "halfblock"
        else None,
        "frames_dropped_terminal": display.get("frames_dropped_terminal"),
        "latency_ms_p50": display.get("latency_ms_p50"),
        "latency_ms_p95": display.get("latency_ms_p95"),
        "source": meta.get("source", {}).get("source"),
        "frames_dropped": meta.get("run", {}).get("dropped"),
        "frames_captured": meta.get("run", {}).get("frames_captured"),
        "rows_logged": meta.get("rows"),
        "frames_logged": meta.get("frames"),  # processed frames over the whole run, start-up included
        "load_average_1m": round(os.getloadavg()[0], 2),
        **pty_figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("none", "full"), default="none")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--colors", default=None)
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument(
        "--size", default=None, help=f"video cells, COLSxROWS (default: {DEFAULT_VIDEO_SIZE} without --terminal)"
    )
    parser.add_argument(
        "--terminal", default=None, metavar="COLSxROWS", help=f"the pty's size (default: {COLS}x{ROWS})"
    )
    parser.add_argument("--video-faces", type=int, choices=(1, 2, 3), default=None, help="play a generated clip")
    parser.add_argument("--render", choices=tuple(FRAME_MARKERS), default="halfblock", help="the video pane's mode")
    parser.add_argument("--palette", choices=("256", "64"), default=None, help="Sixel colours")
    parser.add_argument("--modes", default=None, help="several runs, e.g. halfblock,sixel:256,sixel:64,kitty")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_display_only(args.log, args.export_dir, args.colors, args.fps, args.size, args.render, args.palette)
        return
    if args.modes is None:
        print(json.dumps(measure(args), indent=2))
        return
    results = []
    for entry in args.modes.split(","):
        mode, _, palette = entry.partition(":")
        results.append(measure(argparse.Namespace(**{**vars(args), "render": mode, "palette": palette or None})))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
