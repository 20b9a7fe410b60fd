"""Routes stay thin: no HTTP route body (docstring aside) runs over 15 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "peepopay"
MAX_BODY_LINES = 15
ROUTE_METHODS = {"get", "post", "put", "delete", "patch", "route"}

FunctionDef = ast.FunctionDef | ast.AsyncFunctionDef


def is_route_decorator(node: ast.expr) -> bool:
    """`@<blueprint>.get(...)` and its siblings; `@bp.cli.command` and the like are not routes."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ROUTE_METHODS
        and isinstance(node.func.value, ast.Name)
    )


def routes(tree: ast.AST) -> Iterator[FunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, FunctionDef) and any(map(is_route_decorator, node.decorator_list)):
            yield node


def body_lines(function: FunctionDef) -> int:
    body = function.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    end = function.end_lineno or body[-1].lineno
    return end - body[0].lineno + 1


def fat_routes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        module = path.relative_to(PACKAGE).as_posix()
        for function in routes(tree):
            if (lines := body_lines(function)) > MAX_BODY_LINES:
                where = f"peepopay/{module}:{function.lineno} {function.name} ({lines} lines)"
                found.append(where)
    return found


def test_the_walk_finds_routes() -> None:
    found = [
        function.name
        for path in PACKAGE.rglob("*.py")
        for function in routes(ast.parse(path.read_text()))
    ]
    assert "book" in found
    assert len(found) > 50


def test_no_route_body_is_over_fifteen_lines() -> None:
    over = fat_routes()
    assert not over, "routes over 15 lines:\n" + "\n".join(over)
