"""The emotion histogram: the selected face's smoothed probabilities now, and the session's share of time."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from pipeline.core.frames import Face
from pipeline.core.labels import EMOTIONS
from tui.annotate import emotion_color
from tui.widgets.faces import bar

NOW_WIDTH = 8
SHARE_WIDTH = 4


def histogram_text(face: Face | None, shares: dict[str, float]) -> Text:
    values = None if face is None else (face.smoothed if face.smoothed is not None else face.probs)
    text = Text(no_wrap=True, overflow="crop")
    who = "no face" if face is None else f"#{face.face_id}"
    text.append(f"{'':8} {who + ' now':<{NOW_WIDTH + 5}} session\n", style="bold")
    for i, emotion in enumerate(EMOTIONS):
        value = 0.0 if values is None else float(values[i])
        share = shares.get(emotion, 0.0)
        r, g, b = emotion_color(emotion)
        color = f"rgb({r},{g},{b})"
        current = face is not None and face.label == emotion
        text.append(f"{emotion:<8} ", style="bold" if current else "")
        text.append(bar(value, NOW_WIDTH), style=color)
        text.append(f" {value * 100:3.0f}% ")
        text.append(bar(share, SHARE_WIDTH), style=color)
        text.append(f" {share * 100:3.0f}%")
        if i < len(EMOTIONS) - 1:
            text.append("\n")
    return text


class HistogramPane(Static):
    _shown: Text | None = None

    def show(self, face: Face | None, shares: dict[str, float]) -> None:
        # Always eight lines in a pane of fixed height: no layout pass, and nothing when unchanged.
        text = histogram_text(face, shares)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
