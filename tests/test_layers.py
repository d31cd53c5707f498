"""The layers of pyproject.toml's [tool.importlinter] hold: no import runs up them (README, "How it is built")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports() -> list[str]:
    """The lint-imports console script of this environment (installed beside the interpreter by the dev group)."""
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    assert found, "lint-imports is not installed: uv sync (import-linter is in the dev dependency group)"
    return [found]


def test_lint_imports_keeps_every_contract() -> None:
    done = subprocess.run([*lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    kept = done.stdout.count(" KEPT")
    assert kept == len(contracts["contracts"]) >= 3, done.stdout


def test_the_layer_contract_names_every_package_of_the_tree() -> None:
    """A new folder under pipeline/ must take its place in the layers, or nothing checks what it imports."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c for c in contracts["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    packages = {f"pipeline.{p.name}" for p in (ROOT / "pipeline").iterdir() if (p / "__init__.py").is_file()}
    assert packages | {"tui"} == named
    loose = sorted(p.name for p in (ROOT / "pipeline").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside every layer: {loose}"


def test_a_module_that_imports_up_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: a runtime module that imports the engine is reported."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "pipeline", tree / "pipeline", ignore=shutil.ignore_patterns("__pycache__", "models"))
    shutil.copytree(ROOT / "tui", tree / "tui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    (tree / "pipeline" / "runtime" / "up.py").write_text("from pipeline.engine import EngineConfig\n")
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*lint_imports(), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode != 0
    assert "pipeline.runtime.up -> pipeline.engine" in done.stdout
