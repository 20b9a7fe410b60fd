"""Imports point down: no import cycle between the package's areas, lazy imports included.

An area is a sub-package of `peepopay/` or one of its top-level modules. Every `models` module
(`peepopay/models.py` and `peepopay/<area>/models.py`) is one layer of its own below the areas,
as DESIGN.md draws it: surfaces -> bookings -> payments, notifications -> models -> db, clock.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.test_boundaries import imported_names

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "peepopay"
MODELS = "models"


def module_names() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def area_of(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == MODELS:
        return MODELS
    return parts[1] if len(parts) > 1 else "peepopay"


def imports_of(path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, module) for each import of a peepopay module; `from peepopay import x` is an
    import of `peepopay.x`, not of the package's `create_app`."""
    for line, name in imported_names(path.read_text()):
        if name in known and name != "peepopay":
            yield line, name


def area_graph() -> dict[str, dict[str, list[str]]]:
    """area -> imported area -> the `file:line` of each import that makes the arrow."""
    known = module_names()
    graph: dict[str, dict[str, list[str]]] = {}
    for module, path in known.items():
        source = area_of(module)
        for line, target in imports_of(path, known):
            goal = area_of(target)
            if goal != source:
                where = f"{path.relative_to(ROOT)}:{line}"
                graph.setdefault(source, {}).setdefault(goal, []).append(where)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Each strongly connected group of two or more areas (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_areas() -> None:
    graph = area_graph()
    assert {"bookings", "payments", "dashboard", "widget", MODELS} <= set(graph)
    problems = []
    for group in cycles(graph):
        arrows = [
            f"  {a} -> {b}: {', '.join(graph[a][b])}"
            for a in group
            for b in group
            if b in graph.get(a, {})
        ]
        problems.append(" / ".join(group) + "\n" + "\n".join(arrows))
    assert not problems, "import cycles between areas:\n" + "\n".join(problems)


def test_the_cycle_finder_sees_a_lazy_import_cycle() -> None:
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:9"]}, "c": {"a": ["c.py:3"]}}
    assert cycles(graph) == [["a", "b", "c"]]
    lazy = "def f():\n    from peepopay.bookings import lifecycle\n"
    assert list(imported_names(lazy)) == [
        (2, "peepopay.bookings"),
        (2, "peepopay.bookings.lifecycle"),
    ]
    assert area_of("peepopay.payments.models") == area_of("peepopay.models") == MODELS
    assert area_of("peepopay.payments.refunds") == "payments"
    tree = ast.parse(lazy)
    assert isinstance(tree.body[0], ast.FunctionDef)
