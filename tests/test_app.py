"""Pilot tests: the real app, the real Runner and SessionLog, a fake source and fixed results."""

from __future__ import annotations

import csv
import io
import json
import stat
import threading

import cv2
from rich.console import Console

from pipeline.core.frames import LOG_COLUMNS
from pipeline.engine.session import Stop, StopReason
from pipeline.io.log_format import read_log
from tests.app_helpers import fake_app, styles_in_video, video_text, wait_for_panels, wait_until
from tui.annotate import LANDMARK_COLOR
from tui.app import HelpScreen
from tui.render import POSE_AXIS_COLORS

SIZE = (100, 32)


async def test_video_shows_half_blocks_boxes_and_landmarks(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        text = video_text(app)
        assert "▀" in text
        assert "#1 happy" in text and "#2 sad" in text
        assert LANDMARK_COLOR in styles_in_video(app)
        assert app.query_one("#video").size.height == app.last_view.video.rows


async def test_b_toggles_face_boxes(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("b")
        assert app.show_boxes is False
        await wait_until(pilot, lambda: "#1 happy" not in video_text(app), what="boxes gone")
        assert app.last_view.options.boxes is False
        await pilot.press("b")
        assert app.show_boxes is True
        await wait_until(pilot, lambda: "#1 happy" in video_text(app), what="boxes back")


async def test_l_toggles_landmarks(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("l")
        assert app.show_landmarks is False
        await wait_until(pilot, lambda: LANDMARK_COLOR not in styles_in_video(app), what="landmarks gone")
        await pilot.press("l")
        await wait_until(pilot, lambda: LANDMARK_COLOR in styles_in_video(app), what="landmarks back")


async def test_f_m_h_toggle_their_panes(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        for key, attribute, pane in (
            ("f", "show_faces", "#faces"),
            ("m", "show_landmark_pane", "#landmarks"),
            ("h", "show_histogram", "#histogram"),
        ):
            widget = app.query_one(pane)
            assert widget.display and widget.region.area > 0
            await pilot.press(key)
            await pilot.pause()
            assert getattr(app, attribute) is False
            assert not widget.display and widget.region.area == 0, pane
            await pilot.press(key)
            await pilot.pause()
            assert getattr(app, attribute) is True
            assert widget.display and widget.region.area > 0, pane


async def test_panes_show_faces_landmarks_and_seven_emotions(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        assert {card.face_id for card in app.query("FaceCard")} == {1, 2}
        assert app.query_one("#landmark-canvas").strips, "the outline of the selected face is drawn"
        histogram = str(app.query_one("#histogram").render())
        for emotion in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"):
            assert emotion in histogram
        assert "#1 now" in histogram and "50%" in histogram  # two faces, happy and sad, equal time


def strip_colors(strips) -> set[tuple[int, int, int]]:
    """Every foreground and background colour in some strips, as RGB."""
    colors = set()
    for strip in strips:
        for segment in strip:
            for color in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                if color is not None:
                    colors.add(tuple(color.get_truecolor()))
    return colors


async def test_the_landmark_pane_draws_the_head_pose_axes_when_the_face_has_a_pose(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        canvas = app.query_one("#landmark-canvas")
        assert app.last_view.selected.face_id == 1 and app.last_view.selected.pose is not None
        assert set(POSE_AXIS_COLORS) <= strip_colors(canvas.strips), "face 1 has a pose: its three axes are drawn"
        await pilot.press("tab")  # face 2: landmarks, no pose
        await wait_until(pilot, lambda: app.query_one("#landmarks").border_title == "landmarks #2", what="face 2")
        await wait_until(pilot, lambda: not set(POSE_AXIS_COLORS) & strip_colors(canvas.strips), what="no axes")
        assert canvas.strips, "the outline is still drawn"


async def test_tab_selects_the_next_face(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        assert app.last_view.selected.face_id == 1
        await pilot.press("tab")
        assert app.selected_face == 2
        await wait_until(pilot, lambda: "#2 now" in str(app.query_one("#histogram").render()), what="face 2")
        assert app.query_one("#landmarks").border_title == "landmarks #2"
        await pilot.press("tab")
        assert app.selected_face == 1


async def test_space_pauses_and_resumes_processing(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("space")
        assert app.paused is True and app.runner.paused is True
        # Events, not durations: once the processing thread has discarded a frame, nothing in flight is left;
        # then frames keep arriving (and are discarded) while nothing more is processed.
        await wait_until(
            pilot, lambda: app.runner.stats().paused_skipped >= 1, what="the pause taking hold", timeout=30
        )
        frozen, skipped = app.runner.stats().frames_processed, app.runner.stats().paused_skipped
        await wait_until(
            pilot, lambda: app.runner.stats().paused_skipped >= skipped + 3, what="frames while paused", timeout=30
        )
        assert app.runner.stats().frames_processed == frozen
        await wait_until(pilot, lambda: "PAUSED" in str(app.query_one("#status").render()), what="PAUSED shown")
        await pilot.press("space")
        assert app.paused is False
        await wait_until(pilot, lambda: app.runner.stats().frames_processed > frozen, what="processing again")


async def test_r_toggles_recording(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        log = app.session_log
        assert app.recording and log.recording and log.rows_written > 0
        await pilot.press("r")
        assert app.recording is False and log.recording is False
        # A frame already being written may still land; once a later frame is processed, none can.
        processed = app.runner.stats().frames_processed
        await wait_until(
            pilot, lambda: app.runner.stats().frames_processed >= processed + 2, what="a later frame", timeout=30
        )
        rows, processed = log.rows_written, app.runner.stats().frames_processed
        await wait_until(
            pilot, lambda: app.runner.stats().frames_processed >= processed + 3, what="more frames", timeout=30
        )
        assert log.rows_written == rows
        await pilot.press("r")
        await wait_until(pilot, lambda: log.rows_written > rows, what="recording again")


async def test_e_exports_a_log_and_summary_that_parse(tmp_path):
    app = fake_app(tmp_path / "out", export_format="jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("e")
        await wait_until(pilot, lambda: hasattr(app, "last_export"), what="export")
        export = app.last_export
        notes = [n.message for n in app._notifications]
    assert export.log.parent == tmp_path / "out" and export.log.suffix == ".jsonl"
    assert any(str(export.log) in note for note in notes)
    rows = read_log(export.log)
    assert len(rows) == export.rows >= 4
    assert set(rows[0]) == set(LOG_COLUMNS)
    assert {row["face_id"] for row in rows} == {1, 2}
    assert {row["emotion"] for row in rows} == {"happy", "sad"}
    summary = json.loads(export.summary.read_text())
    assert summary["share"] == {"happy": 0.5, "sad": 0.5}
    assert set(summary["faces"]) == {"1", "2"}
    # the summary table beside it: one row per face track, one label each (the fake's faces do not change)
    assert export.table == export.log.with_name(f"{export.log.stem}.summary.csv")
    with export.table.open(newline="") as handle:
        table = {row["face_id"]: row for row in csv.DictReader(handle)}
    assert set(table) == {"1", "2"} and {table["1"]["condition"], table["2"]["condition"]} == {"(whole session)"}
    assert {(table[f]["share_happy"], table[f]["share_sad"]) for f in table} == {("1.0", "0.0"), ("0.0", "1.0")}
    assert float(table["1"]["seconds"]) > 0 and table["1"]["frames"] == str(len({r["frame"] for r in rows}))
    # the fake's face 1 has a head pose that never moves and a blink count that stays at 3; face 2 has neither
    assert (table["1"]["blinks"], table["1"]["sd_pose_Ry_deg"], table["1"]["head_speed_deg_s"]) == ("0", "0.0", "0.0")
    assert table["2"]["blinks"] == table["2"]["head_speed_deg_s"] == ""


async def test_s_writes_an_owner_only_png_of_the_annotated_frame(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: hasattr(app, "last_snapshot"), what="snapshot")
        frame = app.last_view.result.frame.image
    path = app.last_snapshot
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    image = cv2.imread(str(path))
    assert image.shape == frame.shape
    assert (image != frame).any(), "boxes and landmarks are drawn on the snapshot"


async def test_question_mark_opens_help_listing_the_keys(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, file=io.StringIO())
        console.print(app.screen.query_one("#help Static").content)
        help_text = console.file.getvalue()
        for description in (
            "Boxes",
            "Landmarks",
            "Faces",
            "Outline",
            "Histogram",
            "Next face",
            "Pause",
            "Rec",
            "Export",
            "Snapshot",
            "Quit",
        ):
            assert description in help_text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def _fertui_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("fertui")}


async def test_q_stops_every_thread_and_closes_the_log_complete(tmp_path):
    before = set(threading.enumerate())
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        assert len(_fertui_threads()) == 3  # capture, processing, render
        await pilot.press("q")
    assert app.session.stopped == Stop.finished() and app.session.stopped.exit_code == 0
    assert set(threading.enumerate()) <= before
    meta = json.loads(app.session_log.meta_path.read_text())
    assert meta["interrupted"] is False and meta["ended"] and meta["rows"] == app.session_log.rows_written > 0
    assert len(read_log(app.session_log.path)) == meta["rows"]


async def test_ctrl_c_quits_and_closes_the_log_with_a_reason(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("ctrl+c")
    assert not _fertui_threads()
    meta = json.loads(app.session_log.meta_path.read_text())
    assert meta["reason"] == "ctrl-c" and meta["ended"]
    assert app.session.stopped == Stop(StopReason.CTRL_C) and app.session.stopped.exit_code == 130
    assert meta["command"] == "live" and meta["config"]["stills"] is False  # the same metadata as analyze writes
    assert len(read_log(app.session_log.path)) == meta["rows"] > 0


async def test_small_terminal_collapses_the_landmark_pane(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_panels(pilot)
        assert app.screen.has_class("-short")
        assert not app.query_one("#landmarks").display
        assert app.query_one("#histogram").display and app.query_one("#video").region.area > 0
