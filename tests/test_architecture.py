"""Architecture rules of the package (docs/architecture.md), checked on the source text.

1. No import cycles among ``spikemask`` modules.
2. Only ``spikemask.measure.recorder`` registers hooks on modules or tensors.
3. ``ruff check`` is clean.
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "spikemask"


# ----------------------------------------------------------------------------- the import graph
def module_name(path: Path) -> str:
    """Dotted name of a source file; a package ``__init__.py`` is the package itself."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    """``{module name: path}`` of every ``src/spikemask/**/*.py``."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except those only run under ``if TYPE_CHECKING:`` (function bodies included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def known_module(name: str, modules: set[str]) -> str | None:
    """The longest prefix of dotted ``name`` that is a ``spikemask`` module (``None`` outside the package)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in modules:
            return prefix
    return None


def imported_modules(module: str, path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """``(imported spikemask module, line)`` for every import in ``path``.

    ``from a import b`` imports ``a.b`` if that is a module, else ``a``. The implicit import of a
    parent package (``import a.b`` runs ``a/__init__``) is not an edge; an explicit import of a package is.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [known_module(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                      # level 1 = this package, 2 = its parent, ...
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else known_module(base, modules)
                       for alias in node.names]
        else:
            continue
        found += [(target, node.lineno) for target in targets if target is not None and target != module]
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """``{module: {imported module: line of its first import}}`` over the whole package."""
    files = source_files()
    modules = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for target, line in imported_modules(module, path, modules):
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def strongly_connected_components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph``, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest import cycle through the first module of ``component``, as ``[a, b, ..., a]``."""
    start, members = component[0], set(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node]):
                if successor == start:
                    path = [node]                               # walk back: node, its parent, ..., start
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if successor in members and successor not in parents:
                    parents[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{component} is not a cycle")


def test_no_import_cycles():
    graph, files = import_graph(), source_files()
    assert "spikemask.errors" in graph["spikemask.masks.dynamic"]           # the scan sees imports at all
    cycles = [component for component in strongly_connected_components(graph) if len(component) > 1]
    report = []
    for component in cycles:
        cycle = shortest_cycle(graph, component)
        steps = "\n".join(f"    {a} -> {b}  ({files[a].relative_to(ROOT)}:{graph[a][b]})"
                          for a, b in zip(cycle, cycle[1:]))
        report.append(f"  {len(component)} modules: {', '.join(component)}\n  e.g.\n{steps}")
    assert not cycles, f"{len(cycles)} import cycle(s) among spikemask modules:\n" + "\n".join(report)


def test_import_scan_rules(tmp_path: Path):
    """The scan resolves relative and ``from`` imports, sees imports in functions, skips TYPE_CHECKING."""
    modules = {"spikemask", "spikemask.a", "spikemask.a.b", "spikemask.a.c", "spikemask.d", "spikemask.e"}
    source = tmp_path / "b.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import torch\n"
        "from . import c\n"                         # spikemask.a.c (a module)
        "from spikemask.d import thing\n"           # spikemask.d (thing is a name in it)
        "from spikemask import create_model\n"      # spikemask (an explicit import of the package)
        "if TYPE_CHECKING:\n"
        "    import spikemask.e\n"                  # not at run time
        "def f():\n"
        "    from ..a.c import name\n"              # spikemask.a.c again, inside a function
        "    import spikemask.a.b\n",               # itself: not an edge
        encoding="utf-8")
    found = imported_modules("spikemask.a.b", source, modules)
    assert sorted(found) == [("spikemask", 5), ("spikemask.a.c", 3), ("spikemask.a.c", 9), ("spikemask.d", 4)]


def test_cycle_finder_on_a_known_graph():
    """Tarjan finds the one 3-cycle and the report names it in order; a lone module is no cycle."""
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert sorted(strongly_connected_components(graph)) == [["a", "b", "c"], ["d"]]
    assert shortest_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


# ----------------------------------------------------------------------------- hooks only in the recorder
HOOK_REGISTRATIONS = {
    "register_forward_hook", "register_forward_pre_hook",                                   # nn.Module
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_backward_hook",
    "register_module_forward_hook", "register_module_forward_pre_hook",                    # global module hooks
    "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
    "register_hook", "register_post_accumulate_grad_hook",                                 # tensors
}


def hook_registrations(path: Path) -> list[int]:
    """Lines of every call ``<anything>.register_*hook(...)`` (the names above) in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted(node.lineno for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in HOOK_REGISTRATIONS)


def test_only_the_recorder_registers_hooks():
    recorder = PACKAGE / "measure" / "recorder.py"
    hits = {path: hook_registrations(path) for path in sorted(PACKAGE.rglob("*.py"))}
    assert hits[recorder]                                                              # the scan sees hooks at all
    outside = [f"{path.relative_to(ROOT)}:{line}" for path, lines in hits.items() if path != recorder
               for line in lines]
    assert not outside, "hooks registered outside src/spikemask/measure/recorder.py:\n  " + "\n  ".join(outside)


def test_the_hook_scan_finds_a_registration(tmp_path):
    stray = tmp_path / "stray.py"
    stray.write_text("def f(m):\n    return m.register_forward_hook(print)\n", encoding="utf-8")
    assert hook_registrations(stray) == [2]


# ----------------------------------------------------------------------------- lint
@pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed (pip install -e '.[test]')")
def test_ruff_check_is_clean():
    command = [sys.executable, "-m", "ruff", "check", "--output-format", "concise", "src", "tests", "benchmarks"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"
