"""Where frames come from: a camera, a video file, one image, a folder of images, or the built-in demo.

Every source yields `Frame`s with a BGR uint8 image (grayscale, 16-bit and 4-channel inputs are
converted), a frame index and a time. `time_s` means:
  - camera and live demo: monotonic seconds since the source was opened (capture time);
  - video file: the position in the video (frame index / the file's fps), so logs match the recording
    (played live, the file is read at its own frame rate: `VideoSource(live=True)`);
  - image folder: the image's position in the sorted folder (one image = one second);
  - offline demo: frame index / the demo's fps (deterministic).

`open_source(spec)` picks the source from a spec string. Problems the user can fix (a path that does
not exist, a file that is neither an image nor a video, an empty folder, no camera) raise `SourceError`,
whose message is the one line shown to the user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

# FFmpeg (inside OpenCV) prints its own complaints about damaged files straight to stderr; the user gets
# our one line instead. Read when OpenCV first opens a video, so setting it at import is early enough.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.core.errors import FertuiError
from pipeline.core.frames import Frame  # noqa: E402

MAX_SIDE = 3840
"""Larger images (an 8K frame) are scaled down to this many pixels on their long side; boxes are in the scaled image."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"})

LOST_SOURCE_NAME = "(source lost)"
"""The `source` of the stand-in frames logged while a live source is lost (see FrameSource.gap_frame)."""

MAX_BAD_FRAMES_IN_A_ROW = 10
"""A video whose frames fail to decode this many times in a row (and past its known length) has ended."""

DEMO_SIZE = (640, 480)
DEMO_FPS = 20.0


class SourceError(FertuiError):
    """A source cannot be opened or read; the message is one line for the user."""


class SourceLost(FertuiError):
    """A live source failed to deliver a frame but may come back (a camera unplugged); the runner retries."""


def to_bgr8(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA; uint8, uint16 or float) as contiguous (H, W, 3) BGR uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(image, initial=0.0)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    long_side = max(image.shape[:2])
    if long_side > max_side:
        scale = max_side / long_side
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as BGR uint8, or None when it is not a readable image."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    return to_bgr8(image)


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own warnings while probing a device or file: the user gets our one line instead."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or cv2.haveImageReader(str(path))


