"""Settings of the live app: what the command line asked for, and the display settings derived from it.

No Textual here: the CLI builds an AppConfig before deciding whether Textual is needed at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.io.log_format import log_format_for
from tui import defaults
from tui.graphics.detect import RENDER_CHOICES, RenderMode, TerminalGraphics, choose_mode
from tui.graphics.sixel import PALETTE_SIZES, PaletteSize
from tui.render import COLOR_MODES, ColorDepth

LOCAL_FPS = defaults.LOCAL_FPS
LOCAL_COLORS: ColorDepth = defaults.LOCAL_COLORS
LOCAL_BUDGET = 4_000_000  # bytes per second: a local terminal rarely needs governing
SSH_FPS = defaults.SSH_FPS
SSH_COLORS: ColorDepth = defaults.SSH_COLORS
SSH_BUDGET = 600_000  # bytes per second: about 5 Mbit/s before `ssh -C` compression
SSH_TEXTUAL_FPS = "30"  # Textual's own screen-update cap over SSH (its default is 60)
SSH_PIXEL_FPS = defaults.SSH_PIXEL_FPS
SSH_PALETTE: PaletteSize = defaults.SSH_PALETTE
LOCAL_PALETTE: PaletteSize = defaults.LOCAL_PALETTE


@dataclass(frozen=True)
class AppConfig:
    """What the user asked for. None means "choose for me" (the SSH-aware defaults)."""

    source: str = "0"
    fps: float | None = None
    colors: ColorDepth | None = None
    size: tuple[int, int] | None = None  # most video cells (cols, rows); None: fill the pane
    export_dir: Path = Path(".")
    export_format: str = "csv"
    log_path: Path | None = None
    record: bool = True
    models_dir: Path | None = None
    jitter_crops: int | None = None  # alignments per face per frame (None: the engine's defaults)
    landmark_model: str | None = None  # --landmarks (None: the engine's default)
    focal: float | None = None  # --focal, for head pose (None: from the frame width)
    ssh: bool = False
    render: str = "halfblock"  # halfblock | sixel | kitty | auto (auto: what the terminal answered for)
    palette: PaletteSize | None = None  # Sixel colours
    graphics: TerminalGraphics = TerminalGraphics()  # what the terminal said before the app started
    marker_labels: tuple[str, ...] = tuple(str(digit) for digit in range(1, 10))  # the labels of keys 1-9
    lsl: bool = False  # the expression and marker outlets
    lsl_markers: str | None = None  # the name of a stimulus program's marker stream to record

    def log_format(self) -> str:
        """The session log's format: from the --log suffix when it names one, else the export format."""
        return log_format_for(self.log_path, self.export_format)


def running_over_ssh(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get("SSH_CONNECTION"))


@dataclass(frozen=True)
class DisplaySettings:
    """How the video is drawn; the governor may step `colors` and `fps` when they were not given explicitly."""

    fps: float
    colors: ColorDepth
    budget_bytes_per_s: int
    govern_colors: bool
    govern_fps: bool
    render: RenderMode = "halfblock"
    palette: PaletteSize = LOCAL_PALETTE
    modes: tuple[RenderMode, ...] = ("halfblock",)  # what the mode key cycles through


def display_settings(config: AppConfig, render: RenderMode | None = None) -> DisplaySettings:
    """The settings for `render` (default: the mode the config asks for, resolved against the terminal)."""
    if config.render not in RENDER_CHOICES:
        raise ValueError(f"--render must be one of {', '.join(RENDER_CHOICES)}, not {config.render!r}")
    mode = render or choose_mode(config.render, config.graphics)
    pixels = mode != "halfblock"
    fps = config.fps or (SSH_PIXEL_FPS if config.ssh and pixels else SSH_FPS if config.ssh else LOCAL_FPS)
    colors = config.colors or (SSH_COLORS if config.ssh else LOCAL_COLORS)
    if colors not in COLOR_MODES:
        raise ValueError(f"--colors must be one of {', '.join(COLOR_MODES)}")
    palette = config.palette or (SSH_PALETTE if config.ssh else LOCAL_PALETTE)
    if palette not in PALETTE_SIZES:
        raise ValueError(f"--palette must be one of {', '.join(PALETTE_SIZES)}")
    modes = config.graphics.modes
    return DisplaySettings(
        fps=float(fps),
        colors=colors,
        budget_bytes_per_s=SSH_BUDGET if config.ssh else LOCAL_BUDGET,
        # Sixel's colour steps are palette sizes: governed unless --palette pinned one.
        govern_colors=(config.palette is None) if mode == "sixel" else (config.colors is None),
        govern_fps=config.fps is None,
        render=mode,
        palette=palette,
        modes=modes if mode in modes else (*modes, mode),  # a mode the user forced stays reachable
    )


def parse_size(text: str) -> tuple[int, int]:
    """ "80x24" -> (80, 24); raises ValueError with a message for the user."""
    cols, sep, rows = text.lower().partition("x")
    if not sep or not cols.isdigit() or not rows.isdigit() or int(cols) < 8 or int(rows) < 4:
        raise ValueError(f"--size wants COLSxROWS with at least 8x4 cells, like 80x24, not {text!r}")
    return (int(cols), int(rows))
