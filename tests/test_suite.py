"""The test suite's own house rules, so that they hold for test modules added later."""

from __future__ import annotations

import ast

from tests.support.paths import ROOT


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_tests_share_code_through_tests_support_only() -> None:
    """Helpers live in tests/support; fixtures in conftest are found by pytest, not imported."""
    offenders = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        shared = {m for m in imported_modules(path.read_text(encoding="utf-8")) if m.split(".")[0] == "tests"}
        wrong = {m for m in shared if m != "tests.support" and not m.startswith("tests.support.")}
        if wrong:
            offenders[str(path.relative_to(ROOT))] = sorted(wrong)
    assert offenders == {}
