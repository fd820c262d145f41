"""Voiding a run billed by mistake, while none of its invoices has left the system.

An invoice nobody outside has seen can still be cancelled: the run and its invoices are
marked void with the reason, and the subscribers (and the charges those invoices billed)
become billable again, so a new run for the period bills them with new numbers. Nothing
is deleted or renumbered: a void invoice keeps its number, a used number of the gapless
series, documented with when and why it was voided, as VAT rules require; its file and
the run's merged file stay where they are.

Once a copy of any of its invoices has left (`record_released`: an export, through the
CLI or `GET /runs/{id}/export.zip`; a merge for print; the issued invoice's file written by
`render` or fetched through `GET /invoices/{number}.pdf`; an e-mail the server accepted)
someone may hold it, and the only correction is a credit note. An e-mail still under way
(pending, sending, deferred) refuses the void too: one in `sending` may have been accepted
by a server whose answer never came back, and the others would be sent after it; `deliver`
sends nothing of a void invoice (delivery/state.py).

Only the period's latest run may be voided: runs are undone newest first, and a run's
supplements never outlive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, aliased

from invoicing.errors import BillingError
from invoicing.models import (
    BillingRun,
    Charge,
    Delivery,
    DeliveryState,
    Invoice,
    InvoiceStatus,
    RunKind,
    RunStatus,
)
from invoicing.untrusted import clean

MAX_REASON = 500
# How migration 0006 marks the invoices issued before what left was recorded.
UNRECORDED = "unrecorded"
NO_REASON = "no reason given"
# Statuses a run may be voided in: finished (its workers are done with it).
_VOIDABLE = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED)
# E-mails under way: one may have reached its server already, the rest would follow.
_MAILING = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.DEFERRED)


def record_released(session: Session, invoice_ids: Sequence[int], how: str) -> None:
    """Mark invoices as having left the system (`how`: "export", "merge", "email"); the first
    time is kept. From then on their run cannot be voided."""
    if invoice_ids:
        session.execute(
            update(Invoice)
            .where(Invoice.id.in_(list(invoice_ids)), Invoice.released_at.is_(None))
            .values(released_at=datetime.now(UTC), released_by=how)
        )


def record_fetched(session: Session, number: str, how: str = "render") -> None:
    """An issued invoice's file was written out (`invoicing render`, or `how` names the
    other way it was fetched): it has left."""
    ids = session.scalars(select(Invoice.id).where(Invoice.number == number)).all()
    record_released(session, ids, how)


def record_exported(session: Session, wanted: ColumnElement[bool]) -> None:
    """Mark the rendered invoices an export wrote (`wanted`: the export's condition on
    invoices) as having left the system."""
    session.execute(
        update(Invoice)
        .where(wanted, Invoice.status == InvoiceStatus.RENDERED, Invoice.released_at.is_(None))
        .values(released_at=datetime.now(UTC), released_by="export")
    )


def void_run(session: Session, run_id: int, reason: str | None = None) -> BillingRun:
    """Void run `run_id` and its invoices in the caller's transaction (it commits).

    BillingError, with nothing changed, for an unknown run, a credit run, a run already
    void or still being worked on, a run that is not its period's latest, or one with an
    invoice that has left the system or has a credit note.
    """
    reason = _reason(reason)
    run = session.get(BillingRun, run_id, with_for_update=True)
    if run is None:
        raise BillingError(f"no billing run {run_id}")
    if run.kind == RunKind.CREDIT:
        raise BillingError(f"billing run {run_id} issued a credit note; a credit note is never voided")
    if run.status == RunStatus.VOID:
        raise BillingError(f"billing run {run_id} is void already ({run.void_reason})")
    if run.status not in _VOIDABLE:
        raise BillingError(
            f"billing run {run_id} is still {run.status.value}; wait until it is finished "
            f"(`invoicing status {run_id}`), then void it"
        )
    latest = session.scalar(
        select(func.max(BillingRun.seq)).where(
            BillingRun.period == run.period,
            BillingRun.kind != RunKind.CREDIT,
            BillingRun.status != RunStatus.VOID,
        )
    )
    if latest != run.seq:
        newer = session.scalar(
            select(BillingRun.id).where(BillingRun.period == run.period, BillingRun.seq == latest)
        )
        raise BillingError(
            f"billing run {run_id} is not the latest run of {run.period}: void run {newer} first"
        )
    left = session.execute(
        select(Invoice.number, Invoice.released_by)
        .where(Invoice.run_id == run_id, Invoice.released_at.is_not(None))
        .order_by(Invoice.seq)
    ).first()
    note = aliased(Invoice)
    credited = session.scalar(
        select(Invoice.number)
        .join(note, note.credited_invoice_id == Invoice.id)
        .where(Invoice.run_id == run_id)
        .order_by(Invoice.seq)
        .limit(1)
    )
    mailing = session.execute(
        select(Invoice.number, Delivery.state)
        .join(Delivery, Delivery.invoice_id == Invoice.id)
        .where(Invoice.run_id == run_id, Delivery.state.in_(_MAILING))
        .order_by(Invoice.seq)
        .limit(1)
    ).first()
    if left is not None:
        why = (
            f"its invoice {left.number} has left the system ({left.released_by})"
            if left.released_by != UNRECORDED
            else f"its invoice {left.number} may have left the system (issued before that was recorded)"
        )
    elif mailing is not None:
        why = f"its invoice {mailing.number} is being e-mailed ({DeliveryState(mailing.state).value})"
    elif credited is not None:
        why = f"its invoice {credited} has a credit note"
    if left is not None or mailing is not None or credited is not None:
        raise BillingError(
            f"billing run {run_id} cannot be voided: {why}; correct its invoices with credit "
            "notes instead (`invoicing credit NUMBER`)"
        )
    now = datetime.now(UTC)
    ids = select(Invoice.id).where(Invoice.run_id == run_id).scalar_subquery()
    # The charges those invoices billed wait for the period's next invoice again.
    session.execute(update(Charge).where(Charge.invoice_id.in_(ids)).values(invoice_id=None))
    session.execute(update(Invoice).where(Invoice.run_id == run_id).values(voided_at=now, void_reason=reason))
    run.status = RunStatus.VOID
    run.voided_at = now
    run.void_reason = reason
    session.flush()
    return run


def _reason(reason: str | None) -> str:
    if reason is None:
        return NO_REASON
    reason = clean(reason)  # as every output shows text from outside
    if not reason or len(reason) > MAX_REASON:
        raise BillingError(f"--reason must be 1 to {MAX_REASON} characters")
    return reason
