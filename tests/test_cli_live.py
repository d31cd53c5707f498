"""The live path of the CLI: clear one-line errors, and Textual stays out of the headless commands."""

from __future__ import annotations

import subprocess
import sys

from pipeline.commands.cli import build_parser, main
from tui.config import AppConfig, display_settings
from tui.governor import Quality, QualityGovernor


def test_headless_commands_never_import_textual():
    code = "import sys; from pipeline.commands.cli import build_parser; build_parser(); print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_no_camera_is_one_line_suggesting_demo_or_file(capsys):
    assert main(["--source", "/dev/video99"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no camera at /dev/video99" in err
    assert "fertui --demo" in err and "--source FILE" in err


def test_bad_size_and_fps_are_one_line_errors(capsys):
    assert main(["--demo", "--size", "80by24"]) == 2
    assert main(["--demo", "--fps", "0"]) == 2
    assert main(["--demo", "--jitter-crops", "0"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and "--size" in lines[0] and "--fps" in lines[1] and "--jitter-crops" in lines[2]


def test_the_app_averages_as_many_alignments_as_asked(tiny_models_dir, hopper_jpg):
    from pipeline.commands import open_checked_source
    from pipeline.commands.live import live_config
    from pipeline.engine import build_processors
    from tui.app import live_engine_config

    for spec, default in (("demo", 6), (str(hopper_jpg), 25)):
        source = open_checked_source(spec, live=True)
        try:
            for argv, crops in (([], default), (["--jitter-crops", "2"], 2)):
                args = build_parser().parse_args(["--source", spec, "--models", str(tiny_models_dir), *argv])
                emotion = build_processors(live_engine_config(live_config(args), source))[-1]
                assert (spec, emotion.name, emotion.jitter_crops) == (spec, "emotion", crops)
        finally:
            source.close()


def test_a_parquet_session_log_is_refused_before_anything_is_recorded(tmp_path, capsys):
    log = tmp_path / "session.parquet"
    assert main(["--demo", "--log", str(log)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CSV or JSON Lines" in err and "--format parquet" in err
    assert not log.exists()
    assert main(["analyze", "demo", "--max-frames", "1", "--out", str(tmp_path / "demo.PQ")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "demo.PQ").exists()


def test_ssh_defaults_are_coarser_and_explicit_flags_win():
    local, ssh = display_settings(AppConfig()), display_settings(AppConfig(ssh=True))
    assert ssh.fps < local.fps and int(ssh.colors) < int(local.colors)
    assert ssh.budget_bytes_per_s < local.budget_bytes_per_s
    pinned = display_settings(AppConfig(ssh=True, fps=25, colors="8"))
    assert (pinned.fps, pinned.colors, pinned.govern_fps, pinned.govern_colors) == (25, "8", False, False)


def test_governor_steps_colour_then_fps_down_and_back_up():
    governor = QualityGovernor(Quality("5", 15.0), budget_bytes_per_s=100_000)
    assert governor.observe(150_000) is None  # one second over budget is not yet a trend
    assert governor.observe(150_000) == Quality("4", 15.0)
    governor.observe(150_000)
    assert governor.observe(150_000) == Quality("256", 15.0)
    governor.observe(150_000)
    assert governor.observe(150_000) == Quality("256", 12.0)
    for _ in range(4):
        assert governor.observe(10_000) is None
    assert governor.observe(10_000) == Quality("256", 15.0)


def test_governor_leaves_pinned_settings_alone():
    governor = QualityGovernor(Quality("6", 20.0), 100_000, govern_colors=False, govern_fps=False)
    assert all(governor.observe(1e9) is None for _ in range(10))
