"""Thin Celery tasks over the plain functions in `steps` and `workflow`.

A header task never raises for a bad invoice: with a plain chord, one raising header
task means the body is never called. Permanent errors are recorded on the invoice and
the task returns; transient ones (database, Redis) retry with backoff first.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task
from celery.exceptions import ChordError, Retry

from invoicing.celery import app
from invoicing.run import steps

log = logging.getLogger(__name__)

RENDER_RETRIES = 8  # about six minutes of backoff before a batch gives up


def backoff(retries: int) -> float:
    """1, 2, 4 ... 64 seconds, jittered so retrying workers don't stampede."""
    return min(2**retries, 64) * (0.5 + random.random() / 2)


@app.task(name="invoicing.wake", ignore_result=True)
def wake() -> None:
    """Nothing; wakes a stopping embedded worker (see runtime.workers)."""


# --- the demo chord: power in the header, amass in the body ----------------------------


@app.task(name="invoicing.power")
def power(value: int, expo: int, fail_at: int | None = None, delay: bool = False) -> int:
    if delay:
        time.sleep(random.randint(10, 100) / 100.0)
    if fail_at is not None and value == fail_at:
        raise ValueError(f"power({value}, {expo}) failed on purpose (--fail-at {fail_at})")
    return int(value**expo)


@app.task(name="invoicing.amass")
def amass(values: list[int]) -> int:
    total = sum(values)
    log.info("amass: sum of %d values is %d", len(values), total)
    return total


# --- the billing run --------------------------------------------------------------------


@app.task(
    bind=True,
    name="invoicing.render_batch",
    max_retries=RENDER_RETRIES,
    soft_time_limit=1800,
    time_limit=1900,
)
def render_batch(self: Task, invoice_ids: list[int]) -> dict[str, Any]:
    """Header task: render a batch of invoices; report per invoice, never raise for one."""
    try:
        outcomes = steps.render_invoices(invoice_ids)
    except Retry:
        raise
    except Exception as exc:
        if steps.is_transient(exc) and self.request.retries < self.max_retries:
            log.warning("batch of %d invoices: transient error, retrying: %s", len(invoice_ids), exc)
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from None
        reason = (
            f"gave up after {self.request.retries} retries: {steps.describe_failure(exc)}"
            if steps.is_transient(exc)
            else f"render task error: {steps.describe_failure(exc)}"
        )
        log.error("batch of %d invoices failed: %s", len(invoice_ids), reason)
        # If even this cannot be recorded the task raises, the chord's error callback
        # fires, and the reconciler or `invoicing retry` finishes the run.
        steps.record_batch_failure(invoice_ids, reason)
        return {"rendered": 0, "failed": len(invoice_ids), "errors": {str(i): reason for i in invoice_ids}}
    failed = {str(o.invoice_id): o.error for o in outcomes if o.status != "rendered"}
    return {"rendered": len(outcomes) - len(failed), "failed": len(failed), "errors": failed}


MERGE_RETRIES = 120
PENDING_RECHECK_S = 5.0


@app.task(
    bind=True, name="invoicing.merge_run", max_retries=MERGE_RETRIES, soft_time_limit=3600, time_limit=3700
)
def merge_run(self: Task, run_id: int) -> dict[str, Any]:
    """Chord body: merge the run's rendered invoices and record the run's result."""
    try:
        result = steps.merge_run(run_id)
    except steps.PendingInvoices as exc:
        if self.request.retries < self.max_retries:
            log.info("billing run %s: %s; merging again in %.0f s", run_id, exc, PENDING_RECHECK_S)
            raise self.retry(countdown=PENDING_RECHECK_S) from None
        # Left open: `status` shows it stalled and the reconciler or `retry` resumes it.
        log.error(
            "billing run %s: %s after %d checks; leaving it to the reconciler",
            run_id,
            exc,
            self.request.retries,
        )
        return {"run_id": run_id, "status": "rendering", "pending": exc.count}
    except Exception as exc:
        if steps.is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from None
        raise
    return result.__dict__


@app.task(name="invoicing.chord_failed")
def chord_failed(request: Any, exc: BaseException, traceback: Any, run_id: int) -> None:
    """Error callback of the chord body.

    A header task that raised anyway (retries ran out and the database was still
    down) stops Celery from calling the body; merge what there is so the night's file
    exists, and leave the unfinished invoices failed for `invoicing retry`.
    """
    from invoicing.run import workflow

    if isinstance(exc, ChordError):
        log.error("billing run %s: a header task failed (%s); merging the rest", run_id, exc)
        workflow.salvage(run_id, f"render task failed: {exc}")
    else:
        log.error("billing run %s: merge failed: %s", run_id, exc)
        workflow.record_run_error(run_id, f"merge failed: {steps.describe_failure(exc)}")


@app.task(name="invoicing.start_billing_run")
def start_billing_run(period: str | None = None) -> dict[str, Any]:
    """Celery beat's nightly entry: issue and dispatch the previous month's run."""
    from invoicing.billing import Period
    from invoicing.run import workflow

    started = workflow.start_or_resume(Period.parse(period) if period else None)
    return {"run_id": started.run_id, "period": started.period, "action": started.action}


@app.task(name="invoicing.reconcile_runs")
def reconcile_runs() -> list[dict[str, Any]]:
    """Periodic: finish runs whose chord body was lost (stalled) without a person."""
    from invoicing.run import workflow

    return [{"run_id": s.run_id, "action": s.action} for s in workflow.reconcile()]
