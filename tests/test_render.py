"""Golden tests for the renderer: tiny synthetic images -> exact cells, segments and runs."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich_pixels import Pixels

from pipeline.core.frames import Face
from tests.fakes import face_landmarks
from tui.render import (
    NOSE_TIP,
    POSE_AXIS_COLORS,
    CellGrid,
    HalfBlockRenderer,
    StyleCache,
    cell_keys,
    fit_cells,
    grid_strips,
    half_blocks,
    landmark_outline,
    pose_axis_offsets,
    quantise,
    row_segments,
    write_text,
)

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def rgb_to_bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1])


def test_half_blocks_pair_rows_upper_is_foreground():
    pixels = np.array([[RED, GREEN], [BLUE, GREEN]], np.uint8)  # 2 rows x 2 cols
    grid = half_blocks(pixels)
    assert grid.text() == ["▀▀"]
    assert grid.fg[0, 0].tolist() == list(RED) and grid.bg[0, 0].tolist() == list(BLUE)


def test_equal_halves_become_a_background_only_space_and_runs_merge():
    # Row: red/blue, red/blue, green/green, green/green, red/blue -> three runs.
    top = [RED, RED, GREEN, GREEN, RED]
    bottom = [BLUE, BLUE, GREEN, GREEN, BLUE]
    grid = half_blocks(np.array([top, bottom], np.uint8))
    styles = StyleCache()
    keys = cell_keys(grid)
    segments = row_segments(keys[0], grid.text()[0], styles)
    assert [s.text for s in segments] == ["▀▀", "  ", "▀"]
    assert segments[0].style == Style(color=Color.from_rgb(*RED), bgcolor=Color.from_rgb(*BLUE))
    assert segments[1].style == Style(bgcolor=Color.from_rgb(*GREEN))  # no foreground needed
    assert segments[2].style is segments[0].style  # the cache hands back the same Style object
    assert len(styles) == 2


def test_quantise_keeps_bin_centres_and_snaps_to_the_256_cube():
    values = np.array([[[0, 7, 8]], [[200, 255, 128]]], np.uint8)
    assert quantise(values, "8").tolist() == values.tolist()
    assert quantise(values, "5").tolist() == [[[4, 4, 12]], [[204, 252, 132]]]
    assert quantise(values, "4").tolist() == [[[8, 8, 8]], [[200, 248, 136]]]
    assert quantise(values, "256").tolist() == [[[0, 0, 0]], [[215, 255, 135]]]


def test_256_colour_styles_use_palette_numbers():
    grid = half_blocks(quantise(np.array([[RED], [BLUE]], np.uint8), "256"))
    segment = row_segments(cell_keys(grid)[0], grid.text()[0], StyleCache(palette_256=True))[0]
    assert segment.style.color == Color.from_ansi(196) and segment.style.bgcolor == Color.from_ansi(21)


def test_render_frame_area_averages_and_reuses_unchanged_rows():
    # 4x4 BGR image: left half red, right half blue; rendered to 2x1 cells (2 px wide, 2 px tall).
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, :2] = (0, 0, 255)
    image[:, 2:] = (255, 0, 0)
    renderer = HalfBlockRenderer("8")
    first = renderer.render_frame(image, 2, 1)
    assert [seg.text for seg in first.strips[0]] == [" ", " "]
    assert first.strips[0]._segments[0].style.bgcolor == Color.from_rgb(255, 0, 0)
    assert first.dirty_rows == [0]
    second = renderer.render_frame(image, 2, 1)
    assert second.dirty_rows == [] and second.strips[0] is first.strips[0]


def test_area_average_of_a_checkerboard_is_its_mean():
    board = np.indices((8, 8)).sum(axis=0) % 2 * 255
    image = np.repeat(board[..., None], 3, axis=2).astype(np.uint8)
    grid = HalfBlockRenderer("8").cells(image, 2, 1)
    assert np.all(np.abs(grid.bg.astype(int) - 128) <= 1)  # nearest-neighbour would give 0 or 255


def test_hysteresis_keeps_small_changes_and_takes_big_ones():
    renderer = HalfBlockRenderer("8", hysteresis=6)
    base = np.full((4, 4, 3), 100, np.uint8)
    renderer.cells(base, 2, 2)
    assert renderer.cells(base + 4, 2, 2).fg[0, 0].tolist() == [100, 100, 100]
    assert renderer.cells(base + 40, 2, 2).fg[0, 0].tolist() == [140, 140, 140]


def test_boxes_and_captions_are_drawn_into_the_cells():
    image = np.full((40, 40, 3), 30, np.uint8)
    face = Face(box=(10.0, 12.0, 20.0, 20.0), score=0.9, face_id=3, label="happy", confidence=0.5)
    grid = HalfBlockRenderer("8").cells(image, 20, 10, [face], boxes=True, landmarks=False)
    rows = grid.text()
    assert rows[2][5:].startswith("#3 happy 0.50")  # the row above the box (box top at pixel row 6)
    plain = HalfBlockRenderer("8").cells(image, 20, 10, [face], boxes=False, landmarks=False)
    assert "#3" not in "".join(plain.text())
    assert not (plain.fg == (250, 210, 40)).all(axis=2).any()
    assert (grid.fg == (250, 210, 40)).all(axis=2).any() or (grid.bg == (250, 210, 40)).all(axis=2).any()


def test_write_text_clips_to_the_grid():
    grid = CellGrid(np.full((1, 4), ord("▀"), np.uint32), np.zeros((1, 4, 3), np.uint8), np.zeros((1, 4, 3), np.uint8))
    write_text(grid, 0, 2, "abcdef", (1, 2, 3), (4, 5, 6))
    assert grid.text() == ["▀▀ab"]


def test_grid_strips_have_exact_cell_lengths():
    rng = np.random.default_rng(1)
    grid = half_blocks(quantise(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8), "4"))
    strips, dirty, _ = grid_strips(grid, StyleCache())
    assert dirty == list(range(6))
    assert all(strip.cell_length == 9 for strip in strips)
    assert ["".join(seg.text for seg in s) for s in strips] == grid.text()


def test_fit_cells_keeps_the_aspect_with_two_pixels_per_cell():
    assert fit_cells(640, 480, 80, 24) == (64, 24)
    assert fit_cells(640, 480, 40, 40) == (40, 15)


def test_landmark_outline_draws_inside_the_canvas():
    points = np.stack([np.linspace(0, 100, 68), np.sin(np.linspace(0, 6, 68)) * 50], axis=1)
    grid = landmark_outline(points, 20, 8)
    lit = (grid.fg.sum(axis=2) > 0) | (grid.bg.sum(axis=2) > 0)
    assert grid.rows == 8 and grid.cols == 20 and lit.sum() > 20


def test_is_a_rich_pixels_renderer():
    image = Image.fromarray(np.array([[RED, GREEN], [BLUE, GREEN]], np.uint8))
    pixels = Pixels.from_image(image, renderer=HalfBlockRenderer("8"))
    segments = list(Console(width=10, color_system="truecolor").render(pixels))
    assert [s.text for s in segments] == ["▀", " ", "\n"]
    assert segments[0].style == Style(color=Color.from_rgb(*RED), bgcolor=Color.from_rgb(*BLUE))


def axis_cells(grid: CellGrid, color: tuple[int, int, int]) -> np.ndarray:
    """(row, col) of the cells with `color` in either half (rows in pixels: 2 * row for the upper half)."""
    upper = np.argwhere((grid.fg == color).all(axis=2) & (grid.glyphs != ord(" ")))
    lower = np.argwhere((grid.bg == color).all(axis=2))
    return np.concatenate([upper * [2, 1], lower * [2, 1] + [1, 0]]).reshape(-1, 2)


def outline_with_pose(pitch_deg: float, yaw_deg: float, roll_deg: float) -> tuple[CellGrid, np.ndarray]:
    points = face_landmarks(0.0, 0.0, 100.0, 120.0)
    pose = np.r_[np.radians([pitch_deg, yaw_deg, roll_deg]), 0.0, 0.0, 600.0]
    grid = landmark_outline(points, 30, 15, pose=pose)
    # the nose tip on the canvas, in pixels (x, y): the points are scaled to fit and centred
    scale = min(29 / 100.0, 29 / 120.0)
    nose = (points[NOSE_TIP] - points.min(axis=0)) * scale + (np.array([29, 29]) - (np.ptp(points, axis=0)) * scale) / 2
    return grid, nose


def test_pose_axes_point_the_way_the_head_turns():
    across, down, forward = POSE_AXIS_COLORS
    grid, nose = outline_with_pose(0, 0, 0)
    # facing the camera: across the face to the right, down the face below, and forward straight at the viewer
    assert axis_cells(grid, across)[:, 1].max() > nose[0] + 3 and np.ptp(axis_cells(grid, across)[:, 0]) <= 1
    assert axis_cells(grid, down)[:, 0].max() > nose[1] + 3
    assert len(axis_cells(grid, forward)) <= 1  # seen end on: a dot at most (drawn under the other two)
    # yaw > 0: the nose turns to the left of the picture; pitch > 0: the face looks down
    grid, nose = outline_with_pose(0, 30, 0)
    assert axis_cells(grid, forward)[:, 1].min() < nose[0] - 2
    grid, nose = outline_with_pose(30, 0, 0)
    assert axis_cells(grid, forward)[:, 0].max() > nose[1] + 2
    # roll > 0, clockwise on the screen: the face's x axis tips down to the right
    grid, nose = outline_with_pose(0, 0, 30)
    right_end = axis_cells(grid, across)[axis_cells(grid, across)[:, 1].argmax()]
    assert right_end[0] > nose[1] + 1


def test_pose_axis_offsets_follow_the_rotation():
    assert np.allclose(pose_axis_offsets(np.zeros(6), 10.0), [[10, 0], [0, 10], [0, 0]])
    turned = pose_axis_offsets(np.r_[0.0, np.radians(90), 0.0], 10.0)
    assert np.allclose(turned[2], [-10, 0])  # facing the left of the picture, seen from the side


def test_no_pose_draws_no_axes():
    grid = landmark_outline(face_landmarks(0.0, 0.0, 100.0, 120.0), 30, 15)
    assert all(len(axis_cells(grid, color)) == 0 for color in POSE_AXIS_COLORS)
    nan_pose = np.full(6, np.nan)
    grid = landmark_outline(face_landmarks(0.0, 0.0, 100.0, 120.0), 30, 15, pose=nan_pose)
    assert all(len(axis_cells(grid, color)) == 0 for color in POSE_AXIS_COLORS)
