"""Thin Celery tasks of delivery: a batch of e-mails in one SMTP session and a run's whole
delivery (over `send` and `dispatch`; INVOICING_DELIVER_AFTER_RUN sends it after the
merge), and one signed POST of a webhook outbox row with the sweep that hands out rows
whose deliverer was lost (over `webhooks`).

Arguments are checked first, as the run's tasks do (run/arguments.py); a refused
argument (a forged message) changes nothing. A batch's deferred invoices are sent again
by a new task after their backoff; a transient database error retries the task itself,
under the same task id, so the invoices it had set `sending` are its own again
(delivery/state.py `claim`). A webhook row records when it is due, so a lost retry is
swept.

Task names are part of the queued messages: never rename one.
"""

from __future__ import annotations

import logging
from typing import Any

from invoicing.celery import app
from invoicing.delivery import dispatch, send, webhooks
from invoicing.run.arguments import RefusedArguments, existing_run, invoice_id_list
from invoicing.run.transient import RunTask, run_task

log = logging.getLogger(__name__)

DELIVER_RETRIES = 8


@run_task("invoicing.deliver_batch", max_retries=DELIVER_RETRIES, soft_time_limit=1800)
def deliver_batch(self: RunTask, invoice_ids: list[int]) -> dict[str, Any]:
    """E-mail a batch of invoices; schedule the deferred ones again after their backoff."""
    invoice_ids = invoice_id_list(self.name, invoice_ids)
    try:
        outcome = send.deliver_batch(invoice_ids, str(self.request.id or "local"))
    except Exception as exc:
        self.retry_transient(exc, f"e-mail batch of {len(invoice_ids)}")
        raise
    if outcome.deferred:
        dispatch.send_batches(outcome.deferred, countdown=outcome.retry_in)
    return outcome.as_dict()


@app.task(name="invoicing.deliver_run", throws=(RefusedArguments,))
def deliver_run(run_id: int) -> dict[str, Any]:
    """A run's delivery, started by its merge (INVOICING_DELIVER_AFTER_RUN)."""
    run_id = existing_run("invoicing.deliver_run", run_id)
    started = dispatch.start(run_id)
    return {"run_id": run_id, "dispatched": started.dispatched}


@app.task(bind=True, name="invoicing.deliver_webhook", ignore_result=True, max_retries=None)
def deliver_webhook(self: object, message_id: int) -> None:
    """POST outbox row `message_id` if it is due; on a non-2xx answer or a timeout, run
    again when the backoff says (the row records when, so a lost retry is swept)."""
    if type(message_id) is not int or message_id < 1:
        log.error("invoicing.deliver_webhook refused: not an outbox row id: %.40r", message_id)
        return
    delay = webhooks.attempt(message_id)
    if delay is not None:
        raise self.retry(countdown=delay)  # type: ignore[attr-defined]


@app.task(name="invoicing.sweep_webhooks", ignore_result=True)
def sweep_webhooks() -> int:
    """Periodic: hand out again the due rows nobody holds (a killed worker, a lost task)."""
    return webhooks.sweep()
