"""E-invoices as a receiver reads them: the XML out of a PDF with pypdf, its figures as
Decimals, the PDF/A-3 markers with pikepdf; and the B2B fixtures with the seller settings
they need."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pikepdf
from dotenv import dotenv_values
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, StreamObject

from invoicing.billing.money import round_money
from invoicing.pdf.documents import ElectronicAddress, InvoiceDocument, InvoiceLine, PrecedingInvoice, Seller
from tests.support.envs import Env
from tests.support.factories import FIXTURES, SELLER, initialized, invoice
from tests.support.paths import ROOT

# Four business customers, each with an e-invoice (see fixtures/README.md).
B2B = ROOT / "fixtures" / "b2b.json"
SELLER_ENV = ROOT / "fixtures" / "b2b.env"
B2B_ACCOUNTS = ("B-0001", "B-0002", "B-0003", "B-0004")

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS = {"ram": RAM, "rsm": RSM}
FX = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"


def seller_settings() -> dict[str, str]:
    """A complete seller with its e-invoice settings, as fixtures/b2b.env gives them."""
    return {k: v for k, v in dotenv_values(SELLER_ENV).items() if v is not None}


def with_seller(env: Env) -> Env:
    """`env` with the seller's e-invoice settings exported, as the README says to."""
    env.vars.update(seller_settings())
    return env


def seed_b2b(env: Env, *files: Path) -> None:
    """A database with the bundled fixtures and the B2B ones, by the real commands."""
    initialized(env)
    env.cli("import", str(FIXTURES), str(B2B), *map(str, files), check=True)


