"""The pre-flight: what would make a document's e-invoice invalid, before anything is written.

A pre-flight, not the authority: the official Schematron (`validate`) is. It covers what
the builder can get wrong from the data (money rule, VAT categories and ids, credit
notes, the XRechnung fields the data decides); each check names the rule it protects,
so an error reads like the Schematron's. Problems the seller's data causes are marked
``seller=True``: the import reports those once, as settings to fix, not per subscriber.

Not checked here, left to the Schematron: code lists (countries, currencies, the
electronic address schemes) and everything the builder writes the same way for every
document.
"""

from __future__ import annotations

import re
from decimal import Decimal

from invoicing.identifiers import leitweg_problem, vat_id_problem
from invoicing.pdf.documents import ElectronicAddress, InvoiceDocument, Seller
from invoicing.pdf.einvoice.address import postal_address
from invoicing.pdf.einvoice.profiles import (
    CATEGORIES,
    CREDIT_NOTE,
    DOCUMENT_TYPES,
    FACTURX,
    NEEDS_REASON,
    XRECHNUNG,
    EInvoiceError,
    Problem,
    Profile,
    clean,
    exemption_text,
    profile_for,
    tax_category,
)

__all__ = ["check_document", "seller_address"]


def _vat_problem(who: str, value: str) -> Problem | None:
    """A VAT id needs its country prefix (BR-CO-9), and right check digits where they exist."""
    problem = vat_id_problem(value)
    if problem is None:
        return None
    rule = "invoicing:vat-id" if re.match(r"[A-Za-z]{2}", value) else "BR-CO-09"
    return Problem(rule, f"{who} VAT id: {problem}", seller=who == "seller")


