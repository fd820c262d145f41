"""Every command and option that `invoicing --help` and its subcommands list has a test
that runs it through the CLI.

The rule, read from the test sources (tests/**/*.py, support included) with `ast`:

- A *command line* is the list of positional arguments of a call that runs the CLI:
  `<anything>.cli(...)` (`Env.cli`, its own process) or `<anything>.invoke(...)` (`Env.invoke`,
  click's CliRunner), or `subprocess.run/Popen([...])` of a list whose first item names
  `invoicing`. A string literal is a word; anything else (a path, a variable) is a blank.
- A *wrapper* is a function whose body runs such a call with literal words followed by
  `*args`, its own star parameter (`run_json(env, *args)` runs `run --json ARGS`); a call of a
  wrapper is the command line of its literal words then the call's own arguments after the
  wrapper's fixed parameters. Wrappers of wrappers count too.
- A tuple or list of strings whose first item is a command name (or `--version`) is a
  command line too: that is how parametrized tests hold theirs before `env.cli(*args)`.
- A command is covered by a command line that starts with its words (`db seed ...`); an
  option by such a line where a later word is the option (`--limit`, `--limit=3`).

What no test can reach this way is exempted below, each with its reason; the list can only
shrink: an exemption that a test now covers fails the suite until it is removed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click

from invoicing.cli import main

TESTS = Path(__file__).resolve().parent

# ("command words", "option", or "" for the command itself): why no test can run it as a
# line of literal words. None is needed today; add one only with its reason.
EXEMPT: dict[tuple[str, str], str] = {}

# `--help` of every command and group: tests/test_cli_and_security.py runs each one from
# click's own command tree (`env.invoke(*name.split(), "--help")`), so its words are not literals.
HELP = "--help"

Line = list[str | None]


def commands(group: click.Command = main, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield words
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from commands(command, (*words, name))


def command_at(words: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for word in words:
        assert isinstance(command, click.Group)
        command = command.commands[word]
    return command


def options(words: tuple[str, ...]) -> list[str]:
    """The option names `invoicing WORDS --help` lists: long names, or the short one if
    that is all an option has (`-o`)."""
    command = command_at(words)
    with click.Context(command, info_name="invoicing") as ctx:
        params = command.get_params(ctx)
    found = []
    for param in params:
        if isinstance(param, click.Option):
            names = [*param.opts, *param.secondary_opts]
            long = [name for name in names if name.startswith("--")]
            found += long or names
    return found


def word(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def names_invoicing(node: ast.expr) -> bool:
    return any(word(sub) == "invoicing" for sub in ast.walk(node))


def direct_line(call: ast.Call) -> list[ast.expr] | None:
    """The arguments of a call that runs the CLI itself, or None."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("cli", "invoke"):
        return list(call.args)
    if isinstance(func, ast.Attribute) and func.attr in ("run", "Popen") and call.args:
        argv = call.args[0]
        if isinstance(argv, ast.List) and argv.elts and names_invoicing(argv.elts[0]):
            return argv.elts[1:]
    return None


class Wrapper:
    def __init__(self, prefix: Line, fixed: int) -> None:
        self.prefix, self.fixed = prefix, fixed


def call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def line_of(call: ast.Call, wrappers: dict[str, Wrapper]) -> list[ast.expr] | Line | None:
    direct = direct_line(call)
    if direct is not None:
        return direct
    wrapper = wrappers.get(call_name(call) or "")
    if wrapper is None:
        return None
    return [*wrapper.prefix, *[word(arg) for arg in call.args[wrapper.fixed :]]]


def words_of(args: list[ast.expr] | Line) -> Line:
    return [arg if not isinstance(arg, ast.expr) else word(arg) for arg in args]


def sources() -> list[ast.Module]:
    return [ast.parse(path.read_text(encoding="utf-8")) for path in sorted(TESTS.rglob("*.py"))]


def find_wrappers(trees: list[ast.Module]) -> dict[str, Wrapper]:
    wrappers: dict[str, Wrapper] = {}
    while True:
        found = dict(wrappers)
        for tree in trees:
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef) or func.args.vararg is None:
                    continue
                star = func.args.vararg.arg
                for call in ast.walk(func):
                    if not isinstance(call, ast.Call):
                        continue
                    args = line_of(call, wrappers)
                    if args is None:
                        continue
                    starred = [
                        i
                        for i, arg in enumerate(args)
                        if isinstance(arg, ast.Starred)
                        and isinstance(arg.value, ast.Name)
                        and arg.value.id == star
                    ]
                    if starred:
                        fixed = len(func.args.posonlyargs) + len(func.args.args)
                        found[func.name] = Wrapper(words_of(args[: starred[0]]), fixed)
        if found.keys() == wrappers.keys():
            return wrappers
        wrappers = found


@cache
def command_lines() -> list[Line]:
    trees = sources()
    wrappers = find_wrappers(trees)
    top = {name for name in main.commands} | {"--version"}
    lines: list[Line] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                args = line_of(node, wrappers)
                if args is not None:
                    lines.append(words_of(args))
            elif isinstance(node, ast.Tuple | ast.List) and node.elts and word(node.elts[0]) in top:
                lines.append([word(elt) for elt in node.elts])
    return lines


def covers(line: Line, words: tuple[str, ...], option: str | None) -> bool:
    if tuple(line[: len(words)]) != words:
        return False
    if option is None:
        return True
    return any(w is not None and (w == option or w.startswith(option + "=")) for w in line[len(words) :])


def untested() -> list[str]:
    """What no test runs, and what is exempted although a test now runs it."""
    lines = command_lines()
    problems = []
    for words in commands():
        wanted: list[str | None] = [None] if words else []
        wanted += [option for option in options(words) if option != HELP]
        for option in wanted:
            shown = " ".join(["invoicing", *words, *([option] if option else [])])
            tested = any(covers(line, words, option) for line in lines)
            exempt = (" ".join(words), option or "") in EXEMPT
            if exempt and tested:
                problems.append(f"{shown}  (a test runs it now: remove it from EXEMPT)")
            elif not exempt and not tested:
                problems.append(shown)
    return problems


def test_every_command_and_option_is_run_by_a_test() -> None:
    problems = untested()
    assert not problems, "no test runs these through the CLI:\n  " + "\n  ".join(problems)


def test_the_rule_finds_a_wrapped_call_and_a_parametrized_line() -> None:
    # a known wrapper and a known parametrized tuple, so that the rule cannot go blind unnoticed
    lines = command_lines()
    assert any(covers(line, ("run",), "--json") for line in lines)
    assert not covers(["run", "--json"], ("runs",), None)
    assert covers(["runs", "--limit=2"], ("runs",), "--limit")
