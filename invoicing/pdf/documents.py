"""The data an invoice is printed from: plain frozen values, no ORM, no Celery.

`billing` builds these from the database; `render` turns them into PDF bytes. Money
is Decimal and already rounded to the currency's minor unit by `billing`; the renderer
only formats it.

The fields from ``Seller.vat_id`` and from ``InvoiceDocument.buyer_company`` on are what
EN 16931 e-invoices (`pdf.einvoice`) need on top of the printed invoice; all have
defaults, so plain invoices are built as before. ``Seller.tax_id`` becomes the seller's
tax number (BT-32) when it differs from the VAT id. How the free-form ``address`` lines map onto the EN 16931
postal address is decided in one place, `pdf.einvoice.cii.postal_address`.

Every text a subscriber, an import or the settings supply is cleaned when a value is
made (`__post_init__`, `invoicing.untrusted.clean`): the page, the e-invoice XML and
whatever else is made from a document read the same cleaned text, whoever built the
document and whenever its rows were stored. Codes (country, locale, currency, tax
category, document type) are checked where they are used, not cleaned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from invoicing.untrusted import clean


def _clean_fields(value: Any, *names: str) -> None:
    """Replace the named text fields (a string, or a tuple of them) of a frozen value by
    their cleaned form; anything else (None, a wrong type the renderer reports) is left."""
    for name in names:
        field_value = getattr(value, name)
        if isinstance(field_value, str):
            cleaned: object = clean(field_value)
        elif isinstance(field_value, tuple) and all(isinstance(item, str) for item in field_value):
            cleaned = tuple(map(clean, field_value))
        else:
            continue
        if cleaned != field_value:
            object.__setattr__(value, name, cleaned)


@dataclass(frozen=True)
class ElectronicAddress:
    """Where an e-invoice can be delivered (BT-34 seller, BT-49 buyer).

    ``scheme`` is the EAS code (CEF Electronic Address Scheme): "EM" e-mail, "0204"
    Leitweg-ID, "9930" German VAT id, "0088" GLN, ...
    """

    value: str
    scheme: str = "EM"

    def __post_init__(self) -> None:
        _clean_fields(self, "value")


@dataclass(frozen=True)
class PrecedingInvoice:
    """The invoice a credit note corrects (BT-25 number, BT-26 issue date)."""

    number: str
    issue_date: date | None = None

    def __post_init__(self) -> None:
        _clean_fields(self, "number")


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
    vat_id: str = ""  # BT-31, with its ISO country prefix ("DE123456788")
    country: str = ""  # BT-40, ISO 3166 alpha-2; required for an e-invoice
    registration: str = ""  # BT-30, legal registration (trade register: "HRB 12345")
    electronic_address: ElectronicAddress | None = None  # BT-34; None: the email, scheme EM
    contact_name: str = ""  # BT-41, contact point (person or department); XRechnung needs it
    phone: str = ""  # BT-42; XRechnung needs it
    # The settings' sample seller (no INVOICING_SELLER_* given): every page says SAMPLE.
    sample: bool = False

    def __post_init__(self) -> None:
        _clean_fields(
            self, "name", "address", "tax_id", "email", "iban", "bic", "bank", "vat_id", "registration",
            "contact_name", "phone",
        )  # fmt: skip


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # quantity * unit_price rounded to the currency's minor unit

    def __post_init__(self) -> None:
        _clean_fields(self, "description")


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
    buyer_company: str = ""  # BT-44 when set; ``name`` then is the buyer's contact (BT-56)
    buyer_vat_id: str = ""  # BT-48; required for reverse charge (AE) and intra-community (K)
    buyer_reference: str = ""  # BT-10; the Leitweg-ID for German public buyers (XRechnung)
    tax_category: str | None = None  # UNCL 5305: S Z E AE K O; None: S when tax_rate > 0
    exemption_reason: str = ""  # BT-120, printed and encoded for E, AE, K, O
    document_type: str = "380"  # UNTDID 1001: "380" commercial invoice, "381" credit note
    preceding_invoice: PrecedingInvoice | None = None  # BT-25/26, what a credit note corrects
    einvoice: str | None = None  # None (plain PDF), "factur-x" or "xrechnung"
    buyer_electronic_address: ElectronicAddress | None = None  # BT-49; XRechnung needs it
    note: str | None = None  # a credit note's reason, printed under its number
    # What a subscriber would get if the period were billed now (`invoicing render`
    # before the run): not an invoice, so every page says DRAFT and nothing asks to pay.
    draft: bool = False

    def __post_init__(self) -> None:
        _clean_fields(
            self, "number", "account", "name", "address", "buyer_company", "buyer_vat_id", "buyer_reference",
            "exemption_reason", "note",
        )  # fmt: skip
