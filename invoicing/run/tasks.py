"""Thin Celery tasks over the plain functions in `steps` and `dispatch`.

Every task checks its arguments first (`arguments`): a message may be forged, and a
refused one changes nothing. A header task never raises for a bad invoice: with a plain
chord, one raising header task means the body is never called. Permanent errors are
recorded on the invoice and the task returns; transient ones (database, Redis) retry
with backoff first, as the base class `RunTask` decides for every task here.

Task names are part of the queued messages: never rename one.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.exceptions import ChordError

from invoicing.celery import app
from invoicing.config import get_settings
from invoicing.errors import plural
from invoicing.models import RunStatus
from invoicing.run import ahead, dispatch, steps
from invoicing.run.arguments import (
    InvoiceRange,
    RefusedArguments,
    billing_period,
    existing_run,
    invoice_batch,
)
from invoicing.run.report import RunSummary, run_summary
from invoicing.run.transient import RunTask, run_task

log = logging.getLogger(__name__)

RENDER_RETRIES = 8  # about six minutes of backoff before a batch gives up
MERGE_RETRIES = 120
PENDING_RECHECK_S = 5.0


@app.task(name="invoicing.wake", ignore_result=True)
def wake() -> None:
    """Nothing; wakes a stopping embedded worker (see runtime.workers)."""


@run_task("invoicing.render_batch", max_retries=RENDER_RETRIES, soft_time_limit=1800)
def render_batch(self: RunTask, batch: Any) -> dict[str, Any]:
    """Header task: render a batch of invoices; report per invoice, never raise for one.

    The batch is a range of a run's invoices (what dispatch sends: three numbers,
    `arguments.InvoiceRange`), or a list of invoice ids (the one-off merge's, and
    messages queued before ranges)."""
    batch = invoice_batch(self.name, batch)
    what = f"batch {_described(batch)}"
    try:
        invoice_ids = steps.invoices_in(batch) if isinstance(batch, InvoiceRange) else batch
        outcomes = steps.render_chunked(invoice_ids)
    except Exception as exc:
        gave_up = self.retry_transient(exc, what)
        reason = f"{gave_up or 'render task error'}: {steps.describe_failure(exc)}"
        log.error("%s failed: %s", what, reason)
        # If even this cannot be recorded the task raises, the chord's error callback
        # fires, and the reconciler or `invoicing retry` finishes the run.
        gone = steps.record_batch_failure(batch, reason)
        return {"rendered": 0, "failed": len(gone), "errors": {str(i): reason for i in gone}}
    if isinstance(batch, InvoiceRange):
        ahead.start(batch.run_id)  # the run's merge, while its other batches render
    failed = {str(o.invoice_id): o.error for o in outcomes if o.status != "rendered"}
    return {"rendered": len(outcomes) - len(failed), "failed": len(failed), "errors": failed}


def _described(batch: list[int] | InvoiceRange) -> str:
    if isinstance(batch, InvoiceRange):
        return f"of run {batch.run_id}, invoices {batch.first_id} to {batch.last_id}"
    return f"of {plural(len(batch), 'invoice')}"


@run_task("invoicing.merge_run", max_retries=MERGE_RETRIES, soft_time_limit=3600)
def merge_run(self: RunTask, run_id: int) -> dict[str, Any]:
    """Chord body: merge the run's rendered invoices and record the run's result."""
    try:
        # Inside: the look-up needs the database, whose outage is retried like the merge's.
        run_id = existing_run(self.name, run_id)
        summary = steps.merge_run_invoices(run_id)
        _deliver_after(summary)
        return summary.as_dict()
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
        return run_summary(run_id).as_dict()
    except Exception as exc:
        self.retry_transient(exc, f"billing run {run_id}: merge")
        raise


def _deliver_after(summary: RunSummary) -> None:
    """INVOICING_DELIVER_AFTER_RUN: the run's e-mails go out once it is merged, by name
    (run never imports delivery). Embedded, the `run` command delivers in its own process."""
    settings = get_settings()
    merged = summary.status in (RunStatus.COMPLETED.value, RunStatus.COMPLETED_WITH_ERRORS.value)
    if merged and settings.deliver_after_run and settings.smtp_url and not settings.embedded:
        app.send_task("invoicing.deliver_run", args=(summary.run_id,))


@app.task(name="invoicing.chord_failed", throws=(RefusedArguments,))
def chord_failed(request: Any, exc: BaseException, traceback: Any, run_id: int) -> None:
    """Error callback of the chord body.

    A header task that raised anyway (retries ran out and the database was still
    down) stops Celery from calling the body; merge what there is so the night's file
    exists, and leave the unfinished invoices failed for `invoicing retry`.
    """
    run_id = existing_run("invoicing.chord_failed", run_id)
    if isinstance(exc, ChordError):
        log.error("billing run %s: a header task failed (%s); merging the rest", run_id, exc)
        dispatch.salvage(run_id, f"render task failed: {exc}")
    else:
        log.error("billing run %s: merge failed: %s", run_id, exc)
        dispatch.record_run_error(run_id, f"merge failed: {steps.describe_failure(exc)}")


@app.task(name="invoicing.start_billing_run", throws=(RefusedArguments,))
def start_billing_run(period: str | None = None) -> dict[str, Any]:
    """Celery beat's nightly entry: issue and dispatch the previous month's run."""
    started = dispatch.start_or_resume(billing_period("invoicing.start_billing_run", period))
    return {"run_id": started.run_id, "period": started.period, "action": started.action}


@app.task(name="invoicing.reconcile_runs")
def reconcile_runs() -> list[dict[str, Any]]:
    """Periodic: finish runs whose chord body was lost (stalled) without a person."""
    return [{"run_id": s.run_id, "action": s.action} for s in dispatch.reconcile()]
