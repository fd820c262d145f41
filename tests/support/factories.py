"""Data the tests make: invoice documents for the renderer and the merge, import data,
and seeded databases (the bundled fixtures or a synthetic data set)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from tests.support.paths import ROOT

if TYPE_CHECKING:  # a fresh process imports `invoice` from here, without pytest
    from tests.support.envs import Env

# The bundled data set: 19 subscribers billable in 2026-10 (see fixtures/README.md).
FIXTURES = ROOT / "fixtures" / "invoicing.json"
# Charges for 2026-10 that arrive after the October run (fixtures/README.md).
LATE_CHARGES = ROOT / "fixtures" / "late-charges.json"

# The seller on the invoices the render and merge tests make.
SELLER = Seller(
    name="Nordlicht Telecom GmbH",
    address=("Hafenstraße 12", "20457 Hamburg", "Germany"),
    tax_id="DE123456789",
    email="billing@nordlicht.example",
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
    bank="Commerzbank Hamburg",
)

# A valid import file: one plan, one subscriber, one charge.
VALID_IMPORT: dict[str, Any] = {
    "plans": [{"code": "basic", "name": "Basic 100", "monthly_fee": "9.90", "currency": "EUR"}],
    "subscribers": [
        {
            "account": "A-0001",
            "name": "Jürgen Müller",
            "email": "j@example.org",
            "address": ["Hauptstr. 1", "10115 Berlin"],
            "country": "DE",
            "locale": "de_DE",
            "currency": "EUR",
            "tax_rate": "19",
            "plan": "basic",
            "active_from": "2026-01-01",
            "active_to": None,
        }
    ],
    "charges": [
        {
            "account": "A-0001",
            "period": "2026-10",
            "description": "Roaming data 2 GB",
            "quantity": "2",
            "unit_price": "3.50",
        }
    ],
}


def line(description: str, quantity: str, unit_price: str, amount: str) -> InvoiceLine:
    return InvoiceLine(description, Decimal(quantity), Decimal(unit_price), Decimal(amount))


def invoice(
    *,
    name: str = "Jürgen Müller-Lüdenscheidt",
    address: tuple[str, ...] = ("Lindenallee 5", "10115 Berlin"),
    locale: str = "de_DE",
    currency: str = "EUR",
    lines: tuple[InvoiceLine, ...] | None = None,
    number: str = "INV-2026-10-000042",
    account: str = "ACC-0042-7781",
    tax_rate: str = "19",
    exponent: str = "0.01",
    seller: Seller = SELLER,
) -> InvoiceDocument:
    """An October 2026 invoice of a German subscriber; totals computed from the lines."""
    if lines is None:
        lines = (
            line("Business Fibre 500 — monthly fee", "1", "49.90", "49.90"),
            line("Outbound calls to mobile networks", "137", "0.0250", "3.43"),
            line("SMS to foreign networks", "12.0000", "0.09", "1.08"),
        )
    subtotal = sum((item.amount for item in lines), Decimal("0"))
    tax = (subtotal * Decimal(tax_rate) / 100).quantize(Decimal(exponent))
    return InvoiceDocument(
        number=number,
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        account=account,
        name=name,
        address=address,
        country="DE",
        locale=locale,
        currency=currency,
        lines=lines,
        subtotal=subtotal,
        tax_rate=Decimal(tax_rate),
        tax=tax,
        total=subtotal + tax,
        seller=seller,
    )


def seed_fixtures(env: Env) -> None:
    """A database with the bundled fixtures, made by the real commands."""
    env.cli("db", "init", check=True)
    env.cli("db", "seed", "--fixtures", str(FIXTURES), check=True)


def generate(env: Env, count: int, seed: int = 11, period: str = "2026-10") -> None:
    """A database with `count` synthetic subscribers, all billable in `period`."""
    env.cli("db", "init", check=True)
    env.cli("db", "seed", "--generate", str(count), "--period", period, "--seed", str(seed), check=True)
