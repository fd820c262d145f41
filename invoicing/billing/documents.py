"""From billing rows to what the renderer prints (`pdf.documents`); reads, never writes.

An issued invoice's document is made only of what was frozen on it (`issue.bill_to`),
its e-invoice inputs included; the seller is the settings' (INVOICING_SELLER_*), marked
as the sample when none is given. A DRAFT (`render` before a run) is always a plain
PDF: it is not an invoice, so it carries no e-invoice XML, whatever the subscriber would
get, and no payment instructions (`InvoiceDocument.draft`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, aliased

from invoicing.billing.einvoices import buyer_address, exemption_reason
from invoicing.billing.issue import active_in, issue_dates
from invoicing.billing.money import compute_totals
from invoicing.billing.period import Period
from invoicing.config import Settings
from invoicing.errors import BillingError
from invoicing.models import Charge, DocumentKind, Invoice, InvoiceLineRow, Subscriber
from invoicing.pdf.documents import (
    ElectronicAddress,
    InvoiceDocument,
    InvoiceLine,
    PrecedingInvoice,
    Seller,
)


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
        vat_id=settings.seller_vat_id,
        country=settings.seller_country,
        registration=settings.seller_registration,
        electronic_address=(
            ElectronicAddress(settings.seller_electronic_address, settings.seller_electronic_address_scheme)
            if settings.seller_electronic_address
            else None
        ),
        contact_name=settings.seller_contact_name,
        phone=settings.seller_phone,
        sample=settings.seller_is_sample,
    )


def document_for(invoice: Invoice, seller: Seller) -> InvoiceDocument:
    """What gets printed: only what was frozen on the invoice when it was issued (number,
    dates, lines, amounts, the bill-to copy), so the same invoice always prints the same."""
    credited = invoice.credited_invoice
    return _document(
        invoice,
        invoice.subscriber.account,
        tuple(
            InvoiceLine(row.description, row.quantity, row.unit_price, row.amount) for row in invoice.lines
        ),
        PrecedingInvoice(credited.number, credited.issue_date) if credited else None,
        seller,
    )


class Issued(NamedTuple):
    """An invoice of a render batch as plain rows: `row` has the invoices table's columns
    and the subscriber's `account`; `lines` and `preceding` are what `document_for` would
    read through the relationships."""

    row: Row[Any]
    lines: tuple[InvoiceLine, ...]
    preceding: PrecedingInvoice | None

    def document(self, seller: Seller) -> InvoiceDocument:
        """The same document `document_for` makes of the ORM invoice."""
        return _document(self.row, self.row.account, self.lines, self.preceding, seller)


_CREDITED = aliased(Invoice)
_INVOICES = Invoice.__table__
_LINES = InvoiceLineRow.__table__


def issued_batch(session: Session, invoice_ids: Sequence[int]) -> dict[int, Issued]:
    """The invoices by id (the missing ones left out), in two queries of plain rows: a
    header task renders thousands an hour, and building ORM objects (the invoice, its
    subscriber, its lines) cost more than the rows' data (~0.1 ms an invoice)."""
    rows = session.execute(
        select(
            _INVOICES,
            Subscriber.account,
            _CREDITED.number.label("credited_number"),
            _CREDITED.issue_date.label("credited_issue_date"),
        )
        .join(Subscriber, Subscriber.id == _INVOICES.c.subscriber_id)
        .outerjoin(_CREDITED, _CREDITED.id == _INVOICES.c.credited_invoice_id)
        .where(_INVOICES.c.id.in_(invoice_ids))
    ).all()
    lines: dict[int, list[InvoiceLine]] = {}
    for invoice_id, *fields in session.execute(
        select(
            _LINES.c.invoice_id, _LINES.c.description, _LINES.c.quantity, _LINES.c.unit_price, _LINES.c.amount
        )
        .where(_LINES.c.invoice_id.in_(invoice_ids))
        .order_by(_LINES.c.invoice_id, _LINES.c.position)
    ):
        lines.setdefault(invoice_id, []).append(InvoiceLine(*fields))
    return {
        row.id: Issued(
            row,
            tuple(lines.get(row.id, ())),
            PrecedingInvoice(row.credited_number, row.credited_issue_date) if row.credited_number else None,
        )
        for row in rows
    }


def _document(
    invoice: Invoice | Row[Any],
    account: str,
    lines: tuple[InvoiceLine, ...],
    preceding: PrecedingInvoice | None,
    seller: Seller,
) -> InvoiceDocument:
    period = Period.parse(invoice.period)
    return InvoiceDocument(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=period.start,
        period_end=period.end,
        account=account,
        name=invoice.bill_name,
        address=tuple(invoice.bill_address or ()),
        country=invoice.bill_country,
        locale=invoice.bill_locale,
        currency=invoice.currency,
        lines=lines,
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        seller=seller,
        buyer_company=invoice.bill_company or "",
        buyer_vat_id=invoice.bill_vat_id or "",
        buyer_reference=invoice.bill_buyer_reference or "",
        tax_category=invoice.bill_tax_category,
        exemption_reason=invoice.bill_exemption_reason or "",
        document_type="381" if invoice.kind == DocumentKind.CREDIT_NOTE else "380",
        preceding_invoice=preceding,
        einvoice=invoice.bill_einvoice,
        buyer_electronic_address=buyer_address(
            invoice.bill_einvoice, invoice.bill_buyer_reference, invoice.bill_email
        ),
        note=invoice.reason,
    )


def draft_document(session: Session, settings: Settings, account: str, period: Period) -> InvoiceDocument:
    """The invoice a subscriber would get for the period if it were issued now, for
    `invoicing render`; writes nothing. (An issued invoice is its stored file instead.)"""
    subscriber = session.scalar(select(Subscriber).where(Subscriber.account == account))
    if subscriber is None:
        raise BillingError(f"unknown account {account!r}")
    if session.scalar(select(Subscriber.id).where(Subscriber.id == subscriber.id, active_in(period))) is None:
        raise BillingError(f"account {account!r} is not billable in {period} (not active in that month)")
    charges = session.scalars(
        select(Charge)
        .where(
            Charge.subscriber_id == subscriber.id,
            Charge.invoice_id.is_(None),
            Charge.period <= str(period),
        )
        .order_by(Charge.period != str(period), Charge.period, Charge.id)
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
        buyer_company=subscriber.company or "",
        buyer_vat_id=subscriber.vat_id or "",
        buyer_reference=subscriber.buyer_reference or "",
        tax_category=subscriber.tax_category,
        exemption_reason=exemption_reason(
            subscriber.tax_category, subscriber.tax_rate, subscriber.exemption_reason
        )
        or "",
        draft=True,
    )


def issued_invoice(session: Session, account: str, period: Period) -> Invoice | None:
    """The subscriber's invoice for the period, if one was issued (a void one is not his invoice)."""
    return session.scalar(
        select(Invoice)
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .where(
            Subscriber.account == account,
            Invoice.period == str(period),
            Invoice.kind == DocumentKind.INVOICE,
            Invoice.voided_at.is_(None),
        )
    )
