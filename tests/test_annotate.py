"""One annotator: the Sixel/Kitty pane and the snapshot draw boxes and landmarks with tui.annotate, and the
half-block renderer puts them where the same geometry says."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.engine import EngineConfig, build_processors
from tests.media import portrait
from tui.annotate import LANDMARK_COLOR, annotated_frame, emotion_color, face_marks
from tui.graphics import frames as pixel_frames
from tui.render import draw_faces


def analysed_portrait() -> FrameResult:
    """Grace Hopper's portrait through the real processors: a real box, real landmarks and a real label."""
    image = cv2.resize(portrait("hopper"), (192, 240))  # within the pixel pane's largest image (320 x 240)
    result = FrameResult(frame=Frame(index=0, time_s=0.0, wall_time=0.0, image=image))
    for processor in build_processors(EngineConfig(stills=True)):
        result = processor.process(result)
        processor.close()
    assert result.faces and result.faces[0].landmarks is not None and result.faces[0].label is not None
    return result


def test_a_snapshot_is_the_pixel_pane_s_picture_at_full_resolution(monkeypatch) -> None:
    result = analysed_portrait()
    drawn: list[np.ndarray] = []
    monkeypatch.setattr(pixel_frames.sixel, "encode", lambda rgb, palette: drawn.append(rgb.copy()) or b"")
    # A pane of 20 x 12 cells of 10 x 20 px (200 x 240): the frame fits at scale 1.
    pixel_frames.PixelRenderer().render(
        result.frame.image,
        result.faces,
        mode="sixel",
        max_cells=(20, 12),
        cell_px=(10, 20),
        colors="8",
        palette=256,
    )
    (pane,) = drawn
    snapshot = cv2.cvtColor(annotated_frame(result), cv2.COLOR_BGR2RGB)
    assert pane.shape == snapshot.shape
    assert np.array_equal(pane, snapshot)
    assert not np.array_equal(snapshot, cv2.cvtColor(result.frame.image, cv2.COLOR_BGR2RGB)), "something is drawn"


def test_the_half_block_grid_puts_marks_where_the_shared_geometry_says() -> None:
    result = analysed_portrait()
    height, width = result.frame.image.shape[:2]
    cols, rows = 60, 37  # a half-block pane: 60 x 74 pixels
    scale_x, scale_y = cols / width, 2 * rows / height
    pixels = np.zeros((2 * rows, cols, 3), dtype=np.uint8)
    labels = draw_faces(pixels, result.faces, scale_x, scale_y, boxes=True, landmarks=False)
    (mark,) = face_marks(result.faces, scale_x, scale_y, boxes=True, landmarks=True)
    assert mark.top_left is not None and mark.bottom_right is not None and mark.points is not None
    (x0, y0), (x1, y1) = mark.top_left, mark.bottom_right
    color = emotion_color(result.faces[0].label)
    assert tuple(pixels[y0, x0]) == color and tuple(pixels[y1, x1]) == color, "the box corners"
    assert labels == [(x0, y0, mark.caption, color)]

    dots = np.zeros_like(pixels)
    draw_faces(dots, result.faces, scale_x, scale_y, boxes=False, landmarks=True)
    lit = {(int(x), int(y)) for y, x in zip(*np.nonzero(np.all(dots == LANDMARK_COLOR, axis=-1)), strict=True)}
    assert lit == {(int(x), int(y)) for x, y in mark.points}


def test_marks_follow_the_switches() -> None:
    face = Face(box=(10.0, 20.0, 30.0, 40.0), score=0.9, keypoints=np.array([[20.0, 30.0]] * 5, dtype=np.float32))
    (none,) = face_marks([face], 2.0, 0.5, boxes=False, landmarks=False)
    assert none.top_left is None and none.points is None
    (both,) = face_marks([face], 2.0, 0.5, boxes=True, landmarks=True)
    assert (both.top_left, both.bottom_right) == ((20, 10), (80, 30))
    assert both.points is not None and both.points.tolist() == [[40, 15]] * 5, "keypoints when there are no landmarks"
