"""One ModelSet: the models a session runs come from one folder (`--models`), checked once, and the sidecar lists
exactly the files that ran."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.core.paths import installed_models_dir
from pipeline.engine import EngineConfig, build_processors, load_models
from pipeline.runtime.model_files import ModelError
from pipeline.runtime.model_set import ModelSet, landmark_predictor
from tests.cli_run import fertui


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """A copy of the installed models folder, with a stray file and a checkpoints/ folder beside the models."""
    copy = tmp_path / "COPY"
    shutil.copytree(installed_models_dir(), copy, ignore=shutil.ignore_patterns("checkpoints", "*.png"))
    (copy / "confusion-val.png").write_bytes(b"not a model")
    (copy / "checkpoints").mkdir()
    (copy / "checkpoints" / "best.keras").write_bytes(b"not run either")
    return copy


def model_files(folder: Path) -> set[str]:
    """The files of a models folder that a session without landmarks runs: the cards and the networks they list."""
    return {
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in (".md", ".tflite") and not {"checkpoints", "face_mesh"} & set(path.parts)
    }


def mesh_files(folder: Path, *, network: bool) -> set[str]:
    """The face mesh folder's files landmarks run: the mapping and reference head (pose), the network and its card
    (`--landmarks mesh`)."""
    names = ["mesh_68.json", "reference_shape.json"] + (
        ["FACE_MESH_CARD.md", "face_landmark.tflite"] if network else []
    )
    return {str(folder / "face_mesh" / name) for name in names}


def test_the_sidecar_lists_the_copy_s_files_and_no_others(models_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    done = fertui(
        "analyze", "demo", "--max-frames", "3", "--no-landmarks", "--out", str(out), "--models", str(models_copy)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = json.loads(Path(f"{out}.meta.json").read_text())["models"]
    assert set(listed) == model_files(models_copy), "exactly the copy's cards and networks, no stray file"
    assert {Path(path).name for path in listed} >= {"MODEL_CARD.md", "MTCNN_CARD.md", "pnet.tflite", "onet.tflite"}

    with_mesh = tmp_path / "mesh.csv"  # landmarks by default: the face mesh
    done = fertui("analyze", "demo", "--max-frames", "3", "--out", str(with_mesh), "--models", str(models_copy))
    assert done.returncode == 0, done.stderr[-2000:]
    listed = json.loads(Path(f"{with_mesh}.meta.json").read_text())["models"]
    assert set(listed) == model_files(models_copy) | mesh_files(models_copy, network=True), "the mesh, no dlib"

    with_dlib = tmp_path / "dlib.csv"
    done = fertui(
        "analyze", "demo", "--max-frames", "3", "--landmarks", "dlib", "--out", str(with_dlib),
        "--models", str(models_copy),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    listed = json.loads(Path(f"{with_dlib}.meta.json").read_text())["models"]
    predictor = landmark_predictor(models_copy)
    expected = model_files(models_copy) | {str(predictor)} | mesh_files(models_copy, network=False)
    assert set(listed) == expected, "dlib's predictor, and the mapping and reference head of head pose"


def test_an_altered_mtcnn_file_in_models_stops_analyze_with_its_name(models_copy: Path, tmp_path: Path) -> None:
    altered = models_copy / "mtcnn" / "rnet.tflite"
    content = bytearray(altered.read_bytes())
    content[len(content) // 2] ^= 0xFF
    altered.write_bytes(bytes(content))
    done = fertui(
        "analyze", "demo", "--max-frames", "3", "--out", str(tmp_path / "x.csv"), "--models", str(models_copy)
    )
    assert done.returncode == 2
    assert str(altered) in done.stderr and "does not match its model card" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_model_set_holds_only_what_the_configuration_runs(models_copy: Path) -> None:
    with_dlib = load_models(EngineConfig(models_dir=models_copy, landmark_model="dlib"))
    assert set(with_dlib.sha256()) == {
        "MODEL_CARD.md",
        *with_dlib.emotion_card.member_files,
        "mtcnn/MTCNN_CARD.md",
        "mtcnn/pnet.tflite",
        "mtcnn/rnet.tflite",
        "mtcnn/onet.tflite",
        "landmarks/shape_predictor_68_face_landmarks.dat",
        "face_mesh/mesh_68.json",
        "face_mesh/reference_shape.json",
    }
    mesh = load_models(EngineConfig(models_dir=models_copy))  # the default landmarks: the face mesh
    assert set(mesh.sha256()) ^ set(with_dlib.sha256()) == {
        "face_mesh/FACE_MESH_CARD.md",
        "face_mesh/face_landmark.tflite",
        "landmarks/shape_predictor_68_face_landmarks.dat",
    }
    assert "landmarks/shape_predictor_68_face_landmarks.dat" not in mesh.sha256() and mesh.landmark_predictor is None
    reference = load_models(EngineConfig(models_dir=models_copy, detector="package", landmarks=False))
    assert set(reference.sha256()) == {"MODEL_CARD.md", *reference.emotion_card.member_files}
    processors = build_processors(EngineConfig(models_dir=models_copy, landmarks=False))
    ran = {path for processor in processors for path in processor.model_files()}
    assert ran == model_files(models_copy)


def test_a_missing_network_is_named_before_anything_runs(models_copy: Path) -> None:
    (models_copy / "mtcnn" / "onet.tflite").unlink()
    with pytest.raises(ModelError, match="onet.tflite"):
        ModelSet.load(models_copy)
    ModelSet.load(models_copy, detector=False, landmarks=False)  # the emotion model alone is still whole
