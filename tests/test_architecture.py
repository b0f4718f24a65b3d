"""The house rules of docs/architecture.md that import-linter does not check (it checks the layers).

- Imports of the project's own modules stand at the top of a module (a function-level import hides a
  dependency and an import cycle), except under ``if TYPE_CHECKING`` and in a module ``__getattr__``.
- A function-level import is only for an optional or heavy dependency, and says why (``# lazy: …``).
- Library rooms hold no command code: no ``main``, no ``if __name__ == "__main__"``, no ``cli.py`` or
  ``bench*.py``; every sub-command is a module of ``inspatio_drive.commands``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inspatio_drive.commands.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("inspatio_drive", "planners", "scorers")
LAZY_ALLOWED = {"matplotlib", "navsim", "nuplan", "diffusers", "transformers", "ray", "av", "cv2", "numba", "playwright", "peft", "depth_anything_3"}
SOURCES = sorted(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py"))


def _function_imports(path: Path) -> list[tuple[ast.stmt, str]]:
    """``(import node, name of the enclosing function)`` for every import inside a function."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        up = node
        while up in parents:
            up = parents[up]
            if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node, up.name))
                break
    return found


def _top(node: ast.stmt) -> str:
    if isinstance(node, ast.ImportFrom):
        return "." if node.level else str(node.module).split(".")[0]
    return node.names[0].name.split(".")[0]


def test_sources_found():
    assert len(SOURCES) > 150


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_function_level_imports_are_lazy_dependencies_with_a_reason(path: Path):
    lines = path.read_text().splitlines()
    bad = []
    for node, func in _function_imports(path):
        top = _top(node)
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if top in PROJECT or top == ".":
            if func != "__getattr__":
                bad.append(f"line {node.lineno}: the project's own {ast.unparse(node)!r} inside {func}()")
        elif top not in LAZY_ALLOWED:
            bad.append(f"line {node.lineno}: {top} is a core dependency: import it at the top of the module")
        elif "# lazy:" not in text:
            bad.append(f"line {node.lineno}: lazy import of {top} without a '# lazy: <reason>' comment")
    assert not bad, f"{path.relative_to(ROOT)}: " + "; ".join(bad)


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if "commands" not in p.relative_to(ROOT).parts and p.name != "__main__.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_library_rooms_hold_no_command_code(path: Path):
    assert path.name != "cli.py" and not path.name.startswith("bench"), f"{path}: a command module outside commands/"
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert not {n for n in names if n == "main" or n.endswith("_main")}, f"{path}: a main() outside commands/"
    guards = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert not guards, f"{path}: an `if __name__ == '__main__'` block outside commands/"


def test_every_sub_command_is_a_commands_module():
    for name, cmd in SUBCOMMANDS.items():
        assert cmd.module.startswith("inspatio_drive.commands."), name
        assert (ROOT / (cmd.module.replace(".", "/") + ".py")).is_file(), name
