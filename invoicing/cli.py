"""The `invoicing` command: a thin click layer over billing, workflow and runtime.

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
from collections.abc import Callable
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


@db.command("seed")
@click.option("--fixtures", "fixtures", type=click.Path(path_type=Path), help="Import a JSON data set.")
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
@click.option(
    "--countries",
    metavar="CC,CC",
    help="With --generate: only subscribers of these countries (ISO codes, e.g. JP,SA); default all.",
)
@handle_errors
def db_seed(
    fixtures: Path | None, generate: int | None, period: Period | None, seed: int, countries: str | None
) -> None:
    """Import plans, subscribers and charges, all or nothing.

    Example: invoicing db seed --fixtures fixtures/invoicing.json

    Example: invoicing db seed --generate 2000 --period 2026-10 --seed 7

    Example: invoicing db seed --generate 300 --period 2026-10 --countries JP
    """
    from invoicing.billing.importer import import_data, load_file
    from invoicing.db import session_scope

    if (fixtures is None) == (generate is None):
        fail("give exactly one of --fixtures FILE or --generate N")
    _ready()
    if fixtures is not None:
        data = load_file(fixtures)
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
        source = f"{generate} synthetic subscribers (seed {seed}{', ' + ','.join(codes) if codes else ''})"
    started = time.perf_counter()
    with session_scope() as session:
        summary = import_data(session, data)
    err.print(
        f"imported {summary.plans} plans, {summary.subscribers} subscribers, {summary.charges} charges "
        f"from {source} in {time.perf_counter() - started:.1f} s",
        markup=False,
    )


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

    from invoicing.run.runtime import workers
    from invoicing.run.workflow import demo as run_demo

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
    """Render one subscriber's invoice for a period, without a billing run.

    Shows the issued invoice if the period was billed, otherwise a DRAFT computed
    from the current data. Nothing is written to the database.

    Example: invoicing render --account A-0001 --period 2026-10 -o preview.pdf
    """
    from invoicing.billing import draft_document
    from invoicing.db import session_scope
    from invoicing.files import atomic_file
    from invoicing.pdf import RenderError, render_invoice
    from invoicing.run.workflow import check_output

    settings = _ready()
    check_output(output, force)
    with session_scope() as session:
        document = draft_document(session, settings, account, period)
    try:
        pdf = render_invoice(document)
    except RenderError as exc:
        fail(f"cannot render {account}: {exc}", EXIT_FAILED)
    with atomic_file(output) as handle:
        handle.write(pdf)
    err.print(f"wrote {output} ({document.number}, {len(pdf):,} bytes)", markup=False)


# --- the billing run ----------------------------------------------------------------------


@main.command()
@_period_option(required=False)
@click.option("--no-wait", is_flag=True, help="Dispatch and return (needs a broker and workers).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def run(period: Period | None, no_wait: bool, as_json: bool) -> None:
    """Issue and render the period's invoices and merge them into one PDF.

    The default period is the previous calendar month. Running it again for the same
    period resumes that run (renders what is missing or failed) and never bills
    anyone twice.

    Example: invoicing run --period 2026-10
    """
    from invoicing.billing import Period
    from invoicing.run.runtime import workers
    from invoicing.run.workflow import report, start_or_resume

    settings = _ready()
    period = period or Period.previous()
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
        final = _wait(started.run_id, as_json, settings)
    _finish(final, as_json, time.perf_counter() - started_at)


def _say_started(started: Any) -> None:
    verb = {
        "created": f"issued {started.invoices} invoices",
        "resumed": f"resuming: {started.dispatched} of {started.invoices} invoices to render",
        "attached": "already in progress; following it",
        "merging": "all invoices rendered; merging again",
        "complete": "already complete; nothing to do",
    }[started.action]
    err.print(f"billing run {started.run_id} for {started.period}: {verb}", markup=False)


def _wait(run_id: int, as_json: bool, settings: Any) -> Any:
    """Follow the run in the database until it is final, with a live progress bar."""
    from invoicing.models import InvoiceStatus
    from invoicing.run.workflow import FINAL, progress, report

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
    started = time.monotonic()
    with Progress(*columns, console=err, transient=False, disable=as_json) as bar:
        task = bar.add_task("rendering", total=None, failed=0, rate="")
        while True:
            status, counts, total = progress(run_id)
            done = counts[InvoiceStatus.RENDERED] + counts[InvoiceStatus.FAILED]
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(
                task,
                total=total,
                completed=done,
                failed=counts[InvoiceStatus.FAILED],
                description=status,
                rate=f"{done / elapsed:.1f}/s",
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
        out.print(json.dumps(rep.summary(), ensure_ascii=False), markup=False)
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
    from invoicing.run.workflow import report

    _ready()
    rep = report(run_id)
    if as_json:
        data = rep.summary() | {
            "rendered": rep.rendered,
            "pending": rep.pending,
            "stalled": rep.stalled,
            "error": rep.error,
            "failures": rep.failures,
        }
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
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
    from invoicing.run.workflow import list_runs

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
    from invoicing.run.runtime import workers
    from invoicing.run.workflow import report, resume

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
        final = _wait(run_id, as_json, settings)
    _finish(final, as_json, time.perf_counter() - started_at)


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
    from invoicing.run.runtime import workers
    from invoicing.run.workflow import check_output, iter_accounts, merge_accounts

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
        ("single invoice file, bytes", f"{result.bytes_per_single_invoice:,.0f}"),
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
