"""The real `fertui` command in a child process, as a user runs it: the one way the tests call it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fertui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`fertui ARGS...` from the checkout, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
