"""Thin Celery tasks over delivery/webhooks.py: one signed POST of an outbox row, retried
with the outbox's backoff; and the sweep that hands out rows whose deliverer was lost.

A refused argument (a forged message) is logged and changes nothing. Task names are part
of the queued messages: never rename one.
"""

from __future__ import annotations

import logging

from invoicing.celery import app
from invoicing.delivery import webhooks

log = logging.getLogger(__name__)


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
