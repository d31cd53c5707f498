"""A face-geometry member for the emotion model, measured on both measures (#29's "second input from landmarks").

    uv run python -m benchmarks.geometry_member --probs /work/runs/probs [--epochs 30] [--cache DIR]

The geometry is the face mesh (`pipeline.processors.face_mesh`: 468 3D points), levelled on the outer eye
corners, centred between them and divided by their distance, so it is the same whatever the picture's size or
the dataset's framing. Where the mesh is run:
- FER-2013 `train` and `val` (the FER+ majority split) and CK+48: the 48x48 face upscaled to 192 px, framed by
  a box over the whole picture (the faces fill it), then framed again by the mesh, as the landmark stage does;
- JAFFE: the photo path's detector box on the whole photo, then the same two passes.
A small network (1404 -> 512 -> 256 -> 7, dropout 0.4, classes weighted by inverse frequency to the power 0.5)
learns the FER+ majority from `train` only. It is scored alone and fused with a candidate CNN's saved
probabilities (`benchmarks.realworld_candidates --save DIR`: log p_cnn + w log p_geometry, optionally with a
log-prior correction of every class, tau x -log(train prior)). One JSON line per combination. `val` figures here
are over the images with a FER+ majority (3,489), both label sets. Nothing is trained on the development set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.core.paths import default_data
from pipeline.engine import EngineConfig, build_processors
from pipeline.modelling.data import load_split
from pipeline.modelling.realworld import default_realworld_dir, load_ckplus, load_jaffe
from pipeline.processors.face_mesh import EYE_OUTER, MeshLandmarkProcessor

UPSCALED = 192
DEV_PARTS = (("jaffe", "jaffe_raw"), ("ck", "ckplus48_raw"))


def mesh_of(landmarks: MeshLandmarkProcessor, image_bgr: np.ndarray, face: Face) -> np.ndarray | None:
    """The face's mesh as the landmark stage measures a photo's face (framed by the box, then by the mesh), or
    None where the mesh is not trusted."""
    result = landmarks.process(FrameResult(Frame(0, 0.0, 0.0, image_bgr, "face"), faces=(face,)))
    return result.faces[0].mesh


def meshes_and_found(found: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 468, 3) meshes (zeros where none) and whether each was found."""
    meshes = np.zeros((len(found), 468, 3), np.float32)
    for i, mesh in enumerate(found):
        if mesh is not None:
            meshes[i] = mesh
    return meshes, np.array([mesh is not None for mesh in found])


def small_face_meshes(landmarks: MeshLandmarkProcessor, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Meshes of 48x48 grey faces that fill their picture."""
    whole = Face(box=(8.0, 8.0, UPSCALED - 16.0, UPSCALED - 16.0), score=1.0)
    found = []
    for image in images:
        big = cv2.resize(image, (UPSCALED, UPSCALED), interpolation=cv2.INTER_CUBIC)
        found.append(mesh_of(landmarks, cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), whole))
    return meshes_and_found(found)


def jaffe_meshes(landmarks: MeshLandmarkProcessor, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Meshes of JAFFE's photos, framed by the photo path's detector (the best face of each)."""
    detector = build_processors(EngineConfig(stills=True, landmarks=False))[0]
    found: list[np.ndarray | None] = []
    for i, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {path} as an image")
        result = detector.process(FrameResult(Frame(i, float(i), 0.0, image, path.name)))
        best = max(result.faces, key=lambda face: face.score) if result.faces else None
        found.append(mesh_of(landmarks, image, best) if best is not None else None)
    detector.close()
    return meshes_and_found(found)


def geometry(meshes: np.ndarray) -> np.ndarray:
    """(N, 1404) coordinates levelled on the outer eye corners, centred between them, in eye distances."""
    points = meshes.astype(np.float64)
    left, right = points[:, EYE_OUTER[0], :2], points[:, EYE_OUTER[1], :2]
    centre, line = (left + right) / 2, right - left
    distance = np.linalg.norm(line, axis=1)[:, None]
    angle = np.arctan2(line[:, 1], line[:, 0])[:, None]
    cos, sin = np.cos(-angle), np.sin(-angle)
    xy = points[:, :, :2] - centre[:, None]
    x = xy[..., 0] * cos - xy[..., 1] * sin
    y = xy[..., 0] * sin + xy[..., 1] * cos
    z = points[:, :, 2] - points[:, :, 2].mean(axis=1, keepdims=True)
    return (np.stack([x, y, z], axis=-1) / distance[:, :, None]).reshape(len(points), -1).astype(np.float32)


def features(cache: Path) -> dict[str, np.ndarray]:
    """Meshes and whether each was found, for train, val, CK+48 and JAFFE (a few minutes; kept in `cache`)."""
    path = cache / "geometry_meshes.npz"
    if path.is_file():
        return dict(np.load(path))
    landmarks = MeshLandmarkProcessor(track=False)
    data: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        data[f"{split}_mesh"], data[f"{split}_found"] = small_face_meshes(
            landmarks, load_split(default_data(), split, "ferplus").images
        )
    root = default_realworld_dir()
    data["ck_mesh"], data["ck_found"] = small_face_meshes(landmarks, load_ckplus(root)[0])
    data["jaffe_mesh"], data["jaffe_found"] = jaffe_meshes(landmarks, load_jaffe(root)[0])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, allow_pickle=False, **data)
    return data


