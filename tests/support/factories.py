"""Data the tests make: invoice documents for the renderer and the merge, import data,
and seeded databases (the bundled fixtures or a synthetic data set)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from invoicing.billing.money import compute_totals, round_money
from invoicing.billing.period import Period
from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, PrecedingInvoice, Seller
from invoicing.synthetic import synthetic_dataset
from tests.support.paths import ROOT
from tests.support.templates import copy_database, made_once, sqlite_file

if TYPE_CHECKING:  # a fresh process imports `invoice` from here, without pytest
    from tests.support.envs import Env

# The bundled data set: 19 subscribers billable in 2026-10 (see fixtures/README.md).
FIXTURES = ROOT / "fixtures" / "invoicing.json"
# Charges for 2026-10 that arrive after the October run (fixtures/README.md).
LATE_CHARGES = ROOT / "fixtures" / "late-charges.json"

# The period of the invoices the tests make.
OCTOBER = Period(2026, 10)

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
    seller: Seller = SELLER,
    **fields: Any,
) -> InvoiceDocument:
    """An October 2026 invoice of a German subscriber; totals computed from the lines by
    billing's money rule (`billing.money`); `fields` set any other InvoiceDocument field."""
    if lines is None:
        lines = (
            line("Business Fibre 500 — monthly fee", "1", "49.90", "49.90"),
            line("Outbound calls to mobile networks", "137", "0.0250", "3.43"),
            line("SMS to foreign networks", "12.0000", "0.09", "1.08"),
        )
    subtotal = sum((item.amount for item in lines), Decimal("0"))
    tax = round_money(subtotal * Decimal(tax_rate) / 100, currency)
    values: dict[str, Any] = dict(
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
    return InvoiceDocument(**{**values, **fields})


def credit_note_of(original: InvoiceDocument, number: str | None = None, **fields: Any) -> InvoiceDocument:
    """The full credit note billing issues for `original`: every line reversed (quantity
    and amount negated, the price kept), negative totals, type 381 naming the invoice;
    numbered `number` (default CN- before the invoice's number)."""
    return replace(
        original,
        number=number or "CN-" + original.number,
        lines=tuple(replace(item, quantity=-item.quantity, amount=-item.amount) for item in original.lines),
        subtotal=-original.subtotal,
        tax=-original.tax,
        total=-original.total,
        document_type="381",
        preceding_invoice=PrecedingInvoice(original.number, original.issue_date),
        **fields,
    )


MIXED = (  # (locale, currency, name): scripts, directions and the fake-bold CJK face
    ("de_DE", "EUR", "Jürgen Müller"),
    ("ja_JP", "JPY", "林 拓也"),
    ("ar_SA", "SAR", "محمد العتيبي"),
    ("he_IL", "ILS", "דוד כהן"),
    ("hi_IN", "INR", "अमित शर्मा"),
    ("en_US", "USD", "Jürgen Müller"),
)


def mixed(index: int) -> InvoiceDocument:
    """The `index`th of MIXED as an invoice."""
    locale, currency, name = MIXED[index]
    return invoice(locale=locale, currency=currency, name=name)


def synthetic_documents(
    count: int, countries: list[str] | None = None, seed: int = 1
) -> list[InvoiceDocument]:
    """Invoices of `count` synthetic subscribers, computed as the billing run does."""
    data = synthetic_dataset(count, str(OCTOBER), seed, countries)
    plans = {
        p["code"]: SimpleNamespace(name=p["name"], monthly_fee=Decimal(p["monthly_fee"]))
        for p in data["plans"]
    }
    charges = defaultdict(list)
    for c in data["charges"]:
        charges[c["account"]].append(
            SimpleNamespace(
                description=c["description"],
                quantity=Decimal(c["quantity"]),
                unit_price=Decimal(c["unit_price"]),
                period=c["period"],
            )
        )
    docs = []
    for n, s in enumerate(data["subscribers"], 1):
        subscriber = SimpleNamespace(
            currency=s["currency"],
            tax_rate=Decimal(s["tax_rate"]),
            locale=s["locale"],
            active_from=date.fromisoformat(s["active_from"]),
            active_to=date.fromisoformat(s["active_to"]) if s["active_to"] else None,
        )
        totals = compute_totals(plans[s["plan"]], charges[s["account"]], subscriber, OCTOBER)
        docs.append(
            InvoiceDocument(
                number=f"INV-2026-10-{n:06d}",
                issue_date=date(2026, 11, 1),
                due_date=date(2026, 11, 15),
                period_start=OCTOBER.start,
                period_end=OCTOBER.end,
                account=s["account"],
                name=s["name"],
                address=tuple(s["address"]),
                country=s["country"],
                locale=s["locale"],
                currency=s["currency"],
                lines=totals.lines,
                subtotal=totals.subtotal,
                tax_rate=subscriber.tax_rate,
                tax=totals.tax,
                total=totals.total,
                seller=SELLER,
            )
        )
    return docs


# A subscriber's fields as the bundled fixtures and `db seed --generate` write them (the
# import's `channel` aside).
SUBSCRIBER_FIELDS = (
    "account",
    "name",
    "email",
    "address",
    "country",
    "locale",
    "currency",
    "tax_rate",
    "plan",
    "active_from",
    "active_to",
)


def write_csv(env: Env, rows: list[dict[str, Any]], fields: Sequence[str], name: str) -> str:
    """`rows` as a CSV file the import reads: a header of `fields`, an address's lines
    joined by |, None as an empty cell; its path."""
    path = env.path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for row in rows:
            cells = [row.get(field) for field in fields]
            writer.writerow(["|".join(c) if isinstance(c, list) else "" if c is None else c for c in cells])
    return str(path)


def write_json(env: Env, data: object, name: str = "data.json") -> str:
    """`data` as a JSON file in the test's folder, for a command to read; its path."""
    path = env.path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def initialized(env: Env) -> None:
    """An empty database at the schema's head, as `db init` leaves it."""
    _seeded(env)


def seed_fixtures(env: Env) -> None:
    """A database with the bundled fixtures, made by the real commands."""
    _seeded(env, "--fixtures", str(FIXTURES))


def generate(env: Env, count: int, seed: int = 11, period: str = "2026-10") -> None:
    """A database with `count` synthetic subscribers, all billable in `period`."""
    _seeded(env, "--generate", str(count), "--period", period, "--seed", str(seed))


# The settings that are the test's own names, not what the data is made with.
_NAMES_OF_THE_TEST = {
    "INVOICING_DATABASE_URL",
    "INVOICING_OUTPUT_DIR",
    "INVOICING_BROKER_URL",
    "INVOICING_RESULT_BACKEND",
    "INVOICING_REDIS_PREFIX",
    "INVOICING_QUEUE",
}


def _seeded(env: Env, *seed: str) -> None:
    """`db init`, then `db seed SEED` if given: on a SQLite file not yet made, a copy of
    the database the two commands made once in this process (`templates`)."""
    database = sqlite_file(env)
    if database is None or database.exists():  # PostgreSQL, or a database the test made
        env.cli("db", "init", check=True)
        if seed:
            env.cli("db", "seed", *seed, check=True)
        return
    settings = {k: v for k, v in env.vars.items() if k not in _NAMES_OF_THE_TEST}

    def make(template: Env) -> None:
        template.vars = settings | template.vars
        template.cli("db", "init", check=True)
        if seed:
            template.cli("db", "seed", *seed, check=True)

    folder, _ = made_once(json.dumps([seed, settings], sort_keys=True), make)
    copy_database(folder, env)
