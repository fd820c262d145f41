"""An `InvoiceDocument` as EN 16931 CII XML: Factur-X (profile EN 16931) or XRechnung.

One builder, two profiles. Both are UN/CEFACT Cross Industry Invoice D16B documents
that differ only in the specification identifier (BT-24), the business process (BT-23,
XRechnung only) and in what the German CIUS requires on top of EN 16931 (buyer
reference, seller contact, postcodes and cities, electronic addresses).

The package: `profiles` (the vocabulary: profiles, VAT categories, exemption reasons),
`address` (printed lines as a postal address), `checks` (the pre-flight), this module
(the XML), `pdfa` (the hybrid PDF), `validate` (the official rules), `official` (where
those rules are).

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
    be a debit). Billing issues credit notes with negative amounts, which is what their
    page prints; `einvoice_for` encodes such a one with every sign flipped
    (`en16931_figures`), an explicit, documented convention: the XML's figures are the
    page's, negated. `build_xml` itself refuses a 381 whose total is negative. A single
    line may still be negative. BT-25/BT-26 name the corrected invoice.

Negative lines
    EN 16931 forbids a negative item net price (BR-27). A line with a negative unit
    price is written with the sign on the quantity instead (-q x p = q x -p); the line
    amount is unchanged.

Parties
    Seller: name BT-27, registration BT-30 (``registration``), VAT id BT-31
    (``vat_id``), tax number BT-32 (``tax_id`` when it differs from the VAT id), contact
    BT-41..43 (``contact_name``, ``phone``, ``email``), electronic address BT-34
    (``electronic_address``, else the email with scheme EM). Buyer: identifier BT-46
    (the account), name BT-44 (``buyer_company``, else ``name``), contact BT-56 (``name``
    when there is a company), VAT id BT-48, electronic address BT-49. Addresses: see
    `address`.

Payment
    SEPA credit transfer (code 58) to the seller's IBAN/BIC with the invoice number as
    remittance information (BT-83) and the due date (BT-9). A credit note has nothing to
    transfer to the seller: its payment means is code 1 (instrument not defined), which
    keeps BG-16 present as XRechnung requires (BR-DE-1).

Strictness
    `build_xml` refuses, with `EInvoiceError`, a document that `check_document` finds
    wrong (missing VAT ids, money rule broken, XRechnung fields missing...): the error
    names the EN 16931 rules ("EN 16931 (factur-x): BR-CO-15: ..."). ``strict=False``
    encodes whatever it is given: that is how the tests show the official Schematron
    catching the same mistakes.

The XML is built as a string (no DOM): about 0.1 ms for a typical invoice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from stdnum import iban as stdnum_iban

from invoicing.identifiers import compact_vat
from invoicing.pdf.documents import ElectronicAddress, InvoiceDocument
from invoicing.pdf.einvoice.address import PostalAddress, postal_address
from invoicing.pdf.einvoice.checks import check_document, seller_address
from invoicing.pdf.einvoice.profiles import (
    CREDIT_NOTE,
    FACTURX,
    PROFILES,
    XRECHNUNG,
    EInvoice,
    EInvoiceError,
    Problem,
    Profile,
    clean,
    default_exemption_reason,
    exemption_code,
    exemption_text,
    profile_for,
    tax_category,
)

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
    "default_exemption_reason",
    "einvoice_for",
    "en16931_figures",
    "exemption_code",
    "exemption_text",
    "postal_address",
    "profile_for",
    "tax_category",
]

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_NS = (
    'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" '
    'xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100" '
    'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"'
)


def _x(value: object) -> str:
    return clean(value).translate(_ESCAPES)


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
    if address is not None and clean(address.value):
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
    return compact_vat(value)


def _seller(out: list[str], doc: InvoiceDocument, category: str) -> None:
    seller = doc.seller
    out.append(f"<ram:SellerTradeParty><ram:Name>{_x(seller.name)}</ram:Name>")
    if clean(seller.registration):
        out.append(
            f"<ram:SpecifiedLegalOrganization><ram:ID>{_x(seller.registration)}</ram:ID>"
            "</ram:SpecifiedLegalOrganization>"
        )
    contact, phone, email = clean(seller.contact_name), clean(seller.phone), clean(seller.email)
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
    _uri(out, seller_address(seller))
    vat_id = _vat(clean(seller.vat_id)) if category != "O" else ""  # BR-O-02
    if vat_id:
        out.append(_tax_registration("VA", vat_id))
    tax_number = clean(seller.tax_id)
    if tax_number and _vat(tax_number) != _vat(clean(seller.vat_id)):  # BT-32, a tax number
        out.append(_tax_registration("FC", tax_number))
    out.append("</ram:SellerTradeParty>")


def _buyer(out: list[str], doc: InvoiceDocument, category: str) -> None:
    company, person = clean(doc.buyer_company), clean(doc.name)
    out.append("<ram:BuyerTradeParty>")
    if clean(doc.account):
        out.append(f"<ram:ID>{_x(doc.account)}</ram:ID>")
    out.append(f"<ram:Name>{_x(company or person)}</ram:Name>")
    if company and person:
        out.append(
            f"<ram:DefinedTradeContact><ram:PersonName>{_x(person)}</ram:PersonName></ram:DefinedTradeContact>"
        )
    _address(out, postal_address(doc.address, doc.country, doc.locale))
    _uri(out, doc.buyer_electronic_address)
    buyer_vat = _vat(clean(doc.buyer_vat_id)) if category != "O" else ""
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
    iban = "".join(stdnum_iban.compact(clean(seller.iban)).split())
    if iban and not credit_note:
        out.append(
            "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
            f"<ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{_x(iban)}</ram:IBANID>"
            "</ram:PayeePartyCreditorFinancialAccount>"
        )
        if clean(seller.bic):
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
    if preceding is not None and clean(preceding.number):
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
            raise EInvoiceError(f"EN 16931 ({profile.name}): " + "; ".join(map(str, problems)))
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
    if clean(doc.buyer_reference):
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


def en16931_figures(doc: InvoiceDocument) -> InvoiceDocument:
    """The document with its figures signed as EN 16931 wants them.

    Billing issues a credit note with negative amounts, and its page prints them so:
    money going back. A 381 carries them positive, the type code saying which way the
    money goes. So a 381 whose total is negative comes back with every amount's sign
    flipped; each line keeps its price and flips its quantity, so quantity x price is
    still its amount, and the money rule (lines, subtotal, tax, total) still holds
    exactly. Anything else comes back as it is. The XML's figures are then the
    page's, each with its sign flipped, from the same Decimal values.
    """
    if doc.document_type != CREDIT_NOTE or not isinstance(doc.total, Decimal) or not doc.total < 0:
        return doc
    lines = tuple(replace(line, quantity=-line.quantity, amount=-line.amount) for line in doc.lines)
    return replace(doc, lines=lines, subtotal=-doc.subtotal, tax=-doc.tax, total=-doc.total)


def einvoice_for(doc: InvoiceDocument, *, strict: bool = True) -> EInvoice | None:
    """The e-invoice the document asks for (``doc.einvoice``), or None for a plain PDF.

    A credit note printed with negative amounts is encoded with positive ones
    (`en16931_figures`); `build_xml` itself refuses a negative 381.
    """
    profile = profile_for(doc)
    if profile is None:
        return None
    return EInvoice(profile, build_xml(en16931_figures(doc), profile, strict=strict), doc.issue_date)
