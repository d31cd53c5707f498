"""The README and the help text say what the code does: defaults and key names are read from the code."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.commands.cli import build_parser
from pipeline.core.paths import installed_models_dir
from pipeline.engine import EngineConfig, video_jitter_crops
from pipeline.runtime.emotion.classifier import EmotionClassifier
from tui import config as display

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _help() -> str:
    return " ".join(build_parser().format_help().split())


def test_the_live_options_help_names_the_defaults_the_app_uses() -> None:
    text = _help()
    assert f"(default: {display.LOCAL_COLORS}, over SSH {display.SSH_COLORS})" in text
    assert f"(default: {display.LOCAL_FPS:g}, over SSH {display.SSH_FPS:g}," in text
    assert f"(default: {display.LOCAL_PALETTE}, over SSH {display.SSH_PALETTE})" in text


def test_the_readme_display_defaults_are_the_codes() -> None:
    prose = " ".join(README.split())
    assert f"Locally the defaults are {display.LOCAL_FPS:g} fps and {display.LOCAL_COLORS}-bit colour" in prose
    assert f"over SSH (`SSH_CONNECTION` set) {display.SSH_FPS:g} fps and {display.SSH_COLORS}-bit colour" in prose


def test_the_readme_names_the_shipped_models_crops_per_video_frame() -> None:
    crops = video_jitter_crops(EngineConfig(), EmotionClassifier.load(installed_models_dir()))
    assert f"({crops} a video frame for the shipped model" in README
    assert f"{EngineConfig().still_jitter_crops} a photo)" in README


def test_the_readme_key_table_names_each_key_as_the_footer_does() -> None:
    from tui.app import FertuiApp

    shown = {binding.key_display or binding.key: binding.description for binding in FertuiApp.BINDINGS if binding.show}
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", README, flags=re.MULTILINE))
    for key, description in shown.items():
        if key in rows:
            assert rows[key] == description, f"`{key}`: README says {rows[key]!r}, the footer {description!r}"
    assert rows["g"] == "Pixels"


def test_the_readme_does_not_promise_more_than_an_fsync_at_close_gives() -> None:
    assert "SIGKILL, power loss" not in README
    assert "fsynced only at close" in README


def test_the_readme_column_table_names_the_pose_and_eye_columns() -> None:
    from pipeline.core.frames import EYE_COLUMNS, LOG_COLUMNS, POSE_COLUMNS

    table = "\n".join(line for line in README.splitlines() if line.startswith("| `"))
    for column in (*POSE_COLUMNS, *EYE_COLUMNS):
        assert column in LOG_COLUMNS
        assert f"`{column}`" in table, f"README's column table does not name {column}"


def test_the_landmark_options_name_the_default_the_engine_uses() -> None:
    from pipeline.engine import DEFAULT_LANDMARK_MODEL

    assert f"(default: {DEFAULT_LANDMARK_MODEL})" in _help()
    assert f"the default is `{DEFAULT_LANDMARK_MODEL}`" in " ".join(README.split())