def _is_money(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def check_document(doc: InvoiceDocument, profile: Profile | None = None) -> list[Problem]:
    """What would make the e-invoice of ``doc`` invalid, as EN 16931 rule ids."""
    profile = profile or profile_for(doc) or FACTURX
    seller = doc.seller
    out: list[Problem] = []

    def need(ok: object, rule: str, message: str, of_seller: bool = False) -> None:
        if not ok:
            out.append(Problem(rule, message, seller=of_seller))

    need(clean(doc.number), "BR-02", "invoice number (BT-1) is empty")
    need(
        doc.document_type in DOCUMENT_TYPES, "BR-04", f"document type {doc.document_type!r} is not 380 or 381"
    )
    need(clean(seller.name), "BR-06", "seller name (BT-27) is empty", True)
    need(seller.country, "BR-09", "seller country (BT-40) is not set (INVOICING_SELLER_COUNTRY)", True)
    need(clean(doc.buyer_company) or clean(doc.name), "BR-07", "buyer name (BT-44) is empty")
    need(doc.country, "BR-11", "buyer country (BT-55) is not set")
    need(doc.lines, "BR-16", "an invoice needs at least one line")
    for i, line in enumerate(doc.lines, 1):
        need(clean(line.description), "BR-25", f"line {i} has no description (item name, BT-153)")

    # (label, value, the rule limiting it to 2 decimals)
    amounts = [("subtotal", doc.subtotal, "BR-DEC-09"), ("tax", doc.tax, "BR-DEC-13")]
    amounts += [("total", doc.total, "BR-DEC-14")]
    amounts += [(f"line {i} amount", line.amount, "BR-DEC-23") for i, line in enumerate(doc.lines, 1)]
    bad = [label for label, value, _ in amounts if not _is_money(value)]
    need(not bad, "invoicing:decimal", f"not finite Decimals: {', '.join(bad)}")
    if bad:
        return out
    for label, value, rule in amounts:
        if value.as_tuple().exponent < -2:  # type: ignore[operator]
            out.append(Problem(rule, f"{label} {value} has more than 2 decimals (a 3-decimal currency?)"))
    lines_sum = sum((line.amount for line in doc.lines), Decimal(0))
    need(
        lines_sum == doc.subtotal,
        "BR-CO-10",
        f"subtotal {doc.subtotal} is not the sum of the lines {lines_sum}",
    )
    need(
        doc.total == doc.subtotal + doc.tax,
        "BR-CO-15",
        f"total {doc.total} is not subtotal {doc.subtotal} + tax {doc.tax}",
    )
    if doc.document_type == CREDIT_NOTE:
        need(
            doc.total >= 0,
            "invoicing:credit-note-sign",
            f"credit note total {doc.total} is negative: a 381 carries positive amounts",
        )
        need(doc.preceding_invoice, "invoicing:credit-note-reference", "credit note names no invoice (BT-25)")

    try:
        category = tax_category(doc)
    except EInvoiceError as exc:
        out.append(Problem("invoicing:tax-category", str(exc)))
        return out
    if category not in CATEGORIES:
        out.append(
            Problem("BR-CL-17", f"tax category {category!r} is not one of {', '.join(sorted(CATEGORIES))}")
        )
        return out
    out += _category_problems(doc, category)
    if profile is XRECHNUNG:
        out += _xrechnung_problems(doc)
    return out


def _category_problems(doc: InvoiceDocument, category: str) -> list[Problem]:
    """BR-S-*, BR-Z-*, BR-E-*, BR-AE-*, BR-IC-*, BR-O-*: rate, tax, VAT ids, reasons."""
    seller = doc.seller
    out: list[Problem] = []

    def need(ok: object, rule: str, message: str, of_seller: bool = False) -> None:
        if not ok:
            out.append(Problem(rule, message, seller=of_seller))

    seller_vat = clean(seller.vat_id)
    buyer_vat = clean(doc.buyer_vat_id)
    prefix = _rule_prefix(category)
    if category == "S":
        need(doc.tax_rate > 0, "BR-S-05", "standard rated (S) needs a rate above 0")
        need(
            seller_vat or clean(seller.tax_id),
            "BR-S-02",
            "standard rated (S) needs the seller VAT id or tax number",
            True,
        )
    else:
        need(doc.tax_rate == 0, f"BR-{prefix}-05", f"category {category} needs a rate of 0")
        need(doc.tax == 0, f"BR-{prefix}-09", f"category {category} needs a tax of 0")
    if category in {"Z", "E", "AE", "K"}:
        need(seller_vat, f"BR-{prefix}-02", f"category {category} needs the seller VAT id (BT-31)", True)
    if category in {"AE", "K"}:
        need(buyer_vat, f"BR-{prefix}-02", f"category {category} needs the buyer VAT id (BT-48)")
    if category == "O":
        need(
            clean(seller.registration),
            "BR-CO-26",
            "out of scope (O) invoices carry no VAT id, so the seller needs a registration (BT-30)",
            True,
        )
    if category in NEEDS_REASON:
        need(
            exemption_text(doc), f"BR-{prefix}-10", f"category {category} needs an exemption reason (BT-120)"
        )
    elif clean(doc.exemption_reason):
        out.append(Problem(f"BR-{prefix}-10", f"category {category} must not have an exemption reason"))
    if seller_vat and category != "O":
        out += filter(None, [_vat_problem("seller", seller_vat)])
    if buyer_vat and category != "O":
        out += filter(None, [_vat_problem("buyer", buyer_vat)])
    return out


def _rule_prefix(category: str) -> str:
    return {"K": "IC"}.get(category, category)


def _xrechnung_problems(doc: InvoiceDocument) -> list[Problem]:
    """The German CIUS's additions that the data decides (a subset of the KoSIT rules)."""
    seller = doc.seller
    out: list[Problem] = []
    own = postal_address(seller.address, seller.country)
    buyer = postal_address(doc.address, doc.country, doc.locale)
    for ok, rule, message, of_seller in (
        (clean(doc.buyer_reference), "BR-DE-15", "buyer reference (BT-10, the Leitweg-ID) is empty", False),
        (clean(seller.contact_name), "BR-DE-5", "seller contact point (BT-41) is empty", True),
        (clean(seller.phone), "BR-DE-6", "seller telephone (BT-42) is empty", True),
        (clean(seller.email), "BR-DE-7", "seller e-mail (BT-43) is empty", True),
        (own.city, "BR-DE-3", "no 'postcode city' line in the seller address (BT-37)", True),
        (own.postcode, "BR-DE-4", "no 'postcode city' line in the seller address (BT-38)", True),
        (buyer.city, "BR-DE-8", "no 'postcode city' line in the buyer address (BT-52)", False),
        (buyer.postcode, "BR-DE-9", "no 'postcode city' line in the buyer address (BT-53)", False),
        (
            seller_address(seller),
            "invoicing:xrechnung-bt34",
            "XRechnung needs the seller electronic address (BT-34)",
            True,
        ),
        (
            doc.buyer_electronic_address,
            "invoicing:xrechnung-bt49",
            "XRechnung needs the buyer electronic address (BT-49)",
            False,
        ),
    ):
        if not ok:
            out.append(Problem(rule, message, seller=of_seller))
    address = doc.buyer_electronic_address
    if address is not None and address.scheme == "0204":
        problem = leitweg_problem(address.value)
        if problem is not None:
            out.append(Problem("invoicing:leitweg-id", problem))
    return out


def seller_address(seller: Seller) -> ElectronicAddress | None:
    """BT-34: the seller's electronic address, else its e-mail (scheme EM)."""
    if seller.electronic_address is not None:
        return seller.electronic_address
    email = clean(seller.email)
    return ElectronicAddress(email, "EM") if email else None
