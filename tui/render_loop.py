"""The render thread: takes the runner's newest result, builds the terminal strips, hands them to the UI.

Building strips is numpy plus one Python step per run of cells, a few milliseconds a frame; doing it here
keeps the UI thread's per-frame work to swapping references. The app posts each frame to itself as a message
that the next one supersedes (tui/messages.py), so a slow terminal never backs frames up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.strip import Strip

from pipeline.core.frames import Face, FrameResult
from pipeline.core.labels import EMOTIONS, UNCLEAR
from tui.graphics.detect import RenderMode
from tui.graphics.frames import MAX_PIXELS, GraphicsFrame, PixelRenderer
from tui.graphics.panes import MAX_FACE_SLOTS, PaneImage, PaneImageOptions, PaneImageRenderer, pane_cap
from tui.graphics.sixel import PaletteSize
from tui.render import (
    ColorDepth,
    HalfBlockRenderer,
    RenderedFrame,
    StyleCache,
    crop_face,
    fit_cells,
    landmark_outline,
    render_cells,
    render_image,
)

SHARE_LABELS: tuple[str, ...] = (*EMOTIONS, UNCLEAR)
MAX_GAP_S = 1.0  # a longer gap between two seen results (a pause, a stall) counts as this much time
HYSTERESIS = 6  # levels (of 255) a downscaled pixel must move before it is redrawn: kills sensor noise
PANE_INTERVAL_S = 0.2  # face crops and the landmark outline are rebuilt this often (the UI shows them at 4 Hz)
POLL_S = 0.004  # how often the render thread looks for a new result once a frame is due


PaneKey = int | str  # a face id, or LANDMARK_PANE
LANDMARK_PANE = "landmarks"


@dataclass(frozen=True)
class ViewOptions:
    """What to draw, set by the UI thread (replaced as a whole, so the render thread reads it consistently)."""

    video_cells: tuple[int, int] = (80, 24)  # the most cells the video may use (cols, rows)
    colors: ColorDepth = "5"
    fps: float = 20.0
    boxes: bool = True
    landmarks: bool = True
    face_pane: bool = True
    face_cells: tuple[int, int] = (16, 8)
    landmark_pane: bool = True
    landmark_cells: tuple[int, int] = (24, 10)
    selected_face: int | None = None
    render: RenderMode = "halfblock"
    palette: PaletteSize = "256"  # Sixel colours
    cell_px: tuple[int, int] | None = None  # the terminal's cell size in pixels, when it said
    tmux: bool = False  # Kitty commands go through tmux's passthrough
    kitty_placeholders: bool = True  # False: kitty before 0.28, the image placed directly (tui/graphics/kitty.py)
    max_pixels: tuple[int, int] = MAX_PIXELS  # the pixel modes' image cap, which the governor steps (app.py)


@dataclass
class ViewFrame:
    """One rendered result, ready for the widgets."""

    result: FrameResult
    video: RenderedFrame
    face_crops: dict[int, list[Strip]]
    selected: Face | None
    landmark_strips: list[Strip] | None
    shares: dict[str, float]
    render_ms: float
    options: ViewOptions = field(default_factory=ViewOptions)
    graphics: GraphicsFrame | None = None  # the image to write, in a pixel mode
    pane_images: dict[PaneKey, PaneImage] = field(default_factory=dict)
    """In a pixel mode, the face thumbnails (by face id) and the landmark outline ("landmarks") as images; their
    cells are in `face_crops` and `landmark_strips`. The same dict object while the panes are not rebuilt."""


class EmotionTimeShare:
    """Seconds per label across all faces seen, weighted by the time between the results seen."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(SHARE_LABELS, 0.0)
        self._last_time: float | None = None

    def add(self, result: FrameResult) -> None:
        now = result.frame.time_s
        dt = 0.0 if self._last_time is None else min(max(now - self._last_time, 0.0), MAX_GAP_S)
        self._last_time = now
        for face in result.faces:
            if face.label in self.seconds:
                self.seconds[face.label] += dt

    def shares(self) -> dict[str, float]:
        total = sum(self.seconds.values())
        return {label: (s / total if total else 0.0) for label, s in self.seconds.items()}


def pick_face(faces: tuple[Face, ...], face_id: int | None) -> Face | None:
    """The face with `face_id`, else the first face (by id), else None."""
    for face in faces:
        if face_id is not None and face.face_id == face_id:
            return face
    ordered = sorted(faces, key=lambda f: -1 if f.face_id is None else f.face_id)
    return ordered[0] if ordered else None


