"""Issuing a run: who is billable in a period, invoice numbers and dates, the run's rows.

Numbers are decided here, in the one transaction that creates the run, never in workers:
one gapless series per period, in account order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from invoicing.billing.money import compute_totals
from invoicing.billing.period import Period
from invoicing.config import Settings
from invoicing.models import (
    BillingRun,
    Charge,
    Invoice,
    InvoiceLineRow,
    InvoiceStatus,
    Plan,
    RunStatus,
    Subscriber,
)

ISSUE_CHUNK = 2000


def active_in(period: Period) -> ColumnElement[bool]:
    """Billable in a period: active at any time during the month."""
    return and_(
        Subscriber.active_from <= period.end,
        or_(Subscriber.active_to.is_(None), Subscriber.active_to >= period.start),
    )


def invoice_number(settings: Settings, period: Period, seq: int) -> str:
    """INV-2026-10-000001: one gapless series per period, starting at 1."""
    return f"{settings.invoice_prefix}-{period}-{seq:06d}"


def issue_dates(settings: Settings, period: Period) -> tuple[date, date]:
    """Issued the day after the period ends (the nightly run's date), due N days later.

    Taken from the period, not the clock, so a re-render months later is byte-identical.
    """
    issued = period.end + timedelta(days=1)
    return issued, issued + timedelta(days=settings.payment_terms_days)


def create_run(session: Session, settings: Settings, period: Period) -> BillingRun:
    """Issue every billable subscriber's invoice for the period, numbered, in one transaction.

    The caller commits; a concurrent run of the same period fails the unique
    constraint on billing_runs.period (or on invoices) and nothing of it is kept.
    """
    run = BillingRun(
        period=str(period),
        status=RunStatus.RENDERING,
        created_at=datetime.now(UTC),
        invoice_count=0,
        failed_count=0,
    )
    session.add(run)
    session.flush()

    plans = {plan.id: plan for plan in session.scalars(select(Plan))}
    issued, due = issue_dates(settings, period)
    seq = 0
    # Plain rows in keyset-paged chunks, not ORM objects: 100,000 subscribers must not
    # pile up in the session's identity map.
    for chunk in _billable_chunks(session, period, ISSUE_CHUNK):
        charges: dict[int, list[Any]] = defaultdict(list)
        for charge in session.execute(
            select(Charge.subscriber_id, Charge.description, Charge.quantity, Charge.unit_price)
            .where(Charge.period == str(period), Charge.subscriber_id.in_([s.id for s in chunk]))
            .order_by(Charge.subscriber_id, Charge.id)
        ):
            charges[charge.subscriber_id].append(charge)
        rows, line_sets = [], []
        for subscriber in chunk:
            seq += 1
            totals = compute_totals(plans[subscriber.plan_id], charges[subscriber.id], subscriber, period)
            rows.append(
                {
                    "run_id": run.id,
                    "subscriber_id": subscriber.id,
                    "period": str(period),
                    "seq": seq,
                    "number": invoice_number(settings, period, seq),
                    "status": InvoiceStatus.PENDING,
                    "issue_date": issued,
                    "due_date": due,
                    "currency": subscriber.currency,
                    "subtotal": totals.subtotal,
                    "tax_rate": subscriber.tax_rate,
                    "tax": totals.tax,
                    "total": totals.total,
                    "attempts": 0,
                }
            )
            line_sets.append(totals.lines)
        ids = session.scalars(insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True), rows).all()
        session.execute(
            insert(InvoiceLineRow),
            [
                {
                    "invoice_id": invoice_id,
                    "position": position,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                }
                for invoice_id, lines in zip(ids, line_sets, strict=True)
                for position, line in enumerate(lines, 1)
            ],
        )
    run.invoice_count = seq
    session.flush()
    return run


def _billable_chunks(session: Session, period: Period, size: int) -> Iterator[Sequence[Any]]:
    columns = (
        Subscriber.id,
        Subscriber.account,
        Subscriber.plan_id,
        Subscriber.currency,
        Subscriber.tax_rate,
        Subscriber.active_from,
        Subscriber.active_to,
        Subscriber.locale,  # the plan line is written in the subscriber's language
    )
    last = ""
    while True:
        chunk = session.execute(
            select(*columns)
            .where(Subscriber.account > last, active_in(period))
            .order_by(Subscriber.account)
            .limit(size)
        ).all()
        if not chunk:
            return
        yield chunk
        last = chunk[-1].account


def count_by_status(session: Session, run_id: int) -> dict[InvoiceStatus, int]:
    rows = session.execute(
        select(Invoice.status, func.count()).where(Invoice.run_id == run_id).group_by(Invoice.status)
    )
    counts = {status: 0 for status in InvoiceStatus}
    counts.update(dict(rows.all()))
    return counts
