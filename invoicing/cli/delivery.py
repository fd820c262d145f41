"""Commands that get the invoices to their subscribers: `deliver` (e-mail a run's
invoices) and `bounces` (read the delivery status notifications that came back)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from invoicing.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    WholeNumber,
    err,
    fail,
    handle_errors,
    main,
    on_interrupt,
    out,
    plural,
    ready,
)

SHOWN = 20  # undelivered invoices listed in text; --json has up to 100


@main.command()
@click.argument("run_id", type=WholeNumber())
@click.option("--no-wait", is_flag=True, help="Dispatch and return (needs a broker and workers).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def deliver(run_id: int, no_wait: bool, as_json: bool) -> None:
    """E-mail a run's invoices whose channel is email or both, those not sent yet.

    The SMTP login is checked first (a refused one: exit 2, nothing marked). Each
    invoice is recorded `sending` before its message is handed over and `sent` after
    the server's 250; a 4xx answer is tried again after a backoff, a 5xx fails it.
    Running it again sends only what is not sent. Exit 3 when some failed or bounced.

    Example: invoicing deliver 3
    """
    from invoicing.delivery.dispatch import start
    from invoicing.run.runtime import workers

    settings = ready(storage=True)
    if no_wait and settings.embedded:
        fail("--no-wait needs a broker: the embedded worker stops when this command exits")
    on_interrupt(lambda: f"interrupted; `invoicing deliver {run_id}` sends the rest")
    began = time.perf_counter()
    with workers(settings) as available:
        if not settings.embedded and not available and not no_wait:
            fail("no worker answered on the broker; start one, then deliver again", EXIT_FAILED)
        started = start(run_id, workers=max(available, 1), settings=settings)
        if not as_json:
            err.print(
                f"billing run {run_id}: {plural(started.dispatched, 'invoice')} to e-mail", markup=False
            )
        if not no_wait:
            _wait(run_id, settings)
    _finish(run_id, started.dispatched, as_json, time.perf_counter() - began, no_wait)


def deliver_after_run(final: Any, settings: Any, as_json: bool) -> None:
    """INVOICING_DELIVER_AFTER_RUN, embedded: `run` e-mails the merged run's invoices in
    its own process before it returns. A delivery that cannot start is a warning: the
    run is done either way, and `invoicing deliver RUN_ID` sends them later."""
    from invoicing.delivery.dispatch import start
    from invoicing.errors import InvoicingError

    if final.status not in ("completed", "completed_with_errors"):
        return
    try:
        started = start(final.run_id, settings=settings)
    except InvoicingError as exc:
        err.print(f"warning: the invoices were not e-mailed: {exc}", markup=False)
        return
    if not as_json:
        err.print(
            f"billing run {final.run_id}: {plural(started.dispatched, 'invoice')} to e-mail", markup=False
        )
    _wait(final.run_id, settings)


def _wait(run_id: int, settings: Any) -> None:
    """Until none of the run's e-mails is pending, sending or deferred. A delivery that
    stands still for INVOICING_STALL_AFTER_S with nothing deferred is reported."""
    from invoicing.delivery.dispatch import counts

    last, changed = None, time.monotonic()
    while True:
        now = counts(run_id)
        if not (now.get("pending", 0) or now.get("sending", 0) or now.get("deferred", 0)):
            return
        if now != last:
            last, changed = now, time.monotonic()
        elif not now.get("deferred") and time.monotonic() - changed > settings.stall_after_s:
            fail(
                f"the delivery of run {run_id} made no progress for {settings.stall_after_s} s; "
                f"see `invoicing status {run_id}`, then `invoicing deliver {run_id}`",
                EXIT_FAILED,
            )
        time.sleep(0.2)


def _finish(run_id: int, dispatched: int, as_json: bool, elapsed: float, no_wait: bool) -> None:
    from invoicing.delivery.report import run_delivery

    delivery = run_delivery(run_id)
    done = delivery["counts"]
    if as_json:
        data = {"run_id": run_id, "dispatched": dispatched, "delivery": delivery}
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
    else:
        print_delivery(delivery)
        out.print(f"{'elapsed':<9} {elapsed:.1f} s", markup=False)
    if no_wait:
        sys.exit(EXIT_OK)
    sys.exit(EXIT_PARTIAL if done.get("failed") or done.get("bounced") else EXIT_OK)


def print_delivery(delivery: dict[str, Any]) -> None:
    """The delivery's counts, and the undelivered invoices with their reasons."""
    counts = delivery["counts"]
    shown = ", ".join(f"{count} {state}" for state, count in counts.items() if count)
    out.print(f"{'delivery':<9} {shown or 'nothing to e-mail'}", markup=False)
    for item in delivery["undelivered"][:SHOWN]:
        out.print(
            f"{item['state']:<9} {item['number']} ({item['account']}, {item['recipient']}): {item['reason']}",
            markup=False,
        )
    if len(delivery["undelivered"]) > SHOWN:
        out.print(f"{'':<9} and more: `--json` lists up to 100", markup=False)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def bounces(paths: tuple[Path, ...], as_json: bool) -> None:
    """Read delivery status notifications (.eml files or a maildir) and mark the
    invoices they are about bounced, with the status and diagnostic code.

    A bounce is matched by the original Message-ID (or the envelope id, the invoice's
    number); one that matches no invoice, mail that is no bounce and a damaged file
    change nothing and are listed. Exit 1 when a file was refused or unmatched.

    Example: invoicing bounces ~/Maildir/.bounces
    """
    from invoicing.delivery.bounces import iter_files, record_bounces

    ready()
    # Embedded, this process sends the invoice.bounced events: every command lets their
    # first attempts end before it exits (common.handle_errors).
    report = record_bounces(paths)
    if as_json:
        out.print(json.dumps(report.as_dict(), ensure_ascii=False), markup=False)
    else:
        for kind, item in iter_files(report):
            if kind == "matched":
                detail = f"{item['number']} bounced: {item['status']} {item['diagnostic']}".rstrip()
            else:
                detail = item["reason"]
            out.print(f"{kind:<9} {item['file']}: {detail}", markup=False)
    sys.exit(EXIT_FAILED if report.refused or report.unmatched else EXIT_OK)
