"""In-the-wild training faces (muxspace's facial_expressions): cut as the app cuts a face, for training.

The photos are tight crops of faces, longest side 128 px, labelled by one person each (see
`shared/data/wild/muxspace/README.md`). FER-2013's images are framed by its own tool; the app frames a face by
`face_crop` from the detector's box and five keypoints. So each photo is padded (a detector needs some margin
around a face that fills the picture), run through the app's detector, and its most confident face cut by
`face_crop`: the training crops are what the app would classify. Photos without a face found are left out and
counted. `contempt` (9 photos) is not one of the seven and is left out too.

The crops are kept in a cache file beside the run (they depend only on the photos, the detector and the crop),
so a resumed run does not detect again.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.modelling.data import DataError

PAD = 0.3  # of the photo's size, on every side, replicated from its border
MIN_FACE = 20


def read_labels(folder: Path) -> list[tuple[str, int]]:
    """(file, class index) for every photo labelled with one of the seven emotions."""
    table = folder / "labels.csv"
    if not table.is_file():
        raise DataError(f"no {table}: pass the muxspace folder (see shared/data/wild/muxspace/README.md)")
    rows = []
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["emotion"] in EMOTIONS:
                rows.append((row["file"], EMOTIONS.index(row["emotion"])))
    return rows


def wild_crops(folder: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(crops (N, 48, 48) uint8, labels (N,), account) for the photos whose face the detector found."""
    from pipeline.runtime.detector.fast_mtcnn import FastMTCNN
    from pipeline.runtime.emotion.crop import face_crop

    rows = read_labels(folder)
    detector = FastMTCNN(min_face_size=MIN_FACE)
    crops, labels, missed, unreadable = [], [], 0, 0
    try:
        for name, label in rows:
            grey = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
            if grey is None:
                unreadable += 1
                continue
            pad = int(PAD * max(grey.shape))
            padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            rgb = cv2.cvtColor(padded, cv2.COLOR_GRAY2RGB)
            faces = detector.detect(rgb)
            if not faces:
                missed += 1
                continue
            best = max(faces, key=lambda face: face.score)
            crops.append(face_crop(padded, best))
            labels.append(label)
    finally:
        detector.close()
    account = {"photos": len(rows), "faces": len(crops), "no_face": missed, "unreadable": unreadable}
    return np.stack(crops), np.array(labels, dtype=np.int64), account


def cached_wild_crops(folder: Path, cache: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """wild_crops, computed once into `cache` (an .npz) and read from there afterwards."""
    if cache.exists():
        with np.load(cache, allow_pickle=False) as npz:
            return npz["x"], npz["y"], json.loads(str(npz["account"]))
    crops, labels, account = wild_crops(folder)
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez_compressed(tmp, x=crops, y=labels, account=json.dumps(account))
    os.replace(tmp, cache)
    return crops, labels, account
