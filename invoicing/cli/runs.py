"""Commands that run the billing: the nightly run (its supplements, its dry run), status,
retry, credit notes, the one-off merge; and how their results are printed."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

if TYPE_CHECKING:
    from invoicing.billing import Period


from invoicing.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    RUN_EXIT,
    AmountParam,
    WholeNumber,
    current_settings,
    err,
    fail,
    handle_errors,
    main,
    on_interrupt,
    out,
    period_option,
    plural,
    ready,
    say_error,
)

# --- the billing run ----------------------------------------------------------------------

LATE_SHOWN = 20  # late charges a run or status lists in text; --json has them all


@main.command()
@period_option(required=False)
@click.option("--no-wait", is_flag=True, help="Dispatch and return (needs a broker and workers).")
@click.option("--dry-run", is_flag=True, help="Show what would be issued; write nothing.")
@click.option(
    "--force-period",
    is_flag=True,
    help="Bill a period that has not ended yet or lies more than 24 months back.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def run(period: Period | None, no_wait: bool, dry_run: bool, force_period: bool, as_json: bool) -> None:
    """Issue and render the period's invoices and merge them into one PDF.

    The default period is the previous calendar month. Running it again for the same
    period resumes that run (renders what is missing or failed) and never bills
    anyone twice; once it is finished, subscribers added later for the period are
    issued in a supplement, numbered on in the period's series, with a merged file of
    its own. Late charges of earlier periods go on these invoices, and the run lists them.

    A month that has not ended yet, or one more than 24 months back, is refused
    (exit 2, nothing issued) unless confirmed with --force-period: such a period is
    more often a typo than a decision. The nightly run bills the month that just ended.

    Example: invoicing run --period 2026-10

    Example: invoicing run --period 2026-10 --dry-run
    """
    from invoicing.billing import Period
    from invoicing.run.dispatch import preview, start_or_resume
    from invoicing.run.report import report
    from invoicing.run.runtime import workers

    period = period or Period.previous()
    refusal = None if force_period else period.billing_refusal()
    if refusal:
        fail(
            f"{refusal}; nothing was issued. If that is the period you mean: "
            f"`invoicing run --period {period} --force-period`"
        )
    settings = ready(storage=not dry_run)
    if dry_run:
        _print_preview(preview(period, settings).as_dict(), as_json)
        return
    if no_wait and settings.embedded:
        fail(
            "--no-wait needs a broker: the embedded worker stops when this command exits "
            "(set INVOICING_BROKER_URL, e.g. redis://127.0.0.1:6379/0)"
        )
    _check_output_folder(settings, str(period), "nothing was issued")
    started_at = time.perf_counter()
    with workers(settings) as available:
        if not settings.embedded and not available:
            if not no_wait:
                # Before issuing: waiting on a run nobody renders would say nothing for
                # INVOICING_STALL_AFTER_S and leave issued invoices behind.
                fail(_no_worker(settings, "nothing was issued; ") + ", then run this again", EXIT_FAILED)
            err.print(f"warning: {_no_worker(settings, 'invoices render once one runs: ')}", markup=False)
        before = _latest_run_id(period)
        on_interrupt(lambda: _interrupted_issuing(period, before, settings))
        started = start_or_resume(period, workers=max(available, 1), settings=settings)
        on_interrupt(lambda: _interrupted_run(started.run_id, started.period, settings))
        if not as_json:
            _say_started(started)
        if no_wait:
            _print_report(report(started.run_id), as_json, time.perf_counter() - started_at)
            return
        final = _wait(started, as_json, settings)
        if settings.deliver_after_run and settings.smtp_url and settings.embedded:
            from invoicing.cli.delivery import deliver_after_run

            deliver_after_run(final, settings, as_json)
    _finish(final, as_json, time.perf_counter() - started_at)


def _check_output_folder(settings: Any, period: str, nothing: str) -> None:
    from invoicing.run.outputs import output_folder_problem

    problem = output_folder_problem(settings, period)
    if problem is not None:
        fail(f"{problem}; {nothing}: give a folder this user can write")


def _latest_run_id(period: Period) -> int | None:
    from invoicing.db import session_scope
    from invoicing.run.dispatch import latest_run

    with session_scope() as session:
        latest = latest_run(session, period)
        return latest.id if latest is not None else None


def _interrupted_issuing(period: Period, before: int | None, settings: Any) -> str:
    """Ctrl-C while the run was being issued: its transaction either committed or not."""
    now = _latest_run_id(period)
    if now == before or now is None:
        return f"interrupted before anything was issued for {period}; nothing was written"
    return _interrupted_run(now, str(period), settings)


def _interrupted_run(run_id: int, period: str, settings: Any) -> str:
    """Ctrl-C once the run is issued: its invoices and numbers stay; what renders them now."""
    if settings.embedded:
        # The in-process worker stopped with this command: nobody renders the run, and
        # `retry` takes it over once it counts as stalled.
        then = (
            f"its rendering stopped with this command: `invoicing retry {run_id}` finishes it once it "
            f"counts as stalled ({settings.stall_after_s} s after its last progress, INVOICING_STALL_AFTER_S)"
        )
    else:
        then = (
            f"the workers go on rendering it; if none does, `invoicing retry {run_id}` finishes it once it "
            f"counts as stalled ({settings.stall_after_s} s after its last progress)"
        )
    shown = f"`invoicing status {run_id}` shows it"
    return f"interrupted; billing run {run_id} for {period} is issued; {shown}; {then}"


def _no_worker(settings: Any, then: str) -> str:
    from invoicing.run.runtime import no_worker

    return no_worker(settings, then)


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
            f"late      {plural(data['deferred_charges'], 'charge')} of earlier periods picked up"
            + (" (`invoicing charges --waiting` lists them)" if data["deferred_charges"] else ""),
            markup=False,
        )
    for reason, count in data["skipped"].items():
        out.print(f"skipped   {plural(count, 'subscriber')}: {reason}", markup=False)
    for item in data["skipped_examples"]:
        out.print(f"          {item['account']}: {item['reason']}", markup=False)


def _say_started(started: Any) -> None:
    verb = {
        "created": f"issued {plural(started.invoices, 'invoice')}",
        "supplement": (
            f"supplement: issued {plural(started.invoices, 'invoice')} to subscribers added after the run"
        ),
        "credit": "issued the credit note",
        "resumed": f"resuming: {started.dispatched} of {plural(started.invoices, 'invoice')} to render",
        "attached": "already in progress; following it",
        "merging": "all invoices rendered; merging again",
        "complete": "already complete; nothing to do",
    }[started.action]
    err.print(f"billing run {started.run_id} for {started.period}: {verb}", markup=False)


def _wait(started: Any, as_json: bool, settings: Any) -> Any:
    """Follow the run in the database until it is final, with a live progress bar while
    invoices render; no bar when this command renders none (a rate would be meaningless)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
    sys.exit(_exit_code(final, EXIT_FAILED))


