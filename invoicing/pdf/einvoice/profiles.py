"""The vocabulary of the e-invoice package: its error, the two profiles, the VAT categories
and their exemption reasons, and text as the XML carries it.

`cii` (the XML), `checks` (the pre-flight), `pdfa` and `validate` all speak it; the
layout may import `exemption_text` from here without importing the XML writer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.errors import RenderError

__all__ = [
    "CATEGORIES",
    "CREDIT_NOTE",
    "DOCUMENT_TYPES",
    "FACTURX",
    "NEEDS_REASON",
    "PROFILES",
    "XRECHNUNG",
    "EInvoice",
    "EInvoiceError",
    "Problem",
    "Profile",
    "clean",
    "default_exemption_reason",
    "exemption_code",
    "exemption_text",
    "profile_for",
    "tax_category",
]


class EInvoiceError(RenderError):
    """The document cannot become a valid e-invoice; the message names the rules.

    A RenderError: permanent and caused by the data, so a billing run records it on
    the invoice like any other render failure.
    """


@dataclass(frozen=True)
class Profile:
    name: str  # the InvoiceDocument.einvoice value
    guideline: str  # BT-24 specification identifier
    filename: str  # name of the embedded file in a hybrid PDF
    conformance: str  # XMP fx:ConformanceLevel
    business_process: str | None = None  # BT-23


FACTURX = Profile("factur-x", "urn:cen.eu:en16931:2017", "factur-x.xml", "EN 16931")
# ZUGFeRD 2.x names the embedded file xrechnung.xml and the level XRECHNUNG for this
# profile (Factur-X itself always says factur-x.xml, but has no XRechnung profile).
XRECHNUNG = Profile(
    "xrechnung",
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
    "xrechnung.xml",
    "XRECHNUNG",
    business_process="urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
)
PROFILES = {p.name: p for p in (FACTURX, XRECHNUNG)}

CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "O"})
NEEDS_REASON = frozenset({"E", "AE", "K", "O"})  # BR-E-10, BR-AE-10, BR-IC-10, BR-O-10
# VATEX codes (CEF VAT exemption reason code list) where the category implies one.
_EXEMPTION_CODES = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "O": "VATEX-EU-O"}
_DEFAULT_REASONS = {
    "AE": "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)",
    "K": "Intra-community supply, exempt from VAT (Art. 138 Directive 2006/112/EC)",
    "O": "Not subject to VAT",
}
CREDIT_NOTE = "381"
DOCUMENT_TYPES = frozenset({"380", CREDIT_NOTE})


@dataclass(frozen=True)
class EInvoice:
    """The XML of one invoice and what the hybrid PDF says about it."""

    profile: Profile
    xml: bytes
    issue_date: date  # the embedded file's modification date

    @property
    def filename(self) -> str:
        return self.profile.filename


@dataclass(frozen=True)
class Problem:
    rule: str  # EN 16931 / XRechnung rule id, or "invoicing:..." for our own checks
    message: str
    seller: bool = False  # caused by the seller's data (the settings), not the buyer's

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def profile_for(doc: InvoiceDocument) -> Profile | None:
    if doc.einvoice is None:
        return None
    try:
        return PROFILES[doc.einvoice]
    except KeyError:
        raise EInvoiceError(
            f"unknown e-invoice format {doc.einvoice!r} (expected one of {', '.join(PROFILES)})"
        ) from None


def tax_category(doc: InvoiceDocument) -> str:
    """The UNCL 5305 VAT category: the document's, or S when it has a positive rate.

    A zero rate has no default: zero-rated (Z), exempt (E), reverse charge (AE),
    intra-community (K) and out of scope (O) mean different things to the buyer's
    tax office, so the import must say which.
    """
    if doc.tax_category:
        return doc.tax_category.strip().upper()
    if doc.tax_rate > 0:
        return "S"
    raise EInvoiceError(
        "tax rate is 0 but no tax category is set (Z, E, AE, K or O; UNCL 5305): "
        "an e-invoice must say why no VAT is charged"
    )


def default_exemption_reason(category: str) -> str:
    """The standard wording for AE, K and O; '' for the others (E needs its legal basis)."""
    return _DEFAULT_REASONS.get(category, "")


def exemption_text(doc: InvoiceDocument) -> str:
    """The exemption reason to print and encode (BT-120), '' when there is none.

    The document's own text, else a standard wording for AE, K and O (E has no
    standard wording: the exemption's legal basis must come from the data).
    """
    category = tax_category(doc)
    if category not in NEEDS_REASON:
        return ""
    return clean(doc.exemption_reason) or default_exemption_reason(category)


def exemption_code(category: str) -> str:
    """BT-121 for the categories that imply one (AE, K, O), else ''."""
    return _EXEMPTION_CODES.get(category, "")


# Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, surrogates, FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    """Text as the XML carries it: NFC, no characters XML forbids, single-line, trimmed."""
    if not value:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _NOT_XML.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())
