"""No module computes a models or data path at import time: pipeline.core.paths answers when asked."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.core import paths

ROOT = Path(__file__).resolve().parents[1]
PATH_FUNCTIONS = {"installed_models_dir", "default_data", "default_ferplus", "checkout_root", "shared_data_dir"}


def calls_at_import(tree: ast.Module) -> list[int]:
    """Lines where a path function is called by code that runs on import: module and class bodies, decorators,
    default arguments; not function bodies or lambdas (they run when called)."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for part in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if part is not None:
                    visit(part)
            return
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in PATH_FUNCTIONS:
                found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_no_module_computes_a_path_at_import() -> None:
    offenders = {}
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        lines = calls_at_import(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[str(path.relative_to(ROOT))] = lines
    assert offenders == {}


def test_the_check_sees_a_default_argument_and_a_dataclass_field() -> None:
    source = "def f(folder=installed_models_dir()): ...\nclass C:\n    data: str = str(default_data())\n"
    assert calls_at_import(ast.parse(source)) == [1, 3]
    assert calls_at_import(ast.parse("def f():\n    return default_data()\ng = lambda: checkout_root()\n")) == []


def test_the_data_path_follows_the_environment_when_asked(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.default_data() == tmp_path / "fer2013.npz"
    assert paths.default_ferplus() == tmp_path / "ferplus_labels.csv"
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "elsewhere.npz"))
    assert paths.default_data() == tmp_path / "elsewhere.npz"
