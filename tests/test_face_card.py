"""The face card's pose and blink line: whole degrees, OpenFace's signs, a dash where nothing is known."""

from __future__ import annotations

import math

import numpy as np

from pipeline.core.frames import Face
from tui.widgets.faces import measure_line


def test_pose_in_whole_degrees_and_the_blink_count() -> None:
    pose = np.array([math.radians(-7.4), math.radians(18.2), math.radians(-3.0), 0.0, 0.0, 600.0])
    face = Face((0.0, 0.0, 10.0, 10.0), 0.9, face_id=1, pose=pose, blinks=12)
    assert measure_line(face).plain == "y+18 p-7 r-3 b12"


def test_a_face_without_pose_or_blinks_shows_dashes() -> None:
    assert measure_line(Face((0.0, 0.0, 10.0, 10.0), 0.9, face_id=1)).plain == "y- p- r- b-"
    wide = np.array([math.radians(-60.0), math.radians(-89.0), math.radians(-179.0), 0.0, 0.0, 600.0])
    line = measure_line(Face((0.0, 0.0, 10.0, 10.0), 0.9, face_id=1, pose=wide, blinks=999)).plain
    assert line == "y-89 p-60 r-179 b999" and len(line) <= 20  # fits the narrow side column's text at 80x24
