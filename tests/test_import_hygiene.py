"""The engine imports no UI: `pipeline` and every submodule load without Textual (checked in a fresh process)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import pipeline
names = [m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")]
for name in names:
    importlib.import_module(name)
assert len(names) >= 10, names
leaked = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "rich_pixels")))
print("imported", len(names), "modules; UI modules:", leaked)
sys.exit(1 if leaked else 0)
"""


def test_pipeline_never_imports_textual() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "UI modules: []" in done.stdout
