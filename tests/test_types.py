"""The engine and the UI type-check: mypy, configured in pyproject.toml ([tool.mypy]), finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error_in_pipeline_and_tui():
    pytest.importorskip("mypy", reason="mypy is in the dev group: uv sync")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
