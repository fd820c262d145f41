"""Starting a run's delivery: check the SMTP login, add a pending delivery for each of
its e-mail invoices, and send their batches as Celery tasks (by name: this module never
imports `tasks`, which imports it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from invoicing.celery import app
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.delivery import state
from invoicing.delivery.send import sender_from, smtp_server
from invoicing.delivery.smtp import preflight
from invoicing.errors import BillingError
from invoicing.models import BillingRun, RunStatus
from invoicing.run.runtime import unsubscribe
from invoicing.run.state import FINAL

MAX_BATCH = 100  # messages per SMTP session: a retry after a lost link redoes at most these


@dataclass(frozen=True)
class Started:
    run_id: int
    dispatched: int  # invoices sent to the workers now


def batch_size(count: int, workers: int) -> int:
    """About four batches per worker process, at most MAX_BATCH each."""
    return max(1, min(MAX_BATCH, math.ceil(count / (max(workers, 1) * 4))))


def send_batches(invoice_ids: Sequence[int], countdown: float | None = None, workers: int = 2) -> None:
    size = batch_size(len(invoice_ids), workers)
    ids = list(invoice_ids)
    sent = []
    for start in range(0, len(ids), size):
        signature = app.signature(
            "invoicing.deliver_batch", args=(ids[start : start + size],), immutable=True
        )
        sent.append(signature.apply_async(countdown=countdown).id)
    unsubscribe(sent)


def check_run(run_id: int) -> None:
    """A run's e-mails go out once it is merged; BillingError (exit 2) otherwise."""
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        if run.status == RunStatus.VOID:
            raise BillingError(f"billing run {run_id} is void; nothing of it is sent")
        if run.status not in FINAL:
            raise BillingError(
                f"billing run {run_id} is still {run.status.value}: its invoices are e-mailed once merged"
            )


def start(run_id: int, workers: int = 2, settings: Settings | None = None) -> Started:
    """Check the run and the SMTP login (nothing is marked if either fails), then send the
    run's e-mail invoices that are not sent yet."""
    settings = settings or get_settings()
    server = smtp_server(settings)
    sender = sender_from(settings)
    check_run(run_id)
    preflight(server, settings.connect_timeout_s)
    with session_scope() as session:
        ids = state.prepare(session, run_id, sender.domain, settings.stall_after_s)
    if ids:
        send_batches(ids, workers=workers)
    return Started(run_id, len(ids))


def open_count(run_id: int) -> int:
    with session_scope() as session:
        return state.open_count(session, run_id)


def counts(run_id: int) -> dict[str, int]:
    with session_scope() as session:
        return state.counts(session, run_id)
