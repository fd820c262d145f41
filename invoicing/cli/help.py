"""`invoicing --help` in sections: the billing commands first, then set-up and tools,
then the exit codes.

click has no command sections; a `click.Group` whose `format_commands` groups the
listing is the documented way (click's "Custom Groups"). Commands register as usual
(`@main.command`, `main.add_command`); one not named in `SECTIONS` is listed with the
billing commands, so a new command always shows.
"""

from __future__ import annotations

import click

BILLING = "Billing commands"
SETUP = "Set-up"
TOOLS = "Tools"
SECTIONS = {"db": SETUP, "config": SETUP, "validate": TOOLS, "demo": TOOLS, "bench": TOOLS}
ORDER = (BILLING, SETUP, TOOLS)

EXIT_CODES = (
    ("0", "success"),
    ("1", "failure"),
    ("2", "bad usage or bad input (nothing changed)"),
    ("3", "a run that completed with some invoices failed"),
)


class SectionedGroup(click.Group):
    """A click group that lists its commands by section and names the exit codes."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {section: [] for section in ORDER}
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        for name in names:
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows[SECTIONS.get(name, BILLING)].append((name, command.get_short_help_str(limit)))
        for section in ORDER:
            if rows[section]:
                with formatter.section(section):
                    formatter.write_dl(rows[section])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        with formatter.section("Exit codes"):
            formatter.write_dl(EXIT_CODES)
