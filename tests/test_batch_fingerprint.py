"""An honest batch fingerprint: the ModelSet's files, the settings that change a row and fertui's version; nothing
else. A stray file or a checkpoints/ folder in --models leaves a finished input standing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.batch import task
from pipeline.batch.inputs import BatchInput
from pipeline.batch.task import BatchSettings, completed, run_task
from pipeline.engine import EngineConfig
from tests.media import moving_portrait_frames, write_video


@pytest.fixture
def finished(tmp_path: Path, tiny_models_dir: Path) -> tuple[BatchInput, BatchSettings]:
    """One video analysed by a batch task into out/, with a models folder of its own."""
    models = Path(shutil.copytree(tiny_models_dir, tmp_path / "models"))
    frames, _ = moving_portrait_frames(n_frames=4, absent=range(0))
    item = BatchInput(write_video(tmp_path / "clip.avi", frames), "clip.avi")
    settings = BatchSettings(out_dir=str(tmp_path / "out"), models_dir=str(models), landmarks=False)
    assert run_task(item, settings).status == "done"
    task.model_sha256.cache_clear()
    return item, settings


def still_stands(item: BatchInput, settings: BatchSettings) -> bool:
    task.model_sha256.cache_clear()  # a new `fertui batch` process
    return completed(item, settings, settings.fingerprint(item)) is not None


def test_a_stray_file_or_checkpoints_in_models_does_not_redo(finished: tuple[BatchInput, BatchSettings]) -> None:
    item, settings = finished
    models = Path(settings.models_dir)
    (models / "confusion-val.png").write_bytes(b"a plot that calibrate wrote")
    (models / "checkpoints").mkdir()
    (models / "checkpoints" / "epoch-3.keras").write_bytes(b"weights that never run")
    (models / "notes.txt").write_text("a person's notes")
    assert still_stands(item, settings)


def test_the_fingerprint_names_exactly_the_files_that_run(finished: tuple[BatchInput, BatchSettings]) -> None:
    item, settings = finished
    models = settings.fingerprint(item)["models"]
    assert isinstance(models, dict)
    assert set(models) == {
        "MODEL_CARD.md",
        "emotion.tflite",
        *(f"mtcnn/{n}" for n in ("MTCNN_CARD.md", "pnet.tflite", "rnet.tflite", "onet.tflite")),
    }


def test_a_changed_model_file_redoes(finished: tuple[BatchInput, BatchSettings]) -> None:
    item, settings = finished
    card = Path(settings.models_dir) / "mtcnn" / "MTCNN_CARD.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nA note that changes the card.\n", encoding="utf-8")
    assert not still_stands(item, settings)


def test_a_new_version_of_fertui_redoes(finished: tuple[BatchInput, BatchSettings], monkeypatch) -> None:
    item, settings = finished
    assert still_stands(item, settings)
    monkeypatch.setattr(task, "fertui_version", lambda: "99.0.0")
    assert not still_stands(item, settings)


def test_a_setting_that_changes_rows_redoes(finished: tuple[BatchInput, BatchSettings], monkeypatch) -> None:
    item, settings = finished
    assert not still_stands(item, BatchSettings(**{**settings.__dict__, "detect_every": 2}))
    assert still_stands(item, BatchSettings(**{**settings.__dict__, "threads": 3})), "threads change no row"
    # The engine's own defaults count too: a new smoothing time constant changes every video row.
    monkeypatch.setattr(task, "EngineConfig", lambda: EngineConfig(smoothing_s=0.5))
    assert not still_stands(item, settings)
