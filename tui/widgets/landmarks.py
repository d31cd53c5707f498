"""The landmark pane: the selected face's 68 landmarks as a line drawing, for positioning the camera."""

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
        yield CellImage(id="landmark-canvas")
        yield Static("no landmarks", id="landmark-note")

    def show(self, strips: list[Strip] | None, face_id: int | None) -> None:
        canvas = self.query_one(CellImage)
        note = self.query_one("#landmark-note", Static)
        if strips:
            canvas.set_strips(strips)
            canvas.display = True
            note.display = False
            self.border_title = f"landmarks #{face_id}"
        else:
            canvas.display = False
            note.display = True
            self.border_title = "landmarks"
