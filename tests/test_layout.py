"""The layering rule of ARCHITECTURE.md, enforced: pure modules load no I/O library, no import
cycles, other packages reach a package only through its public surface, and no command module
of the CLI imports another."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bulkorders"

# Packages with a public surface (`EXPORTS` in their __init__); the most specific first.
PACKAGES = (
    "bulkorders.panel.sandbox", "bulkorders.panel", "bulkorders.ledger", "bulkorders.submit",
    "bulkorders.lifecycle", "bulkorders.report", "bulkorders.validation", "bulkorders.sheets",
    "bulkorders.web",
)  # fmt: skip

# Models, validation, planning and the sandbox's panel logic: pure, whatever imports them.
PURE = (
    "bulkorders.errors", "bulkorders.models", "bulkorders.clock", "bulkorders.results",
    "bulkorders.services_view", "bulkorders.validation.rules", "bulkorders.validation.rowschema",
    "bulkorders.validation.text", "bulkorders.lifecycle.plan", "bulkorders.lifecycle.outcome",
    "bulkorders.lifecycle.rowspec", "bulkorders.submit.outcome", "bulkorders.ledger.records",
    "bulkorders.ledger.identity", "bulkorders.ledger.location", "bulkorders.sheets.cells", "bulkorders.panel.sandbox.panel",
    "bulkorders.panel.sandbox.rules", "bulkorders.panel.sandbox.catalogue", "bulkorders.report.filters",
    "bulkorders.panel.sandbox.dialect", "bulkorders.panel.sandbox.dialects", "bulkorders.panel.sandbox.ratelimit",
    "bulkorders.panel.sandbox.pages", "bulkorders.panel.masking", "bulkorders.validation.links",
    "bulkorders.sheets.safe", "bulkorders.sheets.write_values",
    "bulkorders.web.views", "bulkorders.web.extra",
)  # fmt: skip
IO_LIBRARIES = ("httpx", "python_calamine", "openpyxl", "rich", "click", "sqlite3", "pandas")

# The CLI's framework; every other module of cli/ is a command module.
CLI_FRAMEWORK = ("bulkorders.cli", "bulkorders.cli.app", "bulkorders.cli.io", "bulkorders.cli.options")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(ROOT.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST, *, runtime_only: bool) -> list[ast.ImportFrom | ast.Import]:
    """Every import statement, at any depth; `runtime_only` leaves out `if TYPE_CHECKING:` blocks."""
    found: list[ast.ImportFrom | ast.Import] = []

    def visit(node: ast.AST) -> None:
        if runtime_only and isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def package_of(module: str) -> str | None:
    return next((p for p in PACKAGES if module == p or module.startswith(p + ".")), None)


def exports(package: str) -> dict[str, str]:
    return importlib.import_module(package).EXPORTS


def targets(node: ast.ImportFrom | ast.Import, known: set[str]) -> set[str]:
    """The bulkorders modules an import statement loads, a package's surface resolved to the
    module that defines each name."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    if not node.module or not node.module.startswith("bulkorders"):
        return set()
    found = set()
    for alias in node.names:
        sub = f"{node.module}.{alias.name}"
        if sub in known:
            found.add(sub)
        elif node.module in PACKAGES and alias.name in exports(node.module):
            found.add(f"{node.module}.{exports(node.module)[alias.name]}")
        elif node.module in known:
            found.add(node.module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles():
    trees = modules()
    known = set(trees)
    graph = {
        name: {t for node in imports(tree, runtime_only=True) for t in targets(node, known)} - {name}
        for name, tree in trees.items()
    }
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_io_library(module):
    code = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_other_packages_import_only_a_package_surface():
    private = []
    for name, tree in modules().items():
        for node in imports(tree, runtime_only=False):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            target = package_of(node.module)
            if target is None or target == package_of(name) or node.module == target:
                continue
            private.append(f"{name} imports {node.module}")
    assert private == []


def test_every_surface_name_exists():
    for package in PACKAGES:
        for name, module in exports(package).items():
            assert hasattr(importlib.import_module(f"{package}.{module}"), name), f"{package}.{name}"


def test_no_command_module_imports_another():
    crossing = []
    trees = modules()
    for name, tree in trees.items():
        if not name.startswith("bulkorders.cli.") or name in CLI_FRAMEWORK:
            continue
        for node in imports(tree, runtime_only=False):
            loaded = targets(node, set(trees))
            crossing += [f"{name} imports {t}" for t in loaded if t.startswith("bulkorders.cli.") and t not in CLI_FRAMEWORK]
    assert crossing == []
