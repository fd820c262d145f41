"""Billing rules as plain functions: who is billable, what an invoice totals, its number.

Money rule (printed totals always add up): each line is rounded to the currency's minor
unit (ROUND_HALF_UP), the subtotal is the sum of the rounded lines, tax is computed on
the subtotal and rounded once, and total = subtotal + tax.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision
from sqlalchemy import ColumnElement, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from invoicing.config import Settings
from invoicing.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.errors import UsageError
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

PERIOD_RE = re.compile(r"(\d{4})-(\d{2})")


class BillingError(UsageError):
    """A billing request that cannot be served as asked (bad period, unknown account)."""


def parse_period(period: str) -> tuple[date, date]:
    """'2026-10' -> (2026-10-01, 2026-10-31); ValueError with a clear message otherwise."""
    match = PERIOD_RE.fullmatch(period.strip()) if isinstance(period, str) else None
    if not match:
        raise ValueError(f"not a period (YYYY-MM): {period!r}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or year < 1900:
        raise ValueError(f"not a period (YYYY-MM): {period!r}")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def previous_period(today: date | None = None) -> str:
    today = today or datetime.now(UTC).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return f"{last_month_end:%Y-%m}"


@lru_cache(maxsize=64)
def minor_unit(currency: str) -> Decimal:
    """Decimal('0.01') for EUR, Decimal('1') for JPY, Decimal('0.001') for KWD."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Totals:
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def compute_totals(plan: Plan, charges: Sequence[Any], subscriber: Any, period: str) -> Totals:
    """Charges and subscriber may be ORM objects or plain rows with the same fields."""
    start, end = parse_period(period)
    currency = subscriber.currency
    lines = [_plan_line(plan, subscriber, start, end)]
    for charge in charges:
        lines.append(
            InvoiceLine(
                description=charge.description,
                quantity=charge.quantity,
                unit_price=charge.unit_price,
                amount=round_money(charge.quantity * charge.unit_price, currency),
            )
        )
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = round_money(subtotal * subscriber.tax_rate / 100, currency)
    return Totals(tuple(lines), subtotal, tax, subtotal + tax)


def _plan_line(plan: Plan, subscriber: Subscriber, start: date, end: date) -> InvoiceLine:
    """The monthly fee, pro rata by day when the subscription covers part of the month."""
    first = max(start, subscriber.active_from)
    last = min(end, subscriber.active_to) if subscriber.active_to else end
    days, active = (end - start).days + 1, (last - first).days + 1
    fee = round_money(plan.monthly_fee, subscriber.currency)
    if active >= days:
        return InvoiceLine(f"{plan.name}, monthly fee", Decimal(1), fee, fee)
    prorated = round_money(plan.monthly_fee * active / days, subscriber.currency)
    return InvoiceLine(
        f"{plan.name}, {first:%d %b}–{last:%d %b %Y} ({active} of {days} days)",
        Decimal(1),
        prorated,
        prorated,
    )


def active_in(period: str) -> ColumnElement[bool]:
    """Billable in a period: active at any time during the month."""
    start, end = parse_period(period)
    return and_(
        Subscriber.active_from <= end,
        or_(Subscriber.active_to.is_(None), Subscriber.active_to >= start),
    )


def invoice_number(settings: Settings, period: str, seq: int) -> str:
    """INV-2026-10-000001: one gapless series per period, starting at 1."""
    return f"{settings.invoice_prefix}-{period}-{seq:06d}"


def issue_dates(settings: Settings, period: str) -> tuple[date, date]:
    """Issued the day after the period ends (the nightly run's date), due N days later.

    Taken from the period, not the clock, so a re-render months later is byte-identical.
    """
    _, end = parse_period(period)
    issued = end + timedelta(days=1)
    return issued, issued + timedelta(days=settings.payment_terms_days)


def create_run(session: Session, settings: Settings, period: str) -> BillingRun:
    """Issue every billable subscriber's invoice for the period, numbered, in one transaction.

    The caller commits; a concurrent run of the same period fails the unique
    constraint on billing_runs.period (or on invoices) and nothing of it is kept.
    """
    parse_period(period)
    run = BillingRun(
        period=period,
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
            .where(Charge.period == period, Charge.subscriber_id.in_([s.id for s in chunk]))
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
                    "period": period,
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
        ids = session.scalars(
            insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True), rows
        ).all()
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


ISSUE_CHUNK = 2000


def _billable_chunks(session: Session, period: str, size: int) -> Iterator[list[Any]]:
    columns = (Subscriber.id, Subscriber.account, Subscriber.plan_id, Subscriber.currency,
               Subscriber.tax_rate, Subscriber.active_from, Subscriber.active_to)
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
    start, end = parse_period(invoice.period)
    subscriber = invoice.subscriber
    return InvoiceDocument(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=start,
        period_end=end,
        account=subscriber.account,
        name=subscriber.name,
        address=tuple(subscriber.address or ()),
        country=subscriber.country,
        locale=subscriber.locale,
        currency=invoice.currency,
        lines=tuple(
            InvoiceLine(row.description, row.quantity, row.unit_price, row.amount)
            for row in invoice.lines
        ),
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        seller=seller,
    )


def draft_document(session: Session, settings: Settings, account: str, period: str) -> InvoiceDocument:
    """The invoice as it is or would be issued, for `invoicing render`; writes nothing."""
    start, end = parse_period(period)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.account == account))
    if subscriber is None:
        raise BillingError(f"unknown account {account!r}")
    issued = session.scalar(
        select(Invoice).where(Invoice.subscriber_id == subscriber.id, Invoice.period == period)
    )
    if issued is not None:
        return document_for(issued, seller_from(settings))
    if session.scalar(select(Subscriber.id).where(Subscriber.id == subscriber.id, active_in(period))) is None:
        raise BillingError(f"account {account!r} is not billable in {period} (not active in that month)")
    charges = session.scalars(
        select(Charge)
        .where(Charge.subscriber_id == subscriber.id, Charge.period == period)
        .order_by(Charge.id)
    ).all()
    totals = compute_totals(subscriber.plan, charges, subscriber, period)
    issue_date, due_date = issue_dates(settings, period)
    return InvoiceDocument(
        number=f"DRAFT-{period}",
        issue_date=issue_date,
        due_date=due_date,
        period_start=start,
        period_end=end,
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


def count_by_status(session: Session, run_id: int) -> dict[InvoiceStatus, int]:
    rows = session.execute(
        select(Invoice.status, func.count()).where(Invoice.run_id == run_id).group_by(Invoice.status)
    )
    counts = {status: 0 for status in InvoiceStatus}
    counts.update(dict(rows.all()))
    return counts

