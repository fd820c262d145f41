"""The `invoicing` command: a thin click layer over billing and run.

Library exceptions become one-line messages and exit codes here, and only here:
0 success; 1 failure; 2 bad usage or bad input (nothing changed); 3 a run that
completed with some invoices failed.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from invoicing.billing import Period

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
PROBLEMS_SHOWN = 50  # import problems listed before "... and N more"
RUN_EXIT = {"completed": EXIT_OK, "completed_with_errors": EXIT_PARTIAL, "failed": EXIT_FAILED}

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class Exit(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise Exit(message, code)


def handle_errors(func: F) -> F:
    """Turn every known library error into `invoicing: error: ...` and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from invoicing.billing.importer import ImportProblems
        from invoicing.config import get_settings, redact
        from invoicing.db import describe
        from invoicing.errors import InvoicingError

        try:
            return func(*args, **kwargs)
        except Exit as exc:
            _error(str(exc))
            sys.exit(exc.code)
        except ImportProblems as exc:
            for problem in exc.problems[:PROBLEMS_SHOWN]:
                err.print(f"  {problem}", markup=False)
            if len(exc.problems) > PROBLEMS_SHOWN:
                err.print(f"  ... and {len(exc.problems) - PROBLEMS_SHOWN} more", markup=False)
            _error(str(exc))
            sys.exit(exc.exit_code)
        except InvoicingError as exc:
            _error(str(exc))
            sys.exit(exc.exit_code)
        except OperationalError as exc:
            _error(f"database error ({redact(get_settings().database_url)}): {describe(exc)}")
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            _error("interrupted; the run's state is in the database: `invoicing status`")
            sys.exit(130)
        except click.exceptions.ClickException:
            raise
        except Exception as exc:
            if os.environ.get("INVOICING_DEBUG"):
                raise
            from invoicing.errors import first_line

            _error(f"unexpected {first_line(exc, with_type=True)} (set INVOICING_DEBUG=1 for details)")
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def _error(message: str) -> None:
    err.print(f"invoicing: error: {message}", markup=False)


def _settings() -> Any:
    from invoicing.config import get_settings

    return get_settings()


def _ready(database: bool = True) -> Any:
    settings = _settings()
    if database:
        from invoicing.db import check_database

        check_database()
    return settings


class PeriodParam(click.ParamType):
    """`--period YYYY-MM`, parsed once here into a billing Period."""

    name = "period"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from invoicing.billing import BillingError, Period

        if not isinstance(value, str):
            return value
        try:
            return Period.parse(value)
        except BillingError as exc:
            self.fail(str(exc), param, ctx)


