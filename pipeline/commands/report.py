"""`fertui report`: draw a session log (emotions over time and their share, per face)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

from pipeline.commands import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="draw a session log: emotions over time and their share, per face")
    p.add_argument("log", type=Path, help="a session log written by fertui (CSV or JSON Lines)")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: LOG with .png)")
    p.add_argument(
        "--events",
        type=Path,
        default=None,
        metavar="FILE.tsv",
        help="events to draw as labelled lines (default: LOG.events.tsv beside the log, when there is one)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.io.events import EventsFileError, events_path_for, read_events
    from pipeline.io.log_format import read_log
    from pipeline.summary.report import render_report

    if not args.log.is_file():
        raise UsageError(f"{args.log}: no such file")
    try:
        rows = read_log(args.log)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.log}: not a fertui session log ({exc})") from exc
    if not rows or "face_id" not in rows[0] or "time_s" not in rows[0]:
        raise UsageError(f"{args.log}: not a fertui session log (no rows with face_id and time_s)")
    events_file = args.events or events_path_for(args.log)
    try:
        events = read_events(events_file) if args.events or events_file.is_file() else []
    except EventsFileError as exc:
        raise UsageError(str(exc)) from exc
    out = args.out or args.log.with_suffix(".png")
    try:
        drawn = render_report(rows, out, title=f"{args.log.name}", events=events)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    marks = f", {drawn['events']} event(s) from {events_file.name}" if events else ""
    if drawn["per_image"]:
        print(
            f"report: {drawn['path']} (photos: {drawn['faces_total']} face(s) over {drawn['frames']} image(s){marks})"
        )
    else:
        print(f"report: {drawn['path']} ({len(cast(list, drawn['faces']))} face(s), {drawn['frames']} frames{marks})")
    return 0
