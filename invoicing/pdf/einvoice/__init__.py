"""E-invoices (EN 16931): CII XML for Factur-X / XRechnung, and the hybrid PDF/A-3 file.

``render_einvoice(doc)`` is what a billing run calls: the rendered invoice, made hybrid
when ``doc.einvoice`` asks for it. `cii` builds the XML (`profiles` is its vocabulary,
`checks` the pre-flight, `address` the postal addresses), `pdfa` turns reportlab's PDF
into PDF/A-3b carrying it, `validate` checks either with the official rules (import it
explicitly: it loads Saxon), `official` says where those rules are.
"""

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.einvoice.cii import (
    FACTURX,
    XRECHNUNG,
    EInvoice,
    EInvoiceError,
    Problem,
    Profile,
    build_xml,
    check_document,
    default_exemption_reason,
    einvoice_for,
    en16931_figures,
    exemption_text,
    tax_category,
)

if TYPE_CHECKING:
    from invoicing.pdf.einvoice.pdfa import PdfAError, make_hybrid

__all__ = [
    "FACTURX",
    "XRECHNUNG",
    "EInvoice",
    "EInvoiceError",
    "PdfAError",
    "Problem",
    "Profile",
    "build_xml",
    "check_document",
    "default_exemption_reason",
    "einvoice_for",
    "en16931_figures",
    "exemption_text",
    "make_hybrid",
    "render_einvoice",
    "tax_category",
]


def render_einvoice(doc: InvoiceDocument) -> bytes:
    """The invoice's PDF: hybrid PDF/A-3b with its XML when ``doc.einvoice`` is set.

    The XML is built (and checked) before rendering, so a document that cannot be a
    valid e-invoice costs no render. The page prints the document's figures as they
    are; a credit note printed negative is encoded positive (`cii.en16931_figures`).
    Raises RenderError (EInvoiceError) for bad data.
    """
    # Imported here: the layout will want `exemption_text` from this package, and the
    # renderer imports the layout; a module-level import would make that a cycle.
    from invoicing.pdf.render import render_invoice

    einvoice = einvoice_for(doc)
    pdf = render_invoice(doc)
    return pdf if einvoice is None else _pdfa().make_hybrid(pdf, einvoice)


def _pdfa() -> ModuleType:
    return import_module("invoicing.pdf.einvoice.pdfa")


def __getattr__(name: str) -> object:
    # pikepdf (the PDF/A-3 update) loads when a hybrid is made, not with the checks and
    # the XML every command that reads an invoice imports.
    if name in ("PdfAError", "make_hybrid"):
        value = getattr(_pdfa(), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
