"""The real `fertui` command in a child process, as a user runs it: the one way the tests call it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fertui(
    *args: str, timeout: float = 300, preexec_fn: Callable[[], object] | None = None
) -> subprocess.CompletedProcess[str]:
    """`fertui ARGS...` from the checkout, output captured as text; `preexec_fn` runs in the child before it starts
    (a resource limit, for example)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )


def fertui_without(modules: tuple[str, ...], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`fertui ARGS...` in a child process that cannot import `modules`, as if they were not installed: each is None
    in sys.modules, Python's own marker for a module that must not load (`import` raises ImportError and
    importlib.util.find_spec answers None). The rest of the environment is the checkout's, unchanged."""
    blocker = (
        "import sys\n"
        f"for name in {list(modules)!r}:\n"
        "    sys.modules[name] = None\n"
        "from pipeline.commands.cli import main_exit\n"
        "sys.argv[0] = 'fertui'\n"
        "main_exit()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", blocker, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
