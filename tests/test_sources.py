"""Sources on real inputs: each kind, image conversions, and the one-line errors for bad input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.io.sources import (
    CameraSource,
    DemoSource,
    FolderSource,
    ImageSource,
    SourceError,
    VideoSource,
    open_source,
    to_bgr8,
)


def read_all(source) -> list:
    frames = []
    with source:
        while (frame := source.read()) is not None:
            frames.append(frame)
    return frames


def test_image_source_gives_one_frame_with_its_name(hopper_jpg: Path, hopper: np.ndarray) -> None:
    source = open_source(str(hopper_jpg))
    assert isinstance(source, ImageSource) and not source.live
    frames = read_all(source)
    assert len(frames) == 1
    assert frames[0].source_name == "hopper.jpg"
    assert frames[0].image.shape == hopper.shape and frames[0].image.dtype == np.uint8


def test_folder_source_is_sorted_skips_non_images_and_counts_them(tmp_path: Path, hopper, astronaut) -> None:
    cv2.imwrite(str(tmp_path / "b.png"), astronaut)
    cv2.imwrite(str(tmp_path / "a.jpg"), hopper)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    source = open_source(str(tmp_path))
    assert isinstance(source, FolderSource)
    frames = read_all(source)
    assert [f.source_name for f in frames] == ["a.jpg", "b.png"]
    assert [f.index for f in frames] == [0, 1]
    assert [f.time_s for f in frames] == [0.0, 1.0]
    assert sorted(source.describe()["skipped"]) == ["broken.jpg", "notes.txt"]


def test_video_source_reads_every_frame_with_video_time(moving_video) -> None:
    path, placements = moving_video
    source = open_source(str(path))
    assert isinstance(source, VideoSource)
    frames = read_all(source)
    assert len(frames) == len(placements) == 30
    assert source.describe()["fps"] == pytest.approx(10.0)
    assert [f.index for f in frames] == list(range(30))
    assert frames[10].time_s == pytest.approx(1.0)
    assert frames[0].image.shape == (240, 320, 3)


def test_video_frame_count_and_max_frames(moving_video) -> None:
    path, _ = moving_video
    source = open_source(str(path), max_frames=7)
    source.open()
    assert source.frame_count == 7
    assert len(read_all(source)) == 7


def test_demo_is_deterministic_and_moves() -> None:
    first = read_all(DemoSource(live=False, max_frames=12))
    again = read_all(DemoSource(live=False, max_frames=12))
    assert len(first) == 12
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert first[0].image.shape == (480, 640, 3)
    difference = np.abs(first[0].image.astype(int) - first[11].image.astype(int)).mean()
    assert difference > 3.0, "the demo camera should move"


def test_live_demo_is_paced() -> None:
    source = DemoSource(live=True, fps=25.0, max_frames=6)
    frames = read_all(source)
    assert frames[-1].time_s >= 5 / 25.0 - 0.01


@pytest.mark.parametrize(
    ("image", "shape"),
    [
        (np.full((20, 30), 200, np.uint8), (20, 30, 3)),
        (np.full((20, 30), 51400, np.uint16), (20, 30, 3)),
        (np.full((20, 30, 4), 7, np.uint8), (20, 30, 3)),
        (np.full((20, 30, 1), 7, np.uint8), (20, 30, 3)),
        (np.full((1, 1, 3), 7, np.uint8), (1, 1, 3)),
    ],
)
def test_to_bgr8_converts_gray_16bit_and_alpha(image: np.ndarray, shape: tuple[int, ...]) -> None:
    converted = to_bgr8(image)
    assert converted.shape == shape and converted.dtype == np.uint8
    if image.dtype == np.uint16:
        assert int(converted[0, 0, 0]) == 51400 >> 8


def test_huge_image_is_scaled_down() -> None:
    converted = to_bgr8(np.zeros((4320, 7680, 3), np.uint8))
    assert max(converted.shape[:2]) == 3840


def test_16bit_grayscale_and_alpha_files_decode(tmp_path: Path, hopper: np.ndarray) -> None:
    gray16 = cv2.cvtColor(hopper, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "a16.png"), gray16)
    cv2.imwrite(str(tmp_path / "b4.png"), cv2.cvtColor(hopper, cv2.COLOR_BGR2BGRA))
    frames = read_all(open_source(str(tmp_path)))
    assert [f.image.shape for f in frames] == [hopper.shape, hopper.shape]
    assert all(f.image.dtype == np.uint8 for f in frames)


def test_missing_path_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "nope.mp4"))


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path)).open()


def test_not_an_image_or_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("just some text, not a video\n" * 50)
    with pytest.raises(SourceError, match="not an image or a video"):
        open_source(str(path)).open()


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(SourceError, match="empty"):
        open_source(str(path))


def test_unreadable_file_is_refused(tmp_path: Path, hopper_jpg: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file, so permissions cannot be tested")
    path = tmp_path / "secret.jpg"
    path.write_bytes(hopper_jpg.read_bytes())
    path.chmod(0)
    with pytest.raises(SourceError, match="permission denied"):
        open_source(str(path))


def test_camera_that_does_not_exist_is_refused() -> None:
    source = open_source("/dev/video97")
    assert isinstance(source, CameraSource) and source.live
    with pytest.raises(SourceError, match="no camera at /dev/video97"):
        source.open()
    with pytest.raises(SourceError, match="no camera at 97"):
        open_source("97").open()


def test_camera_describe_reads_a_snapshot_and_never_the_capture(moving_video) -> None:
    # The UI thread calls describe() four times a second while the capture thread may release the capture and
    # set it to None on a reconnect: describe must not touch the VideoCapture at all.
    path, _ = moving_video
    source = CameraSource(str(path))  # a device path OpenCV opens: a real VideoCapture, 320x240
    source.open()
    real = source._capture

    class CaptureThreadOnly:
        """The capture as the capture thread owns it: any other use is a race."""

        def read(self):
            return real.read()

        def release(self) -> None:
            real.release()

        def get(self, prop: int) -> float:
            raise AssertionError("describe() touched the VideoCapture")

    source._capture = CaptureThreadOnly()
    info = source.describe()
    assert info["resolution"] == [320, 240] and info["fps"] == pytest.approx(10.0)
    assert source.read() is not None
    source.reopen()  # what the capture thread does after a loss: release, then open again
    assert source.describe()["resolution"] == [320, 240]
    source.close()
    assert "resolution" not in source.describe(), "a closed camera reports no settings, and does not fail"


def test_truncated_video_ends_early_and_says_how_far_it_got(moving_video, tmp_path: Path) -> None:
    path, _ = moving_video
    data = path.read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    source = open_source(str(truncated))
    frames = read_all(source)
    assert 0 < len(frames) < 30
    assert source.describe()["frames_read"] == len(frames)


def test_a_video_played_live_is_read_at_its_frame_rate(moving_video) -> None:
    path, _ = moving_video  # 10 fps
    source = open_source(str(path), live=True, max_frames=6)
    assert isinstance(source, VideoSource) and source.live
    started = time.monotonic()
    with source:
        times = [frame.time_s for frame in iter(source.read, None)]
    assert times == pytest.approx([i / 10 for i in range(6)])  # still the position in the video
    assert 0.45 < time.monotonic() - started < 1.5  # frame 5 is due 0.5 s after the start
    assert open_source(str(path)).live is False  # analyze reads as fast as it can