class FrameSource(ABC):
    """A stream of frames. `read()` returns None when the source has ended.

    Subclasses implement `_open`, `_next` and `_close`; the base class counts frames and applies
    `max_frames` (a limit on how many frames are read, for headless runs).
    """

    name: str = "source"
    live: bool = False
    stills: bool = False
    """True for photos (one image, a folder): independent observations, not a sequence in time."""

    def __init__(self, max_frames: int | None = None) -> None:
        self.max_frames = max_frames
        self.frames_read = 0
        self._index = 0  # the next frame's index (subclasses number their frames with it)
        self._opened = False
        self._start_wall = 0.0
        self._start_mono = 0.0

    # -- the public interface -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the device or file; raises SourceError with a line for the user. Opening twice is harmless."""
        if self._opened:
            return
        self._open()
        self._start_wall = time.time()
        self._start_mono = time.monotonic()
        self._opened = True

    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended. May raise SourceLost (live sources)."""
        if not self._opened:
            self.open()
        if self.max_frames is not None and self.frames_read >= self.max_frames:
            return None
        frame = self._next()
        if frame is not None:
            self.frames_read += 1
        return frame

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self._close()

    def reopen(self) -> None:
        """Try to get a lost source back (raises SourceLost while it is still gone).

        The session clock and the frame numbering carry on across the gap, so times in the log stay monotonic.
        """
        start_wall, start_mono = self._start_wall, self._start_mono
        self._close()
        self._opened = False
        try:
            self.open()
        except SourceError as exc:
            raise SourceLost(str(exc)) from exc
        self._start_wall, self._start_mono = start_wall, start_mono

    def gap_frame(self) -> Frame:
        """A stand-in for a frame a lost live source did not deliver: the next index, the time now, no picture.

        The runner logs it as a frame with no face (source LOST_SOURCE_NAME), so the gap is explicit in the log.
        """
        now = time.monotonic()
        frame = Frame(
            self._index, now - self._start_mono, time.time(), np.zeros((1, 1, 3), np.uint8), LOST_SOURCE_NAME, now
        )
        self._index += 1
        return frame

    @property
    def clock_origin(self) -> float:
        """`time.monotonic()` when the source was opened. For a live source (a camera, the live demo, a recording
        played at its own rate) a frame was captured at about `clock_origin + frame.time_s`."""
        return self._start_mono

    @property
    def frame_count(self) -> int | None:
        """How many frames the source will deliver, when known."""
        count = self._frame_count()
        if self.max_frames is not None:
            return self.max_frames if count is None else min(count, self.max_frames)
        return count

    def describe(self) -> dict[str, object]:
        """Source, resolution and fps for the session metadata."""
        return {
            "source": self.name,
            "kind": type(self).__name__,
            "live": self.live,
            "stills": self.stills,
            "frame_count": self.frame_count,
            "frames_read": self.frames_read,
        }

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what subclasses provide ----------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _next(self) -> Frame | None: ...

    def _close(self) -> None:  # noqa: B027 - nothing to release by default
        pass

    def _frame_count(self) -> int | None:
        return None

    def _since_open(self) -> float:
        return time.monotonic() - self._start_mono


class CameraSource(FrameSource):
    """A camera by index (`0`) or device path (`/dev/video0`) through cv2.VideoCapture.

    Only the thread that opens and reads the camera (the capture thread, which also reopens it after a loss)
    touches the VideoCapture. What it negotiated (resolution, fps) is published as one immutable snapshot at
    open, which `describe` (called from the UI thread) reads: a reconnect that releases the capture meanwhile
    cannot pull it away under the reader.
    """

    live = True

    def __init__(
        self,
        device: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        max_frames: int | None = None,
    ) -> None:
        super().__init__(max_frames)
        self.device = device
        self.name = f"camera {device}"
        self.requested = {"width": width, "height": height, "fps": fps}
        self._capture: cv2.VideoCapture | None = None
        self._negotiated: tuple[list[int], float | None] | None = None  # (resolution, fps), replaced whole
        self._index = 0

    def _open(self) -> None:
        if isinstance(self.device, str) and not os.path.exists(self.device):
            raise SourceError(f"no camera at {self.device}")
        with quiet_opencv():
            capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"no camera at {self.device} (is it connected, and free of other programs?)")
        width, height, fps = self.requested["width"], self.requested["height"], self.requested["fps"]
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            capture.set(cv2.CAP_PROP_FPS, fps)
        self._capture = capture
        resolution = [int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))]
        self._negotiated = (resolution, float(capture.get(cv2.CAP_PROP_FPS)) or None)

    def _next(self) -> Frame | None:
        assert self._capture is not None
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceLost(f"camera {self.device} stopped delivering frames")
        now = time.monotonic()  # the capture instant: time_s and the LSL stamp (Frame.captured) agree
        frame = Frame(self._index, now - self._start_mono, time.time(), to_bgr8(image), captured=now)
        self._index += 1
        return frame

    def _close(self) -> None:
        capture, self._capture = self._capture, None
        self._negotiated = None
        if capture is not None:
            capture.release()

    def describe(self) -> dict[str, object]:
        info = super().describe()
        negotiated = self._negotiated  # one read of the published snapshot; the capture itself is not touched
        if negotiated is not None:
            info["resolution"], info["fps"] = list(negotiated[0]), negotiated[1]
        info["requested"] = self.requested
        return info


class VideoSource(FrameSource):
    """A video file, read frame by frame.

    A frame that fails to decode is skipped and counted (`undecodable`), keeping the later frames' index and
    time; a truncated file ends early (`ended_early`, and frames_read tells how far it got).

    `live=True` (the live app) plays the file at its own frame rate, like a camera: each frame is delivered
    when its time in the video comes, and the runner drops the oldest waiting frames when processing falls
    behind, so the picture stays current. `live=False` (`analyze`) reads as fast as processing takes frames.
    """

    def __init__(self, path: str | os.PathLike, *, max_frames: int | None = None, live: bool = False) -> None:
        super().__init__(max_frames)
        self.live = live
        self.path = Path(path)
        self.name = str(self.path)
        self._capture: cv2.VideoCapture | None = None
        self._fps = 0.0
        self._count: int | None = None
        self._size = (0, 0)
        self._index = 0
        self._pending: np.ndarray | None = None  # the first frame, read at open to prove the file decodes
        self.undecodable = 0
        self.ended_early = False

    def _open(self) -> None:
        with quiet_opencv():
            capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.path}: not an image or a video that can be read")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        self._fps = fps if math.isfinite(fps) and 0.0 < fps < 1000.0 else 0.0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = count if count > 0 else None
        self._size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        with quiet_opencv():
            ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise SourceError(f"{self.path}: not an image or a video that can be read")
        self._capture = capture
        self._pending = first
        self._index = 0

    def _next(self) -> Frame | None:
        assert self._capture is not None
        image: np.ndarray | None
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            image = self._read_decodable()
        if image is None:
            return None
        time_s = self._index / self._fps if self._fps else self._since_open()
        if self.live:
            # Wait for the frame's moment in the video (a file of unknown rate plays at the demo's).
            due = self._start_mono + self._index / (self._fps or DEMO_FPS) - time.monotonic()
            if due > 0:
                time.sleep(due)
        delivered = time.monotonic()
        frame = Frame(self._index, time_s, time.time(), to_bgr8(image), self.path.name, delivered)
        self._index += 1
        return frame

    def _read_decodable(self) -> np.ndarray | None:
        """The next frame that decodes; None at the end. A failed read moves past that frame (FFmpeg does)."""
        assert self._capture is not None
        failed = 0
        while True:
            ok, image = self._capture.read()
            if ok and image is not None:
                self.undecodable += failed
                return image
            failed += 1
            self._index += 1  # the next good frame keeps its own index and time
            past_the_end = self._count is not None and self._index > self._count
            if past_the_end or failed >= MAX_BAD_FRAMES_IN_A_ROW:
                self._index -= failed
                self.ended_early = self._count is not None and self._index < self._count
                return None

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _frame_count(self) -> int | None:
        return self._count

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "resolution": list(self._size),
            "fps": self._fps or None,
            "undecodable_frames": self.undecodable,
            "ended_early": self.ended_early,
        }


class FolderSource(FrameSource):
    """Image files in a folder in sorted name order (or one image file); each frame carries its file name.

    Files that are not images, or fail to decode, are skipped and counted in `skipped`. The images are stills:
    the engine analyses each on its own (see pipeline.engine).
    """

    live = False
    stills = True

    def __init__(self, path: str | os.PathLike, *, max_frames: int | None = None) -> None:
        super().__init__(max_frames)
        self.path = Path(path)
        self.name = str(self.path)
        self.files: list[Path] = []
        self.skipped: list[str] = []
        self._position = 0
        self._index = 0
        self._last_size: tuple[int, int] | None = None
        self._first_image: tuple[Path, np.ndarray] | None = None

    def _list_files(self) -> list[Path]:
        entries = sorted(p for p in self.path.iterdir() if not p.name.startswith("."))
        files = []
        for entry in entries:
            if entry.is_file() and _is_image_file(entry):
                files.append(entry)
            elif entry.is_file():
                self.skipped.append(entry.name)
        return files

    def _open(self) -> None:
        try:
            self.files = self._list_files()
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read folder ({exc.strerror})") from exc
        if not self.files:
            raise SourceError(f"{self.path}: no images in this folder")
        self._position = 0
        self._index = 0
        # Files named like images may not decode (a text file called .jpg): a folder where none does has nothing
        # to analyse, which is bad input at open (exit 2), not a run of 0 frames. The first image that decodes is
        # kept for the first frame, so it is read once.
        self._first_image = self._next_image()
        if self._first_image is None:
            raise SourceError(f"{self.path}: no readable images in this folder ({len(self.skipped)} file(s) skipped)")

    def _next_image(self) -> tuple[Path, np.ndarray] | None:
        """The next image file that decodes, and its picture; files that do not are counted as skipped."""
        while self._position < len(self.files):
            path = self.files[self._position]
            self._position += 1
            image = read_image(path)
            if image is None:
                self.skipped.append(path.name)
                continue
            return path, image
        return None

    def _next(self) -> Frame | None:
        found = self._first_image or self._next_image()
        self._first_image = None
        if found is None:
            return None
        path, image = found
        self._last_size = (image.shape[1], image.shape[0])
        frame = Frame(self._index, float(self._index), time.time(), image, path.name)
        self._index += 1
        return frame

    def _frame_count(self) -> int | None:
        return len(self.files) if self._opened else None

    def describe(self) -> dict[str, object]:
        info = {**super().describe(), "images": len(self.files), "skipped": list(self.skipped)}
        if self._last_size:
            info["resolution"] = list(self._last_size)
        return info


class ImageSource(FolderSource):
    """One image file: a source of exactly one frame."""

    def _open(self) -> None:
        image = read_image(self.path)
        if image is None:
            raise SourceError(f"{self.path}: not an image or a video that can be read")
        self.files = [self.path]
        self._position = 1
        self._index = 0
        self._first_image = (self.path, image)


def portrait_paths() -> tuple[Path, Path]:
    """The two public-domain portraits shipped inside installed packages (Grace Hopper, Eileen Collins)."""
    spec = importlib.util.find_spec("matplotlib")
    skimage = importlib.util.find_spec("skimage")
    if spec is None or skimage is None or not spec.submodule_search_locations or not skimage.submodule_search_locations:
        raise SourceError("the demo needs matplotlib and scikit-image installed (uv sync)")
    hopper = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    astronaut = Path(next(iter(skimage.submodule_search_locations))) / "data" / "astronaut.png"
    for path in (hopper, astronaut):
        if not path.is_file():
            raise SourceError(f"demo image missing: {path} (reinstall with uv sync)")
    return hopper, astronaut


def demo_scene() -> np.ndarray:
    """A 1600x900 BGR 'room': a soft gradient wall with both portraits hung on it, side by side."""
    hopper_path, astronaut_path = portrait_paths()
    height, width = 900, 1600
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    wall = np.empty((height, width, 3), np.float32)
    wall[..., 0] = 150 + 40 * cols  # B
    wall[..., 1] = 160 + 30 * rows  # G
    wall[..., 2] = 170 - 30 * rows * cols  # R
    scene = wall.astype(np.uint8)
    hopper = read_image(hopper_path)
    astronaut = read_image(astronaut_path)
    assert hopper is not None and astronaut is not None
    hopper = cv2.resize(hopper, (440, 516), interpolation=cv2.INTER_AREA)
    astronaut = cv2.resize(astronaut, (480, 480), interpolation=cv2.INTER_AREA)
    scene[170:686, 180:620] = hopper
    scene[200:680, 960:1440] = astronaut
    return scene


class DemoSource(FrameSource):
    """Two public-domain portraits seen by a slowly wandering hand-held camera (pan, zoom, slight roll).

    Deterministic: frame i is a pure function of i. The camera sweeps between the portraits and
    sometimes zooms out far enough that both faces are in view, and now and then both leave it.
    `live=True` paces frames at `fps` like a camera; `live=False` delivers them as fast as they are read.
    """

    def __init__(self, *, live: bool = True, fps: float = DEMO_FPS, max_frames: int | None = None) -> None:
        super().__init__(max_frames)
        self.live = live
        self.fps = fps
        self.name = "demo"
        self._scene: np.ndarray | None = None
        self._index = 0

    def _open(self) -> None:
        self._scene = demo_scene()
        self._index = 0

    def camera_matrix(self, index: int) -> np.ndarray:
        """The 2x3 affine map from scene pixels to the 640x480 view at frame `index`."""
        t = index / DEMO_FPS  # the motion is defined on a 20 fps clock, whatever the pacing
        out_w, out_h = DEMO_SIZE
        center_x = 800 + 420 * math.sin(2 * math.pi * t / 14.0) + 10 * math.sin(2 * math.pi * t / 1.3)
        center_y = 440 + 40 * math.sin(2 * math.pi * t / 9.0) + 6 * math.sin(2 * math.pi * t / 1.7)
        view_width = 850 + 350 * math.sin(2 * math.pi * t / 11.0)  # scene pixels across the view
        angle = 4.0 * math.sin(2 * math.pi * t / 6.0)  # degrees of roll
        scale = out_w / view_width
        matrix = cv2.getRotationMatrix2D((center_x, center_y), angle, scale)
        matrix[0, 2] += out_w / 2 - center_x
        matrix[1, 2] += out_h / 2 - center_y
        return matrix

    def _next(self) -> Frame | None:
        assert self._scene is not None
        index = self._index
        if self.live:
            delay = self._start_mono + index / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        captured, wall = time.monotonic(), time.time()  # the virtual camera's shutter, before the picture is drawn
        time_s = captured - self._start_mono if self.live else index / self.fps
        image = cv2.warpAffine(
            self._scene, self.camera_matrix(index), DEMO_SIZE, flags=cv2.INTER_LINEAR, borderValue=(60, 60, 60)
        )
        self._index += 1
        return Frame(index, time_s, wall, image, "demo", captured)

    def _frame_count(self) -> int | None:
        return None

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "resolution": list(DEMO_SIZE), "fps": self.fps}


def _camera_device(spec: str) -> int | str | None:
    if spec.isdigit():
        return int(spec)
    if spec.startswith("/dev/video"):
        return spec
    return None


def open_source(
    spec: str,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    live: bool | None = None,
    max_frames: int | None = None,
) -> FrameSource:
    """The source for a spec: "0" | "/dev/video0" | "clip.mp4" | "photo.jpg" | "photos/" | "demo".

    Paths are checked here (exists, readable, not empty); `open()` then checks that the contents decode.
    `live` paces the demo (None: paced like a camera) and video files (None: not paced) at their frame rate, as
    the live app wants; `analyze` reads everything unpaced. `max_frames` limits any source.
    """
    spec = str(spec).strip()
    if not spec:
        raise SourceError("no source given")
    if spec == "demo":
        return DemoSource(live=True if live is None else live, fps=fps or DEMO_FPS, max_frames=max_frames)
    device = _camera_device(spec)
    if device is not None:
        return CameraSource(device, width=width, height=height, fps=fps, max_frames=max_frames)
    path = Path(spec).expanduser()
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder")
    if path.is_dir():
        return FolderSource(path, max_frames=max_frames)
    if not path.is_file():
        raise SourceError(f"{spec}: not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{spec}: permission denied")
    if path.stat().st_size == 0:
        raise SourceError(f"{spec}: the file is empty")
    if _is_image_file(path) and read_image(path) is not None:
        return ImageSource(path, max_frames=max_frames)
    return VideoSource(path, max_frames=max_frames, live=bool(live))
