"""Commands over the data: the schema, imports (JSON, CSV), one invoice written out."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from invoicing.billing import Period


from invoicing.cli.common import (
    EXIT_FAILED,
    PeriodParam,
    WholeNumber,
    check_output,
    current_settings,
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
)

# --- db -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Create the schema and import data."""


@db.command("init")
@handle_errors
def db_init() -> None:
    """Create or upgrade the database schema (SQLite or PostgreSQL).

    Example: invoicing db init
    """
    from invoicing.config import redact
    from invoicing.db import init_db

    settings = current_settings()
    revision = init_db()
    err.print(f"database {redact(settings.database_url)} is at schema revision {revision}", markup=False)


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def import_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Import plans, subscribers and charges from JSON or CSV files, all or nothing.

    An upsert: plans match by code and subscribers by account (new ones are created,
    changed ones updated, identical ones left alone); a charge is never imported twice
    (its `id`, or its content and occurrence in the file). A charge for a period that is
    already billed goes on the subscriber's next invoice. A CSV file holds one section,
    told by its header row.

    Example: invoicing import fixtures/invoicing.json

    Example: invoicing import subscribers.csv charges.csv --json
    """
    from invoicing.billing.importer import import_files
    from invoicing.db import session_scope

    ready()
    started = time.perf_counter()
    with session_scope() as session:
        summary = import_files(session, list(files))
    _print_import(summary, ", ".join(map(str, files)), time.perf_counter() - started, as_json)


def _print_import(summary: Any, source: str, elapsed: float, as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(summary.as_dict(), ensure_ascii=False), markup=False)
        return
    table = Table(
        box=None, pad_edge=False, title=f"imported {source} in {elapsed:.1f} s", title_justify="left"
    )
    for column in ("", "created", "updated", "unchanged", "deferred"):
        table.add_column(column, justify="left" if not column else "right")
    for section in ("plans", "subscribers", "charges"):
        counts = getattr(summary, section)
        deferred = str(counts.deferred) if section == "charges" else "-"
        table.add_row(section, str(counts.created), str(counts.updated), str(counts.unchanged), deferred)
    err.print(table)
    for account, (count, to) in sorted(summary.deferred.items())[:20]:
        where = (
            f"the next invoice ({to})" if to else "no later invoice: the subscriber has ended (unbillable)"
        )
        goes = "goes" if count == 1 else "go"
        err.print(
            f"  {account}: {plural(count, 'charge')} for a billed period {goes} on {where}", markup=False
        )
    if len(summary.deferred) > 20:
        err.print(f"  ... and {plural(len(summary.deferred) - 20, 'more subscriber')}", markup=False)


@db.command("seed")
@click.option(
    "--fixtures",
    "fixtures",
    type=click.Path(path_type=Path),
    help="Import a JSON or CSV file (the same as `invoicing import FILE`).",
)
@click.option(
    "--generate",
    type=WholeNumber(1, 10_000_000),
    help="Generate N synthetic subscribers billable in --period, with usage charges (needs --period).",
)
@click.option(
    "--period",
    type=PeriodParam(),
    metavar="YYYY-MM",
    help="With --generate: the month the subscribers are billable in and their charges are for.",
)
@click.option(
    "--seed", "seed", type=WholeNumber(), default=0, show_default=True, help="Random seed for --generate."
)
@click.option(
    "--countries",
    metavar="CC,CC",
    help="With --generate: only subscribers of these countries (ISO codes, e.g. JP,SA); default all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def db_seed(
    fixtures: Path | None,
    generate: int | None,
    period: Period | None,
    seed: int,
    countries: str | None,
    as_json: bool,
) -> None:
    """Import a data set, or generate a synthetic one; an upsert, all or nothing.

    Example: invoicing db seed --fixtures fixtures/invoicing.json

    Example: invoicing db seed --generate 2000 --period 2026-10 --seed 7

    Example: invoicing db seed --generate 300 --period 2026-10 --countries JP
    """
    from invoicing.billing.importer import import_data, import_files
    from invoicing.db import session_scope

    if (fixtures is None) == (generate is None):
        fail("give exactly one of --fixtures FILE or --generate N")
    ready()
    started = time.perf_counter()
    if fixtures is not None:
        with session_scope() as session:
            summary = import_files(session, [fixtures])
        source = str(fixtures)
    else:
        if period is None or generate is None:
            fail("--generate needs --period YYYY-MM")
        from invoicing.synthetic import country_codes, synthetic_dataset

        try:
            codes = country_codes(countries) if countries is not None else None
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--countries") from None
        data = synthetic_dataset(generate, str(period), seed, codes)
        with session_scope() as session:
            summary = import_data(session, data)
        only = f", {','.join(codes)}" if codes else ""
        source = f"{generate} synthetic subscribers (seed {seed}{only})"
    _print_import(summary, source, time.perf_counter() - started, as_json)


# --- render -------------------------------------------------------------------------------


@main.command()
@click.option("--account", required=True, help="Subscriber account.")
@period_option()
@output_options()
@handle_errors
def render(account: str, period: Period, output: Path, force: bool) -> None:
    """Write one subscriber's invoice for a period, without a billing run.

    An issued invoice is written exactly as issued: its stored file, byte for byte
    (or, if that file is gone, rendered again from what was frozen at issue, and only
    if it gives the recorded sha256), an e-invoice as its hybrid PDF/A-3. Otherwise a
    DRAFT computed from the current data, always a plain PDF (a draft is not an invoice,
    so it carries no e-invoice XML). Only the fetch of an issued invoice is recorded
    (from then on its run cannot be voided); a draft writes nothing to the database.

    Example: invoicing render --account A-0001 --period 2026-10 -o preview.pdf
    """
    import hashlib

    from invoicing.billing import document_for, draft_document, seller_from
    from invoicing.billing.documents import issued_invoice
    from invoicing.db import session_scope
    from invoicing.files import atomic_file
    from invoicing.pdf import RenderError
    from invoicing.pdf.einvoice import render_einvoice

    settings = ready(storage=True)
    check_output(output, force, settings)
    with session_scope() as session:
        issued = issued_invoice(session, account, period)
        stored = _stored_pdf(issued.pdf_path, issued.sha256) if issued is not None else None
        if issued is not None:
            number, recorded = issued.number, issued.sha256
            document = document_for(issued, seller_from(settings))
        else:
            number, recorded = None, None
            document = draft_document(session, settings, account, period)
    if stored is not None:
        pdf = stored
    else:
        try:
            pdf = render_einvoice(document)  # as the run does: hybrid for an e-invoice
        except RenderError as exc:
            fail(f"cannot render {account}: {exc}", EXIT_FAILED)
        if recorded is not None and hashlib.sha256(pdf).hexdigest() != recorded:
            fail(
                f"the file of {number} is missing or damaged, and rendering it again does not give "
                "the bytes that were issued (sha256 differs): restore it from a backup",
                EXIT_FAILED,
            )
    if is_stdout(output):
        sys.stdout.buffer.write(pdf)
        sys.stdout.buffer.flush()
    else:
        with atomic_file(output) as handle:
            handle.write(pdf)
    if number is not None:
        from invoicing.billing.void import record_fetched

        with session_scope() as session:
            record_fetched(session, number)
    what = f"{document.number}, as issued" if number else document.number
    err.print(f"wrote {shown_output(output)} ({what}, {len(pdf):,} bytes)", markup=False)


def _stored_pdf(path: str | None, sha256: str | None) -> bytes | None:
    """An issued invoice's file, if it is there and is what was recorded."""
    from invoicing.storage import read

    if not path or not sha256:
        return None
    try:
        return read(path, sha256)
    except OSError:  # gone, damaged or unreadable
        return None


