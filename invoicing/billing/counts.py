"""What `status`, `runs` and the run's progress count: a run's invoices by status and the
late charges not billed yet. Plain queries over the models, apart from the issuing and
import machinery, so reading a run does not load them."""

from __future__ import annotations

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from invoicing.billing.period import Period
from invoicing.models import Charge, DocumentKind, Invoice, InvoiceStatus, Subscriber


def count_by_status(session: Session, run_id: int) -> dict[InvoiceStatus, int]:
    rows = session.execute(
        select(Invoice.status, func.count()).where(Invoice.run_id == run_id).group_by(Invoice.status)
    )
    counts = {status: 0 for status in InvoiceStatus}
    counts.update(dict(rows.all()))
    return counts


def last_invoiced() -> Subquery:
    """Each subscriber's last invoiced period: (subscriber_id, last)."""
    return (
        select(Invoice.subscriber_id, func.max(Invoice.period).label("last"))
        .where(Invoice.kind == DocumentKind.INVOICE)
        .group_by(Invoice.subscriber_id)
        .subquery()
    )


def unbilled_charges(session: Session) -> tuple[int, int]:
    """Charges that arrived after their period was billed for their subscriber, not billed
    yet: (waiting for the subscriber's next invoice, unbillable because the subscriber
    ended before any later invoice)."""
    last = last_invoiced()
    rows = session.execute(
        select(Subscriber.active_to, last.c.last, func.count())
        .select_from(Charge)
        .join(last, last.c.subscriber_id == Charge.subscriber_id)
        .join(Subscriber, Subscriber.id == Charge.subscriber_id)
        .where(Charge.invoice_id.is_(None), Charge.period <= last.c.last)
        .group_by(Subscriber.active_to, last.c.last)
    )
    waiting = unbillable = 0
    for active_to, last_period, count in rows:
        if active_to is not None and active_to < Period.parse(last_period).next().start:
            unbillable += count
        else:
            waiting += count
    return waiting, unbillable
