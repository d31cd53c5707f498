"""The face pane: one card per tracked face: its crop (rendered like the video), its id, probability bars, head
pose and blink count."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from pipeline.core.frames import Face
from pipeline.core.labels import EMOTIONS
from tui.annotate import emotion_color
from tui.widgets.video import CellImage

BAR_WIDTH = 4
EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar `width` cells long, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def probability_lines(values, width: int = BAR_WIDTH, highlight: str | None = None) -> Text:
    """One line per emotion: name, bar, percent."""
    text = Text(no_wrap=True, overflow="crop")
    for i, emotion in enumerate(EMOTIONS):
        value = 0.0 if values is None else float(values[i])
        r, g, b = emotion_color(emotion)
        name_style = "bold" if emotion == highlight else ""
        text.append(f"{emotion:<8} ", style=name_style)
        text.append(bar(value, width), style=f"rgb({r},{g},{b})")
        text.append(f" {value * 100:3.0f}%")
        if i < len(EMOTIONS) - 1:
            text.append("\n")
    return text


def face_title(face: Face, selected: bool) -> Text:
    marker = "▶ " if selected else "  "
    label = face.label or "…"
    r, g, b = emotion_color(face.label)
    text = Text(f"{marker}#{face.face_id} ", style="bold", no_wrap=True, overflow="crop")
    text.append(label, style=f"bold rgb({r},{g},{b})")
    if face.confidence is not None:
        text.append(f" {face.confidence:.2f}")
    return text


def measure_line(face: Face) -> Text:
    """Head pose in whole degrees (yaw, pitch, roll) and the blink count: "y+12 p-3 r+5 b3"; "-" where unknown.
    Short enough for the narrow side column (80x24)."""
    text = Text(no_wrap=True, overflow="crop", style="dim")
    if face.pose is None:
        text.append("y- p- r-")
    else:
        pitch, yaw, roll = (math.degrees(float(angle)) for angle in face.pose[:3])
        text.append(f"y{yaw:+.0f} p{pitch:+.0f} r{roll:+.0f}")
    text.append(" b-" if face.blinks is None else f" b{face.blinks}")
    return text


class FaceCard(Horizontal):
    DEFAULT_CSS = """
    FaceCard { height: auto; margin-bottom: 1; }
    FaceCard > CellImage { margin-right: 1; }
    FaceCard > Static { width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, face_id: int) -> None:
        super().__init__(id=f"face-{face_id}")
        self.face_id = face_id
        # Built here, not in compose: `show` may run before the card has been composed.
        self._crop = CellImage(classes="crop")
        self._bars = Static(classes="bars")
        self._shown: Text | None = None

    @property
    def crop(self) -> CellImage:
        return self._crop

    def compose(self) -> ComposeResult:
        yield self._crop
        yield self._bars

    def show(self, face: Face, crop, selected: bool) -> None:
        if crop is not None:
            self._crop.set_strips(crop)
        values = face.smoothed if face.smoothed is not None else face.probs
        text = face_title(face, selected)
        text.append("\n")
        text.append_text(probability_lines(values, highlight=face.label))
        text.append("\n")
        text.append_text(measure_line(face))
        if text != self._shown:  # always nine lines: no layout pass after the first
            self._bars.update(text, layout=self._shown is None)
            self._shown = text


class FacesPane(VerticalScroll):
    """Cards are added and removed as faces come and go; cards of faces still present are updated in place."""

    DEFAULT_CSS = """
    FacesPane > #no-faces { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        self._empty = Static("no face in view", id="no-faces")
        yield self._empty

    def show(self, faces: tuple[Face, ...], crops: dict, selected_id: int | None) -> None:
        tracked = sorted(((f.face_id, f) for f in faces if f.face_id is not None), key=lambda pair: pair[0])
        wanted = {face_id for face_id, _ in tracked}
        cards = {card.face_id: card for card in self.query(FaceCard)}
        for face_id, stale in cards.items():
            if face_id not in wanted:
                stale.remove()
        for face_id, face in tracked:
            card = cards.get(face_id)
            if card is None:
                card = FaceCard(face_id)
                self.mount(card)
            card.show(face, crops.get(face_id), face_id == selected_id)
        self._empty.display = not tracked

    def crop_widgets(self) -> dict[int, CellImage]:
        """Each card's thumbnail widget by face id (the pixel modes draw their images over them)."""
        return {card.face_id: card.crop for card in self.query(FaceCard)}
