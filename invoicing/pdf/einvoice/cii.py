"""An `InvoiceDocument` as EN 16931 CII XML: Factur-X (profile EN 16931) or XRechnung.

One builder, two profiles. Both are UN/CEFACT Cross Industry Invoice D16B documents
that differ only in the specification identifier (BT-24), the business process (BT-23,
XRechnung only) and in what the German CIUS requires on top of EN 16931 (buyer
reference, seller contact, postcodes and cities, electronic addresses).

Figures
    Every amount in the XML is one of the document's own Decimal values, the ones the
    layout prints: BT-131 is ``line.amount``, BT-106 and BT-109 and BT-116 are
    ``subtotal``, BT-110 and BT-117 are ``tax``, BT-112 and BT-115 are ``total``. Nothing
    is recomputed, so the XML totals equal the printed totals by construction, and the
    EN 16931 sums (BR-CO-10..16) hold exactly when billing's money rule held (each line
    rounded, subtotal = sum of lines, tax on the subtotal rounded once, total =
    subtotal + tax). `check_document` verifies that rule before anything is written.

One VAT category per invoice
    The document has one rate and one category (`tax_category`), so there is one VAT
    breakdown (BG-23) and every line carries the same category and rate.

Credit notes
    ``document_type="381"`` with positive amounts: the type code says the amounts are
    owed to the buyer, as EN 16931 and both CIUS expect (a negative credit note would
    be a debit). A 381 whose total is negative is refused, rather than silently
    flipped, because the XML must show what the page shows. A single line may still
    be negative. BT-25/BT-26 name the corrected invoice.

Negative lines
    EN 16931 forbids a negative item net price (BR-27). A line with a negative unit
    price is written with the sign on the quantity instead (-q x p = q x -p); the line
    amount is unchanged.

Postal addresses
    The documents hold addresses as printed lines. `postal_address` maps them: the
    last line that starts with a postcode ("20457 Hamburg", "A-1010 Wien", "1012 AB
    Amsterdam", "00-950 Warszawa") gives BT-38/BT-37 (53/52 for the buyer); lines
    before it are street lines (BT-35, 36, 162; a fourth and later line is joined onto
    the third); a last line naming the country (in English, in the document's language
    or in the country's own) is dropped, the country being coded in BT-40/BT-55. With
    no such line all lines become street lines, which EN 16931 accepts and XRechnung
    does not (BR-DE-3/4, BR-DE-8/9).

Parties
    Seller: name BT-27, registration BT-30 (``registration``), VAT id BT-31
    (``vat_id``), tax number BT-32 (``tax_id`` when it differs from the VAT id), contact
    BT-41..43 (``contact_name``, ``phone``, ``email``), electronic address BT-34
    (``electronic_address``, else the email with scheme EM). Buyer: identifier BT-46
    (the account), name BT-44 (``buyer_company``, else ``name``), contact BT-56 (``name``
    when there is a company), VAT id BT-48, electronic address BT-49.

Payment
    SEPA credit transfer (code 58) to the seller's IBAN/BIC with the invoice number as
    remittance information (BT-83) and the due date (BT-9). A credit note has nothing to
    transfer to the seller: its payment means is code 1 (instrument not defined), which
    keeps BG-16 present as XRechnung requires (BR-DE-1).

Strictness
    `build_xml` refuses, with `EInvoiceError`, a document that `check_document` finds
    wrong (missing VAT ids, money rule broken, XRechnung fields missing...): the error
    names the EN 16931 rule. ``strict=False`` encodes whatever it is given: that is how
    the tests show the official Schematron catching the same mistakes.

The XML is built as a string (no DOM): about 0.1 ms for a typical invoice.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from stdnum.de import leitweg
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from invoicing.pdf.documents import ElectronicAddress, InvoiceDocument, Seller
from invoicing.pdf.render import RenderError

__all__ = [
    "FACTURX",
    "PROFILES",
    "XRECHNUNG",
    "EInvoice",
    "EInvoiceError",
    "PostalAddress",
    "Problem",
    "Profile",
    "build_xml",
    "check_document",
    "einvoice_for",
    "exemption_code",
    "exemption_text",
    "postal_address",
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

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


# ------------------------------------------------------------------- vocabulary


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


def exemption_text(doc: InvoiceDocument) -> str:
    """The exemption reason to print and encode (BT-120), '' when there is none.

    The document's own text, else a standard wording for AE, K and O (E has no
    standard wording: the exemption's legal basis must come from the data).
    """
    category = tax_category(doc)
    if category not in NEEDS_REASON:
        return ""
    return _clean(doc.exemption_reason) or _DEFAULT_REASONS.get(category, "")


def exemption_code(category: str) -> str:
    """BT-121 for the categories that imply one (AE, K, O), else ''."""
    return _EXEMPTION_CODES.get(category, "")


# ------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class PostalAddress:
    lines: tuple[str, ...]  # at most 3: BT-35, BT-36, BT-162 (buyer: BT-50, 51, 163)
    postcode: str  # BT-38 / BT-53
    city: str  # BT-37 / BT-52
    country: str  # BT-40 / BT-55


_POSTCODE_LINE = re.compile(
    r"^(?:[A-Z]{1,3}-)?"  # "D-", "A-", "CH-" country prefixes
    r"(?P<postcode>\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2}|\d{4} ?[A-Z]{2}(?= )|\d{3,6})"
    r"\s+(?P<city>\S.*)$"
)


@lru_cache(maxsize=512)
def _country_names(country: str, locale: str) -> frozenset[str]:
    names = set()
    for tag in ("en", locale, f"und_{country}"):  # English, the reader's, the country's own
        try:
            name = Locale.parse(tag).territories.get(country)
        except (UnknownLocaleError, ValueError, TypeError):
            name = None
        if name:
            names.add(name.casefold())
    return frozenset(names | {country.casefold()})


def postal_address(lines: Sequence[str], country: str, locale: str = "en") -> PostalAddress:
    """Printed address lines -> EN 16931 postal address (see the module docstring)."""
    cleaned = [c for c in (_clean(line) for line in lines) if c]
    if cleaned and cleaned[-1].casefold() in _country_names(country, locale):
        cleaned.pop()
    postcode = city = ""
    for i in range(len(cleaned) - 1, -1, -1):
        match = _POSTCODE_LINE.match(cleaned[i])
        if match:
            postcode, city = match["postcode"], match["city"].strip()
            del cleaned[i]
            break
    if len(cleaned) > 3:
        cleaned[2:] = [", ".join(cleaned[2:])]
    return PostalAddress(tuple(cleaned), postcode, city, country)


# --------------------------------------------------------------------- checks


def _vat_problem(rule: str, who: str, value: str) -> Problem | None:
    """A VAT id needs its country prefix (BR-CO-9); EU ones must pass their check digits."""
    compact = re.sub(r"[\s.\-]", "", value).upper()
    if not re.match(r"^[A-Z]{2}", compact):
        return Problem("BR-CO-09", f"{who} VAT id {value!r} has no ISO 3166 country prefix")
    prefix = compact[:2]
    if prefix in _EU_VAT_PREFIXES and not eu_vat.is_valid(compact):
        return Problem(rule, f"{who} VAT id {value!r} is not a valid {prefix} VAT number")
    return None


_EU_VAT_PREFIXES = frozenset(c.upper() for c in eu_vat.MEMBER_STATES) | {"EL", "XI"}


def _is_money(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def check_document(doc: InvoiceDocument, profile: Profile | None = None) -> list[Problem]:
    """What would make the e-invoice of ``doc`` invalid, as EN 16931 rule ids.

    A pre-flight, not the authority: the official Schematron (`validate`) is. It covers
    what this builder can get wrong from the data; each check names the rule it
    protects, so an error reads like the Schematron's.
    """
    profile = profile or profile_for(doc) or FACTURX
    seller = doc.seller
    out: list[Problem] = []

    def need(ok: object, rule: str, message: str) -> None:
        if not ok:
            out.append(Problem(rule, message))

    need(_clean(doc.number), "BR-02", "invoice number (BT-1) is empty")
    need(
        doc.document_type in DOCUMENT_TYPES, "BR-04", f"document type {doc.document_type!r} is not 380 or 381"
    )
    need(_clean(seller.name), "BR-06", "seller name (BT-27) is empty")
    need(seller.country, "BR-09", "seller country (BT-40) is not set (INVOICING_SELLER_COUNTRY)")
    need(_clean(doc.buyer_company) or _clean(doc.name), "BR-07", "buyer name (BT-44) is empty")
    need(doc.country, "BR-11", "buyer country (BT-55) is not set")
    need(doc.lines, "BR-16", "an invoice needs at least one line")
    for i, line in enumerate(doc.lines, 1):
        need(_clean(line.description), "BR-25", f"line {i} has no description (item name, BT-153)")

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
    seller_vat = _clean(seller.vat_id)
    buyer_vat = _clean(doc.buyer_vat_id)
    if category == "S":
        need(doc.tax_rate > 0, "BR-S-05", "standard rated (S) needs a rate above 0")
        need(
            seller_vat or _clean(seller.tax_id),
            "BR-S-02",
            "standard rated (S) needs the seller VAT id or tax number",
        )
    else:
        need(doc.tax_rate == 0, f"BR-{_rule_prefix(category)}-05", f"category {category} needs a rate of 0")
        need(doc.tax == 0, f"BR-{_rule_prefix(category)}-09", f"category {category} needs a tax of 0")
    if category in {"Z", "E", "AE", "K"}:
        need(
            seller_vat,
            f"BR-{_rule_prefix(category)}-02",
            f"category {category} needs the seller VAT id (BT-31)",
        )
    if category in {"AE", "K"}:
        need(
            buyer_vat,
            f"BR-{_rule_prefix(category)}-02",
            f"category {category} needs the buyer VAT id (BT-48)",
        )
    if category == "O":
        need(
            _clean(seller.registration),
            "BR-CO-26",
            "out of scope (O) invoices carry no VAT id, so the seller needs a registration (BT-30)",
        )
    if category in NEEDS_REASON:
        need(
            exemption_text(doc),
            f"BR-{_rule_prefix(category)}-10",
            f"category {category} needs an exemption reason (BT-120)",
        )
    elif _clean(doc.exemption_reason):
        out.append(
            Problem(
                f"BR-{_rule_prefix(category)}-10", f"category {category} must not have an exemption reason"
            )
        )
    if seller_vat and category != "O":
        out += filter(None, [_vat_problem("invoicing:vat-id", "seller", seller_vat)])
    if buyer_vat and category != "O":
        out += filter(None, [_vat_problem("invoicing:vat-id", "buyer", buyer_vat)])

    if profile is XRECHNUNG:
        out += _xrechnung_problems(doc)
    return out


def _rule_prefix(category: str) -> str:
    return {"K": "IC"}.get(category, category)


def _xrechnung_problems(doc: InvoiceDocument) -> list[Problem]:
    """The German CIUS's additions that the data decides (a subset of the KoSIT rules)."""
    seller = doc.seller
    out: list[Problem] = []
    own = postal_address(seller.address, seller.country)
    buyer = postal_address(doc.address, doc.country, doc.locale)
    for ok, rule, message in (
        (_clean(doc.buyer_reference), "BR-DE-15", "buyer reference (BT-10, the Leitweg-ID) is empty"),
        (_clean(seller.contact_name), "BR-DE-5", "seller contact point (BT-41) is empty"),
        (_clean(seller.phone), "BR-DE-6", "seller telephone (BT-42) is empty"),
        (_clean(seller.email), "BR-DE-7", "seller e-mail (BT-43) is empty"),
        (own.city, "BR-DE-3", "no 'postcode city' line in the seller address (BT-37)"),
        (own.postcode, "BR-DE-4", "no 'postcode city' line in the seller address (BT-38)"),
        (buyer.city, "BR-DE-8", "no 'postcode city' line in the buyer address (BT-52)"),
        (buyer.postcode, "BR-DE-9", "no 'postcode city' line in the buyer address (BT-53)"),
        (
            _seller_address(seller),
            "invoicing:xrechnung-bt34",
            "XRechnung needs the seller electronic address (BT-34)",
        ),
        (
            doc.buyer_electronic_address,
            "invoicing:xrechnung-bt49",
            "XRechnung needs the buyer electronic address (BT-49)",
        ),
    ):
        if not ok:
            out.append(Problem(rule, message))
    address = doc.buyer_electronic_address
    if address is not None and address.scheme == "0204":
        try:
            leitweg.validate(address.value)
        except ValidationError:
            out.append(Problem("invoicing:leitweg-id", f"{address.value!r} is not a valid Leitweg-ID"))
    return out