def _period_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--period", type=PeriodParam(), required=required, metavar="YYYY-MM", help="Billing period (month)."
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="invoicing")
def main() -> None:
    """Nightly PDF invoice batching: one Celery chord renders every subscriber's invoice
    and merges them into one file.

    Settings come from INVOICING_* environment variables (see README). With no
    INVOICING_BROKER_URL everything runs in this process; with a Redis broker, start
    workers with `celery -A invoicing worker`.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


class OneLineFormatter(logging.Formatter):
    """Log records without tracebacks: a user sees what failed, not Python's stack.

    The embedded worker logs a failing task's traceback; INVOICING_DEBUG=1 keeps it.
    """

    def format(self, record: logging.LogRecord) -> str:
        if os.environ.get("INVOICING_DEBUG"):
            return super().format(record)
        record = logging.makeLogRecord(record.__dict__)
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return super().format(record).splitlines()[0]


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

    settings = _settings()
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

    _ready()
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
        err.print(f"  {account}: {count} charge(s) for a billed period go on {where}", markup=False)
    if len(summary.deferred) > 20:
        err.print(f"  ... and {len(summary.deferred) - 20} more subscribers", markup=False)


@db.command("seed")
@click.option(
    "--fixtures",
    "fixtures",
    type=click.Path(path_type=Path),
    help="Import a JSON or CSV file (the same as `invoicing import FILE`).",
)
@click.option(
    "--generate",
    type=click.IntRange(1, 10_000_000),
    help="Generate N synthetic subscribers billable in --period, with usage charges (needs --period).",
)
@click.option(
    "--period",
    type=PeriodParam(),
    metavar="YYYY-MM",
    help="With --generate: the month the subscribers are billable in and their charges are for.",
)
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Random seed for --generate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def db_seed(
    fixtures: Path | None, generate: int | None, period: Period | None, seed: int, as_json: bool
) -> None:
    """Import a data set, or generate a synthetic one; an upsert, all or nothing.

    Example: invoicing db seed --fixtures fixtures/invoicing.json

    Example: invoicing db seed --generate 2000 --period 2026-10 --seed 7
    """
    from invoicing.billing.importer import import_data, import_files
    from invoicing.db import session_scope

    if (fixtures is None) == (generate is None):
        fail("give exactly one of --fixtures FILE or --generate N")
    _ready()
    started = time.perf_counter()
    if fixtures is not None:
        with session_scope() as session:
            summary = import_files(session, [fixtures])
        source = str(fixtures)
    else:
        if period is None or generate is None:
            fail("--generate needs --period YYYY-MM")
        from invoicing.synthetic import synthetic_dataset

        data = synthetic_dataset(generate, str(period), seed)
        with session_scope() as session:
            summary = import_data(session, data)
        source = f"{generate} synthetic subscribers (seed {seed})"
    _print_import(summary, source, time.perf_counter() - started, as_json)


# --- demo ---------------------------------------------------------------------------------


@main.command()
@click.option("--count", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Header tasks.")
@click.option("--fail-at", type=int, default=None, help="Make power(K, 2) raise, to see a chord break.")
@click.option("--delay", is_flag=True, help="Sleep randomly in each task to make the parallelism visible.")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds to wait for the chord's result.",
)
@handle_errors
def demo(count: int, fail_at: int | None, delay: bool, timeout: float) -> None:
    """Smoke test: chord(power(i, 2) for i in range(N))(amass) and print the sum.

    Example: invoicing demo            # prints 285
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    from invoicing.demo import demo as run_demo
    from invoicing.run.runtime import workers

    settings = _settings()
    with workers(settings) as available:
        if not settings.embedded and not available:
            fail("no worker answered on the broker: start one with `celery -A invoicing worker`", EXIT_FAILED)
        try:
            result = run_demo(count, fail_at, delay, timeout)
        except CeleryTimeout:
            fail(f"no result within {timeout:g} s: are the workers running and reachable?", EXIT_FAILED)
    if result.total is None:
        _error(f"header task failed: {result.failed_task or result.error}")
        _error("the chord body (amass) never ran: a failed header task stops a plain chord")
        sys.exit(EXIT_FAILED)
    out.print(result.total)


# --- render -------------------------------------------------------------------------------


