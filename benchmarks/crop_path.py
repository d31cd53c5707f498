"""FER-2013 through the live path: detection + face_crop + classifier, next to the direct accuracy; one JSON object.

    uv run python -m benchmarks.crop_path [--split test|val] [--models models] [--limit N] [--calibrate] [--sweep]

Each image of the split is upscaled and pasted into a scene as pipeline.modelling.detection_path does (the frames
that `fertui calibrate` uses). A detector runs on each frame (FastMTCNN at min face 40 by default, or the mtcnn
package); the best detection whose centre lies on a pasted image is that image's face; face_crop makes the 48x48
crop from its box and keypoints; the shipped classifier labels it, calibrated as the card says.
`fertui eval --path photo` runs the engine's own photo processors instead, calibrated, as the app does.

Reported: detection rate; accuracy through the path over all images (a missed face counts as wrong) and over
the detected ones; the direct accuracy of the same classifier on the original 48x48 images.

--calibrate also reports where MTCNN's keypoints and box fall on the original 48x48 images (the constants of
pipeline/runtime/emotion/crop.py); --sweep re-crops the same detections with the framing scaled and shifted, to tune
those constants. Both are meant for --split val only: test is for reporting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.frames import Face
from pipeline.core.paths import default_data
from pipeline.modelling.data import load_split
from pipeline.modelling.detection_path import assign, grid_frames
from pipeline.runtime.emotion.classifier import EmotionClassifier
from pipeline.runtime.emotion.crop import jitter_schedule


def _detector(name: str, thresholds: tuple[float, float, float] | None = None):
    if name == "fast":
        from pipeline.runtime.detector.fast_mtcnn import FastMTCNN

        options = {"thresholds": thresholds} if thresholds else {}
        detector = FastMTCNN(min_face_size=40, warmup_size=None, **options)
        return f"pipeline.runtime.detector.fast_mtcnn.FastMTCNN {detector.thresholds}", detector.detect
    from mtcnn import MTCNN

    detector = MTCNN()

    def detect(image_rgb: np.ndarray) -> tuple[Face, ...]:
        found = detector.detect_faces(image_rgb)
        return tuple(
            Face(
                box=tuple(float(v) for v in d["box"]),
                score=float(d["confidence"]),
                keypoints=np.array(
                    [d["keypoints"][k] for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")],
                    dtype=np.float32,
                ),
            )
            for d in found
        )

    return "mtcnn.MTCNN (mtcnn package)", detect


def _calibration(found: dict[int, Face], origins: dict[int, tuple[int, int]], face_px: int) -> dict:
    """MTCNN's keypoints and box on the original 48x48 images (medians and spreads, in crop pixels)."""
    to48 = 48.0 / face_px
    rows = []
    for index, face in found.items():
        x0, y0 = origins[index]
        kp = (face.keypoints - np.array([x0, y0])) * to48
        eyes = (kp[0] + kp[1]) / 2
        mouth = (kp[3] + kp[4]) / 2
        x, y, w, h = face.box
        rows.append(
            [
                *eyes,
                np.linalg.norm(kp[1] - kp[0]),
                np.linalg.norm(mouth - eyes),
                (x - x0 + w / 2) * to48,
                (y - y0 + h / 2) * to48,
                max(w, h) * to48,
            ]
        )
    rows = np.array(rows)
    names = ("eye_centre_x", "eye_centre_y", "eye_distance", "eye_to_mouth", "box_centre_x", "box_centre_y", "box_size")
    return {
        name: {
            "median": round(float(np.median(rows[:, i])), 2),
            "iqr": round(float(np.subtract(*np.percentile(rows[:, i], [75, 25]))), 2),
        }
        for i, name in enumerate(names)
    }


FRAMINGS = [(scale, shift) for scale in (0.9, 0.95, 1.0, 1.05, 1.1) for shift in (-1.5, 0.0, 1.5)]
"""--sweep: the keypoint framing's face size scaled by `scale`, the eye centre moved down by `shift` crop pixels."""


def _crops(frame: np.ndarray, faces: list[Face], framings: list[tuple[float, float]], jitters: list) -> dict:
    """face_crop of each face under each framing (the crop constants changed for the call, then restored):
    per face, one (len(jitters), 48, 48) stack, the face cut with each alignment jitter."""
    from pipeline.runtime.emotion import crop

    base = (crop.EYE_CENTRE, crop.EYE_DISTANCE, crop.EYE_TO_MOUTH)
    out = {}
    try:
        for scale, shift in framings:
            crop.EYE_CENTRE = (base[0][0], base[0][1] + shift)
            crop.EYE_DISTANCE, crop.EYE_TO_MOUTH = base[1] * scale, base[2] * scale
            out[(scale, shift)] = [np.stack([crop.face_crop(frame, face, j) for j in jitters]) for face in faces]
    finally:
        crop.EYE_CENTRE, crop.EYE_DISTANCE, crop.EYE_TO_MOUTH = base
    return out


