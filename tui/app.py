"""The live app: the camera as terminal pixels with overlays, face and landmark panes, a live histogram.

Threads: the engine's capture and processing threads fill the runner's one-slot mailbox; the render
thread (tui/render_loop.py) turns the newest result into strips and posts them as a FrameReady message that
the next frame supersedes; the UI thread swaps those strips in and refreshes only the rows that changed.
Export and snapshot run in thread workers. Nothing here blocks on the pipeline.

In a pixel mode (Sixel, Kitty: tui/graphics/) the render thread also encodes the image; the UI thread writes
it as one synchronized-output write per frame, dropping the frame instead when the terminal has not yet
taken the previous ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from rich.console import COLOR_SYSTEMS, Console
from rich.measure import Measurement
from rich.table import Table
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.errors import NoWidget
from textual.geometry import Region
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static

from pipeline.core.errors import FertuiError
from pipeline.core.frames import Frame, FrameResult
from pipeline.engine import EngineConfig
from pipeline.engine.runner import Runner
from pipeline.engine.session import Session, Stop, StopReason, session_metadata
from pipeline.io.events import NOTE, Event, EventsLog, events_path_for
from pipeline.io.sinks import SessionLog, default_log_path
from pipeline.io.sources import FrameSource
from tui.config import AppConfig, DisplaySettings, display_settings
from tui.driver import ByteCountingDriver
from tui.governor import PIXEL_CAPS, Quality, QualityGovernor
from tui.graphics import kitty
from tui.graphics.detect import RenderMode
from tui.graphics.forced import WARNING_SHOWN_S, forced_mode_warning
from tui.graphics.frames import MAX_PIXELS, GraphicsFrame, letterbox_background
from tui.graphics.panes import PaneImage, all_pane_image_ids
from tui.graphics.sixel import PALETTE_SIZES
from tui.messages import FrameReady
from tui.render import COLOR_MODES
from tui.render_loop import LANDMARK_PANE, PaneKey, RenderLoop, ViewFrame, ViewOptions
from tui.snapshot import save_snapshot, snapshot_log
from tui.widgets.faces import FacesPane
from tui.widgets.histogram import HistogramPane
from tui.widgets.keybar import KeyBar
from tui.widgets.landmarks import LandmarkPane
from tui.widgets.note import NoteScreen
from tui.widgets.status import StatusBar, StatusFigures
from tui.widgets.video import CellImage, VideoView

MARKER_SHOWN_S = 3.0  # the status line shows the last marker this long
PANEL_INTERVAL_S = 0.25  # face pane, landmarks, histogram and status: 4 updates a second
PANE_RETRY_S, PANE_RETRIES = 0.04, 3  # pane images whose cells are not laid out yet: tried again this soon
RECENT = 100  # frames that shown fps and capture-to-screen latency are computed over
MAX_LATENCY_SAMPLES = 100_000  # session-long latency figures for the metadata (about 1.5 h at 20 fps)

SYNC_BEGIN, SYNC_END = "\x1b[?2026h", "\x1b[?2026l"  # synchronized output: the terminal shows the frame whole
SAVE_CURSOR, RESTORE_CURSOR = "\x1b7", "\x1b8"  # a Sixel image moves the cursor; Textual expects it unmoved
RENDER_NAMES: dict[str, str] = {"halfblock": "half-blocks", "sixel": "Sixel", "kitty": "Kitty graphics"}

SIGNAL_EXIT_GRACE_S = 5.0
"""After a signal has closed the log, the process ends within this long even if the terminal is gone."""
"""After a signal the log is closed at once; if the app has not exited this long after, the process ends anyway.
Textual's shutdown can block for ever writing to a terminal that has gone (seen after SIGHUP: its output queue
full, its writer thread gone), which would leave a fertui process behind on the lab machine."""


def keys_table() -> Table:
    """The app's key bindings as a table (the help screen, and the README's Keys table). Without borders or a
    title, so that every key fits an 80x24 terminal: the "does" column wraps where it must."""
    table = Table(box=None, show_header=True, header_style="bold", expand=False, padding=(0, 1), pad_edge=False)
    table.add_column("key")
    table.add_column("name")
    table.add_column("does")
    for binding in FertuiApp.BINDINGS:
        if isinstance(binding, Binding) and binding.show:
            table.add_row(binding.key_display or binding.key, binding.description, binding.tooltip)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys, from the app's own bindings."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        table = keys_table()
        box = Vertical(Static(table), Static("escape or ? closes this screen", classes="hint"), id="help")
        box.border_title = "fertui keys"
        natural = Measurement.get(Console(width=1000), Console(width=1000).options, table).maximum
        box.styles.width = natural + 4  # border and padding; the CSS caps it at the screen's width
        yield box

    def action_dismiss(self) -> None:  # type: ignore[override]  # Screen's is async and takes a result; none here
        self.dismiss(None)


class FertuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "fertui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    BINDINGS = [
        Binding("b", "toggle('show_boxes')", "Boxes", tooltip="face boxes with label and id on the video"),
        Binding("l", "toggle('show_landmarks')", "Landmarks", tooltip="landmark dots on the video"),
        Binding("f", "toggle('show_faces')", "Faces", tooltip="the face pane: crops and probability bars"),
        Binding("m", "toggle('show_landmark_pane')", "Outline", tooltip="the landmark outline pane"),
        Binding("h", "toggle('show_histogram')", "Histogram", tooltip="the emotion histogram pane"),
        Binding("tab", "next_face", "Next face", priority=True, tooltip="select the next tracked face"),
        Binding("space", "toggle('paused')", "Pause", key_display="space", tooltip="pause or resume processing"),
        Binding("r", "toggle('recording')", "Rec", tooltip="recording into the session log on or off"),
        Binding("e", "export", "Export", tooltip="export the session log and a summary to --export-dir"),
        Binding("s", "snapshot", "Snapshot", tooltip="save the annotated frame as a PNG in --export-dir"),
        Binding("g", "cycle_render", "Pixels", tooltip="next video mode the terminal shows: half-blocks, Sixel, Kitty"),
        Binding(
            "1",
            "marker('1')",
            "Marker",
            key_display="1-9",
            tooltip="drop a marker at the frame shown, labelled by --markers (default: the digit)",
        ),
        *(Binding(str(digit), f"marker('{digit}')", "Marker", show=False) for digit in range(2, 10)),
        Binding("n", "note", "Note", tooltip="type a note, written as a marker at the frame shown when n was pressed"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this screen"),
        Binding("q", "quit", "Quit", tooltip="quit; the session log is closed complete"),
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True),
    ]

    show_boxes = reactive(True, init=False)
    show_landmarks = reactive(True, init=False)
    show_faces = reactive(True, init=False)
    show_landmark_pane = reactive(True, init=False)
    show_histogram = reactive(True, init=False)
    paused = reactive(False, init=False)
    recording = reactive(True, init=False)
    selected_face: reactive[int | None] = reactive(None, init=False)

    def __init__(self, config: AppConfig, session: Session) -> None:
        # Textual's own driver, counting what it writes (run_test uses its headless driver instead).
        super().__init__(driver_class=ByteCountingDriver if os.name == "posix" else None)
        self.config = config
        self.session = session
        self.settings = display_settings(config)
        self.governor = make_governor(self.settings)
        graphics = config.graphics
        self.render_loop = RenderLoop(
            session.runner.latest,
            ViewOptions(
                colors=self.settings.colors,
                fps=self.settings.fps,
                render=self.settings.render,
                palette=self.settings.palette,
                cell_px=graphics.cell_px,
                tmux=graphics.tmux,
                kitty_placeholders=graphics.kitty_placeholders,
                max_pixels=self._pixel_cap(self.governor.quality),
            ),
            on_frame=self._frame_ready,
        )
        self.stop_request = Stop.finished()  # `q` is the normal end of a session: the log is closed as complete
        self._ui_loop: asyncio.AbstractEventLoop | None = None
        self.last_view: ViewFrame | None = None
        self.frames_shown = 0
        self._bytes_last_second = 0.0
        self._bytes_mark = (time.monotonic(), 0)
        self._shown_stamps: deque[float] = deque(maxlen=RECENT)
        self._latencies_ms: deque[float] = deque(maxlen=RECENT)
        self._all_latencies_ms: list[float] = []
        self._first_shown: float | None = None
        self._last_shown: float | None = None
        self._panels_shown_for: FrameResult | None = None
        self._stopped = False
        self._note = ""
        self._render_warning = forced_mode_warning(config.render, config.graphics)
        self._render_warning_until = 0.0  # set when the app starts: shown once, for WARNING_SHOWN_S
        self.last_marker: Event | None = None
        self._marker_shown_until = 0.0
        # Pixel modes: the last image written (rewritten after anything may have painted over it), images
        # written and their bytes, and frames dropped because the terminal had not taken the previous ones.
        self._last_graphics: GraphicsFrame | None = None
        self._new_view: ViewFrame | None = None  # the frame of `_last_graphics` until its image is written
        self._graphics_stale = False
        self.images_shown = 0  # one per new frame
        self.images_written = 0  # those, and the same image again after a resize or a modal screen
        self.image_bytes = 0
        self.frames_dropped_terminal = 0
        self._image_size: tuple[int, int] | None = None
        # The face thumbnails and the landmark outline as images (pixel modes): the set last written, whether
        # something may have painted over them since, the Kitty ids on the screen, and what was written.
        self._pane_images_written: dict[PaneKey, PaneImage] | None = None
        self._panes_stale = False
        self._pane_ids_placed: set[int] = set()
        self.pane_images_written = 0
        self.pane_image_bytes = 0

    # -- layout ----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Container(id="video-box"):
                yield VideoView(id="video")
            with Vertical(id="side"):
                yield FacesPane(id="faces")
                yield LandmarkPane(id="landmarks")
                yield HistogramPane(id="histogram")
        yield StatusBar(id="status")
        yield KeyBar()

    def on_mount(self) -> None:
        # Widgets are looked up once: the timers may still fire while the DOM is being torn down at exit.
        self.video = self.query_one(VideoView)
        self.faces_pane = self.query_one(FacesPane)
        self.landmark_pane = self.query_one(LandmarkPane)
        self.histogram = self.query_one(HistogramPane)
        self.status_bar = self.query_one(StatusBar)
        self._ui_loop = asyncio.get_running_loop()
        self.query_one("#faces").border_title = "faces"
        self.query_one("#landmarks").border_title = "landmarks"
        self.query_one("#histogram").border_title = "emotions"
        self.recording = self.session_log is not None and self.config.record
        if self.session_log is not None:
            self.session_log.recording = self.recording
        self.session.start()
        self.render_loop.start()
        self._render_warning_until = time.monotonic() + WARNING_SHOWN_S
        self.set_interval(PANEL_INTERVAL_S, self._update_panels)
        self.set_interval(1.0, self._each_second)
        self.call_after_refresh(self._update_render_sizes)

    def on_resize(self) -> None:
        self._graphics_stale = True  # the terminal may have cleared the image, and the pane may move
        self._forget_pane_images()  # the panes move: a directly placed Kitty image would stay where they were
        self.call_after_refresh(self._update_render_sizes)

    def _update_render_sizes(self) -> None:
        """Tell the render thread how many cells the video and the panes have (on resize and pane toggles)."""
        if self._stopped:
            return
        try:
            box = self.query_one("#video-box").content_size
            side_width = self.query_one("#side").content_size.width
            landmark_height = self.query_one("#landmarks").content_size.height
        except NoMatches:  # the DOM is being torn down at exit
            return
        cols, rows = box.width, box.height
        if self.config.size is not None:
            cols, rows = min(cols, self.config.size[0]), min(rows, self.config.size[1])
        face_cols = max(8, min(16, side_width // 3))
        landmark_rows = max(4, landmark_height - 1)
        self._set_options(
            video_cells=(max(cols, 4), max(rows, 2)),
            face_cells=(face_cols, face_cols // 2),
            # The pane's border and padding take 4 columns of the side column (38 cells were 2 too many: the
            # outline's right edge was cut off, and a pixel image there would spill over the border).
            landmark_cells=(max(side_width - 4, 8), min(landmark_rows, 12)),
        )

    def _set_options(self, **changes) -> None:
        self.render_loop.options = replace(self.render_loop.options, **changes)

    # -- the per-frame and periodic work ---------------------------------------------------------------

    def _frame_ready(self, view: ViewFrame) -> None:
        """Called on the render thread with each new frame: the UI shows it as soon as it can (never blocks)."""
        if not self._stopped:
            self.post_message(FrameReady(view))

    def on_frame_ready(self, message: FrameReady) -> None:
        if self._stopped:
            return
        view = message.view
        if view.options.render != self.render_loop.options.render:
            return  # rendered before a mode change: its cells and image belong to the old mode
        if view.graphics is not None:
            if view.options.video_cells != self.render_loop.options.video_cells:
                return  # drawn for another pane size (before the first layout, or a resize): it would land elsewhere
            self._show_graphics(view)  # counted as shown once its image is written
            return
        self.video.show(view.video)
        self._count_shown(view)

    def _count_shown(self, view: ViewFrame) -> None:
        self.last_view = view
        now = time.monotonic()
        self.frames_shown += 1
        self._shown_stamps.append(now)
        if self._first_shown is None:
            self._first_shown = now
        self._last_shown = now
        latency_ms = (time.time() - view.result.frame.wall_time) * 1000.0
        self._latencies_ms.append(latency_ms)
        if len(self._all_latencies_ms) < MAX_LATENCY_SAMPLES:
            self._all_latencies_ms.append(latency_ms)

    def _show_graphics(self, view: ViewFrame) -> None:
        """Write a pixel-mode frame, or drop it when the terminal is still behind on earlier frames."""
        assert view.graphics is not None
        driver = self._driver
        if isinstance(driver, ByteCountingDriver) and driver.pending_chars > view.graphics.bytes:
            self.frames_dropped_terminal += 1
            return
        self.video.show(view.video)
        self._last_graphics = view.graphics
        self._new_view = view
        if view.video.dirty_rows:
            # New cells (first frame, new shape): the image goes where they are once Textual has laid them out.
            self._graphics_stale = True
            self.call_after_refresh(self._write_graphics)
        else:
            self._write_graphics()

    def _write_graphics(self) -> None:
        """One synchronized write of the last image at the video pane (none while a modal screen is up).

        Called for each new frame, and again for the same image after anything may have painted over it."""
        frame = self._last_graphics
        if frame is None or self._stopped or len(self.screen_stack) > 1 or self.settings.render == "halfblock":
            return
        region = self.video.content_region
        if (region.width, region.height) != frame.cells:
            # Textual has not laid the pane's new cells out yet: an image now would land where they are not.
            self._graphics_stale = True
            return
        # Sixel (and Kitty placed directly) draws at the cursor; with placeholders, Kitty draws wherever its
        # placeholder cells are, so no move is needed.
        move = f"{SAVE_CURSOR}{self._letterbox}\x1b[{region.y + 1};{region.x + 1}H" if frame.at_cursor else ""
        restore = RESTORE_CURSOR if frame.at_cursor else ""
        self._terminal_write(f"{SYNC_BEGIN}{move}{frame.payload}{restore}{SYNC_END}")
        self.images_written += 1
        self._image_size = frame.image_size
        view, self._new_view = self._new_view, None
        if view is not None and view.graphics is frame:  # a new frame, not a redraw
            self.images_shown += 1
            self.image_bytes += frame.bytes
            self._count_shown(view)
        self._graphics_stale = False

    def _write_pane_images(self, images: dict[PaneKey, PaneImage], retries: int = PANE_RETRIES) -> None:
        """One synchronized write of the pane images at their widgets (pixel modes; none over a modal screen).

        An image is written only at the size it was drawn for; Sixel (and Kitty placed directly) only where its
        widget shows whole: a card scrolled partly out of the face pane keeps its blank cells (the image would
        spill over the pane's border)."""
        if self._stopped or len(self.screen_stack) > 1 or self.settings.render == "halfblock":
            return
        widgets: dict[PaneKey, CellImage] = {}
        if self.show_faces:
            widgets.update(self.faces_pane.crop_widgets().items())
        if self.show_landmark_pane:
            widgets[LANDMARK_PANE] = self.landmark_pane.canvas
        parts: list[str] = []
        placed: set[int] = set()
        written = 0
        stale = False
        for key, image in images.items():
            widget = widgets.get(key)
            if widget is None or image.graphics.mode != self.settings.render:
                continue
            # Placeholder cells show the image wherever they are, whole or in part; an image at the cursor only
            # goes where its cells show whole.
            region = self._whole_on_screen(widget, clipped=not image.graphics.at_cursor)
            if region is None:
                # Shown (by it and its ancestors: at 80x24 the CSS hides the landmark pane) but not laid out yet.
                shown = all(getattr(node, "display", True) for node in widget.ancestors_with_self)
                stale = stale or (shown and not widget.region.area)
                continue
            if (region.width, region.height) != image.graphics.cells:
                stale = True  # laid out for other cells: written once Textual has caught up
                continue
            frame = image.graphics
            if frame.at_cursor:
                parts.append(f"\x1b[{region.y + 1};{region.x + 1}H{frame.payload}")
            else:
                parts.append(frame.payload)
            placed.add(image.image_id)
            written += frame.bytes
        gone = self._pane_ids_placed - placed if self.settings.render == "kitty" else set()
        driver = self._driver
        behind = max(written, self._last_graphics.bytes if self._last_graphics else 0)  # the video's rule, or laxer
        if isinstance(driver, ByteCountingDriver) and driver.pending_chars > behind:
            self._panes_stale = True  # the terminal is behind: try at the next panel update
            return
        if gone:  # cards that left, panes hidden: their images off the screen and out of the terminal's memory
            parts.insert(0, "".join(self._kitty_command(kitty.delete(image_id)) for image_id in sorted(gone)))
        if parts:
            self._terminal_write(
                f"{SYNC_BEGIN}{SAVE_CURSOR}{self._letterbox}{''.join(parts)}{RESTORE_CURSOR}{SYNC_END}"
            )
        self.pane_images_written += len(placed)
        self.pane_image_bytes += written
        self._pane_ids_placed = placed
        self._pane_images_written = images
        self._panes_stale = stale
        if stale and retries > 0:  # a new card is laid out within a paint or two: do not leave it blank till the
            self.set_timer(PANE_RETRY_S, lambda: self._write_pane_images(images, retries - 1))  # next update

    def _whole_on_screen(self, widget: CellImage, *, clipped: bool = False) -> Region | None:
        """The widget's content region on the screen, or None where it is hidden or (unless `clipped`) clipped by
        its container."""
        if not widget.display or not widget.is_mounted:
            return None
        try:
            geometry = self.screen.find_widget(widget)
        except NoWidget:  # not laid out (hidden, or not painted yet)
            return None
        region = widget.content_region
        if not region.area or not (clipped or geometry.clip.contains_region(region)):
            return None
        return region

    @property
    def _letterbox(self) -> str:
        """The letterbox background as the current one, before a Sixel image (mlterm fills what the image leaves
        of its cells with it: tui/graphics/frames.py). Kitty draws no such remainder."""
        if self.settings.render != "sixel":
            return ""
        return letterbox_background(COLOR_SYSTEMS.get(self.console.color_system or ""))

    def _kitty_command(self, payload: str) -> str:
        return kitty.tmux_passthrough(payload) if self.config.graphics.tmux else payload

    def _forget_pane_images(self) -> None:
        """Delete every pane image the terminal holds (Kitty) and write them again at the next panel update."""
        if self.settings.render == "kitty" and self._pane_ids_placed:
            self._terminal_write("".join(self._kitty_command(kitty.delete(i)) for i in sorted(self._pane_ids_placed)))
        self._pane_ids_placed = set()
        self._panes_stale = True

    def _terminal_write(self, data: str) -> None:
        driver = self._driver
        if driver is not None:
            driver.write(data)

    def _update_panels(self) -> None:
        if self._stopped:
            return
        if self._graphics_stale and len(self.screen_stack) == 1:
            self._write_graphics()  # after a resize or a modal screen, even while paused (no new frames)
        view = self.last_view
        if view is not None and view.result is not self._panels_shown_for:
            self._panels_shown_for = view.result
            selected_id = None if view.selected is None else view.selected.face_id
            if self.show_faces:
                self.faces_pane.show(view.result.faces, view.face_crops, selected_id)
            if self.show_landmark_pane:
                self.landmark_pane.show(view.landmark_strips, selected_id)
            if self.show_histogram:
                self.histogram.show(view.selected, view.shares)
        elif view is None and self.show_histogram:
            self.histogram.show(None, {})
        # Sixel images are written again at each update: any repaint of their cells by Textual (a card coming or
        # going moves the others, a scroll bar appears) wipes them, and nothing tells the app it happened. Kitty's
        # survive repaints: they are written when they change (or after a resize or a modal screen).
        rewrite = self._panes_stale or self.settings.render == "sixel"
        if view is not None and (view.pane_images is not self._pane_images_written or rewrite):
            # After Textual's next paint: a card just mounted has no place on the screen before it.
            self.call_after_refresh(self._write_pane_images, view.pane_images)
        self.status_bar.show(self.status_figures())

    def _each_second(self) -> None:
        now = time.monotonic()
        mark_time, mark_bytes = self._bytes_mark
        self._bytes_last_second = (self.bytes_written - mark_bytes) / max(now - mark_time, 1e-3)
        self._bytes_mark = (now, self.bytes_written)
        quality = self.governor.observe(self._bytes_last_second)
        if quality is not None:
            self._apply_quality(quality)

    def _apply_quality(self, quality: Quality) -> None:
        # The render thread paces frames by `fps`; the colour step is a palette size in Sixel mode.
        if quality.pixels is not None:
            self._set_options(max_pixels=self._pixel_cap(quality))
        if self.settings.render == "sixel" and quality.colors in PALETTE_SIZES:
            self._set_options(palette=quality.colors, fps=quality.fps)
        elif quality.colors in COLOR_MODES:
            self._set_options(colors=quality.colors, fps=quality.fps)
        size = "" if quality.pixels is None else f"image ≤{quality.pixels[0]}x{quality.pixels[1]}, "
        note = f"link budget: {size}colours {quality.colors}, {quality.fps:g} fps"
        self._note = "" if self.governor.level == 0 else note

    def _pixel_cap(self, quality: Quality) -> tuple[int, int]:
        """The image cap: the governor's, within the largest Sixel image the terminal said it draws."""
        width, height = quality.pixels or MAX_PIXELS
        limit = self.config.graphics.sixel_max_px
        if self.settings.render == "sixel" and limit is not None:
            width, height = min(width, limit[0]), min(height, limit[1])
        return (width, height)

    def status_figures(self) -> StatusFigures:
        stats = self.runner.stats()
        view = self.last_view
        info: dict[str, Any] = self.runner.source.describe() if hasattr(self.runner, "source") else {}
        if view is not None:
            resolution = f"{view.result.frame.width}x{view.result.frame.height}"
        else:
            resolution = "x".join(str(v) for v in info.get("resolution", ())) or "?"
        stamps = self._shown_stamps
        shown_fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 and stamps[-1] > stamps[0] else 0
        if stamps and time.monotonic() - stamps[-1] > 1.0:
            shown_fps = 0.0
        latencies = np.array(self._latencies_ms) if self._latencies_ms else None
        log = self.session_log
        note = self._note or (stats.error or "") or (self.render_loop.error or "")
        if self._render_warning and time.monotonic() < self._render_warning_until:
            note = self._render_warning
        if log is not None and log.write_error:
            note = log.write_error
        return StatusFigures(
            source=str(info.get("source", "?")),
            resolution=resolution,
            source_state=stats.source_state,
            capture_fps=stats.capture_fps,
            shown_fps=shown_fps,
            latency_p50_ms=None if latencies is None else float(np.percentile(latencies, 50)),
            latency_p95_ms=None if latencies is None else float(np.percentile(latencies, 95)),
            dropped=stats.dropped,
            faces=0 if view is None else len(view.result.faces),
            recording=bool(log is not None and log.recording),
            log_path=str(log.path) if log is not None else "no session log",
            rows=0 if log is None else log.rows_written,
            bytes_per_s=self._bytes_last_second,
            colors=self.colors_text(),
            paused=self.paused,
            note=note,
            marker=self._marker_text(),
        )

    def _marker_text(self) -> str:
        """The last marker, for a few seconds after it was dropped (the status line)."""
        event = self.last_marker
        if event is None or time.monotonic() > self._marker_shown_until:
            return ""
        return f"◆ {event.label} @ {event.onset:.2f} s"

    def colors_text(self) -> str:
        """The status line's colour field: unchanged for half-blocks, the mode and its colours otherwise."""
        options = self.render_loop.options
        if options.render == "sixel":
            return f"{options.palette} · {RENDER_NAMES['sixel']}"
        if options.render == "kitty":
            placed = "" if options.kitty_placeholders else " (placed directly: no placeholders before kitty 0.28)"
            return f"{options.colors} · {RENDER_NAMES['kitty']}{placed}"
        return options.colors

    # -- reactive state --------------------------------------------------------------------------------

    def watch_show_boxes(self, value: bool) -> None:
        self._set_options(boxes=value)

    def watch_show_landmarks(self, value: bool) -> None:
        self._set_options(landmarks=value)

    def _toggle_pane(self, css_class: str, shown: bool, **options) -> None:
        self._graphics_stale = True
        self._forget_pane_images()  # panes move or hide: a directly placed Kitty image would stay behind
        self.query_one("#main").set_class(not shown, css_class)
        self._set_options(**options)
        self._panels_shown_for = None  # a pane shown again gets fresh content at once
        self.call_after_refresh(self._update_render_sizes)

    def watch_show_faces(self, value: bool) -> None:
        self._toggle_pane("-no-faces", value, face_pane=value)

    def watch_show_landmark_pane(self, value: bool) -> None:
        self._toggle_pane("-no-landmarks", value, landmark_pane=value)

    def watch_show_histogram(self, value: bool) -> None:
        self._toggle_pane("-no-histogram", value)

    def watch_paused(self, value: bool) -> None:
        self.runner.set_paused(value)

    def watch_recording(self, value: bool) -> None:
        if self.session_log is not None:
            self.session_log.recording = value

    def watch_selected_face(self, value: int | None) -> None:
        self._set_options(selected_face=value)
        self._panels_shown_for = None

    # -- actions ---------------------------------------------------------------------------------------

    def action_next_face(self) -> None:
        view = self.last_view
        ids = sorted(f.face_id for f in view.result.faces if f.face_id is not None) if view else []
        if not ids:
            self.notify("no tracked face to select", severity="warning")
            return
        current = view.selected.face_id if view and view.selected else None
        later = [i for i in ids if current is None or i > current]
        self.selected_face = later[0] if later else ids[0]

    def action_export(self) -> None:
        if self.session_log is None:
            self.notify("no session log to export", severity="error")
            return
        self._export(self.session_log)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, session_log: SessionLog) -> None:
        """Re-read and write the whole log off the UI thread: a long session's export must not freeze the app."""
        try:
            export = snapshot_log(session_log, self.config.export_dir, self.config.export_format)
        except (OSError, ValueError, FertuiError) as exc:  # FertuiError: a malformed events file
            self._notify_from_worker(f"export failed: {exc}", severity="error", timeout=8)
            return
        table = f"\ntable: {export.table}" if export.table else ""
        self._notify_from_worker(
            f"exported {export.rows} rows to {export.log}\nsummary: {export.summary}{table}", timeout=8
        )
        self.last_export = export

    def action_snapshot(self) -> None:
        view = self.last_view
        if view is None:
            self.notify("no frame to snapshot yet", severity="warning")
            return
        self._snapshot(view.result, self.show_boxes, self.show_landmarks)

    @work(thread=True, group="snapshot")
    def _snapshot(self, result: FrameResult, boxes: bool, landmarks: bool) -> None:
        try:
            path = save_snapshot(result, self.config.export_dir, boxes=boxes, landmarks=landmarks)
        except OSError as exc:
            self._notify_from_worker(f"snapshot failed: {exc}", severity="error", timeout=8)
            return
        self._notify_from_worker(f"snapshot saved to {path}", timeout=6)
        self.last_snapshot = path

    def _notify_from_worker(self, message: str, **options: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the app closed while the worker ran
            self.call_from_thread(self.notify, message, **options)

    def _frame_shown(self) -> Frame | None:
        view = self.last_view
        if view is None:
            self.notify("no frame shown yet: nothing to mark", severity="warning")
            return None
        return view.result.frame

    def action_marker(self, digit: str) -> None:
        frame = self._frame_shown()
        if frame is not None:
            self.drop_marker(self.config.marker_labels[int(digit) - 1], frame, value=digit)

    def action_note(self) -> None:
        frame = self._frame_shown()
        if frame is None:
            return
        self._graphics_stale = True  # the note input paints over the image; it is redrawn once it closes
        self._hide_placed_image()
        self._forget_pane_images()

        def write(text: str | None) -> None:
            if text:
                self.drop_marker(NOTE, frame, value=text, source="note")

        self.push_screen(NoteScreen(f"frame {frame.index}, {frame.time_s:.2f} s"), write)

    def drop_marker(
        self, trial_type: str, frame: Frame, *, value: str, source: Literal["key", "note"] = "key"
    ) -> Event:
        """Write a marker at `frame` (the one shown) to the events file and the LSL marker stream, and show it."""
        event = self.session.mark(trial_type, frame, value=value, source=source)
        self.last_marker = event
        self._marker_shown_until = time.monotonic() + MARKER_SHOWN_S
        self.status_bar.show(self.status_figures())
        return event

    def action_help(self) -> None:
        self._graphics_stale = True  # the help screen paints over the image; it is redrawn once it closes
        self._hide_placed_image()
        self._forget_pane_images()
        self.push_screen(HelpScreen())

    def _hide_placed_image(self) -> None:
        """A Kitty image placed directly (kitty before 0.28) shows above text: off the screen while a modal is up."""
        if self.settings.render == "kitty" and not self.render_loop.options.kitty_placeholders:
            payload = kitty.delete_placements()
            self._terminal_write(kitty.tmux_passthrough(payload) if self.config.graphics.tmux else payload)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The mode key is hidden (and off) where the terminal answered for half-blocks only."""
        if action == "cycle_render":
            return len(self.settings.modes) > 1
        return True

    def action_cycle_render(self) -> None:
        modes = self.settings.modes
        if len(modes) < 2:
            self.notify("this terminal answered for half-blocks only (see --render)", severity="warning")
            return
        current = self.settings.render
        self.set_render(modes[(modes.index(current) + 1) % len(modes)] if current in modes else modes[0])

    def set_render(self, mode: RenderMode) -> None:
        """Switch the video pane to `mode`, with that mode's defaults and a governor of its own."""
        previous = self.settings.render
        if mode == previous:
            return
        self._forget_pane_images()
        if previous == "kitty":
            payload = kitty.delete()
            self._terminal_write(kitty.tmux_passthrough(payload) if self.config.graphics.tmux else payload)
        self.settings = display_settings(self.config, render=mode)
        self.governor = make_governor(self.settings)
        self._last_graphics = None
        self._note = ""
        self._set_options(
            render=mode,
            colors=self.settings.colors,
            fps=self.settings.fps,
            palette=self.settings.palette,
            max_pixels=self._pixel_cap(self.governor.quality),
        )
        self.notify(f"video: {RENDER_NAMES[mode]}", timeout=3)

    async def action_quit(self) -> None:
        self.stop_request = Stop.finished()
        self.exit()

    def action_interrupt(self) -> None:
        self.stop_request = Stop(StopReason.CTRL_C)
        self.exit()

    # -- bytes, signals and shutdown -------------------------------------------------------------------

    @property
    def bytes_written(self) -> int:
        """Bytes written to the terminal so far (0 where Textual runs another driver: tests, Windows)."""
        driver = self._driver
        return driver.bytes_written if isinstance(driver, ByteCountingDriver) else 0

    @property
    def runner(self) -> Runner:
        return self.session.runner

    @property
    def session_log(self) -> SessionLog | None:
        return self.session.log

    def signal_received(self, signum: int) -> None:
        """The session's SignalCatcher calls this inside the signal handler: hand the stop to the UI loop."""
        loop = self._ui_loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._exit_on_signal, signum)

    def _exit_on_signal(self, signum: int) -> None:
        self.stop_request = Stop.from_signal(signum)
        self.shutdown_engine()  # first: the terminal may already be gone, so close the log before anything else
        # The log is complete on disk now, so a forced exit loses nothing (os._exit skips only the clean-up).
        watchdog = threading.Timer(SIGNAL_EXIT_GRACE_S, os._exit, args=(128 + int(signum),))
        watchdog.daemon = True
        watchdog.start()
        self.exit()

    def shutdown_engine(self) -> Stop:
        """Stop the render thread and the session (idempotent). The session's own failure, if it had one (a stage
        error, the disk full), is the stop; else what the user asked for (q, Ctrl-C, a signal)."""
        if self._stopped:
            return self.session.stopped or self.stop_request
        self._stopped = True
        self.render_loop.stop()
        if self.settings.render == "kitty" and self._driver is not None:
            # The terminal holds the video's image and the panes'; free them.
            payload = "".join(kitty.delete(image_id) for image_id in (kitty.IMAGE_ID, *all_pane_image_ids()))
            self._terminal_write(kitty.tmux_passthrough(payload) if self.config.graphics.tmux else payload)
        own = self.session.poll()
        stop = own if own is not None and own.reason is not StopReason.FINISHED else self.stop_request
        return self.session.stop(stop, timeout=2.0, display=self.display_figures())

    def display_figures(self) -> dict[str, object]:
        """How the session looked on the terminal, for the log's metadata (and benchmarks/app.py)."""
        first, last = self._first_shown, self._last_shown
        span = (last - first) if first is not None and last is not None else 0.0
        latencies = np.array(self._all_latencies_ms) if self._all_latencies_ms else None
        video = self.last_view.video if self.last_view is not None else None
        return {
            "frames_shown": self.frames_shown,
            "shown_fps": round((self.frames_shown - 1) / span, 2) if span > 0 else 0.0,
            "terminal_bytes": self.bytes_written,
            "bytes_per_shown_frame": round(self.bytes_written / self.frames_shown) if self.frames_shown else None,
            "latency_ms_p50": None if latencies is None else round(float(np.percentile(latencies, 50)), 1),
            "latency_ms_p95": None if latencies is None else round(float(np.percentile(latencies, 95)), 1),
            "video_cells": None if video is None else [video.cols, video.rows],
            "terminal_size": [self.size.width, self.size.height],
            "colors": self.render_loop.options.colors,
            "fps_target": self.render_loop.options.fps,
            "governor_level": self.governor.level,
            "budget_bytes_per_s": self.governor.budget,
            "ssh": self.config.ssh,
            "render": self.render_loop.options.render,
            "palette": self.render_loop.options.palette if self.render_loop.options.render == "sixel" else None,
            "images_shown": self.images_shown,
            "images_written": self.images_written,
            "bytes_per_image": round(self.image_bytes / self.images_shown) if self.images_shown else None,
            "image_size": None if self._image_size is None else list(self._image_size),
            "frames_dropped_terminal": self.frames_dropped_terminal,
            "pane_images_written": self.pane_images_written,
            "pane_image_bytes": self.pane_image_bytes,
            "terminal": self.config.graphics.figures(),
        }

    def on_unmount(self) -> None:
        self.shutdown_engine()


