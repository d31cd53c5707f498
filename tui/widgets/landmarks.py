"""The landmark pane: the selected face's 68 landmarks as a line drawing, for positioning the camera, with its head
pose's axes when it has one (drawn by tui.render.landmark_outline)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widgets import Static

from tui.widgets.video import CellImage


class LandmarkPane(Vertical):
    DEFAULT_CSS = """
    LandmarkPane > #landmark-note { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        self._canvas = CellImage(id="landmark-canvas")
        self._note = Static("no landmarks", id="landmark-note")
        yield self._canvas
        yield self._note

    @property
    def canvas(self) -> CellImage:
        """The outline's widget (the pixel modes draw its image over it)."""
        return self._canvas

    def show(self, strips: list[Strip] | None, face_id: int | None) -> None:
        canvas, note = self._canvas, self._note
        if strips:
            canvas.set_strips(strips)
            canvas.display = True
            note.display = False
            title = f"landmarks #{face_id}"
        else:
            canvas.display = False
            note.display = True
            title = "landmarks"
        if self.border_title != title:  # setting it repaints the border even when it is the same
            self.border_title = title
