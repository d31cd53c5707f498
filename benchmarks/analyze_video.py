"""`fertui analyze` end to end on generated 640x480 videos (1 face, 3 faces): fps, stage ms, start-up, RSS, agreement.

    uv run python -m benchmarks.analyze_video [--frames 150] [--models DIR] [--jitter-crops K] [--landmarks mesh|dlib]

Each run is the real command in a child process (`fertui analyze VIDEO --format jsonl`), every frame processed.
While it runs, the log is read as it grows, so we know when each frame's result appeared:
- seconds to first result: from launching the command to the first row in the log (imports, model loading,
  detector compilation and the first frame);
- fps: frames after the first / seconds between the first and the last result;
- stage ms: the runner's per-stage means (last 60 frames) from the log's metadata;
- peak RSS: the child's maximum resident set size (os.wait4).
Agreement: the tracked run (full detection every 5 frames) against a run that detects on every frame
(--detect-every 1): the share of the latter's face rows with a face in the same frame at box IoU >= 0.8 and
the same emotion label. Without a trained model (models/MODEL_CARD.md), a tiny test model is built
(tests/model_fixtures.py) and the JSON says "model": "tiny test model": emotion cost and labels are then not
the real ones. Prints one JSON object.
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

from benchmarks.scenes import conditions, iou, scene_frames, write_video

FPS = 30.0
MIN_IOU = 0.8


def models_dir(requested: Path | None, scratch: Path) -> tuple[Path, str]:
    """The models folder to use and how to name it in the JSON."""
    from pipeline.core.paths import installed_models_dir

    if requested is not None:
        return requested, str(requested)
    if (installed_models_dir() / "MODEL_CARD.md").is_file():
        return installed_models_dir(), "models/ (trained)"
    from tests.model_fixtures import make_tiny_models_dir

    return make_tiny_models_dir(scratch / "tiny-models"), "tiny test model"


def run_analyze(
    video: Path,
    log: Path,
    models: Path,
    detect_every: int,
    jitter_crops: int | None = None,
    landmarks: str | None = None,
) -> dict[str, object]:
    """Run `fertui analyze` on `video` in a child process, watching its log; returns its figures and rows."""
    command = [
        str(Path(sys.executable).parent / "fertui"),
        "analyze",
        str(video),
        "--out",
        str(log),
        "--format",
        "jsonl",
        "--models",
        str(models),
        "--detect-every",
        str(detect_every),
        *(["--jitter-crops", str(jitter_crops)] if jitter_crops else []),
        *(["--landmarks", landmarks] if landmarks else []),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen_at: dict[int, float] = {}
    rows: list[dict] = []
    buffer = b""
    offset = 0
    status = None
    while status is None:
        pid, status_code, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            status = status_code
        if log.exists():
            with log.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            offset += len(chunk)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            now = time.perf_counter()
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    rows.append(row)
                    seen_at.setdefault(int(row["frame"]), now)
        if status is None:
            time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"fertui analyze failed ({process.returncode}): {stderr.strip()[-500:]}")
    meta = _metadata(log)
    times = sorted(seen_at.values())
    frames = len(seen_at)
    return {
        "frames_processed": frames,
        "seconds_to_first_result": round(times[0] - started, 2),
        "fps": round((frames - 1) / (times[-1] - times[0]), 1) if frames > 1 else None,
        "total_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "stage_ms": {name: round(ms, 2) for name, ms in meta.get("run", {}).get("stage_ms", {}).items()},
        "detector": next((p for p in meta.get("processors", []) if p.get("name") == "detection"), None),
        "_rows": rows,
    }


def _metadata(log: Path) -> dict:
    path = Path(f"{log}.meta.json")  # SessionLog's sidecar
    return json.loads(path.read_text()) if path.is_file() else {}


def _box(row: dict) -> tuple[float, float, float, float]:
    return (row["x"], row["y"], row["w"], row["h"])


def agreement(tracked: list[dict], every_frame: list[dict]) -> dict[str, object]:
    """Share of the every-frame run's face rows matched in the tracked run (same frame, IoU >= 0.8, same label)."""
    by_frame: dict[int, list[dict]] = {}
    for row in tracked:
        if row.get("face_id") is not None:
            by_frame.setdefault(int(row["frame"]), []).append(row)
    reference = [row for row in every_frame if row.get("face_id") is not None]
    boxes_agree = labels_agree = 0
    for row in reference:
        box = (row["x"], row["y"], row["w"], row["h"])
        best = max(
            by_frame.get(int(row["frame"]), []), key=lambda r: iou(box, (r["x"], r["y"], r["w"], r["h"])), default=None
        )
        if best is not None and iou(box, (best["x"], best["y"], best["w"], best["h"])) >= MIN_IOU:
            boxes_agree += 1
            labels_agree += best["emotion"] == row["emotion"]
    total = max(1, len(reference))
    return {
        "reference_face_rows": len(reference),
        "tracked_face_rows": sum(len(v) for v in by_frame.values()),
        "box_iou_0.8_rate": round(boxes_agree / total, 3),
        "box_and_label_rate": round(labels_agree / total, 3),
    }


def run(
    n_frames: int, requested_models: Path | None, jitter_crops: int | None = None, landmarks: str | None = None
) -> dict[str, object]:
    start_conditions = conditions(
        "2-core machine shared with a training job and other work; figures vary with the load"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="fertui-bench-") as scratch_name:
        scratch = Path(scratch_name)
        models, model_name = models_dir(requested_models, scratch)
        for faces in (1, 3):
            video = write_video(scratch / f"{faces}-face.avi", scene_frames(faces, n_frames), fps=FPS)
            tracked = run_analyze(video, scratch / f"{faces}-tracked.jsonl", models, 5, jitter_crops, landmarks)
            every = run_analyze(video, scratch / f"{faces}-every.jsonl", models, 1, jitter_crops, landmarks)
            results.append(
                {
                    "scene": f"{faces} face{'s' if faces > 1 else ''}",
                    "frames": n_frames,
                    "tracked_detect_every_5": {k: v for k, v in tracked.items() if k != "_rows"},
                    "detect_every_frame": {k: v for k, v in every.items() if k != "_rows"},
                    "agreement_with_detect_every_frame": agreement(tracked["_rows"], every["_rows"]),
                }
            )
    return {
        "benchmark": "pipeline",
        "command": "fertui analyze VIDEO --format jsonl --detect-every 5 (and 1 for the reference)"
        + (f" --jitter-crops {jitter_crops}" if jitter_crops else "")
        + (f" --landmarks {landmarks}" if landmarks else ""),
        "video": {"size": [640, 480], "fps": FPS, "frames": n_frames, "codec": "MJPG"},
        "model": model_name,
        "conditions_start": start_conditions,
        "conditions_end": conditions(),
        "targets": {
            "fps_1_face": ">= 30",
            "fps_3_faces": ">= 15",
            "seconds_to_first_result": "<= 8",
            "peak_rss_mb": "<= 1536",
            "agreement": ">= 0.95 of face rows (IoU >= 0.8, same label)",
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per video (default 150, 5 s at 30 fps)")
    parser.add_argument(
        "--models", type=Path, default=None, help="models folder (default: models/ or a tiny test model)"
    )
    parser.add_argument(
        "--jitter-crops",
        type=int,
        default=None,
        metavar="K",
        help="alignments per face per frame (default: the budget)",
    )
    parser.add_argument(
        "--landmarks", choices=("mesh", "dlib"), default=None, help="landmark model (default: fertui's default)"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.frames, args.models, args.jitter_crops, args.landmarks), indent=2))


if __name__ == "__main__":
    main()