def make_governor(settings: DisplaySettings) -> QualityGovernor:
    """The byte-rate governor of a render mode: Sixel steps its palette, the others their bits per channel."""
    sixel_mode = settings.render == "sixel"
    pixel_caps = PIXEL_CAPS if settings.render != "halfblock" else ()
    return QualityGovernor(
        Quality(
            settings.palette if sixel_mode else settings.colors, settings.fps, pixel_caps[0] if pixel_caps else None
        ),
        settings.budget_bytes_per_s,
        govern_colors=settings.govern_colors,
        govern_fps=settings.govern_fps,
        color_steps=PALETTE_SIZES if sixel_mode else COLOR_MODES,
        pixel_steps=pixel_caps,
    )


def live_engine_config(config: AppConfig, source: FrameSource) -> EngineConfig:
    """The engine settings of the live app: the defaults for this source, the models the user named."""
    engine_config = EngineConfig(stills=source.stills)
    if config.models_dir is not None:
        engine_config.models_dir = config.models_dir
    return engine_config.with_jitter_crops(config.jitter_crops).with_landmarks(config.landmark_model, config.focal)


def make_app(
    config: AppConfig,
    source: FrameSource | None = None,
    processors: list | None = None,
    engine_config: EngineConfig | None = None,
) -> FertuiApp:
    """The one factory for the CLI and the tests: the app over a Session of `source` (or `config.source`
    opened by spec, played live), `processors` (or the engine's for that source, from `config.models_dir`) and
    a session log (always created; `config.record` only decides whether recording starts on). `engine_config`:
    the one `processors` were built from (default: the engine's defaults for the source and `config.models_dir`)."""
    from pipeline.io.sources import open_source

    if source is None:
        source = open_source(config.source, live=True)
    if engine_config is None:
        engine_config = live_engine_config(config, source)
    if processors is None:
        from pipeline.engine import build_processors

        processors = build_processors(engine_config)
    app_settings = {"fps": config.fps, "colors": config.colors, "ssh": config.ssh, "render": config.render}
    metadata = session_metadata("live", source, engine_config, processors, app=app_settings)
    log_path = config.log_path or default_log_path("session", config.log_format(), config.export_dir)
    landmarks = any(processor.name == "landmarks" for processor in processors)
    streams = None
    if config.lsl or config.lsl_markers:
        from pipeline.io.lsl import LslStreams, model_sha256

        streams = LslStreams(outlets=config.lsl, markers_from=config.lsl_markers, model_sha256=model_sha256(metadata))
    session_log = SessionLog(log_path, config.log_format(), metadata, landmarks=landmarks)
    events = EventsLog(events_path_for(session_log.path), create=True)  # the live app always has one
    return FertuiApp(config, Session(source, processors, session_log, events=events, streams=streams))
