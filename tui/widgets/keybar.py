"""The key bar: Textual's Footer, showing as many keys as fit, most needed first.

At 80 columns the app's fifteen keys do not fit in one line, and the Footer cut them where the width ended
("space Pau"), so `?` Help and `q` Quit never showed. Here each key has a priority; the keys that fit whole are
shown, in the app's order, and the rest are hidden from the bar only (they still work, and `?` lists them all).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

KEY_PRIORITY = (
    "help",
    "quit",
    "toggle('paused')",
    "toggle('recording')",
    "cycle_render",
    "marker('1')",
    "note",
    "next_face",
    "toggle('show_boxes')",
    "toggle('show_landmarks')",
    "toggle('show_faces')",
    "export",
    "snapshot",
    "toggle('show_landmark_pane')",
    "toggle('show_histogram')",
)
"""Actions from most to least needed in the bar; `?` and `q` first, so they show at any width that holds them."""


def priority(action: str) -> int:
    return KEY_PRIORITY.index(action) if action in KEY_PRIORITY else len(KEY_PRIORITY)


def keys_that_fit(widths: list[tuple[str, int]], budget: int) -> set[int]:
    """Indexes of the keys (action, cells) shown in `budget` cells: by priority, each key whole or not at all."""
    shown: set[int] = set()
    used = 0
    for index in sorted(range(len(widths)), key=lambda i: (priority(widths[i][0]), i)):
        width = widths[index][1]
        if used + width <= budget:
            shown.add(index)
            used += width
    return shown


class KeyBar(Footer):
    """Footer whose keys degrade by priority at narrow widths."""

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_keys)

    async def recompose(self) -> None:
        await super().recompose()
        self.fit_keys()

    def fit_keys(self) -> None:
        keys = list(self.query(FooterKey))
        if not keys or self.size.width <= 0:
            return
        unbounded = Size(10_000, 1)
        widths = [(key.action, key.get_content_width(unbounded, unbounded) + key.styles.margin.width) for key in keys]
        shown = keys_that_fit(widths, self.size.width)
        for index, key in enumerate(keys):
            key.display = index in shown
