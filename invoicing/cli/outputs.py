"""Commands that write a run's invoices out of the system: the one-off merge (and the
print file of what e-mail did not deliver), and the export for the accountants."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from invoicing.billing import Period

from invoicing.cli.common import (
    WholeNumber,
    check_output,
    err,
    fail,
    handle_errors,
    is_stdout,
    main,
    out,
    output_options,
    period_option,
    plural,
    ready,
    shown_output,
    written_to,
)

# --- one-off merge ------------------------------------------------------------------------


@main.command()
@click.option("--accounts", help="Comma-separated accounts, merged in this order.")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(path_type=Path),
    help="File with one account per line (# comments allowed).",
)
@period_option(required=False)
@click.option(
    "--undelivered",
    type=WholeNumber(),
    metavar="RUN_ID",
    help="The run's e-mail-only invoices that bounced or failed, in number order.",
)
@output_options()
@handle_errors
def merge(
    accounts: str | None,
    from_file: Path | None,
    period: Period | None,
    undelivered: int | None,
    output: Path,
    force: bool,
) -> None:
    """Merge the given subscribers' invoices for a period into one PDF, in the order given.

    Invoices not rendered yet are rendered now, through the same tasks as the run.
    With --undelivered RUN_ID instead: the run's invoices sent by e-mail only that
    bounced or failed, for the print shop.

    Example: invoicing merge --accounts A-0003,A-0001 --period 2026-10 -o batch.pdf

    Example: invoicing merge --undelivered 3 -o undelivered.pdf
    """
    from invoicing.run.adhoc import merge_accounts
    from invoicing.run.runtime import workers

    if undelivered is not None:
        if accounts is not None or from_file is not None or period is not None:
            fail("--undelivered RUN_ID takes no --accounts, --from-file or --period")
        _merge_undelivered(undelivered, output, force)
        return
    if (accounts is None) == (from_file is None):
        fail("give exactly one of --accounts A,B,C or --from-file FILE")
    if period is None:
        # As click says it of a required option (it is one, but for --undelivered).
        raise click.MissingParameter(
            ctx=click.get_current_context(), param_hint="'--period'", param_type="option"
        )
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--from-file {from_file}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    else:
        text = accounts or ""
    wanted = list(dict.fromkeys(iter_accounts(text)))
    if not wanted:
        fail("no accounts given")
    settings = ready(storage=True)
    check_output(output, force, settings)
    with workers(settings) as available, written_to(output) as target:
        merged = merge_accounts(wanted, period, target, force, workers=max(available, 1), settings=settings)
    where = shown_output(output) if is_stdout(output) else merged.path
    err.print(
        f"wrote {where}: {plural(len(wanted), 'invoice')}, {plural(merged.pages, 'page')}, "
        f"{merged.size:,} bytes",
        markup=False,
    )


def _merge_undelivered(run_id: int, output: Path, force: bool) -> None:
    from invoicing.delivery.undelivered import merge_undelivered

    settings = ready()
    check_output(output, force, settings)
    with written_to(output) as target:
        merged, count = merge_undelivered(run_id, target)
    where = shown_output(output) if is_stdout(output) else merged.path
    err.print(
        f"wrote {where}: {plural(count, 'undelivered invoice')} of run {run_id}, "
        f"{plural(merged.pages, 'page')}, {merged.size:,} bytes",
        markup=False,
    )


def iter_accounts(text: str) -> Iterable[str]:
    """Accounts separated by commas or lines; blank lines and # comments skipped."""
    for raw in text.replace(",", "\n").splitlines():
        account = raw.strip()
        if account and not account.startswith("#"):
            yield account


# --- export -------------------------------------------------------------------------------


@main.command()
@click.argument("run_id", type=WholeNumber(), required=False)
@period_option(required=False)
@output_options("ZIP")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def export(run_id: int | None, period: Period | None, output: Path, force: bool, as_json: bool) -> None:
    """Write a run's rendered invoices, and the credit notes issued against them, into a
    ZIP in number order, with index.csv for the accountant: number, type, issue date,
    the invoice a credit note credits, account, company, contact, seller's and buyer's
    VAT ids, net, tax, total (negative for a credit note), currency, file, sha256.

    With --period instead of RUN_ID: every run of the period (its supplements and
    credit notes too) in one ZIP.

    Every file is checked against the sha256 recorded when it was rendered; a missing
    or changed file writes nothing.

    Example: invoicing export 3 -o invoices-2026-10.zip

    Example: invoicing export --period 2026-10 -o 2026-10.zip
    """
    from invoicing.run.export import export_period, export_run

    if (run_id is None) == (period is None):
        fail("give a RUN_ID or --period YYYY-MM (one of the two)")
    if as_json and is_stdout(output):
        fail("-o - and --json both write to standard output; give -o FILE.zip with --json")
    settings = ready()
    check_output(output, force, settings)
    with written_to(output) as target:
        if run_id is not None:
            summary = export_run(run_id, target, force, settings)
        else:
            summary = export_period(str(period), target, force, settings)
    if as_json:
        out.print(json.dumps(summary.as_dict(), ensure_ascii=False), markup=False)
        return
    totals = ", ".join(f"{amount} {currency}" for currency, amount in summary.totals.items())
    where = shown_output(output) if is_stdout(output) else summary.output
    what = f"run {run_id}" if run_id is not None else f"{period} ({plural(len(summary.runs), 'run')})"
    notes = f" and {plural(summary.credit_notes, 'credit note')}" if summary.credit_notes else ""
    err.print(
        f"wrote {where}: {plural(summary.invoices, 'invoice')}{notes} of {what} ({totals}), "
        f"{summary.bytes:,} bytes",
        markup=False,
    )
