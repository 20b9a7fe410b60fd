"""The product stands alone: `peepopay/` never imports the development tools beside it (the
Stripe emulator, `make run`'s devstack), which are in neither the wheel nor the image, and the
emulator imports nothing from the product."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_TOOLS = frozenset({"stripe_emulator", "devstack"})


def imported_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) for every absolute import, including `importlib.import_module` and
    `__import__` calls with a literal name; `from a import b` gives `a` and `a.b`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"import_module", "__import__"}
                )
            )
        ):
            yield node.lineno, node.args[0].value


def names_dev_tool(name: str) -> bool:
    return not DEV_TOOLS.isdisjoint(name.split("."))


def offenders(folder: Path, forbidden: Callable[[str], bool]) -> list[str]:
    modules = sorted(folder.rglob("*.py"))
    assert len(modules) > 10, f"found no modules under {folder}"
    return [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in modules
        for line, name in imported_names(path.read_text(encoding="utf-8"))
        if forbidden(name)
    ]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import stripe_emulator", True),
        ("import stripe_emulator.testing as t", True),
        ("from stripe_emulator.testing import running_emulator", True),
        ("from devstack import redis_binary", True),
        ("from peepopay import devstack", True),
        ("import peepopay.stripe_emulator", True),
        ("def f():\n    import importlib\n    importlib.import_module('devstack')", True),
        ("__import__('stripe_emulator.app')", True),
        ("from peepopay.payments import gateway", False),
        ("from . import stripe_gateway", False),
        ("EXTENSION = 'stripe_emulator'", False),
    ],
)
def test_detects_imports_of_dev_tools(source: str, found: bool) -> None:
    assert any(names_dev_tool(name) for _, name in imported_names(source)) is found


def test_product_does_not_import_dev_tools() -> None:
    assert not (ROOT / "peepopay" / "stripe_emulator").exists()
    assert not (ROOT / "peepopay" / "devstack.py").exists()
    assert offenders(ROOT / "peepopay", names_dev_tool) == []


def test_emulator_does_not_import_product() -> None:
    """It stands in for Stripe, so it knows nothing of PeepoPay beyond the HTTP API."""
    assert offenders(ROOT / "stripe_emulator", lambda name: name.split(".")[0] == "peepopay") == []