def _exit_code(rep: Any, unknown: int) -> int:
    """The run's status as an exit code; a completed run that skipped subscribers still
    unbilled is partial (3), like one with failed invoices."""
    code = RUN_EXIT.get(rep.status, unknown)
    if code == EXIT_OK and rep.unbilled_skips:
        return EXIT_PARTIAL
    return code


def _print_report(rep: Any, as_json: bool, elapsed: float | None = None) -> None:
    if as_json:
        out.print(json.dumps(rep.as_dict(), ensure_ascii=False), markup=False)
        return
    state = rep.status + (f" (stalled: run `invoicing retry {rep.run_id}`)" if rep.stalled else "")
    if getattr(rep, "void_reason", None):
        state += f": {rep.void_reason}"
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
            f"{'late':<9} {plural(rep.charges_waiting, 'charge')} "
            f"{'waits' if rep.charges_waiting == 1 else 'wait'} for a later invoice; "
            f"{rep.charges_unbillable} unbillable (their subscriber has ended): "
            "`invoicing charges --waiting` and `--unbillable` list them",
            markup=False,
        )
    webhooks = getattr(rep, "webhooks", {})
    if any(webhooks.values()):
        out.print(
            f"{'webhooks':<9} {webhooks['pending']} pending, {webhooks['delivered']} delivered, "
            f"{webhooks['failed']} failed (events of every run)",
            markup=False,
        )
    late = getattr(rep, "late_charges", [])
    for item in late[:LATE_SHOWN]:
        out.print(
            f"{'late':<9} {item['account']}: {item['description']} ({item['period']}) "
            f"{item['amount']} {item['currency']} on {item['invoice']}",
            markup=False,
        )
    if len(late) > LATE_SHOWN:
        out.print(
            f"{'late':<9} and {plural(len(late) - LATE_SHOWN, 'more charge')} of earlier periods: "
            f"`invoicing status {rep.run_id} --json` lists them",
            markup=False,
        )
    for item in getattr(rep, "skipped", []):
        state = (
            f"billed since as {item['billed']}"
            if item["billed"]
            else f"not billed: correct the data, then `invoicing run --period {rep.period}`"
        )
        out.print(f"{'skipped':<9} {item['account']}: {item['reason']}; {state}", markup=False)
    if rep.failures:
        failures = Table(title="failed invoices", title_justify="left")
        failures.add_column("number", no_wrap=True)
        failures.add_column("account", no_wrap=True)
        failures.add_column("reason", overflow="fold")  # a reason is read whole: never cut mid-path
        for item in rep.failures:
            failures.add_row(item["number"], item["account"], item["error"])
        out.print(failures)
        out.print(
            f"{'next':<9} correct what the reasons say, then `invoicing retry {rep.run_id}`", markup=False
        )


