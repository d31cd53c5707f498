"""Does `fertui analyze FOLDER` add or lose anything against the photo path it is calibrated on? One JSON object.

    uv run python -m benchmarks.folder_path [--split test] [--limit N] [--keep DIR]

The split's images are pasted into frames exactly as pipeline.modelling.detection_path makes them, the frames are
written as PNG files (lossless) into a folder, and the real command runs on it: `fertui analyze FOLDER`, a fresh
process with its defaults. Each image's face is read back from the log (the most confident face whose box centre
lies on the pasted image). Beside it, the same frames go through detection_path.run_path in this process with
the shipped, calibrated model. For both: per-image accuracy over all images (a missed face and `unclear` both
count as wrong), coverage (the share of images given an emotion name) and the share of detected faces that are
`unclear`. The issue's bar: the two agree within 0.5 points.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.frames import Face
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data, installed_models_dir
from pipeline.io.log_format import read_log
from pipeline.modelling.data import load_split
from pipeline.modelling.detection_path import FACE_PX, assign, grid_frames, run_path
from pipeline.runtime.emotion.classifier import EmotionClassifier

ROOT = Path(__file__).resolve().parents[1]


def _figures(labels: np.ndarray, named: dict[int, str], detected: set[int]) -> dict:
    """named: image index -> the label the run gave (an emotion or "unclear") for each detected image."""
    n = len(labels)
    right = sum(1 for i, label in named.items() if label != "unclear" and EMOTIONS.index(label) == labels[i])
    emotion_named = sum(1 for label in named.values() if label != "unclear")
    return {
        "detected": len(detected),
        "accuracy_all_images": round(right / n, 4),
        "coverage_all_images": round(emotion_named / n, 4),
        "unclear_share_of_detected": round(1 - emotion_named / len(detected), 4) if detected else None,
        "accuracy_on_named": round(right / emotion_named, 4) if emotion_named else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "val"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--keep", type=Path, default=None, help="write the frames and the log here (kept)")
    args = parser.parse_args()

    split = load_split(args.data, args.split)
    images, labels = split.images[: args.limit], split.labels[: args.limit]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        frames_dir = work / "frames"
        frames_dir.mkdir(parents=True, exist_ok=True)
        placements = []
        for frame, placed in grid_frames(images):
            name = f"frame{placed[0].frame:05d}.png"
            cv2.imwrite(str(frames_dir / name), frame)
            placements.append((name, placed))
        log = work / "analyze.csv"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.commands.cli",
                "analyze",
                str(frames_dir),
                "--out",
                str(log),
                "--overwrite",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        analyze_seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"fertui analyze failed ({done.returncode}): {done.stderr[-2000:]}")
        rows = read_log(log)

    by_file: dict[str, list[dict]] = {}
    for row in rows:
        if row["face_id"] is not None:
            by_file.setdefault(str(row["source"]), []).append(row)
    folder_named: dict[int, str] = {}
    for name, placed in placements:
        faces = tuple(
            Face(box=(r["x"], r["y"], r["w"], r["h"]), score=r["det_score"], label=r["emotion"])
            for r in by_file.get(name, [])
        )
        folder_named.update({index: str(face.label) for index, face in assign(faces, placed, FACE_PX).items()})

    started = time.perf_counter()
    classifier = EmotionClassifier.load(installed_models_dir())
    path = run_path(images, classifier)
    path_seconds = time.perf_counter() - started
    unclear = classifier.unclear(path.probs)
    path_named = {
        int(index): "unclear" if unclear[k] else EMOTIONS[int(np.argmax(path.probs[k]))]
        for k, index in enumerate(path.detected)
    }

    folder = _figures(labels, folder_named, set(folder_named))
    in_process = _figures(labels, path_named, set(path_named))
    same_label = sum(1 for i in path_named if folder_named.get(i) == path_named[i])
    result = {
        "split": args.split,
        "n": len(images),
        "frames": len(placements),
        "model": {"file": str(classifier.path), "sha256": classifier.sha256},
        "fertui_analyze_folder": {**folder, "seconds": round(analyze_seconds, 1)},
        "photo_path_in_process": {**in_process, "seconds": round(path_seconds, 1)},
        "difference_points": {
            key: round(100 * (folder[key] - in_process[key]), 2)
            for key in ("accuracy_all_images", "coverage_all_images")
        },
        "same_label_share": round(same_label / max(1, len(path_named)), 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
