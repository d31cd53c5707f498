"""Stable face ids from box overlap, over generated sequences with real geometry."""

from __future__ import annotations

import numpy as np

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.processors.tracking import PerImageFaceIds, TrackingProcessor, iou_matrix
from tests.media import moving_portrait_frames

FPS = 10.0


def run(tracker: TrackingProcessor, boxes_per_frame: list[list[tuple[float, float, float, float]]]) -> list[list]:
    image = np.zeros((4, 4, 3), np.uint8)
    ids = []
    for index, boxes in enumerate(boxes_per_frame):
        faces = tuple(Face(box=box, score=0.99) for box in boxes)
        result = tracker.process(FrameResult(Frame(index, index / FPS, 0.0, image), faces))
        ids.append([face.face_id for face in result.faces])
    return ids


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    b = np.array([[5, 0, 10, 10]], float)
    assert np.allclose(iou_matrix(a, b), [[50 / 150], [0.0]])


def test_a_face_that_leaves_for_more_than_a_second_gets_a_new_id() -> None:
    _, placements = moving_portrait_frames(n_frames=30, absent=range(12, 24))  # 1.3 s out of view
    ids = run(TrackingProcessor(), [[p.box] if p.box else [] for p in placements])
    assert ids[:12] == [[1]] * 12
    assert ids[12:24] == [[]] * 12
    assert ids[24:] == [[2]] * 6


def test_a_short_dropout_keeps_the_id() -> None:
    _, placements = moving_portrait_frames(n_frames=30, absent=range(10, 16))  # 0.7 s out of view
    ids = run(TrackingProcessor(), [[p.box] if p.box else [] for p in placements])
    assert {i for frame in ids for i in frame} == {1}


def test_two_faces_keep_their_ids_and_ids_are_never_reused() -> None:
    frames = []
    for index in range(40):
        left = (20.0 + 2 * index, 50.0, 60.0, 75.0)
        right = (400.0 - 2 * index, 60.0, 64.0, 80.0)
        boxes = [right, left] if index % 2 else [left, right]  # detector order must not matter
        if 10 <= index < 25:
            boxes = [right]  # the left face is out of view for 1.5 s
        frames.append(boxes)
    tracker = TrackingProcessor()
    ids = run(tracker, frames)
    first_left, first_right = ids[0]
    assert ids[1] == [first_right, first_left]
    assert all(first_right in frame for frame in ids), "the face that stayed keeps its id"
    returned = {i for frame in ids[25:] for i in frame} - {first_right}
    assert len(returned) == 1 and returned.pop() not in (first_left, first_right)


def test_a_fast_move_between_processed_frames_keeps_the_id() -> None:
    boxes = [[(100.0, 100.0, 80.0, 100.0)], [(135.0, 110.0, 80.0, 100.0)], [(170.0, 115.0, 82.0, 98.0)]]
    assert run(TrackingProcessor(), boxes) == [[1], [1], [1]]


def test_photos_number_their_faces_on_their_own_in_reading_order() -> None:
    ids = PerImageFaceIds()
    image = np.zeros((4, 4, 3), np.uint8)
    # A group photo: two rows of faces, slightly uneven; listed in the detector's (score) order.
    row_one = [(300, 52, 60, 70), (40, 50, 60, 70), (170, 45, 60, 70)]
    row_two = [(100, 205, 60, 70), (240, 200, 60, 70)]
    faces = tuple(Face(box=box, score=0.9) for box in row_two + row_one)
    numbered = ids.process(FrameResult(Frame(0, 0.0, 0.0, image), faces)).faces
    assert [face.face_id for face in numbered] == [1, 2, 3, 4, 5]
    assert [face.box for face in numbered] == [row_one[1], row_one[2], row_one[0], row_two[0], row_two[1]]
    # The next photo starts again from 1 whatever came before, and a photo with no face has no id.
    assert run(ids, [[(500, 300, 60, 70)], []]) == [[1], []]
