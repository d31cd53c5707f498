"""The engine imports no UI, and runs without TensorFlow; both checked in a fresh process.

TensorFlow takes 4-8 s to import on a 2-core machine, most of what start-up used to cost; the engine's
models are TFLite files run by LiteRT, so only training, export and the reference detector import it.
"""

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


RUNTIME_CHECK = """
import sys
from pipeline.engine import EngineConfig, build_processors
processors = build_processors(EngineConfig())
processors[2].setup()  # the default landmarks, the face mesh, run on LiteRT: not mediapipe, and no dlib
heavy = sorted(m for m in ("tensorflow", "keras", "mtcnn", "mediapipe", "dlib") if m in sys.modules)
print("processors:", [p.name for p in processors], "heavy modules:", heavy)
sys.exit(1 if heavy else 0)
"""


def test_the_engine_runs_without_importing_tensorflow() -> None:
    done = subprocess.run([sys.executable, "-c", RUNTIME_CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "'detection', 'tracking', 'landmarks', 'pose', 'eyes', 'emotion'" in done.stdout
    assert "heavy modules: []" in done.stdout
