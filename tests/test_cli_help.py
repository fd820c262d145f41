"""`invoicing --help` guides: the billing commands apart from set-up and tools, and the
exit codes named, through the real command."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from invoicing.cli import main
from invoicing.cli.help import SectionedGroup


def sections(text: str) -> dict[str, list[str]]:
    """Help text -> {section title: the first word of each of its rows}."""
    found: dict[str, list[str]] = {}
    title = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            found[title] = []
        elif title and (match := re.match(r"  (\S+)", line)):
            found[title].append(match.group(1))
    return found


def test_help_lists_billing_commands_apart_from_the_tools(env) -> None:
    # when
    proc = env.cli("--help")
    # then
    assert proc.returncode == 0, proc.stderr
    listed = sections(proc.stdout)
    assert list(listed)[-4:] == ["Billing commands", "Set-up", "Tools", "Exit codes"]
    assert {"import", "run", "status", "retry", "render", "credit", "merge", "export"} <= set(
        listed["Billing commands"]
    )
    assert "db" in listed["Set-up"]
    assert {"demo", "bench"} <= set(listed["Tools"])
    assert not {"demo", "bench", "db"} & set(listed["Billing commands"])


def test_help_lists_every_command_once(env) -> None:
    # when
    listed = sections(env.cli("--help").stdout)
    # then
    rows = [name for title in ("Billing commands", "Set-up", "Tools") for name in listed[title]]
    assert sorted(rows) == sorted(name for name, cmd in main.commands.items() if not cmd.hidden)


def test_help_names_the_exit_codes(env) -> None:
    # when
    text = env.cli("--help").stdout
    # then
    codes = text.split("Exit codes:")[1]
    assert [line.split()[0] for line in codes.strip().splitlines()] == ["0", "1", "2", "3"]
    assert "bad usage or bad input (nothing changed)" in codes
    assert "some invoices failed" in codes


def test_a_command_added_the_plain_way_is_listed_with_billing() -> None:
    # given a sectioned group and a command it has never heard of, added with add_command
    @click.group(cls=SectionedGroup)
    def group() -> None:
        """Group."""

    @click.command()
    def reconcile() -> None:
        """Tidy up."""

    group.add_command(reconcile)

    @group.command()
    def bench() -> None:
        """Measure."""

    # when
    result = CliRunner().invoke(group, ["--help"])
    # then
    listed = sections(result.output)
    assert listed["Billing commands"] == ["reconcile"] and listed["Tools"] == ["bench"]
