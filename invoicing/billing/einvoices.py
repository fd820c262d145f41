"""What billing decides about e-invoices: who gets one, what is frozen for it at issue,
and what the import refuses so that a run never meets a subscriber the rules reject.

Who: a subscriber's own ``einvoice`` ("factur-x" or "xrechnung"), else INVOICING_EINVOICE
when the subscriber has a ``vat_id``; nobody else (a plain PDF).

What is frozen on the invoice (`issue.bill_to`): the format, the buyer reference, the
e-mail (the buyer's electronic address, BT-49, unless an XRechnung goes to a Leitweg-ID),
the VAT category and the exemption reason as it will be printed: the subscriber's, else
the standard wording of reverse charge (AE), intra-community supply (K) and out of scope
(O). E (exempt) has no standard wording: its legal basis must come with the data.

The import's check (`subscriber_problems`) builds the document the subscriber's first
invoice would be (the plan fee as its one line, the seller of the settings) and runs the
e-invoice pre-flight on it (`pdf.einvoice.check_document`), and looks the country and
the currency up in the code lists the EN 16931 Schematron uses. Problems with the
seller's data are returned apart, to be reported once as settings to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision

from invoicing.billing.money import round_money
from invoicing.config import Settings
from invoicing.identifiers import leitweg_problem
from invoicing.pdf.documents import ElectronicAddress, InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.einvoice.checks import check_document
from invoicing.pdf.einvoice.profiles import NEEDS_REASON, PROFILES, Problem, default_exemption_reason

__all__ = [
    "SELLER_SETTINGS",
    "SubscriberCheck",
    "buyer_address",
    "einvoice_format",
    "exemption_reason",
    "subscriber_problems",
]

LEITWEG_SCHEME = "0204"  # EAS code of the Leitweg-ID

# The setting that fixes a problem the seller's data causes, by rule.
SELLER_SETTINGS = {
    "BR-06": "INVOICING_SELLER_NAME",
    "BR-09": "INVOICING_SELLER_COUNTRY",
    "BR-S-02": "INVOICING_SELLER_VAT_ID",
    "BR-Z-02": "INVOICING_SELLER_VAT_ID",
    "BR-E-02": "INVOICING_SELLER_VAT_ID",
    "BR-AE-02": "INVOICING_SELLER_VAT_ID",
    "BR-IC-02": "INVOICING_SELLER_VAT_ID",
    "invoicing:vat-id": "INVOICING_SELLER_VAT_ID",
    "BR-CO-26": "INVOICING_SELLER_REGISTRATION",
    "BR-DE-3": "INVOICING_SELLER_ADDRESS",
    "BR-DE-4": "INVOICING_SELLER_ADDRESS",
    "BR-DE-5": "INVOICING_SELLER_CONTACT_NAME",
    "BR-DE-6": "INVOICING_SELLER_PHONE",
    "BR-DE-7": "INVOICING_SELLER_EMAIL",
    "invoicing:xrechnung-bt34": "INVOICING_SELLER_ELECTRONIC_ADDRESS",
}

# The import field a problem with the buyer's data is about, by rule (else "einvoice").
_FIELDS = {
    "BR-DE-15": "buyer_reference",
    "invoicing:leitweg-id": "buyer_reference",
    "BR-DE-8": "address",
    "BR-DE-9": "address",
    "BR-07": "name",
    "BR-CO-09": "vat_id",
    "invoicing:vat-id": "vat_id",
    "invoicing:tax-category": "tax_category",
    "BR-CL-17": "tax_category",
    "invoicing:xrechnung-bt49": "email",
}


def einvoice_format(einvoice: str | None, vat_id: str | None, settings: Settings) -> str | None:
    """The subscriber's e-invoice format, None for a plain PDF."""
    if einvoice:
        return einvoice
    return settings.einvoice if vat_id else None


def category_of(tax_category: str | None, tax_rate: Decimal) -> str | None:
    """The VAT category: the subscriber's, else S above a zero rate, else unknown (None)."""
    return tax_category or ("S" if tax_rate > 0 else None)


def exemption_reason(tax_category: str | None, tax_rate: Decimal, reason: str | None) -> str | None:
    """The exemption reason to freeze and print: the subscriber's, else the standard one."""
    category = category_of(tax_category, tax_rate)
    if category not in NEEDS_REASON:
        return None
    return reason or default_exemption_reason(category) or None


