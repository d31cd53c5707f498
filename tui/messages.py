"""Messages that threads post to the app (Textual's post_message is thread-safe)."""

from __future__ import annotations

from textual.message import Message

from tui.render_loop import ViewFrame


class FrameReady(Message):
    """The render thread built a new frame. One the UI has not handled yet is superseded by the next, so a slow
    terminal never backs frames up: it shows the newest."""

    def __init__(self, view: ViewFrame) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)