def _path_probs(classifier, crops: list[np.ndarray]) -> np.ndarray:
    """(faces, 7): each face's probabilities averaged over its jittered crops, then calibrated, as the app does."""
    batch = np.stack(crops)  # (faces, jitters, 48, 48)
    per_call = max(1, 63 // batch.shape[1])  # about 63 crops a call
    return np.concatenate(
        [classifier.face_probabilities(batch[i : i + per_call]) for i in range(0, len(batch), per_call)]
    )


def _accuracy(probs: np.ndarray, labels: np.ndarray, n: int) -> tuple[float, float]:
    """Accuracy over all n images (missed faces count as wrong) and over the detected ones."""
    if len(probs) == 0:
        return 0.0, 0.0
    correct = probs.argmax(axis=1) == labels
    return float(correct.sum() / n), float(correct.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("test", "val"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--face-px", type=int, default=160, help="side of the upscaled FER image in the frame")
    parser.add_argument("--grid", type=int, default=3, help="images per frame: grid x grid")
    parser.add_argument("--detector", choices=("fast", "mtcnn"), default=None, help="default: fast if present")
    parser.add_argument(
        "--thresholds", type=float, nargs=3, default=None, help="FastMTCNN's P/R/O-Net thresholds (default: its own)"
    )
    parser.add_argument(
        "--jitter-crops", type=int, default=1, help="alignment jitters averaged per face, as the app (default 1)"
    )
    parser.add_argument("--calibrate", action="store_true", help="also measure the crop constants (val only)")
    parser.add_argument("--sweep", action="store_true", help="also sweep the crop framing (val only)")
    args = parser.parse_args()
    if (args.calibrate or args.sweep) and args.split != "val":
        parser.error("--calibrate and --sweep choose constants: use them on --split val only")

    split = load_split(args.data, args.split)
    images, labels = split.images[: args.limit], split.labels[: args.limit]
    classifier = EmotionClassifier.load(args.models)
    if args.detector is None:
        try:
            import pipeline.runtime.detector.fast_mtcnn  # noqa: F401

            args.detector = "fast"
        except ImportError:
            args.detector = "mtcnn"
    detector_name, detect = _detector(args.detector, tuple(args.thresholds) if args.thresholds else None)

    framings = FRAMINGS if args.sweep else [(1.0, 0.0)]
    started = time.perf_counter()
    found: dict[int, Face] = {}
    origins: dict[int, tuple[int, int]] = {}
    crops: dict[tuple[float, float], list[np.ndarray]] = {framing: [] for framing in framings}
    frame_count = 0
    for frame, placed in grid_frames(images, args.face_px, args.grid):
        assigned = assign(detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), placed, args.face_px)
        order = sorted(assigned)
        jitters = jitter_schedule(frame_count, args.jitter_crops)
        for framing, made in _crops(frame, [assigned[i] for i in order], framings, jitters).items():
            crops[framing].extend(made)
        found.update(assigned)
        origins.update({p.index: (p.x, p.y) for p in placed})
        frame_count += 1
    seconds = time.perf_counter() - started

    n = len(images)
    direct_probs = classifier.calibrate(
        np.concatenate([classifier.predict(images[i : i + 256]) for i in range(0, n, 256)])
    )
    direct = float((direct_probs.argmax(axis=1) == labels).mean())
    detected = sorted(found)  # the order crops were appended in: frames in index order, sorted within a frame
    path_probs = _path_probs(classifier, crops[(1.0, 0.0)]) if detected else np.zeros((0, 7))
    path_all, path_detected = _accuracy(path_probs, labels[detected], n)
    path_unclear = classifier.unclear(path_probs)
    result = {
        "split": args.split,
        "n": n,
        "frames": frame_count,
        "frame_size": [int(args.face_px * 1.6) * args.grid] * 2,
        "face_px": args.face_px,
        "detector": detector_name,
        "model": {"file": str(classifier.path), "sha256": classifier.sha256},
        "detection_rate": round(len(found) / n, 4),
        "direct_accuracy": round(direct, 4),
        "direct_accuracy_on_detected": round(
            float((direct_probs[detected].argmax(axis=1) == labels[detected]).mean()), 4
        ),
        "path_accuracy": round(path_all, 4),
        "path_accuracy_on_detected": round(path_detected, 4),
        "gap_points": round(100 * (direct - path_all), 2),
        "jitter_crops": args.jitter_crops,
        "unclear_rate_direct": round(float(classifier.unclear(direct_probs).mean()), 4),
        "unclear_rate_path_detected": round(float(path_unclear.mean()), 4) if len(path_unclear) else None,
        "seconds": round(seconds, 1),
    }
    if args.calibrate:
        result["calibration"] = _calibration(found, origins, args.face_px)
    if args.sweep:
        result["sweep"] = [
            {
                "size_scale": scale,
                "eye_shift_px": shift,
                "path_accuracy": round(_accuracy(_path_probs(classifier, made), labels[detected], n)[0], 4),
            }
            for (scale, shift), made in crops.items()
        ]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
