"""The note input: a small modal where a free-text note is typed; it is written as a marker of its own."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

NOTE_MAX_CHARS = 200


class NoteScreen(ModalScreen[str | None]):
    """Asks for a note; dismissed with its text (enter) or None (escape, or nothing typed)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at  # where the note goes, shown to the user: "frame 123, 6.15 s"

    def compose(self) -> ComposeResult:
        yield Vertical(
            Static(f"note at {self.at}"),
            Input(placeholder="what happened", max_length=NOTE_MAX_CHARS, id="note-text"),
            Static("enter writes it · escape cancels", classes="hint"),
            id="note",
        )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.dismiss(message.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