def buyer_address(
    einvoice: str | None, buyer_reference: str | None, email: str | None
) -> ElectronicAddress | None:
    """BT-49: an XRechnung to a German public buyer goes to its Leitweg-ID, else to the e-mail."""
    if einvoice == "xrechnung" and buyer_reference and leitweg_problem(buyer_reference) is None:
        return ElectronicAddress(buyer_reference, LEITWEG_SCHEME)
    return ElectronicAddress(email, "EM") if email else None


@dataclass
class SubscriberCheck:
    """What the import found wrong with one e-invoicing subscriber."""

    problems: list[str] = field(default_factory=list)  # "field: reason", the row's own
    seller: list[Problem] = field(default_factory=list)  # the settings', reported once


def subscriber_problems(sub: Any, fee: Decimal, seller: Seller, settings: Settings) -> SubscriberCheck:
    """Why the subscriber's e-invoices would be refused; nothing for a plain-PDF subscriber.

    `sub` has the import row's fields (`importer.rows.SubscriberRow`); `fee` is its plan's
    monthly fee. Field-by-field checks come first, each naming its field; the pre-flight
    on the subscriber's would-be first invoice runs only when they all pass.
    """
    check = SubscriberCheck()
    chosen = einvoice_format(sub.einvoice, sub.vat_id, settings)
    if chosen is None:
        return check
    # Read with lxml: only an import with e-invoice subscribers needs them.
    from invoicing.pdf.einvoice.official import countries, currencies

    why = "" if sub.einvoice else f" (it has a vat_id and INVOICING_EINVOICE={chosen})"
    out = check.problems
    if sub.currency not in currencies():
        out.append(f"currency: {sub.currency} is not in the EN 16931 currency code list (ISO 4217 in use)")
    elif get_currency_precision(sub.currency) > 2:
        out.append(
            f"currency: {sub.currency} has {get_currency_precision(sub.currency)} decimals; "
            "EN 16931 amounts have at most 2 (BR-DEC-*)"
        )
    if sub.country not in countries():
        out.append(f"country: {sub.country} is not in the EN 16931 country code list (ISO 3166-1)")
    if sub.vat_id and sub.vat_id[:2] not in countries() | {"EL"}:
        out.append(f"vat_id: prefix {sub.vat_id[:2]} is not an EN 16931 country code (BR-CO-09)")
    if category_of(sub.tax_category, sub.tax_rate) is None:
        out.append(
            "tax_category: required for an e-invoice when tax_rate is 0: Z (zero rated), E (exempt), "
            f"AE (reverse charge), K (intra-community) or O (out of scope){why}"
        )
    if chosen == "xrechnung":
        if not sub.buyer_reference:
            out.append(f"buyer_reference: an XRechnung needs one (BT-10, BR-DE-15; the Leitweg-ID){why}")
        elif sub.country == "DE" and (wrong := leitweg_problem(sub.buyer_reference)) is not None:
            out.append(f"buyer_reference: {wrong}")
    if out:
        return check
    for problem in check_document(_first_invoice(sub, fee, chosen, seller), PROFILES[chosen]):
        if problem.seller:
            check.seller.append(problem)
        else:
            out.append(f"{_field(problem.rule)}: {problem}{why}")
    return check


def _field(rule: str) -> str:
    if rule in _FIELDS:
        return _FIELDS[rule]
    if rule.endswith(("-05", "-09")):  # the category's rate and tax
        return "tax_category"
    if rule.endswith("-10"):
        return "exemption_reason"
    return "einvoice"


def _first_invoice(sub: Any, fee: Decimal, einvoice: str, seller: Seller) -> InvoiceDocument:
    """The document of the subscriber's first invoice, as far as the e-invoice rules care."""
    amount = round_money(fee, sub.currency)
    tax = round_money(amount * sub.tax_rate / 100, sub.currency)
    day = date(2000, 1, 1)
    return InvoiceDocument(
        number="IMPORT-CHECK",
        issue_date=day,
        due_date=day,
        period_start=day,
        period_end=day,
        account=sub.account,
        name=sub.name,
        address=tuple(sub.address),
        country=sub.country,
        locale=sub.locale,
        currency=sub.currency,
        lines=(InvoiceLine("monthly fee", Decimal(1), amount, amount),),
        subtotal=amount,
        tax_rate=sub.tax_rate,
        tax=tax,
        total=amount + tax,
        seller=seller,
        buyer_company=sub.company or "",
        buyer_vat_id=sub.vat_id or "",
        buyer_reference=sub.buyer_reference or "",
        tax_category=sub.tax_category,
        exemption_reason=exemption_reason(sub.tax_category, sub.tax_rate, sub.exemption_reason) or "",
        einvoice=einvoice,
        buyer_electronic_address=buyer_address(einvoice, sub.buyer_reference, sub.email),
    )
