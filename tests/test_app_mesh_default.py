"""`fertui --demo` as the command builds it, with the default landmarks (the face mesh, issue 33): the real demo
source and the real processors, no fakes. The landmark pane draws the selected face's 68 points with its head pose's
axes, and the session log and its sidecar name the face mesh's files, not dlib's."""

from __future__ import annotations

import json

from pipeline.commands import build_checked_processors, open_checked_source
from pipeline.commands.cli import build_parser
from pipeline.commands.live import live_config
from pipeline.io.log_format import read_log
from pipeline.processors.face_mesh import MeshLandmarkProcessor
from tests.app_helpers import styles_in_video, wait_until
from tests.test_app import strip_colors
from tui.annotate import LANDMARK_COLOR
from tui.app import live_engine_config, make_app
from tui.render import POSE_AXIS_COLORS


async def test_the_demo_runs_the_face_mesh_and_the_landmark_pane_draws_it(tmp_path) -> None:
    log = tmp_path / "session.csv"
    args = build_parser().parse_args(["--demo", "--export-dir", str(tmp_path), "--log", str(log)])
    config = live_config(args)
    source = open_checked_source(config.source, live=True)
    engine_config = live_engine_config(config, source)
    assert engine_config.landmark_model == "mesh", "the default needs no --landmarks"
    processors = build_checked_processors(engine_config)
    assert [type(p) for p in processors if p.name == "landmarks"] == [MeshLandmarkProcessor]
    app = make_app(config, source=source, processors=processors, engine_config=engine_config)
    async with app.run_test(size=(140, 42)) as pilot:
        canvas = app.query_one("#landmark-canvas")

        def selected_face_drawn_with_pose() -> bool:
            view = app.last_view
            return (
                view is not None
                and view.selected is not None
                and view.selected.landmarks is not None
                and view.selected.pose is not None
                and set(POSE_AXIS_COLORS) <= strip_colors(canvas.strips)
            )

        await wait_until(pilot, selected_face_drawn_with_pose, timeout=60, what="the mesh's outline and pose axes")
        assert app.query_one("#landmarks").border_title.startswith("landmarks #")
        assert app.last_view.selected.landmarks.shape == (68, 2)
        assert LANDMARK_COLOR in styles_in_video(app), "the 68 points are drawn on the video too"
        await pilot.press("q")

    meta = json.loads(app.session_log.meta_path.read_text())
    assert meta["config"]["landmark_model"] == "mesh"
    names = {path.rsplit("/", 1)[-1] for path in meta["models"]}
    assert {"face_landmark.tflite", "FACE_MESH_CARD.md", "mesh_68.json", "reference_shape.json"} <= names
    assert "shape_predictor_68_face_landmarks.dat" not in names, "dlib's predictor did not run"
    stages = {stage["name"]: stage for stage in meta["processors"]}
    assert stages["landmarks"]["model"] == "face_mesh"
    faces = [row for row in read_log(log) if row["face_id"] is not None]
    with_points = [row for row in faces if row["x_36"] is not None]
    # The mesh may refuse a face it does not find in the detector's box (a face entering at the frame's edge).
    assert len(with_points) >= 0.8 * len(faces) > 0
    assert all(row["pose_Rx"] is not None and row["ear_left"] is not None for row in with_points)
