"""Peak memory and time of `fertui summarize` on long generated session logs: bounded by the block size, not the
length of the study.

    uv run python -m benchmarks.summarize [--hours 1,3,10] [--formats csv,parquet] [--fps 30] [--signals]

For each length, writes one session log of that many hours (one face in about 90% of frames at an uneven rate
around `--fps`, labels in runs of a few seconds, no landmarks; with `--signals`, head pose, eye aspect ratios and
a blink count on every face row, as a session with landmarks logs them; an events file switching between rest
and stimulus every 30 s), then runs the real `fertui summarize LOG --conditions trial_type --baseline rest` in a
fresh process and reads its peak resident memory (VmHWM from /proc, Linux). Prints JSON: per format and length,
rows, log size, wall seconds and peak RSS. Run it alone: other work on the CPU changes the seconds (not the memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.core.frames import EYE_COLUMNS, LOG_COLUMNS, POSE_COLUMNS
from pipeline.core.labels import EMOTIONS
from pipeline.io.parquet_log import ROWS_PER_GROUP, schema_for

ROOT = Path(__file__).resolve().parents[1]
CHUNK_FRAMES = 100_000
EVENT_EVERY_S = 30.0


def _chunk(
    rng: np.random.Generator, start_frame: int, start_s: float, n: int, fps: float, signals: bool, blinks: int
) -> tuple[pa.Table, float, int]:
    """n frames from `start_frame`: one row each, with a face (id 1) in about 90% of them; `blinks`: the face's
    blink count so far (returned updated)."""
    intervals = rng.choice([0.9, 1.0, 1.0, 1.1, 2.0], size=n) / fps
    times = np.round(start_s + np.concatenate([[0.0], np.cumsum(intervals[:-1])]), 4)
    present = rng.random(n) < 0.9
    runs = np.repeat(rng.integers(0, len(EMOTIONS) + 1, size=n // 60 + 1), 60)[:n]  # a label held ~2 s at a time
    probs = rng.dirichlet(np.ones(len(EMOTIONS)), size=n).round(6)
    labels = np.array([*EMOTIONS, "unclear"], dtype=object)[runs]
    data: dict[str, object] = {
        "frame": np.arange(start_frame, start_frame + n),
        "time_s": times,
        "wall_time": np.full(n, "2026-01-01T00:00:00.000+00:00", dtype=object),
        "source": np.full(n, "generated.mp4", dtype=object),
        "face_id": pa.array(np.ones(n, dtype=np.int64), mask=~present),
        "emotion": pa.array(labels, mask=~present),
        "confidence": pa.array(probs.max(axis=1), mask=~present),
    }
    for column in ("x", "y", "w", "h", "det_score"):
        data[column] = pa.array(rng.random(n) * 100, mask=~present)
    for k, emotion in enumerate(EMOTIONS):
        data[emotion] = pa.array(probs[:, k], mask=~present)
        data[f"smooth_{emotion}"] = pa.array(probs[:, k], mask=~present)
    if signals:  # a head wandering a few degrees, open eyes with a blink every ~3 s on average
        for column in POSE_COLUMNS:
            walk = np.cumsum(rng.normal(0.0, 0.002, n)) if column.startswith("pose_R") else rng.random(n) * 100
            data[column] = pa.array(walk.round(4), mask=~present)
        for column in ("ear_left", "ear_right"):
            data[column] = pa.array((0.28 + rng.normal(0.0, 0.01, n)).round(4), mask=~present)
        counts = blinks + np.cumsum(rng.random(n) < 1 / (3 * fps))
        data["blinks"] = pa.array(counts, mask=~present)
        blinks = int(counts[-1])
    else:
        data.update({column: pa.nulls(n) for column in (*POSE_COLUMNS, *EYE_COLUMNS)})
    table = pa.table({c: data[c] for c in LOG_COLUMNS}).cast(schema_for(LOG_COLUMNS))
    return table, float(times[-1] + intervals[-1]), blinks


def write_log(path: Path, hours: float, fps: float, fmt: str, signals: bool = False) -> int:
    """A generated log of `hours` at about `fps`, and its events file; returns the rows written."""
    rng = np.random.default_rng(2026)
    frames, total, time_s, rows, blinks = int(hours * 3600 * fps), 0, 0.0, 0, 0
    writer: pq.ParquetWriter | pa_csv.CSVWriter
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, schema_for(LOG_COLUMNS), compression="zstd")
    else:
        writer = pa_csv.CSVWriter(
            path, schema_for(LOG_COLUMNS), write_options=pa_csv.WriteOptions(quoting_style="needed")
        )
    while total < frames:
        n = min(CHUNK_FRAMES, frames - total)
        table, time_s, blinks = _chunk(rng, total, time_s, n, fps, signals, blinks)
        if isinstance(writer, pq.ParquetWriter):
            writer.write_table(table, row_group_size=ROWS_PER_GROUP)  # row groups as `fertui batch` writes them
        else:
            writer.write_table(table)
        total, rows = total + n, rows + table.num_rows
    writer.close()
    onsets = np.arange(0.0, time_s, EVENT_EVERY_S)
    lines = ["onset\tduration\ttrial_type\tvalue\tframe\twall_time\tsource"]
    lines += [f"{t:.3f}\t0\t{'rest' if k % 2 == 0 else 'stimulus'}\tn/a\tn/a\tn/a\tkey" for k, t in enumerate(onsets)]
    Path(f"{path}.events.tsv").write_text("\n".join(lines) + "\n")
    return rows


CHILD = """
import sys
from pipeline.commands.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read().splitlines()
print(next(line for line in status if line.startswith("VmHWM")), file=sys.stderr)
sys.exit(code)
"""
"""Runs the command and reports its own high-water mark. VmHWM belongs to the process's memory since exec: the
child's ru_maxrss would also count this parent's memory at the moment it was forked (Linux keeps the larger)."""


def summarize(log: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `fertui summarize` on `log`, in a fresh process."""
    args = [sys.executable, "-c", CHILD, "summarize", str(log), "--out", str(out)]
    args += ["--conditions", "trial_type", "--baseline", "rest"]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"fertui summarize failed:\n{done.stderr[-2000:]}")
    kilobytes = int(done.stderr.strip().splitlines()[-1].split()[1])  # "VmHWM:   123456 kB"
    return seconds, kilobytes / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="1,3,10", help="log lengths in hours, comma-separated")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--signals", action="store_true", help="logs with head pose, eye ratios and blinks")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for fmt in args.formats.split(","):
            for hours in (float(h) for h in args.hours.split(",")):
                log = Path(scratch) / f"session-{hours:g}h.{fmt}"
                rows = write_log(log, hours, args.fps, fmt, args.signals)
                seconds, peak_mb = summarize(log, Path(scratch) / "summary.csv")
                results.append(
                    {
                        "format": fmt,
                        "hours": hours,
                        "rows": rows,
                        "log_mb": round(log.stat().st_size / 2**20, 1),
                        "seconds": round(seconds, 1),
                        "peak_rss_mb": round(peak_mb, 1),
                    }
                )
                log.unlink()
    load = round(os.getloadavg()[0], 2)
    print(json.dumps({"fps": args.fps, "signals": args.signals, "load_1min": load, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