# --- late charges -------------------------------------------------------------------------


@main.command()
@click.option("--waiting", is_flag=True, help="Charges waiting for their subscriber's next invoice.")
@click.option("--unbillable", is_flag=True, help="Charges whose subscriber ended before any later invoice.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def charges(waiting: bool, unbillable: bool, as_json: bool) -> None:
    """List the late charges behind the counts `status` and `run --dry-run` show: charges
    that arrived after their period was billed and are not on an invoice yet.

    A waiting charge goes on the subscriber's next invoice by itself. An unbillable one
    never will (its subscriber has ended): bill it by hand, or extend the subscriber's
    active_to and run its next period. Without --waiting or --unbillable, both.

    Example: invoicing charges --unbillable --json
    """
    from invoicing.billing.preview import late_charges
    from invoicing.db import session_scope

    ready()
    states = {name for name, wanted in (("waiting", waiting), ("unbillable", unbillable)) if wanted}
    states = states or {"waiting", "unbillable"}
    with session_scope() as session:
        found = [charge for charge in late_charges(session) if charge.state in states]
    if as_json:
        listed = {state: [c.as_dict() for c in found if c.state == state] for state in sorted(states)}
        out.print(json.dumps(listed, ensure_ascii=False), markup=False)
        return
    if not found:
        err.print(f"no {' or '.join(sorted(states))} charges", markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("account", "period", "description", "quantity", "unit price", "state"):
        table.add_column(column, justify="right" if column in ("quantity", "unit price") else "left")
    for charge in found:
        state = f"waiting: goes on {charge.goes_on}" if charge.goes_on else "unbillable: subscriber ended"
        cells = (charge.account, charge.period, charge.description, str(charge.quantity))
        # Text, not markup: a description is the usage feed's, and "[...]" in it is text
        table.add_row(*map(Text, cells), Text(f"{charge.unit_price} {charge.currency}"), Text(state))
    out.print(table)
    counts = {state: sum(1 for c in found if c.state == state) for state in sorted(states)}
    err.print(", ".join(f"{plural(n, 'charge')} {state}" for state, n in counts.items()), markup=False)
