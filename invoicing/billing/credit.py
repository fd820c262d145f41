"""Credit notes: the only way an issued invoice is corrected.

A credit note is a document of its own (kind credit_note) in its own gapless series per
period (CN-2026-10-000001), referring to the invoice it credits by number and date, with
negative amounts under the same money rule. A full credit reverses every line; a partial
one credits an amount, tax included, split into net and tax (`money.split_gross`). What is
credited never exceeds the invoice's total. It is issued into a run of kind credit, so it
is rendered and merged by the same chord as every invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from babel.numbers import get_currency_precision
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from invoicing.billing.issue import bill_to_of, next_run_seq, next_series_seq
from invoicing.billing.money import minor_unit, split_gross
from invoicing.billing.period import Period
from invoicing.config import Settings
from invoicing.delivery.webhooks import emit
from invoicing.errors import BillingError
from invoicing.models import (
    BillingRun,
    DocumentKind,
    Invoice,
    InvoiceLineRow,
    InvoiceStatus,
    RunKind,
    RunStatus,
)
from invoicing.pdf.translate import credit_line, translator
from invoicing.untrusted import clean

MAX_REASON = 500


@dataclass(frozen=True)
class Credited:
    """What the invoice has had credited so far."""

    total: Decimal  # the invoice's total
    credited: Decimal  # positive: the sum of its credit notes' totals, sign flipped
    notes: int

    @property
    def remaining(self) -> Decimal:
        return self.total - self.credited

    @property
    def fully_credited(self) -> bool:
        return self.notes > 0 and self.remaining <= 0


def credited_so_far(session: Session, invoice: Invoice) -> Credited:
    # Added up here, not with SQL's SUM: SQLite would add the decimal strings as floats.
    totals = session.scalars(select(Invoice.total).where(Invoice.credited_invoice_id == invoice.id)).all()
    return Credited(invoice.total, -sum(totals, Decimal(0)), len(totals))


def credit_note_number(settings: Settings, period: Period, seq: int) -> str:
    return f"{settings.credit_note_prefix}-{period}-{seq:06d}"


def issue_credit_note(
    session: Session,
    settings: Settings,
    number: str,
    amount: Decimal | None = None,
    reason: str | None = None,
    today: date | None = None,
) -> tuple[BillingRun, Invoice]:
    """Issue a credit note for invoice `number` into a new credit run; the caller commits.

    No amount: what is left of the invoice (every line reversed if nothing was credited
    yet). BillingError, with nothing written, for an unknown number, a credit note, an
    amount that is not positive, has more decimals than the currency, or exceeds what is
    left to credit.
    """
    invoice = session.scalar(select(Invoice).where(Invoice.number == number).with_for_update())
    if invoice is None:
        raise BillingError(f"no invoice {number!r}")
    if invoice.kind == DocumentKind.CREDIT_NOTE:
        original = invoice.credited_invoice.number if invoice.credited_invoice else "its invoice"
        raise BillingError(f"{number} is a credit note; credit the invoice it corrects ({original})")
    if invoice.voided_at is not None:
        raise BillingError(
            f"{number} is void ({invoice.void_reason}): it bills nothing, so there is nothing to credit"
        )
    if reason is not None:
        reason = clean(reason)  # as the credit note, its webhook and `status` show it
        if len(reason) > MAX_REASON or not reason:
            raise BillingError(f"--reason must be 1 to {MAX_REASON} characters")
    done = credited_so_far(session, invoice)
    if done.remaining <= 0:
        raise BillingError(f"{number} is fully credited already ({invoice.total} {invoice.currency})")
    currency = invoice.currency
    if amount is not None:
        _check_amount(amount, currency, done)
        amount = amount.quantize(minor_unit(currency))  # "100" is 100.00 EUR, as printed
    period = Period.parse(invoice.period)
    today = today or datetime.now(UTC).date()

    if amount is None and done.notes == 0:
        # Full credit: every line reversed, so the two documents cancel line by line.
        lines = [(row.description, -row.quantity, row.unit_price, -row.amount) for row in invoice.lines]
        subtotal, tax, total = -invoice.subtotal, -invoice.tax, -invoice.total
    else:
        gross = amount if amount is not None else done.remaining
        net, tax_part = split_gross(gross, invoice.tax_rate, currency)
        # In the language of the invoice it credits, stored like every line.
        description = credit_line(translator(invoice.bill_locale), invoice.number)
        lines = [(description, Decimal(1), -net, -net)]
        subtotal, tax, total = -net, -tax_part, -gross

    run = BillingRun(
        period=str(period),
        seq=next_run_seq(session, period),
        kind=RunKind.CREDIT,
        status=RunStatus.RENDERING,
        created_at=datetime.now(UTC),
        invoice_count=1,
        failed_count=0,
    )
    session.add(run)
    session.flush()
    seq = next_series_seq(session, period, DocumentKind.CREDIT_NOTE)
    note = Invoice(
        run_id=run.id,
        subscriber_id=invoice.subscriber_id,
        period=str(period),
        kind=DocumentKind.CREDIT_NOTE,
        seq=seq,
        number=credit_note_number(settings, period, seq),
        status=InvoiceStatus.PENDING,
        issue_date=today,
        due_date=today,
        currency=currency,
        subtotal=subtotal,
        tax_rate=invoice.tax_rate,
        tax=tax,
        total=total,
        # The same bill-to as the invoice it corrects, and the same e-invoice: a credit
        # note of an e-invoice is one too (type 381).
        **bill_to_of(invoice),
        credited_invoice_id=invoice.id,
        reason=reason,
    )
    session.add(note)
    session.flush()
    session.execute(
        insert(InvoiceLineRow),
        [
            {
                "invoice_id": note.id,
                "position": position,
                "description": description,
                "quantity": quantity,
                "unit_price": unit_price,
                "amount": line_amount,
            }
            for position, (description, quantity, unit_price, line_amount) in enumerate(lines, 1)
        ],
    )
    emit(
        session,
        "credit_note.issued",
        {
            "number": note.number,
            "credits": invoice.number,
            "account": invoice.subscriber.account,
            "period": note.period,
            "issue_date": note.issue_date.isoformat(),
            "currency": currency,
            "subtotal": str(subtotal),
            "tax": str(tax),
            "total": str(total),
            "reason": reason,
            "run_id": run.id,
        },
    )
    return run, note


def _check_amount(amount: Decimal, currency: str, done: Credited) -> None:
    if not amount.is_finite() or amount <= 0:
        raise BillingError(f"--amount must be more than 0, got {amount}")
    # Before the currency's decimals are checked: quantizing 1E+26 to cents would raise.
    if amount > done.remaining:
        raise BillingError(
            f"--amount {amount} exceeds what is left to credit: {done.remaining} {currency}"
            + (f" ({done.credited} of {done.total} credited already)" if done.notes else "")
        )
    decimals = get_currency_precision(currency)
    if amount != amount.quantize(minor_unit(currency)):
        raise BillingError(f"--amount {amount}: more decimals than {currency} has ({decimals})")
