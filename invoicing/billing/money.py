"""What an invoice totals.

Money rule (printed totals always add up): each line is rounded to the currency's minor
unit (ROUND_HALF_UP), the subtotal is the sum of the rounded lines, tax is computed on
the subtotal and rounded once, and total = subtotal + tax. Money is Decimal throughout.

The plan line's words are the subscriber's language ("Basic 5 GB, monatliche
Grundgebühr"; a part month "Basic 5 GB, 15.–31. Okt. 2026 (17 von 31 Tagen)"): they are
stored on the invoice line when it is issued, from the invoice catalogs (pdf/translate.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import get_currency_precision

from invoicing.billing.period import Period
from invoicing.pdf.documents import InvoiceLine
from invoicing.pdf.translate import plan_fee, pro_rata, translator

# The largest amount, in absolute value, that any money field may hold: a unit price, a
# line, a subtotal, the tax or a total. Ten integer digits: the database columns
# (NUMERIC(18,4) for amounts) hold a thousand such lines with room to spare, and the
# invoice's amount columns print the widest of them on one line in every bundled
# language. What the import accepts and what a run issues are both held to it.
MAX_AMOUNT = Decimal("9999999999.99")


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


def compute_totals(plan: Any, charges: Sequence[Any], subscriber: Any, period: Period) -> Totals:
    """Plan, charges and subscriber may be ORM objects or plain rows with the same fields.

    A charge of an earlier period (it arrived after that period was billed) is a line of
    its own that names its month in the subscriber's language: "Roaming 2 GB (Okt. 2026)".
    """
    currency = subscriber.currency
    lines = [_plan_line(plan, subscriber, period)]
    for charge in charges:
        description = charge.description
        if charge.period != str(period):
            description = f"{description} ({Period.parse(charge.period).label(subscriber.locale)})"
        lines.append(
            InvoiceLine(
                description=description,
                quantity=charge.quantity,
                unit_price=charge.unit_price,
                amount=round_money(charge.quantity * charge.unit_price, currency),
            )
        )
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = round_money(subtotal * subscriber.tax_rate / 100, currency)
    return Totals(tuple(lines), subtotal, tax, subtotal + tax)


def _plan_line(plan: Any, subscriber: Any, period: Period) -> InvoiceLine:
    """The monthly fee, pro rata by day when the subscription covers part of the month."""
    first = max(period.start, subscriber.active_from)
    last = min(period.end, subscriber.active_to) if subscriber.active_to else period.end
    days, active = period.days, (last - first).days + 1
    fee = round_money(plan.monthly_fee, subscriber.currency)
    words = translator(subscriber.locale)
    if active >= days:
        return InvoiceLine(plan_fee(words, plan.name), Decimal(1), fee, fee)
    prorated = round_money(plan.monthly_fee * active / days, subscriber.currency)
    return InvoiceLine(pro_rata(words, plan.name, first, last, active, days), Decimal(1), prorated, prorated)


def split_gross(gross: Decimal, tax_rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """(net, tax) of an amount that includes tax, e.g. a partial credit of 11.90 EUR at 19 %.

    The net part is rounded to the minor unit and tax is the rest, so net + tax is exactly
    the amount asked for; tax is then within one minor unit of round(net * rate), the
    invoice rule, which is as close as an amount fixed in advance allows.
    """
    net = round_money(gross / (1 + tax_rate / 100), currency)
    return net, gross - net
