"""The house stays easy to change: no hand-written module over 450 lines and no function
over 80, every module's file name unique across the core and deployments/ (so a name says
which module it is), and no import circle among them."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("platform/ponder", "deployments", "bench", "scripts")
PACKAGES = {"ponder": ROOT / "platform" / "ponder", "deployments": ROOT / "deployments"}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _hand_written() -> list[Path]:
    return sorted(
        path
        for folder in CHECKED
        for path in (ROOT / folder).rglob("*.py")
        if "_pb2" not in path.name
    )


def test_no_module_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _hand_written()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_over_the_line_limit() -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"
        for path in _hand_written()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_module_names_are_unique() -> None:
    names = Counter(path.name for root in PACKAGES.values() for path in root.rglob("*.py"))
    shared = sorted(n for n, count in names.items() if count > 1 and n != "__init__.py")
    assert not shared, shared


def _modules() -> dict[str, Path]:
    modules = {}
    for prefix, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join((prefix, *parts)).removesuffix(".__init__")] = path
    return modules


def _imports(path: Path) -> list[str]:
    """Every module name an import statement names (lazy ones included; those under
    `if TYPE_CHECKING:` never run and are left out)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                names.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names.append(child.module)
                names.extend(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return names


def test_no_import_circle() -> None:
    modules = _modules()

    def module_of(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {
        name: {
            target
            for imported in _imports(path)
            if (target := module_of(imported)) is not None and target != name
        }
        for name, path in modules.items()
    }
    # Depth-first search for a back edge; the first circle found is reported.
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def circle_from(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := circle_from(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = circle_from(node)
            assert found is None, " -> ".join(found)
