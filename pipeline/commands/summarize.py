"""`fertui summarize`: session logs to one table of participants, conditions and face tracks (and a figure)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipeline.commands import UsageError, say

FORMATS = ("csv", "parquet")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summarize",
        help="summarise session logs: one row per participant, condition and face track",
        description="Summarise session logs (CSV, JSON Lines or Parquet, from analyze, batch or the live app) into "
        "one table: time-weighted emotion shares, mean probabilities, episodes and data quality; and, where the logs "
        "have them (sessions with landmarks), blinks, eye aspect ratios and head movement.",
    )
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG|DIR", help="logs, or folders (a batch output or logs)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="table to write (default: DIR/summary.FORMAT for one folder, else fertui-summary.FORMAT here)",
    )
    p.add_argument("--format", choices=FORMATS, default=None, help="table format (default: by --out's suffix, csv)")
    p.add_argument("--figure", type=Path, default=None, metavar="PNG", help="also draw the shares per condition")
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="a column from the log's path, e.g. participant=(p\\d+) (repeatable)",
    )
    p.add_argument(
        "--participants",
        type=Path,
        default=None,
        metavar="MAP.csv",
        help="CSV with a participant column and a log or input column; other columns are carried along",
    )
    p.add_argument(
        "--conditions",
        default=None,
        metavar="COLUMN",
        help="the events files' column that names conditions (trial_type, value); default: whole session",
    )
    p.add_argument("--only", default=None, metavar="A,B", help="use only events with these condition names")
    p.add_argument(
        "--window",
        default=None,
        metavar="A,B",
        help="seconds around each event, e.g. -0.5,3.0 (default: from one event to the next)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        metavar="LABEL",
        help="add delta_ columns: each value minus the participant's own over this condition",
    )
    p.add_argument(
        "--min-episode",
        type=float,
        default=0.5,
        metavar="S",
        help="shortest run of one label that counts as an episode (default: 0.5 s)",
    )
    p.add_argument("--group", default=None, metavar="COLUMN", help="figure: one panel per value of this map column")
    # `--window -0.5,3.0` as the user writes it: argparse takes a value that starts with "-" for a value only when
    # it looks like a negative number, and "-0.5,3.0" is not one by its own pattern.
    p._negative_number_matcher = re.compile(r"^-\d*\.?\d+(,-?\d*\.?\d+)?$")
    p.set_defaults(handler=run)


def _table_path(args: argparse.Namespace) -> tuple[Path, str]:
    fmt = args.format
    if fmt is None:
        fmt = "parquet" if args.out is not None and args.out.suffix.lower() in (".parquet", ".pq") else "csv"
    if args.out is not None:
        out = args.out
    elif len(args.logs) == 1 and args.logs[0].is_dir():
        out = args.logs[0] / f"summary.{fmt}"
    else:
        out = Path(f"fertui-summary.{fmt}")
    return out, fmt


def run(args: argparse.Namespace) -> int:
    from pipeline.summary.accumulate import summarize_log
    from pipeline.summary.events import parse_window, windows_for
    from pipeline.summary.figure import draw_figure
    from pipeline.summary.study import assign_participants, find_logs
    from pipeline.summary.table import build, write_table

    if args.min_episode < 0:
        raise UsageError("--min-episode must be 0 or more seconds")
    around = parse_window(args.window) if args.window is not None else None
    if (around is not None or args.only) and args.conditions is None:
        raise UsageError("--window and --only need --conditions COLUMN (the events' column naming conditions)")
    if args.group is not None and args.figure is None:
        raise UsageError("--group sets the figure's panels: give --figure PNG too")
    only = {v.strip() for v in args.only.split(",") if v.strip()} if args.only else None
    out, fmt = _table_path(args)
    entries = find_logs(args.logs)
    assign_participants(entries, args.by, args.participants)
    summaries = []
    for entry in entries:
        windows = windows_for(entry.path, args.conditions, around, only, entry.source)
        summaries.append(summarize_log(entry.path, windows, min_episode=args.min_episode, stills=entry.stills))
    summary = build(entries, summaries, args.baseline)
    lacking = sorted(p for p, fields in summary.fields.items() if args.group is not None and args.group not in fields)
    if lacking:
        raise UsageError(f"--group {args.group}: no such column for {', '.join(lacking)} (add it to the map)")
    write_table(summary, out, fmt)
    say(f"summary: {out} ({len(summary.rows)} rows from {len(entries)} log(s))", err=False)
    if args.figure is not None:
        draw_figure(summary, args.figure, args.group)
        say(f"figure: {args.figure}", err=False)
    return 0
