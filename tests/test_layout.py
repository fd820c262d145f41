"""The layout shows the architecture: no import cycles (function-level imports count,
TYPE_CHECKING ones don't), tasks are imported by nobody, pdf/ knows neither Celery nor
the database, no module grows past 700 lines, and every task named in a message exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGE = ROOT / "invoicing"
MAX_LINES = 700


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module `path` imports, at any depth (functions too), outside TYPE_CHECKING.

    `from a import b` counts as importing a.b when that is a module, else a.
    """
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    mods = modules(root)
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = imported(path, name, known)
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    path, seen, node = [start], {start}, start
    while True:
        node = min(t for t in graph[node] if t in group)
        path.append(node)
        if node in seen:
            return path[path.index(node) :]
        seen.add(node)


# --- the checker itself, on a package made up for it -------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    return package


def test_a_function_level_import_closes_a_cycle(tmp_path: Path) -> None:
    # given a imports b at the top, and b imports a inside a function
    package = write_package(
        tmp_path,
        {
            "a.py": "from pkg import b\n",
            "b.py": "def later():\n    from pkg.a import thing\n",
            "c.py": "import pkg.a\n",
        },
    )
    # when
    cycles = find_cycles(import_graph(package))
    # then
    assert cycles == [["pkg.a", "pkg.b", "pkg.a"]]


def test_type_checking_imports_and_relative_imports(tmp_path: Path) -> None:
    # given c and d import each other only for type checking, e and f relatively
    package = write_package(
        tmp_path,
        {
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.d import D\n",
            "d.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg import c\n"
            "else:\n    import pkg.e\n",
            "e.py": "from . import f\n",
            "f.py": "from .e import x\n",
        },
    )
    # when
    graph = import_graph(package)
    # then the TYPE_CHECKING edges are not there, the relative ones and else-branches are
    assert graph["pkg.c"] == set() and graph["pkg.d"] == {"pkg.e"}
    assert find_cycles(graph) == [["pkg.e", "pkg.f", "pkg.e"]]


# --- invoicing ----------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    # when
    cycles = find_cycles(import_graph(PACKAGE))
    # then
    assert cycles == [], "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_nothing_imports_the_task_modules() -> None:
    """Celery imports them (the app's include=); code sends tasks by name."""
    # given
    graph = import_graph(PACKAGE)
    # when
    importers = {name for name, targets in graph.items() if "invoicing.run.tasks" in targets}
    # then
    assert importers == set()


def test_pdf_knows_neither_celery_nor_the_database() -> None:
    # given
    mods = modules(PACKAGE)
    forbidden = ("celery", "kombu", "invoicing.db", "invoicing.models", "invoicing.run", "invoicing.billing")
    # when
    found = {
        (name, target)
        for name, path in mods.items()
        if name.startswith("invoicing.pdf")
        for target in imported(path, name, set(mods))
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    }
    # then
    assert found == set()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path: Path) -> None:
    # given
    relative = str(path.relative_to(ROOT))
    # when
    lines = len(path.read_text(encoding="utf-8").splitlines())
    # then
    assert lines <= MAX_LINES, f"{relative} has {lines} lines (limit {MAX_LINES})"


def _task_modules() -> set[str]:
    """Modules that define a task with the app's decorator (`@app.task`)."""
    found = set()
    for name, path in modules(PACKAGE).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if isinstance(target, ast.Attribute) and target.attr == "task":
                        found.add(name)
    return found


def test_the_worker_includes_every_task_module() -> None:
    from invoicing.celery import app

    # Celery adds its own (celery.app.builtins) once a worker has started in this process.
    assert {name for name in app.conf.include if name.startswith("invoicing")} == _task_modules()


def _names_sent() -> set[str]:
    """Task names in `app.signature(...)`, `app.send_task(...)` and beat's `"task": ...`."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("signature", "send_task")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "task"
                        and isinstance(value, ast.Constant)
                    ):
                        names.add(value.value)
    return names


def test_every_task_sent_by_name_exists() -> None:
    # given the tasks a worker registers
    from invoicing.celery import app

    app.loader.import_default_modules()
    # when
    sent = _names_sent()
    # then
    assert {
        "invoicing.render_batch",
        "invoicing.merge_run",
        "invoicing.chord_failed",
        "invoicing.wake",
    } <= sent
    assert sent <= set(app.tasks)


def test_task_names_are_unchanged() -> None:
    """Queued messages name their task; renaming one would orphan them."""
    from invoicing.celery import app

    app.loader.import_default_modules()
    assert {name for name in app.tasks if name.startswith("invoicing.")} == {
        "invoicing.render_batch",
        "invoicing.merge_run",
        "invoicing.chord_failed",
        "invoicing.start_billing_run",
        "invoicing.reconcile_runs",
        "invoicing.power",
        "invoicing.amass",
        "invoicing.wake",
        "invoicing.deliver_webhook",
        "invoicing.sweep_webhooks",
        "invoicing.deliver_batch",
        "invoicing.deliver_run",
    }


def test_production_code_carries_no_benchmark_instrumentation() -> None:
    """Only the bench's own workers load the probe (`--include invoicing.bench.probe`)."""
    from invoicing.celery import app

    # given
    graph = import_graph(PACKAGE)
    bench = {name for name in graph if name == "invoicing.bench" or name.startswith("invoicing.bench.")}
    # when
    importers = {name for name, targets in graph.items() if targets & bench} - bench
    # then: the command that runs the bench, and nothing else
    assert importers == {"invoicing.cli.tools"}
    assert not any("bench" in module for module in app.conf.include)


def imports_of_test_modules(source: str) -> set[str]:
    """The test modules (`tests.test_*`) `source` imports, also inside the code strings it
    hands to a fresh Python (`python -c CODE`): any string literal that parses as Python."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tests.test_")}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.startswith("tests.test_"):
                found.add(node.module)
            elif node.module == "tests":
                found |= {f"tests.{alias.name}" for alias in node.names if alias.name.startswith("test_")}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "import" in node.value:
            try:
                found |= imports_of_test_modules(node.value)
            except SyntaxError:  # prose, not code
                pass
    return found


def test_the_import_scan_reads_code_strings_too() -> None:
    # (written in pieces, so that this file itself imports no test module)
    pkg = "tests"
    code = f'import os\nCODE = "import sys; from {pkg}.test_render import x"\nfrom {pkg} import test_run\n'
    assert imports_of_test_modules(code) == {"tests.test_render", "tests.test_run"}
    assert imports_of_test_modules("from tests.support.factories import invoice") == set()


def test_no_test_module_imports_another() -> None:
    # shared helpers live in tests/support; a test module imported by another runs its
    # module-level code twice and ties the two together
    tests = ROOT / "tests"
    offenders = {
        str(path.relative_to(ROOT)): sorted(names)
        for path in sorted(tests.rglob("*.py"))
        if (names := imports_of_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"move these helpers to tests/support: {offenders}"
