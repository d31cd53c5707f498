"""The video pane: a Line API widget that shows strips built by the render thread.

Per frame the UI thread only swaps the list of strips and refreshes the rows that changed; the widget's
size follows the rendered frame and changes only on a resize (never a layout pass per frame).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.filter import LineFilter
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.render import RenderedFrame


class CellImage(Widget):
    """Shows a list of strips, one per row (video, face crops, the landmark canvas)."""

    DEFAULT_CSS = """
    CellImage { width: auto; height: auto; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._strips: list[Strip] = []

    @property
    def strips(self) -> list[Strip]:
        return self._strips

    def set_strips(self, strips: list[Strip], dirty_rows: list[int] | None = None) -> None:
        """Show `strips`; only `dirty_rows` are repainted when the shape is unchanged.

        The same list again is not repainted: in the pixel modes the panes' cells are one cached list per shape,
        and a repaint would wipe the image drawn over them (tui/graphics/panes.py)."""
        if strips is self._strips and dirty_rows is None:
            return
        cols = strips[0].cell_length if strips else 0
        shape_changed = len(strips) != len(self._strips) or (self._strips and self._strips[0].cell_length != cols)
        self._strips = strips
        if shape_changed or not self._strips:
            self.styles.width = cols
            self.styles.height = len(strips)
            self.refresh()
        elif dirty_rows is None:
            self.refresh()
        elif dirty_rows:
            self.refresh(*(Region(0, y, cols, 1) for y in dirty_rows))

    def get_line_filters(self) -> Sequence[LineFilter]:
        """None: our cells are already truecolour (or 256-colour by choice), with no dim or system colours.

        The app's default filter (ANSI to truecolour) would rebuild every segment of every changed row per
        frame for nothing, and would turn the 256-colour mode back into truecolour bytes.
        """
        return ()

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)


class VideoView(CellImage):
    """The live video with its overlays."""

    def show(self, frame: RenderedFrame) -> None:
        self.set_strips(frame.strips, frame.dirty_rows)
