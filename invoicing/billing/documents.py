"""From billing rows to what the renderer prints (`pdf.documents`); reads, never writes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoicing.billing.issue import active_in, issue_dates
from invoicing.billing.money import compute_totals
from invoicing.billing.period import Period
from invoicing.config import Settings
from invoicing.errors import BillingError
from invoicing.models import Charge, Invoice, Subscriber
from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller


def seller_from(settings: Settings) -> Seller:
    return Seller(
        name=settings.seller_name,
        address=tuple(settings.seller_address),
        tax_id=settings.seller_tax_id,
        email=settings.seller_email,
        iban=settings.seller_iban,
        bic=settings.seller_bic,
        bank=settings.seller_bank,
        logo_path=str(settings.seller_logo) if settings.seller_logo else None,
    )


def document_for(invoice: Invoice, seller: Seller) -> InvoiceDocument:
    """What gets printed. Amounts and lines are frozen on the invoice when it is issued;
    name, address and locale come from the subscriber now, so correcting a subscriber
    and retrying fixes a failed invoice without re-numbering it."""
    period = Period.parse(invoice.period)
    subscriber = invoice.subscriber
    return InvoiceDocument(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=period.start,
        period_end=period.end,
        account=subscriber.account,
        name=subscriber.name,
        address=tuple(subscriber.address or ()),
        country=subscriber.country,
        locale=subscriber.locale,
        currency=invoice.currency,
        lines=tuple(
            InvoiceLine(row.description, row.quantity, row.unit_price, row.amount) for row in invoice.lines
        ),
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        seller=seller,
    )


def draft_document(session: Session, settings: Settings, account: str, period: Period) -> InvoiceDocument:
    """The invoice as it is or would be issued, for `invoicing render`; writes nothing."""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.account == account))
    if subscriber is None:
        raise BillingError(f"unknown account {account!r}")
    issued = session.scalar(
        select(Invoice).where(Invoice.subscriber_id == subscriber.id, Invoice.period == str(period))
    )
    if issued is not None:
        return document_for(issued, seller_from(settings))
    if session.scalar(select(Subscriber.id).where(Subscriber.id == subscriber.id, active_in(period))) is None:
        raise BillingError(f"account {account!r} is not billable in {period} (not active in that month)")
    charges = session.scalars(
        select(Charge)
        .where(Charge.subscriber_id == subscriber.id, Charge.period == str(period))
        .order_by(Charge.id)
    ).all()
    totals = compute_totals(subscriber.plan, charges, subscriber, period)
    issue_date, due_date = issue_dates(settings, period)
    return InvoiceDocument(
        number=f"DRAFT-{period}",
        issue_date=issue_date,
        due_date=due_date,
        period_start=period.start,
        period_end=period.end,
        account=subscriber.account,
        name=subscriber.name,
        address=tuple(subscriber.address or ()),
        country=subscriber.country,
        locale=subscriber.locale,
        currency=subscriber.currency,
        lines=totals.lines,
        subtotal=totals.subtotal,
        tax_rate=subscriber.tax_rate,
        tax=totals.tax,
        total=totals.total,
        seller=seller_from(settings),
    )