def train_member(data: dict[str, np.ndarray], labels: np.ndarray, epochs: int) -> dict[str, np.ndarray]:
    """The geometry network's probabilities on val, JAFFE and CK+48, trained on `train` alone."""
    import tensorflow as tf

    found = data["train_found"].astype(bool)
    train = geometry(data["train_mesh"])[found]
    mean, spread = train.mean(axis=0), train.std(axis=0) + 1e-6
    targets = np.eye(7, dtype=np.float32)[labels[found]]
    frequency = targets.mean(axis=0)
    class_weight = frequency**-0.5 / (frequency**-0.5 * frequency).sum()
    tf.random.set_seed(0)
    network = tf.keras.Sequential(
        [
            tf.keras.Input((train.shape[1],)),
            tf.keras.layers.Dense(512, activation="relu"),
            tf.keras.layers.Dropout(0.4),
            tf.keras.layers.Dense(256, activation="relu"),
            tf.keras.layers.Dropout(0.4),
            tf.keras.layers.Dense(7, activation="softmax"),
        ]
    )
    network.compile(tf.keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    network.fit(
        (train - mean) / spread,
        targets,
        sample_weight=targets @ class_weight,
        epochs=epochs,
        batch_size=256,
        verbose=0,
    )
    return {
        part: network.predict((geometry(data[f"{part}_mesh"]) - mean) / spread, verbose=0)
        for part in ("val", "jaffe", "ck")
    }


def score(
    member: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    cnn: dict[str, np.ndarray] | None,
    weight: float,
    prior_bias: np.ndarray,
) -> dict[str, object]:
    """Top-class figures of log p_cnn + weight x log p_geometry + prior_bias (the member alone without a CNN)."""

    def logits(part: str, cnn_key: str) -> np.ndarray:
        base = np.log(np.clip(cnn[cnn_key], 1e-8, 1)) if cnn is not None else 0.0
        return base + weight * np.log(np.clip(member[part], 1e-6, 1)) + prior_bias

    out: dict[str, object] = {}
    predicted, labels = [], []
    for part, cnn_key in DEV_PARTS:
        guess = logits(part, cnn_key).argmax(axis=1)
        out[part] = round(float((guess == truth[part]).mean()), 3)
        out[f"{part}_recall"] = [round(float((guess[truth[part] == c] == c).mean()), 2) for c in np.unique(truth[part])]
        predicted.append(guess)
        labels.append(truth[part])
    guess, label = np.concatenate(predicted), np.concatenate(labels)
    out["macro_recall"] = round(float(np.mean([(guess[label == c] == c).mean() for c in range(7)])), 3)
    val = logits("val", "val_majority").argmax(axis=1)
    out["val_ferplus"] = round(float((val == truth["val_ferplus"]).mean()), 3)
    out["val_original"] = round(float((val == truth["val_original"]).mean()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probs", type=Path, required=True, help="benchmarks.realworld_candidates --save folder")
    parser.add_argument("--candidates", default="models,E_w50_long", help="NAME.npz files in --probs to fuse with")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--cache", type=Path, default=Path("runs/geometry"))
    args = parser.parse_args()

    from benchmarks.realworld_candidates import _ferplus_rows

    data = features(args.cache)
    train_labels = load_split(default_data(), "train", "ferplus").labels
    member = train_member(data, train_labels, args.epochs)
    root = default_realworld_dir()
    majority_rows = _ferplus_rows(default_data())
    truth = {
        "jaffe": load_jaffe(root)[1],
        "ck": load_ckplus(root)[1],
        "val_ferplus": load_split(default_data(), "val", "ferplus").labels,
        "val_original": load_split(default_data(), "val", "fer2013").labels[majority_rows],
    }
    prior = np.bincount(train_labels, minlength=7) / len(train_labels)
    print(json.dumps({"candidate": "geometry alone", **score(member, truth, None, 1.0, np.zeros(7))}))
    for name in args.candidates.split(","):
        saved = dict(np.load(args.probs / f"{name}.npz"))
        saved["val_majority"] = saved["val_raw"][majority_rows]
        for weight, tau in ((0.0, 0.0), (0.25, 0.0), (0.5, 0.0), (1.0, 0.0), (0.5, 0.25), (0.5, 0.5)):
            figures = score(member, truth, saved, weight, -tau * np.log(prior))
            print(json.dumps({"candidate": name, "geometry_weight": weight, "prior_tau": tau, **figures}))


if __name__ == "__main__":
    main()
