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
Prints one JSON object.
Run: uv run python benchmarks/app.py [--engine full --models models [--video-faces 2]]
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
DEFAULT_VIDEO_SIZE = "80x30"
ROOT = Path(__file__).resolve().parents[1]


def run_display_only(log: Path, export_dir: Path, colors: str | None, fps: float | None, size: str) -> None:
    """The child in --engine none mode: the real app on the demo source with no processors."""
    sys.path.insert(0, str(ROOT))
    from tui.app import make_app
    from tui.config import AppConfig, parse_size, running_over_ssh

    config = AppConfig(
        source="demo",
        size=parse_size(size),
        log_path=log,
        export_dir=export_dir,
        colors=colors,
        fps=fps,
        ssh=running_over_ssh(),
    )
    app = make_app(config, processors=[])
    try:
        app.run()
    finally:
        app.shutdown_engine()


def child_command(args: argparse.Namespace, log: Path, folder: Path) -> list[str]:
    extra = [*(["--colors", args.colors] if args.colors else []), *(["--fps", str(args.fps)] if args.fps else [])]
    extra += ["--size", args.size]
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


def run_in_pty(command: list[str], seconds: float, startup_timeout: float) -> dict[str, float]:
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal, then become the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.execvpe(command[0], command, env)
    total = 0
    measured = 0
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
            if window_start is None and b"\xe2\x96\x80" in chunk:  # the first half block: video is up
                window_start = now
            elif window_start is not None and not quit_sent:
                measured += len(chunk)
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
        "pty_bytes_in_window": measured,
        "window_s": round(window, 2),
        # CPU seconds of the whole app process, start-up included: less at the mercy of other load than fps.
        "app_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("none", "full"), default="none")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--colors", default=None)
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--size", default=DEFAULT_VIDEO_SIZE, help="video cells, COLSxROWS (default: %(default)s)")
    parser.add_argument("--video-faces", type=int, choices=(1, 2, 3), default=None, help="play a generated clip")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_display_only(args.log, args.export_dir, args.colors, args.fps, args.size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "session.csv"
        pty_figures = run_in_pty(child_command(args, log, folder), args.seconds, startup_timeout=180)
        meta = json.loads(log.with_name(log.name + ".meta.json").read_text())
    display = meta.get("display", {})
    frames_in_window = display.get("shown_fps", 0) * pty_figures["window_s"]
    print(
        json.dumps(
            {
                "engine": args.engine,
                "terminal": [COLS, ROWS],
                "video_cells": display.get("video_cells"),
                "colors": display.get("colors"),
                "fps_target": display.get("fps_target"),
                "shown_fps": display.get("shown_fps"),
                "frames_shown": display.get("frames_shown"),
                "bytes_per_frame_pty": round(pty_figures["pty_bytes_in_window"] / frames_in_window)
                if frames_in_window
                else None,
                "bytes_per_frame_app_count": display.get("bytes_per_shown_frame"),
                "latency_ms_p50": display.get("latency_ms_p50"),
                "latency_ms_p95": display.get("latency_ms_p95"),
                "source": meta.get("source", {}).get("source"),
                "frames_dropped": meta.get("run", {}).get("dropped"),
                "frames_captured": meta.get("run", {}).get("frames_captured"),
                "rows_logged": meta.get("rows"),
                "frames_logged": meta.get("frames"),  # processed frames over the whole run, start-up included
                "load_average_1m": round(os.getloadavg()[0], 2),
                **pty_figures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