def _seller_address(seller: Seller) -> ElectronicAddress | None:
    if seller.electronic_address is not None:
        return seller.electronic_address
    email = _clean(seller.email)
    return ElectronicAddress(email, "EM") if email else None


# ---------------------------------------------------------------------- build

_NS = (
    'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" '
    'xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100" '
    'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"'
)
# Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, surrogates, FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _clean(value: object) -> str:
    """Text as the XML carries it: NFC, no characters XML forbids, single-line, trimmed."""
    if not value:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _NOT_XML.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def _x(value: object) -> str:
    return _clean(value).translate(_ESCAPES)


def _num(value: Decimal) -> str:
    """Fixed-point text of a Decimal (never 1E+2), without a negative zero."""
    text = f"{value:f}"
    return text[1:] if text.startswith("-") and not value else text


def _date(value: date) -> str:
    return f'<udt:DateTimeString format="102">{value:%Y%m%d}</udt:DateTimeString>'


def _address(out: list[str], address: PostalAddress) -> None:
    out.append("<ram:PostalTradeAddress>")
    if address.postcode:
        out.append(f"<ram:PostcodeCode>{_x(address.postcode)}</ram:PostcodeCode>")
    for tag, line in zip(("LineOne", "LineTwo", "LineThree"), address.lines, strict=False):
        out.append(f"<ram:{tag}>{_x(line)}</ram:{tag}>")
    if address.city:
        out.append(f"<ram:CityName>{_x(address.city)}</ram:CityName>")
    out.append(f"<ram:CountryID>{_x(address.country.upper())}</ram:CountryID></ram:PostalTradeAddress>")


