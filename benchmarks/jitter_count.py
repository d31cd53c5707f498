"""How many alignment jitters a photo's face should be averaged over: FER-2013 through the photo path; one JSON.

    uv run python -m benchmarks.jitter_count [--split val] [--limit N] [--models models] [--counts 1,3,9,25]
                                             [--labels fer2013|ferplus]

The faces are found once (the engine's photo detector on the frames of pipeline.modelling.detection_path); each
is cut with every one of the 75 alignments of the jitter grid and classified. For J alignments (J = 1 is the
plain crop; otherwise the first J of the fixed cycle, as the engine takes them for a photo) it reports the
accuracy over the detected faces and the negative log-likelihood after fitting a temperature for that J (a fair
comparison: averaging flattens the distribution, which a temperature undoes). Meant for `val`: the choice of J
is made there. Labels: the ones the model card's calibration names (FER+ majority for a model trained on the
votes) unless --labels says otherwise. The cost of a video frame grows with J times the model's members, so an
ensemble at J and a single model at J x members cost the same: compare them with --counts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipeline.core.paths import default_data
from pipeline.modelling.data import load_split
from pipeline.modelling.detection_path import photo_processors, run_frames
from pipeline.runtime.emotion.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from pipeline.runtime.emotion.classifier import EmotionClassifier, read_model_card
from pipeline.runtime.emotion.crop import NO_JITTER, face_crop, jitter_schedule

COUNTS = (1, 3, 9, 25, 45, 75)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--labels", choices=("fer2013", "ferplus"), default=None, help="default: the card's")
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)), help="alignment counts, comma-separated")
    args = parser.parse_args()
    counts = [int(count) for count in args.counts.split(",")]
    labels_name = args.labels or read_model_card(args.models).calibration_labels

    split = load_split(args.data, args.split, labels_name)
    images, labels = split.images[: args.limit], split.labels[: args.limit]
    classifier = EmotionClassifier.load(args.models, calibrated=False)
    cycle = jitter_schedule(0, max(counts))
    alignments = [NO_JITTER, *cycle]  # index 0: the plain crop; 1..: the cycle in order
    started = time.perf_counter()
    detectors = photo_processors(classifier)[:-1]  # detection and ids; the emotion stage is done here per jitter
    indices, per_crop = [], []
    for image, _, faces in run_frames(images, detectors):
        for index, face in sorted(faces.items()):
            crops = np.stack([face_crop(image, face, jitter) for jitter in alignments])
            per_crop.append(classifier.predict(crops))
            indices.append(index)
    probs = np.stack(per_crop)  # (faces, 1 + max(counts), 7)
    truth = labels[np.array(indices)]
    rows = []
    for count in counts:
        averaged = probs[:, 0] if count == 1 else probs[:, 1 : 1 + count].mean(axis=1)
        temperature = fit_temperature(averaged, truth)
        calibrated = apply_temperature(averaged, temperature)
        rows.append(
            {
                "jitter_crops": count,
                "accuracy_on_detected": round(float((averaged.argmax(1) == truth).mean()), 4),
                "nll_raw": round(negative_log_likelihood(averaged, truth), 4),
                "temperature": round(temperature, 3),
                "nll_calibrated": round(negative_log_likelihood(calibrated, truth), 4),
                "ece_raw": round(expected_calibration_error(averaged, truth), 4),
                "ece_calibrated_in_sample": round(expected_calibration_error(calibrated, truth), 4),
            }
        )
    result = {
        "split": args.split,
        "n": len(images),
        "detected": len(indices),
        "labels": labels_name,
        "model": {"files": classifier.files},
        "seconds": round(time.perf_counter() - started, 1),
        "by_jitter_crops": rows,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
