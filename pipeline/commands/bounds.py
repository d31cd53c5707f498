"""Sane bounds of the numeric command-line options, shared by every command that takes them.

An option outside its bounds is one line naming the bound (exit 2), before any work starts: a huge `--max-frames`
would show a 17-digit time left, `--jitter-crops 1000` runs at a fraction of a frame per second, and a
`--min-face` larger than any picture finds nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from pipeline.core.errors import UsageError


class Bound(NamedTuple):
    low: int
    high: int
    why: str  # what the upper bound is, for the message
    low_why: str = ""  # what the lower bound is, where it is not plain


MAX_SIDE_PX = 3840  # pipeline.io.sources.MAX_SIDE, repeated so that checking options never imports OpenCV

BOUNDS: dict[str, Bound] = {
    "--max-frames": Bound(1, 100_000_000, "about 39 days of video at 30 fps"),
    # pipeline.runtime.emotion.crop's jitter cycle: 75 shifts and scales, plain and mirrored; more would repeat crops.
    "--jitter-crops": Bound(1, 150, "the distinct alignments of a face"),
    "--min-face": Bound(12, MAX_SIDE_PX, "the largest picture side analysed", "the detector's smallest window"),
    "--detect-every": Bound(1, 1000, "tracking alone would lose the faces long before"),
    "--jobs": Bound(1, 1024, "far more workers than any machine's cores"),
    "--retries": Bound(0, 100, "a task that fails a hundred times will not succeed"),
}


def check_bound(option: str, value: int | None) -> None:
    """UsageError naming the bound when `value` (None: not given) is outside `option`'s bounds."""
    if value is None:
        return
    bound = BOUNDS[option]
    if value < bound.low:
        why = f" ({bound.low_why})" if bound.low_why else ""
        raise UsageError(f"{option} must be at least {bound.low}{why}, not {value}")
    if value > bound.high:
        raise UsageError(f"{option} must be at most {bound.high} ({bound.why}), not {value}")