def embedded_xml(pdf: bytes | Path) -> tuple[str, bytes]:
    """The PDF's one embedded file (name, contents), read with pypdf."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    attachments = PdfReader(io.BytesIO(data)).attachments
    assert len(attachments) == 1, sorted(attachments)
    ((name, contents),) = attachments.items()
    assert len(contents) == 1
    return name, contents[0]


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=NS)]


def xml_figures(xml: bytes) -> dict[str, Any]:
    """The XML's amounts as Decimals: the totals, the VAT breakdown and each line's amount."""
    tree = etree.fromstring(xml)

    def one(path: str) -> Decimal:
        (text,) = tree.xpath(path + "/text()", namespaces=NS)
        return Decimal(text)

    totals = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    breakdown = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    return {
        "lines": [
            Decimal(t)
            for t in tree.xpath(
                "//ram:SpecifiedLineTradeSettlement//ram:LineTotalAmount/text()", namespaces=NS
            )
        ],
        "line_total": one(totals + "LineTotalAmount"),
        "tax_basis": one(totals + "TaxBasisTotalAmount"),
        "tax": one(totals + "TaxTotalAmount"),
        "grand_total": one(totals + "GrandTotalAmount"),
        "due": one(totals + "DuePayableAmount"),
        "breakdown_basis": one(breakdown + "BasisAmount"),
        "breakdown_tax": one(breakdown + "CalculatedAmount"),
        "type": tree.xpath(
            "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode/text()", namespaces=NS
        )[0],
    }


def assert_figures_are_the_rows(xml: bytes, invoice: Any, sign: int = 1) -> None:
    """The XML's amounts are the invoice row's Decimal values (negated for a credit note,
    `sign=-1`, which prints them negative and encodes them positive)."""
    figures = xml_figures(xml)
    subtotal, tax, total = (sign * invoice.subtotal, sign * invoice.tax, sign * invoice.total)
    assert figures["line_total"] == figures["tax_basis"] == figures["breakdown_basis"] == subtotal
    assert figures["tax"] == figures["breakdown_tax"] == tax
    assert figures["grand_total"] == figures["due"] == total
    assert figures["lines"] == [sign * line.amount for line in invoice.lines]


def assert_pdfa3_markers(pdf: Path, filename: str, conformance: str) -> None:
    """XMP declaring PDF/A-3b and the Factur-X schema, an sRGB OutputIntent, the XML as
    the document's associated file (/AF, /AFRelationship /Alternative), a trailer /ID,
    every font embedded."""
    with pikepdf.open(pdf) as doc:
        meta = doc.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
        assert meta.get(f"{FX}DocumentFileName") == filename
        assert meta.get(f"{FX}ConformanceLevel") == conformance
        (intent,) = doc.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
        (spec,) = doc.Root.AF
        assert str(spec.UF) == filename and spec.AFRelationship == "/Alternative"
        assert spec.EF.F.Subtype == "/text/xml"
        assert len(doc.trailer.ID) == 2
        for page in doc.pages:
            for font in page.Resources.Font.values():
                descendant = font.DescendantFonts[0] if "/DescendantFonts" in font else font
                descriptor = descendant.FontDescriptor
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font


def assert_print_copy(path: Path) -> None:
    """A merged file carries no e-invoice: no associated or embedded files, no XML, no
    PDF/A claim (no XMP, no OutputIntent): it is a print copy."""
    reader = PdfReader(path)
    assert reader.attachments == {}
    root = reader.trailer["/Root"]
    assert "/AF" not in root and "/Metadata" not in root and "/OutputIntents" not in root  # no PDF/A claim
    assert "/EmbeddedFiles" not in root.get("/Names", {})
    for generation in reader.xref.values():
        for number in generation:
            obj = reader.get_object(number)
            if isinstance(obj, DictionaryObject):
                assert obj.get("/Type") not in ("/EmbeddedFile", "/Filespec"), number
                assert "/AF" not in obj and "/EF" not in obj, number
            if isinstance(obj, StreamObject):
                assert b"CrossIndustryInvoice" not in obj.get_data(), number


def cii_xml() -> bytes:
    """The CII XML of the factories' invoice, as the project builds it (without the
    pre-flight: its seller has no e-invoice identifiers), for a test to tamper with."""
    from invoicing.pdf.einvoice.cii import FACTURX, build_xml, en16931_figures

    return build_xml(en16931_figures(invoice()), FACTURX, strict=False)


def hybrid_carrying(xml: bytes) -> bytes:
    """A hybrid PDF/A-3 made by the project's own path (the renderer, then `make_hybrid`)
    around `xml` as its factur-x.xml: a file as one could receive it, whatever its XML."""
    from invoicing.pdf import render_invoice
    from invoicing.pdf.einvoice import make_hybrid
    from invoicing.pdf.einvoice.cii import FACTURX
    from invoicing.pdf.einvoice.profiles import EInvoice

    doc = invoice()
    return make_hybrid(render_invoice(doc), EInvoice(FACTURX, xml, doc.issue_date))


# ---------------------------------------------------------------- e-invoice documents

SELLER_DE = replace(
    SELLER,
    vat_id="DE123456788",
    tax_id="22/815/08154",  # the Hamburg tax office number (BT-32), next to the VAT id
    country="DE",
    registration="HRB 123456",
    contact_name="Billing team",
    phone="+49 40 1234567",
    electronic_address=ElectronicAddress("billing@nordlicht.example", "EM"),
)
LEITWEG_ID = "02011000-12345-33"


def priced(description: str, quantity: str, unit_price: str, currency: str = "EUR") -> InvoiceLine:
    """A line as billing makes it: the amount rounded once, half up."""
    q, p = Decimal(quantity), Decimal(unit_price)
    return InvoiceLine(description, q, p, round_money(q * p, currency))


def einvoice(
    lines: tuple[InvoiceLine, ...] = (priced("Business Fibre 500 — monthly fee", "1", "49.90"),),
    *,
    seller: Seller = SELLER_DE,
    **fields: Any,
) -> InvoiceDocument:
    """The factories' invoice as a Factur-X e-invoice of a seller with every identifier."""
    values: dict[str, Any] = {"account": "ACC-0042", "name": "Jürgen Müller", "einvoice": "factur-x"}
    return invoice(lines=lines, seller=seller, **{**values, **fields})