@main.command()
@click.argument("run_id", type=WholeNumber(), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def status(run_id: int | None, as_json: bool) -> None:
    """Show one billing run (default: the latest) and its failed invoices.

    Example: invoicing status 3 --json
    """
    from invoicing.cli.delivery import print_delivery
    from invoicing.run.report import report

    ready()
    rep = report(run_id)
    if as_json:
        out.print(json.dumps(rep.status_dict(), ensure_ascii=False), markup=False)
    else:
        _print_report(rep, False)
        if any(rep.delivery["counts"].values()):
            print_delivery(rep.delivery)
    sys.exit(_exit_code(rep, EXIT_OK))


@main.command()
@click.option(
    "--limit", type=WholeNumber(1, 10_000), default=20, show_default=True, help="Show at most N runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@handle_errors
def runs(limit: int, as_json: bool) -> None:
    """List billing runs, newest first.

    Example: invoicing runs --limit 5
    """
    from invoicing.run.report import list_runs

    ready()
    items = list_runs(limit)
    if as_json:
        out.print(json.dumps(items, ensure_ascii=False), markup=False)
        return
    from invoicing.storage import store_for

    out.print(_runs_table(items, store_for(current_settings())), soft_wrap=False)


def _runs_table(items: list[dict[str, Any]], store: Any) -> Table:
    """Readable at 80 columns: no column is cut; the merged file's path is shown relative
    to the output folder or S3 prefix (named in the caption) and folds onto a second line
    if need be."""
    table = Table(box=None, caption=f"files under {store.root}", caption_justify="left", pad_edge=False)
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
            output = store.relative(output)
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
@click.argument("run_id", type=WholeNumber())
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

    settings = ready(storage=True)
    if no_wait and settings.embedded:
        fail("--no-wait needs a broker: the embedded worker stops when this command exits")
    on_interrupt(
        lambda: f"interrupted; `invoicing status {run_id}` shows the run, `invoicing retry {run_id}` goes on"
    )
    started_at = time.perf_counter()
    with workers(settings) as available:
        if not settings.embedded and not available and not no_wait:
            fail(_no_worker(settings, "nothing was sent; ") + ", then retry again", EXIT_FAILED)
        started = resume(run_id, workers=max(available, 1), settings=settings, busy_is_error=True)
        if not as_json:
            _say_started(started)
        if no_wait or started.action == "complete":
            rep = report(run_id)
            _print_report(rep, as_json, time.perf_counter() - started_at)
            sys.exit(RUN_EXIT.get(rep.status, EXIT_OK) if started.action == "complete" else EXIT_OK)
        final = _wait(started, as_json, settings)
    _finish(final, as_json, time.perf_counter() - started_at)


@main.command()
@click.argument("run_id", type=WholeNumber())
@click.option("--reason", help="Why, kept with the run and each of its invoices.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def void(run_id: int, reason: str | None, as_json: bool) -> None:
    """Cancel a period's latest run while none of its invoices has left the system.

    Its invoices are kept, marked void with the reason: their numbers stay used, and
    nothing is renumbered. The subscribers become billable again: the next
    `invoicing run` for the period bills them with new numbers. Once an invoice has
    been exported, merged for print, written out by `render`, fetched through the API
    or the dashboard, or e-mailed, or while an e-mail of it is under way, or once it has
    a credit note, the run is refused (exit 2): correct it with credit notes
    (`invoicing credit NUMBER`).

    Example: invoicing void 3 --reason "billed 2062-10 for 2026-10"
    """
    from invoicing.run.dispatch import void as void_run

    ready()
    voided = void_run(run_id, reason)
    data = {
        "run_id": voided.id,
        "period": voided.period,
        "status": voided.status.value,
        "invoices": voided.invoice_count,
        "reason": voided.void_reason,
    }
    if as_json:
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
        return
    out.print(
        f"billing run {voided.id} for {voided.period} is void ({voided.void_reason}): "
        f"{plural(voided.invoice_count, 'invoice')} kept as void; "
        f"`invoicing run --period {voided.period}` bills the period again",
        markup=False,
    )


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

    settings = ready(storage=True)
    with workers(settings) as available:
        if not settings.embedded and not available:
            fail(_no_worker(settings, "no credit note was issued; ") + ", then run this again", EXIT_FAILED)
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
        say_error(
            f"the credit note did not render: {note.error or final.error} (`invoicing retry {final.run_id}`)"
        )
        sys.exit(EXIT_FAILED)
