"""The landmark stages side by side: dlib's 68 points against the face mesh, each alone and with head pose and eyes.

    uv run python -m benchmarks.landmarks [--frames 150] [--landmarks dlib,mesh]

On the generated 640x480 scenes of benchmarks.analyze_video (1 and 3 portraits moving a few pixels a frame), the
detector and tracker run once per frame (not timed); then, on the same detected faces, each landmark stage is
timed per frame, followed by head pose and eyes on its output, in this process on one thread. Prints one JSON
object with, per scene and per stage: ms per face (mean and p95) for the landmarks alone and for landmarks +
pose + eyes, and the agreement of the two stages' 68 points (mean and p95 distance, as a share of the distance
between the eye centres, dlib's points the reference) and of their head poses (degrees).

"Done" for the face mesh (issue 33): mesh + pose + eyes per face no slower than dlib's landmarks alone.
For the whole command, `python -m benchmarks.analyze_video --landmarks mesh` and `--landmarks dlib` give fps and
stage ms of `fertui analyze` end to end.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.scenes import conditions, scene_frames
from pipeline.core.frames import Frame, FrameResult
from pipeline.processors.base import Processor
from pipeline.processors.detection import DetectionProcessor, make_detector
from pipeline.processors.eyes import EyeProcessor
from pipeline.processors.face_mesh import MeshLandmarkProcessor, Roi
from pipeline.processors.head_pose import HeadPoseProcessor
from pipeline.processors.landmarks import LandmarkProcessor
from pipeline.processors.tracking import TrackingProcessor

FPS = 30.0


def detected(faces: int, n_frames: int) -> list[FrameResult]:
    detection, tracking = DetectionProcessor(make_detector("fast", detect_every=5)), TrackingProcessor()
    results = []
    for index, image in enumerate(scene_frames(faces, n_frames)):
        frame = FrameResult(Frame(index, index / FPS, 0.0, image, "scene"))
        results.append(tracking.process(detection.process(frame)))
    return results


def timed(stages: list[Processor], results: list[FrameResult]) -> tuple[list[FrameResult], np.ndarray, np.ndarray]:
    """Run `stages` on each result: outputs, ms per face of the first stage, ms per face of all of them."""
    for stage in stages:
        stage.setup()
    first_ms, all_ms, outputs = [], [], []
    for result in results:
        if not result.faces:
            continue
        started = time.perf_counter()
        out = stages[0].process(result)
        after_first = time.perf_counter()
        for stage in stages[1:]:
            out = stage.process(out)
        done = time.perf_counter()
        first_ms.append((after_first - started) * 1000 / len(result.faces))
        all_ms.append((done - started) * 1000 / len(result.faces))
        outputs.append(out)
    return outputs, np.array(first_ms), np.array(all_ms)


def summary(values: np.ndarray, digits: int = 3) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p95": None}
    return {"mean": round(float(values.mean()), digits), "p95": round(float(np.percentile(values, 95)), digits)}


def agreement(reference: list[FrameResult], other: list[FrameResult]) -> dict[str, object]:
    distances, pose_deg = [], []
    for a, b in zip(reference, other, strict=True):
        for face_a, face_b in zip(a.faces, b.faces, strict=True):
            if face_a.landmarks is None or face_b.landmarks is None:
                continue
            eyes = np.linalg.norm(face_a.landmarks[36:42].mean(0) - face_a.landmarks[42:48].mean(0))
            distances.extend(np.linalg.norm(face_a.landmarks - face_b.landmarks, axis=1) / eyes)
            if face_a.pose is not None and face_b.pose is not None:
                pose_deg.append(np.degrees(np.abs(face_a.pose[:3] - face_b.pose[:3])))
    poses = np.array(pose_deg).reshape(-1, 3)
    return {
        "points_over_eye_distance": summary(np.array(distances)),
        "pose_difference_deg": {name: summary(poses[:, i], 2) for i, name in enumerate(("pitch", "yaw", "roll"))},
    }


def stages_for(kind: str) -> list[Processor]:
    landmarks: Processor = MeshLandmarkProcessor(track=True) if kind == "mesh" else LandmarkProcessor()
    return [landmarks, HeadPoseProcessor(), EyeProcessor()]


def mesh_passes(stage: Processor) -> list[int] | None:
    """For the face mesh stage: a one-item list that counts the network's passes (None for dlib)."""
    if not isinstance(stage, MeshLandmarkProcessor) or stage._mesh is None:
        return None
    count, run = [0], stage._mesh.run

    def counted(image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        count[0] += 1
        return run(image, roi)

    stage._mesh.run = counted  # type: ignore[method-assign]
    return count


def run(n_frames: int, kinds: list[str]) -> dict[str, object]:
    start = conditions("2-core machine shared with a training job and other work; figures vary with the load")
    scenes = []
    for faces in (1, 3):
        results = detected(faces, n_frames)
        by_kind, outputs = {}, {}
        for kind in kinds:
            stages = stages_for(kind)
            passes = mesh_passes(stages[0])
            outputs[kind], alone, with_all = timed(stages, results)
            by_kind[kind] = {
                "landmarks_ms_per_face": summary(alone),
                "landmarks_pose_eyes_ms_per_face": summary(with_all),
            }
            if passes is not None:  # one per tracked face, two for a face framed from the detector's box
                by_kind[kind]["mesh_passes_per_face"] = round(passes[0] / sum(len(r.faces) for r in results), 3)
        scene: dict[str, object] = {"scene": f"{faces} face{'s' if faces > 1 else ''}", "stages": by_kind}
        if {"dlib", "mesh"} <= set(kinds):
            scene["mesh_against_dlib"] = agreement(outputs["dlib"], outputs["mesh"])
        scenes.append(scene)
    return {
        "benchmark": "landmarks",
        "video": {"size": [640, 480], "frames": n_frames, "generated": "benchmarks.scenes"},
        "threads": "one (LiteRT num_threads=1; dlib is single-threaded)",
        "conditions_start": start,
        "conditions_end": conditions(),
        "target": "mesh landmarks_pose_eyes_ms_per_face <= dlib landmarks_ms_per_face",
        "results": scenes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per scene (default 150)")
    parser.add_argument("--landmarks", default="dlib,mesh", help="stages to time, comma-separated (default dlib,mesh)")
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.landmarks.split(",") if kind.strip()]
    if not kinds or any(kind not in ("dlib", "mesh") for kind in kinds):
        parser.error("--landmarks takes dlib, mesh or both (dlib,mesh)")
    print(json.dumps(run(args.frames, kinds), indent=2))


if __name__ == "__main__":
    main()