def german_company() -> InvoiceDocument:
    return einvoice(
        buyer_company="Müller & Söhne GmbH",
        buyer_vat_id="DE987654328",
        address=("Lindenallee 5", "Hinterhaus", "10115 Berlin", "Deutschland"),
    )


def french_company() -> InvoiceDocument:
    return einvoice(
        (
            priced("Fibre Pro 1 Gbit/s — abonnement mensuel", "1", "59.00"),
            priced("Appels vers mobiles", "214", "0.0300"),
        ),
        tax_rate="20",
        name="Camille Lefèvre",
        buyer_company="Atelier Lefèvre SARL",
        buyer_vat_id="FR11123456782",
        address=("12 rue de la Paix", "75002 Paris", "France"),
        country="FR",
        locale="fr_FR",
    )


def austrian_reverse_charge() -> InvoiceDocument:
    return einvoice(
        (priced("Wholesale transit, October", "1", "1250.00"), priced("Cross-connect", "2", "85.00")),
        tax_rate="0",
        tax_category="AE",
        exemption_reason="Reverse Charge: Steuerschuldnerschaft des Leistungsempfängers, Art. 196 MwStSystRL",
        name="Anna Gruber",
        buyer_company="Alpenfunk GmbH",
        buyer_vat_id="ATU12345675",
        address=("Mariahilfer Straße 1", "A-1060 Wien", "Österreich"),
        country="AT",
        locale="de_AT",
    )


def german_public_buyer() -> InvoiceDocument:
    return einvoice(
        (priced("Behördennetz — Anschluss", "3", "129.00"), priced("Rufnummernblock", "1", "15.00")),
        name="Referat IT-Beschaffung",
        buyer_company="Bezirksamt Hamburg-Mitte",
        buyer_reference=LEITWEG_ID,
        buyer_electronic_address=ElectronicAddress(LEITWEG_ID, "0204"),
        address=("Caffamacherreihe 1-3", "20355 Hamburg"),
        einvoice="xrechnung",
    )


def credit_note() -> InvoiceDocument:
    return einvoice(
        (priced("Credit: outage 3–5 October, pro rata", "3", "1.61"),),
        number="CN-2026-11-000007",
        document_type="381",
        preceding_invoice=PrecedingInvoice("INV-2026-10-000042", date(2026, 11, 1)),
        buyer_company="Müller & Söhne GmbH",
        buyer_vat_id="DE987654328",
    )


def rounding_edges() -> InvoiceDocument:
    return einvoice(
        (
            priced("Plan Basic 100", "1", "9.90"),
            priced("Calls, per minute", "137", "0.0250"),  # 3.425 -> 3.43
            priced("Metered data, per MB", "1234", "0.0025"),  # 3.085 -> 3.09
            priced("SMS", "3", "0.335"),  # 1.005 -> 1.01
            priced("Fractional hours", "2.5", "33.333"),  # 83.3325 -> 83.33
            priced("Goodwill correction", "1", "-2.50"),  # negative price: sign moves to quantity
            priced("Returned SIM deposit", "-1", "5.00"),
            priced("Free trial line", "1", "0.00"),
        ),
        tax_rate="19",  # tax 0.19 * 96.26 = 18.2894 -> 18.29
    )


def long_invoice() -> InvoiceDocument:
    calls = tuple(
        priced(f"Call to +49 30 {n:07d}, {n % 60 + 1} min", "1", f"0.{n % 90 + 10}") for n in range(90)
    )
    return einvoice(
        (priced("Business Fibre 500 — monthly fee", "1", "49.90"), *calls), number="INV-2026-10-000099"
    )


CASES: dict[str, Callable[[], InvoiceDocument]] = {
    "de-company-S-19": german_company,
    "fr-company-S-20": french_company,
    "at-reverse-charge-AE": austrian_reverse_charge,
    "de-public-xrechnung": german_public_buyer,
    "credit-note-381": credit_note,
    "multi-line-rounding": rounding_edges,
    "multi-page": long_invoice,
}
