"""The smoke test (the power/amass chord) and the benchmark."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from rich.table import Table

if TYPE_CHECKING:
    pass


from invoicing.cli.common import (
    EXIT_FAILED,
    Seconds,
    WholeNumber,
    current_settings,
    err,
    fail,
    handle_errors,
    main,
    out,
    plural,
    say_error,
)

# --- demo ---------------------------------------------------------------------------------


@main.command()
@click.option("--count", type=WholeNumber(1, 10_000), default=10, show_default=True, help="Header tasks.")
@click.option(
    "--fail-at", type=WholeNumber(), default=None, help="Make power(K, 2) raise, to see a chord break."
)
@click.option("--delay", is_flag=True, help="Sleep randomly in each task to make the parallelism visible.")
@click.option(
    "--timeout",
    type=Seconds(1, 3600),
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

    settings = current_settings()
    with workers(settings) as available:
        if not settings.embedded and not available:
            fail("no worker answered on the broker: start one with `celery -A invoicing worker`", EXIT_FAILED)
        try:
            result = run_demo(count, fail_at, delay, timeout)
        except CeleryTimeout:
            fail(f"no result within {timeout:g} s: are the workers running and reachable?", EXIT_FAILED)
    if result.total is None:
        say_error(f"header task failed: {result.failed_task or result.error}")
        say_error("the chord body (amass) never ran: a failed header task stops a plain chord")
        sys.exit(EXIT_FAILED)
    out.print(result.total)


# --- benchmark ------------------------------------------------------------------------------


@main.command()
@click.option(
    "--subscribers",
    type=WholeNumber(1, 1_000_000),
    default=2000,
    show_default=True,
    help="Synthetic subscribers to bill.",
)
@click.option(
    "--workers", type=WholeNumber(1, 64), default=2, show_default=True, help="Worker processes to start."
)
@click.option(
    "--einvoice",
    is_flag=True,
    help="Measure instead what an e-invoice adds per invoice (XML, PDF/A-3; validation apart), "
    "in this process: no Redis, no workers.",
)
@click.option(
    "--api",
    is_flag=True,
    help="Measure instead what the HTTP API costs a run: the run alone, then again while --clients "
    "clients poll GET /runs/{id} (invoices/s of both, the load offered and answered, latency "
    "percentiles, the server's and the clients' CPU).",
)
@click.option(
    "--clients",
    type=WholeNumber(1, 2000),
    default=200,
    show_default=True,
    help="With --api: clients polling the run, all sending at the same instant each poll "
    "(so this many requests are in flight at once), each waiting for its answer.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0, 60),
    default=1.0,
    show_default=True,
    help="With --api: seconds between one client's polls; a latency counts from the poll's "
    "instant. 0: back to back, the most the clients can get answered (a stress, not a poller).",
)
@click.option(
    "--no-baseline",
    is_flag=True,
    help="Measure only the billing run, not the single-process loop (which takes as long again "
    "at 100,000 subscribers); the baseline figures and the ratio are then null.",
)
@click.option(
    "--deliver",
    is_flag=True,
    help="Then e-mail every invoice to a local SMTP server on the same workers: messages per second.",
)
@click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="Bill on this database instead of a throw-away SQLite file: an empty one (PostgreSQL, "
    "say), which the bench fills and leaves filled; one that holds data is refused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def bench(
    subscribers: int,
    workers: int,
    einvoice: bool,
    api: bool,
    clients: int,
    poll_interval: float,
    no_baseline: bool,
    deliver: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Measure the billing run through Celery against a plain single-process loop.

    Uses a throw-away database and output folder, and W real worker processes on
    Redis (INVOICING_BROKER_URL, default redis://127.0.0.1:6379/0). With --einvoice:
    the same synthetic invoices rendered plain, and per invoice the XML and the PDF/A-3
    parts side by side (their budget is 2 ms), then the EN 16931 XSD + Schematron
    validation on its own.

    Example: invoicing bench --subscribers 2000 --workers 2

    Example: invoicing bench --subscribers 100000 --no-baseline

    Example: invoicing bench --database-url postgresql+psycopg://bench@db.example/bench_empty

    Example: invoicing bench --einvoice --subscribers 500

    Example: invoicing bench --api --subscribers 2000 --workers 2 --clients 200 --poll-interval 1

    Example: invoicing bench --deliver --no-baseline
    """
    from invoicing.bench import run_bench, unwind_on_sigterm

    current_settings()
    unwind_on_sigterm()
    if einvoice and api:
        fail("give one of --einvoice and --api")
    if database_url and (einvoice or api):
        fail("--database-url is for the billing run's bench, not --einvoice or --api")
    if einvoice:
        _bench_einvoice(subscribers, as_json)
        return
    if api:
        _bench_api(subscribers, workers, clients, poll_interval, as_json)
        return
    result = run_bench(
        subscribers,
        workers,
        say=lambda text: None if as_json else err.print(text, markup=False),
        baseline=not no_baseline,
        deliver=deliver,
        database_url=database_url,
    )
    if as_json:
        out.print(json.dumps(result.as_dict()), markup=False)
        return
    table = Table(
        title=f"{subscribers:,} subscribers, {plural(workers, 'worker process', 'worker processes')}",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("baseline (render + merge loop, 1 process)", _or_skipped(result.baseline_s, "{:.2f} s")),
        ("  of which merge", _or_skipped(result.baseline_merge_s, "{:.2f} s")),
        ("billing run through Celery", f"{result.celery_s:.2f} s"),
        ("  the merge, from its start", f"{result.celery_merge_s:.2f} s"),
        ("  the merge after the last batch", f"{result.merge_tail_s:.2f} s"),
        ("  the merging thread's CPU", f"{result.merge_cpu_s:.2f} s"),
        ("  invoices pre-linked by the header", f"{result.prelinked:,}"),
        ("ratio billing run / baseline", _or_skipped(result.ratio, "{:.2f}")),
        ("invoices per second", f"{result.invoices_per_s:,.1f}"),
        ("dispatch the chord", f"{result.dispatch_s:.2f} s"),
        ("issue the run (DB transaction)", f"{result.issue_s:.2f} s"),
        ("  peak RSS it added", f"{result.issue_added_rss_mb:.0f} MB"),
        ("invoices per header task", str(result.batch_size)),
        ("merged file, bytes per invoice", f"{result.bytes_per_invoice:,.0f}"),
        ("  its bookmarks, read back: every invoice once", f"{result.outline_invoices:,}"),
        ("merge step peak RSS", f"{result.merge_peak_rss_mb:.0f} MB"),
        ("worker processes peak RSS", f"{result.worker_peak_rss_mb:.0f} MB"),
        ("this command's peak RSS (baseline)", f"{result.bench_peak_rss_mb:.0f} MB"),
        ("largest peak RSS, every process", f"{result.every_process_peak_rss_mb:.0f} MB"),
        ("  the bench's outline reader, apart", f"{result.outline_peak_rss_mb:.0f} MB"),
        ("single invoice file, bytes", _or_skipped(result.bytes_per_single_invoice, "{:,.0f}")),
        ("worker CPU during the billing run", f"{result.worker_cpu_s:.1f} s"),
        ("  per invoice, all-in", f"{result.worker_cpu_ms_per_invoice:.2f} ms"),
        ("    of which in the kernel", f"{result.worker_system_ms_per_invoice:.2f} ms"),
        ("render one invoice, Latin (median)", _render_ms(result.render_latin_ms, result.baseline_s)),
        ("  Cyrillic, Greek", _render_ms(result.render_other_ms, result.baseline_s)),
        ("  shaped scripts, CJK", _render_ms(result.render_shaped_ms, result.baseline_s)),
        (
            "pdfunite on the same files",
            f"skipped: {result.pdfunite_skipped}"
            if result.pdfunite_s is None
            else f"{result.pdfunite_s:.2f} s",
        ),
    ]
    if result.messages_per_s is not None:
        rows += [
            ("e-mail every invoice (local SMTP server)", f"{result.deliver_s:.2f} s"),
            ("  messages per second", f"{result.messages_per_s:,.1f}"),
            ("  worker CPU per message, all-in", f"{result.deliver_cpu_ms_per_message:.2f} ms"),
        ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    out.print(_projection(result.projected))


def _projection(projected: list[dict[str, float]]) -> Table:
    """The projection (bench/scale.py): each part of the run, the process counts side by side."""
    table = Table(
        title=f"projected from these figures: {int(projected[0]['subscribers']):,} subscribers",
        title_justify="left",
    )
    table.add_column("part")
    for p in projected:
        table.add_column(f"{int(p['processes'])} processes", justify="right")
    for name, key in (
        ("issue (per subscriber)", "issue_s"),
        ("dispatch (per header task)", "dispatch_s"),
        ("render (worker CPU / processes)", "render_s"),
        ("merge (one thread's CPU)", "merge_s"),
        ("merge tail (per subscriber)", "merge_tail_s"),
        ("the run", "total_s"),
    ):
        table.add_row(name, *(f"{p[key]:,.1f} s" for p in projected))
    return table


def _or_skipped(value: float | None, form: str) -> str:
    return "skipped (--no-baseline)" if value is None else form.format(value)


def _render_ms(value: float | None, baseline_s: float | None) -> str:
    """The baseline loop times each render; it may have had no invoice of the group."""
    if baseline_s is None:
        return _or_skipped(None, "")
    return "none in this run" if value is None else f"{value:.2f} ms"


def _bench_api(subscribers: int, workers: int, clients: int, interval: float, as_json: bool) -> None:
    from invoicing.bench.api import run_api_bench

    result = run_api_bench(
        subscribers,
        workers,
        clients,
        interval,
        say=lambda text: None if as_json else err.print(text, markup=False),
    )
    if as_json:
        out.print(json.dumps(result.as_dict()), markup=False)
        return
    how = f"polling every {interval:g} s, all at once" if interval > 0 else "back to back"
    table = Table(
        title=f"{subscribers:,} subscribers, {plural(workers, 'worker process', 'worker processes')}, "
        f"{plural(clients, 'API client')} {how}",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    offered = "as many as answered" if result.offered_per_s is None else f"{result.offered_per_s:,.1f}"
    for name, value in (
        ("invoices per second, no requests", f"{result.quiet_invoices_per_s:,.1f}"),
        ("invoices per second, under GET /runs/{id}", f"{result.loaded_invoices_per_s:,.1f}"),
        ("  slower by", f"{result.slowdown_pct:.1f} %"),
        ("requests per second offered / answered", f"{offered} / {result.requests_per_s:,.1f}"),
        ("requests answered (errors)", f"{result.requests:,} ({result.errors})"),
        ("latency p50 / p95 / p99", f"{result.p50_ms:.1f} / {result.p95_ms:.1f} / {result.p99_ms:.1f} ms"),
        ("latency max", f"{result.max_ms:.1f} ms"),
        (
            "server CPU per request × requests/s",
            f"{result.server_cpu_ms_per_request:.3f} ms: {result.server_cores:.3f} core",
        ),
        (
            "clients' CPU per request × requests/s",
            f"{result.client_cpu_ms_per_request:.3f} ms: {result.client_cores:.3f} core",
        ),
        ("load average (1 min) at the end", f"{result.load_average:.2f}"),
    ):
        table.add_row(name, value)
    out.print(table)


def _bench_einvoice(subscribers: int, as_json: bool) -> None:
    from invoicing.bench import run_einvoice_bench

    result = run_einvoice_bench(
        subscribers, say=lambda text: None if as_json else err.print(text, markup=False)
    )
    if as_json:
        out.print(json.dumps(result.as_dict()), markup=False)
        return
    table = Table(
        title=f"{result.invoices:,} invoices as e-invoices (Factur-X EN 16931), per invoice",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    within = "within" if result.added_ms <= result.budget_ms else "OVER"
    for name, value in (
        ("plain render (median)", f"{result.render_ms:.3f} ms"),
        ("  + XML: pre-flight and CII (median)", f"{result.xml_ms:.3f} ms"),
        ("  + PDF/A-3 update carrying it (median)", f"{result.pdfa_ms:.3f} ms"),
        ("  = added by the e-invoice (median)", f"{result.added_ms:.3f} ms"),
        ("    mean / 95th percentile", f"{result.added_mean_ms:.3f} / {result.added_p95_ms:.3f} ms"),
        ("    of the plain render", f"{result.added_ratio:.0%}"),
        ("    budget", f"{result.budget_ms:.0f} ms: {within}"),
        ("validation: XSD + Schematron (median)", f"{result.validate_ms:.3f} ms"),
        ("  Schematron compilation, once per process", f"{result.schematron_compile_s:.2f} s"),
        ("file size plain / hybrid (mean)", f"{result.plain_bytes:,.0f} / {result.hybrid_bytes:,.0f} bytes"),
    ):
        table.add_row(name, value)
    out.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