def _uri(out: list[str], address: ElectronicAddress | None) -> None:
    if address is not None and _clean(address.value):
        out.append(
            f'<ram:URIUniversalCommunication><ram:URIID schemeID="{_x(address.scheme)}">'
            f"{_x(address.value)}</ram:URIID></ram:URIUniversalCommunication>"
        )


def _tax_registration(scheme: str, value: str) -> str:
    return (
        f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="{scheme}">{_x(value)}</ram:ID>'
        "</ram:SpecifiedTaxRegistration>"
    )


def _vat(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def _seller(out: list[str], doc: InvoiceDocument, category: str) -> None:
    seller = doc.seller
    out.append(f"<ram:SellerTradeParty><ram:Name>{_x(seller.name)}</ram:Name>")
    if _clean(seller.registration):
        out.append(
            f"<ram:SpecifiedLegalOrganization><ram:ID>{_x(seller.registration)}</ram:ID>"
            "</ram:SpecifiedLegalOrganization>"
        )
    contact, phone, email = _clean(seller.contact_name), _clean(seller.phone), _clean(seller.email)
    if contact or phone or email:
        out.append("<ram:DefinedTradeContact>")
        if contact:
            out.append(f"<ram:PersonName>{_x(contact)}</ram:PersonName>")
        if phone:
            out.append(
                f"<ram:TelephoneUniversalCommunication><ram:CompleteNumber>{_x(phone)}"
                "</ram:CompleteNumber></ram:TelephoneUniversalCommunication>"
            )
        if email:
            out.append(
                f"<ram:EmailURIUniversalCommunication><ram:URIID>{_x(email)}</ram:URIID>"
                "</ram:EmailURIUniversalCommunication>"
            )
        out.append("</ram:DefinedTradeContact>")
    _address(out, postal_address(seller.address, seller.country))
    _uri(out, _seller_address(seller))
    vat_id = _vat(_clean(seller.vat_id)) if category != "O" else ""  # BR-O-02
    if vat_id:
        out.append(_tax_registration("VA", vat_id))
    tax_number = _clean(seller.tax_id)
    if tax_number and _vat(tax_number) != _vat(_clean(seller.vat_id)):  # BT-32, a tax number
        out.append(_tax_registration("FC", tax_number))
    out.append("</ram:SellerTradeParty>")


def _buyer(out: list[str], doc: InvoiceDocument, category: str) -> None:
    company, person = _clean(doc.buyer_company), _clean(doc.name)
    out.append("<ram:BuyerTradeParty>")
    if _clean(doc.account):
        out.append(f"<ram:ID>{_x(doc.account)}</ram:ID>")
    out.append(f"<ram:Name>{_x(company or person)}</ram:Name>")
    if company and person:
        out.append(
            f"<ram:DefinedTradeContact><ram:PersonName>{_x(person)}</ram:PersonName></ram:DefinedTradeContact>"
        )
    _address(out, postal_address(doc.address, doc.country, doc.locale))
    _uri(out, doc.buyer_electronic_address)
    buyer_vat = _vat(_clean(doc.buyer_vat_id)) if category != "O" else ""
    if buyer_vat:
        out.append(_tax_registration("VA", buyer_vat))
    out.append("</ram:BuyerTradeParty>")


def _line_tax(category: str, rate: Decimal) -> str:
    rate_xml = (
        "" if category == "O" else f"<ram:RateApplicablePercent>{_num(rate)}</ram:RateApplicablePercent>"
    )
    return (
        "<ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode>"
        f"<ram:CategoryCode>{category}</ram:CategoryCode>{rate_xml}</ram:ApplicableTradeTax>"
    )


def _lines(out: list[str], doc: InvoiceDocument, category: str) -> None:
    tax = _line_tax(category, doc.tax_rate)
    for i, line in enumerate(doc.lines, 1):
        quantity, price = line.quantity, line.unit_price
        if price < 0:  # BR-27: the price is never negative, the quantity may be
            quantity, price = -quantity, -price
        out.append(
            f"<ram:IncludedSupplyChainTradeLineItem>"
            f"<ram:AssociatedDocumentLineDocument><ram:LineID>{i}</ram:LineID></ram:AssociatedDocumentLineDocument>"
            f"<ram:SpecifiedTradeProduct><ram:Name>{_x(line.description)}</ram:Name></ram:SpecifiedTradeProduct>"
            f"<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{_num(price)}"
            f"</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
            f'<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">{_num(quantity)}'
            f"</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>"
            f"<ram:SpecifiedLineTradeSettlement>{tax}<ram:SpecifiedTradeSettlementLineMonetarySummation>"
            f"<ram:LineTotalAmount>{_num(line.amount)}</ram:LineTotalAmount>"
            f"</ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement>"
            f"</ram:IncludedSupplyChainTradeLineItem>"
        )


def _settlement(out: list[str], doc: InvoiceDocument, category: str) -> None:
    seller, currency = doc.seller, _x(doc.currency.upper())
    credit_note = doc.document_type == CREDIT_NOTE
    out.append("<ram:ApplicableHeaderTradeSettlement>")
    if not credit_note:
        out.append(f"<ram:PaymentReference>{_x(doc.number)}</ram:PaymentReference>")
    out.append(f"<ram:InvoiceCurrencyCode>{currency}</ram:InvoiceCurrencyCode>")
    iban = "".join(_clean(seller.iban).split()).upper()
    if iban and not credit_note:
        out.append(
            "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
            f"<ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{_x(iban)}</ram:IBANID>"
            "</ram:PayeePartyCreditorFinancialAccount>"
        )
        if _clean(seller.bic):
            out.append(
                f"<ram:PayeeSpecifiedCreditorFinancialInstitution><ram:BICID>{_x(seller.bic)}</ram:BICID>"
                "</ram:PayeeSpecifiedCreditorFinancialInstitution>"
            )
        out.append("</ram:SpecifiedTradeSettlementPaymentMeans>")
    else:
        out.append(
            "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>1</ram:TypeCode></ram:SpecifiedTradeSettlementPaymentMeans>"
        )
    reason, code = exemption_text(doc), exemption_code(category)
    out.append(
        f"<ram:ApplicableTradeTax><ram:CalculatedAmount>{_num(doc.tax)}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode>"
    )
    if reason:
        out.append(f"<ram:ExemptionReason>{_x(reason)}</ram:ExemptionReason>")
    out.append(
        f"<ram:BasisAmount>{_num(doc.subtotal)}</ram:BasisAmount><ram:CategoryCode>{category}</ram:CategoryCode>"
    )
    if code:
        out.append(f"<ram:ExemptionReasonCode>{code}</ram:ExemptionReasonCode>")
    if category != "O":
        out.append(f"<ram:RateApplicablePercent>{_num(doc.tax_rate)}</ram:RateApplicablePercent>")
    out.append("</ram:ApplicableTradeTax>")
    out.append(
        f"<ram:BillingSpecifiedPeriod><ram:StartDateTime>{_date(doc.period_start)}</ram:StartDateTime>"
        f"<ram:EndDateTime>{_date(doc.period_end)}</ram:EndDateTime></ram:BillingSpecifiedPeriod>"
        f"<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>{_date(doc.due_date)}</ram:DueDateDateTime>"
        "</ram:SpecifiedTradePaymentTerms>"
        "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        f"<ram:LineTotalAmount>{_num(doc.subtotal)}</ram:LineTotalAmount>"
        f"<ram:TaxBasisTotalAmount>{_num(doc.subtotal)}</ram:TaxBasisTotalAmount>"
        f'<ram:TaxTotalAmount currencyID="{currency}">{_num(doc.tax)}</ram:TaxTotalAmount>'
        f"<ram:GrandTotalAmount>{_num(doc.total)}</ram:GrandTotalAmount>"
        f"<ram:DuePayableAmount>{_num(doc.total)}</ram:DuePayableAmount>"
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
    )
    preceding = doc.preceding_invoice
    if preceding is not None and _clean(preceding.number):
        out.append(
            f"<ram:InvoiceReferencedDocument><ram:IssuerAssignedID>{_x(preceding.number)}</ram:IssuerAssignedID>"
        )
        if preceding.issue_date is not None:
            out.append(
                f'<ram:FormattedIssueDateTime><qdt:DateTimeString format="102">{preceding.issue_date:%Y%m%d}'
                "</qdt:DateTimeString></ram:FormattedIssueDateTime>"
            )
        out.append("</ram:InvoiceReferencedDocument>")
    out.append("</ram:ApplicableHeaderTradeSettlement>")


def build_xml(doc: InvoiceDocument, profile: Profile | None = None, *, strict: bool = True) -> bytes:
    """The CII XML of ``doc`` (UTF-8 bytes) under ``profile`` (default: the document's).

    Raises EInvoiceError when ``strict`` and `check_document` finds problems.
    """
    profile = profile or profile_for(doc) or FACTURX
    if strict:
        problems = check_document(doc, profile)
        if problems:
            raise EInvoiceError(f"cannot make a {profile.name} e-invoice: " + "; ".join(map(str, problems)))
    category = tax_category(doc)
    out = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rsm:CrossIndustryInvoice {_NS}>',
        "<rsm:ExchangedDocumentContext>",
    ]
    if profile.business_process:
        out.append(
            "<ram:BusinessProcessSpecifiedDocumentContextParameter>"
            f"<ram:ID>{profile.business_process}</ram:ID></ram:BusinessProcessSpecifiedDocumentContextParameter>"
        )
    out.append(
        f"<ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{profile.guideline}</ram:ID>"
        "</ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>"
        f"<rsm:ExchangedDocument><ram:ID>{_x(doc.number)}</ram:ID><ram:TypeCode>{_x(doc.document_type)}</ram:TypeCode>"
        f"<ram:IssueDateTime>{_date(doc.issue_date)}</ram:IssueDateTime></rsm:ExchangedDocument>"
        "<rsm:SupplyChainTradeTransaction>"
    )
    _lines(out, doc, category)
    out.append("<ram:ApplicableHeaderTradeAgreement>")
    if _clean(doc.buyer_reference):
        out.append(f"<ram:BuyerReference>{_x(doc.buyer_reference)}</ram:BuyerReference>")
    _seller(out, doc, category)
    _buyer(out, doc, category)
    # The deliver-to country (BT-80): where the buyer is. K requires it (BR-IC-12), and
    # the delivery group may not be empty (PEPPOL-EN16931-R008 in the Factur-X rules).
    out.append(
        "</ram:ApplicableHeaderTradeAgreement><ram:ApplicableHeaderTradeDelivery>"
        f"<ram:ShipToTradeParty><ram:PostalTradeAddress><ram:CountryID>{_x(doc.country.upper())}"
        "</ram:CountryID></ram:PostalTradeAddress></ram:ShipToTradeParty></ram:ApplicableHeaderTradeDelivery>"
    )
    _settlement(out, doc, category)
    out.append("</rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>\n")
    return "".join(out).encode("utf-8")


def einvoice_for(doc: InvoiceDocument, *, strict: bool = True) -> EInvoice | None:
    """The e-invoice the document asks for (``doc.einvoice``), or None for a plain PDF."""
    profile = profile_for(doc)
    if profile is None:
        return None
    return EInvoice(profile, build_xml(doc, profile, strict=strict), doc.issue_date)
