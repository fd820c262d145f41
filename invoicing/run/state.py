"""A run's state as the database tells it: which statuses are final, who is working on a
run, and the stall rule that `status`, `retry` and the reconciler share.

No Celery here: the rule reads rows and the clock, so it holds on any machine.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from invoicing.billing.counts import count_by_status
from invoicing.config import Settings
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunStatus

# Void is final: nothing renders, merges or resumes a run that was cancelled.
FINAL = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED, RunStatus.VOID)


def identity(settings: Settings) -> str:
    """Who dispatches a run, stored on it: an embedded run dies with its process."""
    if settings.embedded:
        return f"embedded:{socket.gethostname()}:{os.getpid()}"
    return f"celery:{socket.gethostname()}"


def embedded_owner_alive(owner: str | None) -> bool:
    """Whether the process that ran an embedded chord still exists (same host only)."""
    if not owner or not owner.startswith("embedded:"):
        return True
    _, host, pid = owner.split(":", 2)
    if host != socket.gethostname():
        return True  # cannot tell; fall back to the stall timeout
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def last_activity(session: Session, run: BillingRun) -> datetime:
    """The latest sign of work on the run: issued, dispatched, an invoice done, finished."""
    latest = session.scalar(select(func.max(Invoice.rendered_at)).where(Invoice.run_id == run.id))
    moments = [m for m in (run.created_at, run.dispatched_at, latest, run.finished_at) if m is not None]
    return max(aware(m) for m in moments)


def is_stalled(session: Session, run: BillingRun, settings: Settings) -> bool:
    """Open (rendering/merging) but nobody is working on it any more, or every invoice
    is done and the merged file is missing because the merge failed."""
    if run.status == RunStatus.FAILED and run.output_path is None:
        return bool(count_by_status(session, run.id)[InvoiceStatus.RENDERED])
    if run.status in FINAL:
        return False
    if not embedded_owner_alive(run.dispatched_by):
        return True
    idle = datetime.now(UTC) - last_activity(session, run)
    return idle > timedelta(seconds=settings.stall_after_s)