@main.command()
@click.option("--account", required=True, help="Subscriber account.")
@_period_option()
@click.option("-o", "output", required=True, type=click.Path(path_type=Path), help="PDF file to write.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@handle_errors
def render(account: str, period: Period, output: Path, force: bool) -> None:
    """Write one subscriber's invoice for a period, without a billing run.

    An issued invoice is written exactly as issued: its stored file, byte for byte
    (or, if that file is gone, rendered again from what was frozen at issue, and only
    if it gives the recorded sha256). Otherwise a DRAFT computed from the current data.
    Nothing is written to the database.

    Example: invoicing render --account A-0001 --period 2026-10 -o preview.pdf
    """
    import hashlib

    from invoicing.billing import document_for, draft_document, seller_from
    from invoicing.billing.documents import issued_invoice
    from invoicing.db import session_scope
    from invoicing.files import atomic_file
    from invoicing.pdf import RenderError, render_invoice
    from invoicing.run.adhoc import check_output

    settings = _ready()
    check_output(output, force)
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
            pdf = render_invoice(document)
        except RenderError as exc:
            fail(f"cannot render {account}: {exc}", EXIT_FAILED)
        if recorded is not None and hashlib.sha256(pdf).hexdigest() != recorded:
            fail(
                f"the file of {number} is missing or damaged, and rendering it again does not give "
                "the bytes that were issued (sha256 differs): restore it from a backup",
                EXIT_FAILED,
            )
    with atomic_file(output) as handle:
        handle.write(pdf)
    what = f"{document.number}, as issued" if number else document.number
    err.print(f"wrote {output} ({what}, {len(pdf):,} bytes)", markup=False)


def _stored_pdf(path: str | None, sha256: str | None) -> bytes | None:
    """An issued invoice's file, if it is there and is what was recorded."""
    import hashlib

    if not path or not sha256:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


# --- the billing run ----------------------------------------------------------------------


@main.command()
@_period_option(required=False)
@click.option("--no-wait", is_flag=True, help="Dispatch and return (needs a broker and workers).")
@click.option("--dry-run", is_flag=True, help="Show what would be issued; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def run(period: Period | None, no_wait: bool, dry_run: bool, as_json: bool) -> None:
    """Issue and render the period's invoices and merge them into one PDF.

    The default period is the previous calendar month. Running it again for the same
    period resumes that run (renders what is missing or failed) and never bills
    anyone twice; once it is finished, subscribers added later for the period are
    issued in a supplement, numbered on in the period's series, with a merged file of
    its own. Late charges of earlier periods go on these invoices.

    Example: invoicing run --period 2026-10

    Example: invoicing run --period 2026-10 --dry-run
    """
    from invoicing.billing import Period
    from invoicing.run.dispatch import preview, start_or_resume
    from invoicing.run.report import report
    from invoicing.run.runtime import workers

    settings = _ready()
    period = period or Period.previous()
    if dry_run:
        _print_preview(preview(period, settings).as_dict(), as_json)
        return
    if no_wait and settings.embedded:
        fail(
            "--no-wait needs a broker: the embedded worker stops when this command exits "
            "(set INVOICING_BROKER_URL, e.g. redis://127.0.0.1:6379/0)"
        )
    started_at = time.perf_counter()
    with workers(settings) as available:
        if not settings.embedded and not available and not no_wait:
            err.print(
                "warning: no worker answered yet; invoices render once one runs "
                "(`celery -A invoicing worker`)",
                markup=False,
            )
        started = start_or_resume(period, workers=max(available, 1), settings=settings)
        if not as_json:
            _say_started(started)
        if no_wait:
            _print_report(report(started.run_id), as_json, time.perf_counter() - started_at)
            return
        final = _wait(started, as_json, settings)
    _finish(final, as_json, time.perf_counter() - started_at)


def _print_preview(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
        return
    what = {"billing": "the billing run", "supplement": "a supplement", "none": "nothing"}[data["kind"]]
    out.print(f"dry run for {data['period']}: would issue {what}; nothing was written", markup=False)
    if data["note"]:
        out.print(f"note      {data['note']}", markup=False)
    if data["invoices"]:
        out.print(
            f"invoices  {data['invoices']} ({data['first_number']} .. {data['last_number']})", markup=False
        )
        for currency, sums in data["totals"].items():
            out.print(
                f"{currency:<9} subtotal {sums['subtotal']}, tax {sums['tax']}, total {sums['total']}",
                markup=False,
            )
        out.print(
            f"late      {data['deferred_charges']} charge(s) of earlier periods picked up", markup=False
        )
    for reason, count in data["skipped"].items():
        out.print(f"skipped   {count} subscriber(s): {reason}", markup=False)
    for item in data["skipped_examples"]:
        out.print(f"          {item['account']}: {item['reason']}", markup=False)


def _say_started(started: Any) -> None:
    verb = {
        "created": f"issued {started.invoices} invoices",
        "supplement": f"supplement: issued {started.invoices} invoices to subscribers added after the run",
        "credit": "issued the credit note",
        "resumed": f"resuming: {started.dispatched} of {started.invoices} invoices to render",
        "attached": "already in progress; following it",
        "merging": "all invoices rendered; merging again",
        "complete": "already complete; nothing to do",
    }[started.action]
    err.print(f"billing run {started.run_id} for {started.period}: {verb}", markup=False)


def _wait(started: Any, as_json: bool, settings: Any) -> Any:
    """Follow the run in the database until it is final, with a live progress bar while
    invoices render; no bar when this command renders none (a rate would be meaningless)."""
    from invoicing.models import InvoiceStatus
    from invoicing.run.report import progress, report
    from invoicing.run.state import FINAL

    run_id = started.run_id
    _, counts, total = progress(run_id)
    # What renders while this command follows: what it dispatched, or what is still
    # pending of a run it attached to. The rate counts only those.
    to_render = started.dispatched or (counts[InvoiceStatus.PENDING] if started.action == "attached" else 0)
    done_before = total - to_render
    final_values = {s.value for s in FINAL}
    last_change, last_seen = time.monotonic(), None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    began = time.monotonic()
    with Progress(*columns, console=err, transient=False, disable=as_json or not to_render) as bar:
        # Starting from what was done already keeps that out of the ETA's speed estimate.
        task = bar.add_task("rendering", total=total, completed=done_before, failed=0, rate="")
        while True:
            status, counts, total = progress(run_id)
            done = counts[InvoiceStatus.RENDERED] + counts[InvoiceStatus.FAILED]
            elapsed = max(time.monotonic() - began, 1e-6)
            rendered_here = done - done_before
            bar.update(
                task,
                total=total,
                completed=done,
                failed=counts[InvoiceStatus.FAILED],
                description=status,
                rate=f"{rendered_here / elapsed:.1f}/s" if rendered_here > 0 else "",
            )
            if status in final_values:
                break
            seen = (status, done)
            if seen != last_seen:
                last_change, last_seen = time.monotonic(), seen
            elif time.monotonic() - last_change > settings.stall_after_s:
                fail(
                    f"billing run {run_id} made no progress for {settings.stall_after_s} s; "
                    f"see `invoicing status {run_id}`, then `invoicing retry {run_id}`",
                    EXIT_FAILED,
                )
            time.sleep(0.25)
    return report(run_id)


def _finish(final: Any, as_json: bool, elapsed: float) -> None:
    _print_report(final, as_json, elapsed)
    sys.exit(RUN_EXIT.get(final.status, EXIT_FAILED))


def _print_report(rep: Any, as_json: bool, elapsed: float | None = None) -> None:
    if as_json:
        out.print(json.dumps(rep.as_dict(), ensure_ascii=False), markup=False)
        return
    state = rep.status + (" (stalled: run `invoicing retry`)" if rep.stalled else "")
    rows = [
        ("run", f"{rep.run_id} for {rep.period}: {state}"),
        ("invoices", f"{rep.invoices} ({rep.rendered} rendered, {rep.failed} failed, {rep.pending} pending)"),
        ("pages", "-" if rep.pages is None else str(rep.pages)),
        ("output", rep.output or "-"),
        ("sha256", rep.sha256 or "-"),
    ]
    if elapsed is not None:
        rows.append(("elapsed", f"{elapsed:.1f} s"))
    if rep.error:
        rows.append(("note", rep.error))
    for label, value in rows:
        out.print(f"{label:<9} {value}", markup=False)
    others = [r for r in getattr(rep, "period_runs", []) if r["run_id"] != rep.run_id]
    if others:
        listed = ", ".join(f"{r['run_id']} ({r['kind']}, {r['status']})" for r in others)
        out.print(f"{'also':<9} runs of {rep.period}: {listed}", markup=False)
    for item in getattr(rep, "credited", []):
        out.print(
            f"{'credited':<9} {item['number']}: {item['credited']} of {item['total']} ({item['state']})",
            markup=False,
        )
    if getattr(rep, "charges_waiting", 0) or getattr(rep, "charges_unbillable", 0):
        out.print(
            f"{'late':<9} {rep.charges_waiting} charge(s) wait for a later invoice; "
            f"{rep.charges_unbillable} unbillable (their subscriber has ended)",
            markup=False,
        )
    if rep.failures:
        failures = Table(title="failed invoices", title_justify="left")
        for column in ("number", "account", "reason"):
            failures.add_column(column)
        for item in rep.failures:
            failures.add_row(item["number"], item["account"], item["error"])
        out.print(failures)


@main.command()
@click.argument("run_id", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def status(run_id: int | None, as_json: bool) -> None:
    """Show one billing run (default: the latest) and its failed invoices.

    Example: invoicing status 3 --json
    """
    from invoicing.run.report import report

    _ready()
    rep = report(run_id)
    if as_json:
        out.print(json.dumps(rep.status_dict(), ensure_ascii=False), markup=False)
    else:
        _print_report(rep, False)
    sys.exit(RUN_EXIT.get(rep.status, EXIT_OK))


@main.command()
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="Show at most N runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@handle_errors
def runs(limit: int, as_json: bool) -> None:
    """List billing runs, newest first.

    Example: invoicing runs --limit 5
    """
    from invoicing.run.report import list_runs

    _ready()
    items = list_runs(limit)
    if as_json:
        out.print(json.dumps(items, ensure_ascii=False), markup=False)
        return
    out.print(_runs_table(items, _settings().output_dir))


def _runs_table(items: list[dict[str, Any]], output_dir: Path) -> Table:
    """Readable at 80 columns: no column is cut; the merged file's path is shown relative
    to the output folder (named in the caption) and folds onto a second line if need be."""
    root = output_dir.resolve()
    table = Table(box=None, caption=f"files under {root}", caption_justify="left", pad_edge=False)
    table.add_column("run", justify="right", no_wrap=True)
    table.add_column("period", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("invoices", justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("output", overflow="fold")
    for r in items:
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        output = r["output"]
        if output:
            path = Path(output)
            output = str(path.relative_to(root)) if path.is_relative_to(root) else output
        table.add_row(
            str(r["run_id"]),
            r["period"],
            r["status"],
            f"{r['invoices']}{failed}",
            r["created_at"][:16].replace("T", " "),
            output or "-",
        )
    return table


@main.command()
@click.argument("run_id", type=int)
@click.option("--no-wait", is_flag=True, help="Dispatch and return (needs a broker and workers).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def retry(run_id: int, no_wait: bool, as_json: bool) -> None:
    """Re-render a run's failed or missing invoices and merge again.

    Fix the data first (for example a subscriber's locale); amounts and numbers
    stay as issued.

    Example: invoicing retry 3
    """
    from invoicing.run.dispatch import resume
    from invoicing.run.report import report
    from invoicing.run.runtime import workers

    settings = _ready()
    if no_wait and settings.embedded:
        fail("--no-wait needs a broker: the embedded worker stops when this command exits")
    started_at = time.perf_counter()
    with workers(settings) as available:
        started = resume(run_id, workers=max(available, 1), settings=settings, busy_is_error=True)
        if not as_json:
            _say_started(started)
        if no_wait or started.action == "complete":
            rep = report(run_id)
            _print_report(rep, as_json, time.perf_counter() - started_at)
            sys.exit(RUN_EXIT.get(rep.status, EXIT_OK) if started.action == "complete" else EXIT_OK)
        final = _wait(started, as_json, settings)
    _finish(final, as_json, time.perf_counter() - started_at)


class AmountParam(click.ParamType):
    """A money amount, parsed as Decimal (never float)."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from decimal import Decimal, InvalidOperation

        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"not an amount: {value!r} (like 12.50)", param, ctx)
        if not amount.is_finite():
            self.fail(f"not an amount: {value!r} (like 12.50)", param, ctx)
        return amount


@main.command()
@click.argument("number")
@click.option(
    "--amount", type=AmountParam(), help="Credit this much, tax included (default: all that is left)."
)
@click.option("--reason", help="Why, printed on the credit note.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def credit(number: str, amount: Any, reason: str | None, as_json: bool) -> None:
    """Issue a credit note for an invoice: its own number, referring to the invoice.

    Without --amount the whole invoice (what is left of it) is credited, every line
    reversed. An issued invoice never changes; this is how it is corrected. The credit
    note is rendered like an invoice and merged into a file of its own in the period's
    folder.

    Example: invoicing credit INV-2026-10-000001 --amount 5.00 --reason "Roaming outage"
    """
    from invoicing.run.dispatch import start_credit
    from invoicing.run.report import credit_note_of_run
    from invoicing.run.runtime import workers

    settings = _ready()
    with workers(settings) as available:
        started = start_credit(number, amount, reason, workers=max(available, 1), settings=settings)
        final = _wait(started, True, settings)
    note = credit_note_of_run(started.run_id)
    data = {
        "number": note.number,
        "invoice": note.credited,
        "amount": str(-note.total),
        "currency": note.currency,
        "output": note.pdf_path,
        "sha256": note.sha256,
    }
    if as_json:
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
    else:
        out.print(
            f"credit note {note.number} for {note.credited}: {data['amount']} {note.currency}", markup=False
        )
        out.print(f"output    {note.pdf_path or '-'}", markup=False)
    if final.status != "completed":
        _error(
            f"the credit note did not render: {note.error or final.error} (`invoicing retry {final.run_id}`)"
        )
        sys.exit(EXIT_FAILED)


# --- one-off merge ------------------------------------------------------------------------


@main.command()
@click.option("--accounts", help="Comma-separated accounts, merged in this order.")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(path_type=Path),
    help="File with one account per line (# comments allowed).",
)
@_period_option()
@click.option("-o", "output", required=True, type=click.Path(path_type=Path), help="PDF file to write.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@handle_errors
def merge(accounts: str | None, from_file: Path | None, period: Period, output: Path, force: bool) -> None:
    """Merge the given subscribers' invoices for a period into one PDF, in the order given.

    Invoices not rendered yet are rendered now, through the same tasks as the run.

    Example: invoicing merge --accounts A-0003,A-0001 --period 2026-10 -o batch.pdf
    """
    from invoicing.run.adhoc import check_output, merge_accounts
    from invoicing.run.runtime import workers

    if (accounts is None) == (from_file is None):
        fail("give exactly one of --accounts A,B,C or --from-file FILE")
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
    settings = _ready()
    check_output(output, force)
    with workers(settings) as available:
        merged = merge_accounts(wanted, period, output, force, workers=max(available, 1), settings=settings)
    err.print(
        f"wrote {merged.path}: {len(wanted)} invoices, {merged.pages} pages, {merged.size:,} bytes",
        markup=False,
    )


def iter_accounts(text: str) -> Iterable[str]:
    """Accounts separated by commas or lines; blank lines and # comments skipped."""
    for raw in text.replace(",", "\n").splitlines():
        account = raw.strip()
        if account and not account.startswith("#"):
            yield account


# --- benchmark ------------------------------------------------------------------------------


@main.command()
@click.option(
    "--subscribers",
    type=click.IntRange(1, 1_000_000),
    default=2000,
    show_default=True,
    help="Synthetic subscribers to bill.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes to start."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def bench(subscribers: int, workers: int, as_json: bool) -> None:
    """Measure the billing run through Celery against a plain single-process loop.

    Uses a throw-away database and output folder, and W real worker processes on
    Redis (INVOICING_BROKER_URL, default redis://127.0.0.1:6379/0).

    Example: invoicing bench --subscribers 2000 --workers 2
    """
    from invoicing.bench import run_bench

    _settings()
    result = run_bench(
        subscribers, workers, say=lambda text: None if as_json else err.print(text, markup=False)
    )
    if as_json:
        out.print(json.dumps(result.as_dict()), markup=False)
        return
    table = Table(title=f"{subscribers:,} subscribers, {workers} worker process(es)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("baseline (render + merge loop, 1 process)", f"{result.baseline_s:.2f} s"),
        ("  of which merge", f"{result.baseline_merge_s:.2f} s"),
        ("billing run through Celery", f"{result.celery_s:.2f} s"),
        ("  of which the body's merge", f"{result.celery_merge_s:.2f} s"),
        ("  invoices pre-linked by the header", f"{result.prelinked:,}"),
        ("ratio billing run / baseline", f"{result.ratio:.2f}"),
        ("invoices per second", f"{result.invoices_per_s:,.1f}"),
        ("dispatch the chord", f"{result.dispatch_s:.2f} s"),
        ("issue the run (DB transaction)", f"{result.issue_s:.2f} s"),
        ("invoices per header task", str(result.batch_size)),
        ("merged file, bytes per invoice", f"{result.bytes_per_invoice:,.0f}"),
        ("merge step peak RSS", f"{result.merge_peak_rss_mb:.0f} MB"),
        ("worker processes peak RSS", f"{result.worker_peak_rss_mb:.0f} MB"),
        ("this command's peak RSS (baseline)", f"{result.bench_peak_rss_mb:.0f} MB"),
        ("worker CPU during the billing run", f"{result.worker_cpu_s:.1f} s"),
        ("pdfunite on the same files", "-" if result.pdfunite_s is None else f"{result.pdfunite_s:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
