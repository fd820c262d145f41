"""The data an invoice is printed from: plain frozen values, no ORM, no Celery.

`billing` builds these from the database; `render` turns them into PDF bytes. Money
is Decimal and already rounded to the currency's minor unit by `billing`; the renderer
only formats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Seller:
    name: str
    address: tuple[str, ...]
    tax_id: str
    email: str
    iban: str
    bic: str
    bank: str = ""
    logo_path: str | None = None  # PNG/JPEG file; None prints the name as a word mark


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # quantity * unit_price rounded to the currency's minor unit


@dataclass(frozen=True)
class InvoiceDocument:
    number: str  # e.g. INV-2026-10-000001
    issue_date: date
    due_date: date
    period_start: date
    period_end: date  # inclusive, last day of the period
    account: str
    name: str
    address: tuple[str, ...]
    country: str  # ISO 3166 alpha-2
    locale: str  # e.g. de_DE
    currency: str  # ISO 4217
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal  # sum of the rounded line amounts
    tax_rate: Decimal  # percent, e.g. Decimal("19")
    tax: Decimal  # subtotal * tax_rate / 100, rounded
    total: Decimal  # subtotal + tax
    seller: Seller = field(compare=False)
    document_type: str = "380"  # UNTDID 1001: 380 invoice, 381 credit note
    # A credit note's invoice (number, issue date) and the reason it was credited.
    preceding_invoice: tuple[str, date] | None = None
    note: str | None = None