class RenderLoop(threading.Thread):
    """Renders each new result of `latest()` and hands it to `on_frame` (on this thread), at most `options.fps`
    times a second.

    Frames are paced by deadline (one period after the previous one was due), not by sleeping a period
    after each render: sleeping adds the render time (and any wait for the GIL) to every period, which
    held a 20 fps target to about 15 fps under load. The UI shows each frame as it arrives rather than on a
    timer of its own, which would beat against this one.
    """

    def __init__(
        self,
        latest: Callable[[], FrameResult | None],
        options: ViewOptions,
        on_frame: Callable[[ViewFrame], None] | None = None,
    ) -> None:
        super().__init__(name="fertui-render", daemon=True)
        self._latest = latest
        self.on_frame = on_frame
        self.options = options
        self.tally = EmotionTimeShare()
        self.renderer = HalfBlockRenderer(options.colors, hysteresis=HYSTERESIS)
        self.pixel_renderer = PixelRenderer()
        self.pane_renderer = PaneImageRenderer()
        self._pane_styles = StyleCache()
        self._panes: tuple[tuple, float, dict[int, list[Strip]], list[Strip] | None, dict[PaneKey, PaneImage]] | None
        self._panes = None
        self._stop_event = threading.Event()
        self.error: str | None = None

    def stop(self, timeout: float = 1.0) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        last_result: FrameResult | None = None
        last_options: ViewOptions | None = None
        due = time.monotonic()
        try:
            while not self._stop_event.wait(max(due - time.monotonic(), POLL_S)):
                options = self.options
                result = self._latest()
                if result is None or (result is last_result and options == last_options):
                    continue
                started = time.monotonic()
                if result is not last_result:
                    self.tally.add(result)
                view = self.render(result, options)
                last_result, last_options = result, options
                if self.on_frame is not None:
                    self.on_frame(view)
                # The next frame is due one period after this one was; after a long wait, not before now.
                due = max(due + 1.0 / max(options.fps, 1.0), started)
        except Exception as exc:  # shown in the status line; the app keeps running without video
            self.error = f"render: {type(exc).__name__}: {exc}"

    def render(self, result: FrameResult, options: ViewOptions) -> ViewFrame:
        started = time.perf_counter()
        image = result.frame.image
        graphics = None
        if options.render == "halfblock":
            self.renderer.set_colors(options.colors)
            cols, rows = fit_cells(image.shape[1], image.shape[0], *options.video_cells)
            video = self.renderer.render_frame(
                image, cols, rows, result.faces, boxes=options.boxes, landmarks=options.landmarks
            )
        else:
            video, graphics = self.pixel_renderer.render(
                image,
                result.faces,
                mode=options.render,
                max_cells=options.video_cells,
                cell_px=options.cell_px,
                colors=options.colors,
                palette=options.palette,
                tmux=options.tmux,
                kitty_placeholders=options.kitty_placeholders,
                max_pixels=options.max_pixels,
                boxes=options.boxes,
                landmarks=options.landmarks,
            )
        selected = pick_face(result.faces, options.selected_face)
        crops, outline, pane_images = self._pane_strips(result, options, selected)
        return ViewFrame(
            result=result,
            video=video,
            face_crops=crops,
            selected=selected,
            landmark_strips=outline,
            shares=self.tally.shares(),
            render_ms=(time.perf_counter() - started) * 1000.0,
            options=options,
            graphics=graphics,
            pane_images=pane_images,
        )

    def _pane_strips(
        self, result: FrameResult, options: ViewOptions, selected: Face | None
    ) -> tuple[dict[int, list[Strip]], list[Strip] | None, dict[PaneKey, PaneImage]]:
        """Face crops and the landmark outline, rebuilt a few times a second rather than every frame.

        The UI shows them at 4 Hz, so building them per frame was wasted GIL time; they are rebuilt at once
        when what they show changes (faces, selection, pane options), else at most every PANE_INTERVAL_S.
        In a pixel mode they are images (tui/graphics/panes.py), and the strips are the cells under them.
        """
        now = time.monotonic()
        pixel_mode = options.render != "halfblock"
        key = (
            tuple(face.face_id for face in result.faces),
            None if selected is None else (selected.face_id, selected.landmarks is None),
            options.face_pane,
            options.face_cells,
            options.landmark_pane,
            options.landmark_cells,
            options.colors,
            options.render,
            (options.palette, options.cell_px, options.tmux, options.kitty_placeholders, options.max_pixels)
            if pixel_mode
            else None,
        )
        if self._panes is not None:
            last_key, built_at, cached_crops, cached_outline, cached_images = self._panes
            if last_key == key and now - built_at < PANE_INTERVAL_S:
                return cached_crops, cached_outline, cached_images
        image = result.frame.image
        crops: dict[int, list[Strip]] = {}
        images: dict[PaneKey, PaneImage] = {}
        image_options = None
        if pixel_mode:
            image_options = PaneImageOptions(
                mode=options.render,
                cell_px=options.cell_px,
                colors=options.colors,
                palette=options.palette,
                tmux=options.tmux,
                kitty_placeholders=options.kitty_placeholders,
                max_pixels=pane_cap(options.max_pixels),
            )
        if options.face_pane:
            tracked = sorted(face.face_id for face in result.faces if face.face_id is not None)
            slots = {face_id: slot for slot, face_id in enumerate(tracked)}  # the face pane's card order
            for face in result.faces:
                if face.face_id is None:
                    continue
                crop = crop_face(image, face.box)
                slot = slots[face.face_id]
                if image_options is not None and slot < MAX_FACE_SLOTS:
                    pane_image = self.pane_renderer.face(crop, options.face_cells, slot, image_options)
                    images[face.face_id] = pane_image
                    crops[face.face_id] = pane_image.strips
                else:
                    crops[face.face_id] = render_image(crop, *options.face_cells, self._pane_styles, options.colors)
        outline = None
        if options.landmark_pane and selected is not None and selected.landmarks is not None:
            if image_options is not None:
                pane_image = self.pane_renderer.landmarks(
                    selected.landmarks, options.landmark_cells, image_options, pose=selected.pose
                )
                images[LANDMARK_PANE] = pane_image
                outline = pane_image.strips
            else:
                outline = render_cells(
                    landmark_outline(selected.landmarks, *options.landmark_cells, pose=selected.pose), self._pane_styles
                )
        self._panes = (key, now, crops, outline, images)
        return crops, outline, images
