"""Render one `InvoiceDocument` to PDF bytes.

Pure function of the document: no clock, no database, no Celery. The same document
always gives the same bytes, in any process and with any hash seed: reportlab writes
it with `invariant=1`, the creation date is the issue date, the trailer /ID a digest
of the invoice's identity (reportlab's signature, given it), and what is embedded of
each face depends only on the glyphs drawn (embed.py). The billing run records each
file's sha256 and the merge trusts pre-linked fragments by it, so this matters.

The steps: check the data (RenderError for what no retry will fix), lay the invoice out
on pages in the subscriber's language (layout.py, translate.py), draw the pages on
reportlab's canvas (page.py: the text as HarfBuzz's glyph runs in reportlab fonts of
the bundled faces, glyph_font.py), and let reportlab's PDFDocument write the file:
every object, the cross-reference table, the trailer, the information dictionary.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from reportlab import rl_config
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf import fonts
from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.errors import RenderError
from invoicing.pdf.fonts import REGULAR
from invoicing.pdf.format import formatter
from invoicing.pdf.fragments import Fragment
from invoicing.pdf.glyph_font import glyph_font, glyphs_beyond_base
from invoicing.pdf.layout import MAX_NAME, MAX_SHORT, PAGE_H, PAGE_W, lay_out
from invoicing.pdf.logo import xobject_name
from invoicing.pdf.own_fragment import own_fragment
from invoicing.pdf.page import Page
from invoicing.pdf.preformat import preformat_document, preformat_page
from invoicing.pdf.text import clean_text
from invoicing.pdf.translate import translator

__all__ = ["RenderError", "render_invoice", "render_prelinked", "warm_up"]

# Content streams deflated only: reportlab's default also wraps them in ASCII85, which
# makes them a quarter larger for nothing a binary-safe file needs.
rl_config.useA85 = 0


def render_invoice(doc: InvoiceDocument) -> bytes:
    """Render ``doc`` to PDF bytes. Raises RenderError for bad data."""
    return _render(doc)[0].getvalue()


def render_prelinked(doc: InvoiceDocument) -> tuple[bytes, Fragment]:
    """Render ``doc``; the PDF bytes, and the merge fragment of exactly those bytes, made
    from the objects reportlab just wrote (own_fragment.py) rather than by parsing the
    file."""
    out, canvas, pages = _render(doc)
    pdf, written = out.getvalue(), canvas._doc
    logos = {xobject_name(written, logo): logo for page in pages for logo, *_ in page.images}
    return pdf, own_fragment(written, pdf, glyphs_beyond_base(written), logos)


def _render(doc: InvoiceDocument) -> tuple[io.BytesIO, Canvas, list[Page]]:
    """The file, the canvas it was drawn on (its document says what was written) and
    the pages laid out."""
    fmt = formatter(doc)
    _validate(doc)
    words = translator(doc.locale)
    pages = lay_out(doc, fmt, words)

    out = io.BytesIO()
    # The base face is the canvas's first font: reportlab's default, Helvetica, would be
    # embedded unused (a dynamic font is selected only where it draws).
    canvas = Canvas(
        out,
        pagesize=(PAGE_W, PAGE_H),
        invariant=1,
        pageCompression=1,
        initialFontName=glyph_font(fonts.base(REGULAR)).fontName,
    )
    mirror = PAGE_W if words.rtl else None
    written = canvas._doc
    preformat_document(written)
    for page in pages:
        page.draw(canvas, mirror)
        canvas.showPage()
        # No "/Rotate 0" and empty "/Trans" in every page (reportlab's PDFPage: "all PDF
        # attributes can be set explicitly"): 24 bytes a page of a merged file.
        made = written.idToObject[f"Page{written.pageCounter - 1}"]
        made.Rotate = made.Trans = None
        preformat_page(made)
    period = f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"
    if doc.document_type == "381":
        subject = words.gettext("Credit note for {period}")
    else:
        subject = words.gettext("Invoice for {period}")
    canvas.setTitle(clean_text(doc.number, MAX_SHORT))
    canvas.setAuthor(clean_text(doc.seller.name, MAX_NAME))
    canvas.setSubject(subject.format(period=period))
    canvas.setCreator("invoicing")
    moment = f"D:{doc.issue_date:%Y%m%d}000000+00'00'"
    canvas.setDateFormatter(lambda *_: moment)
    # The trailer /ID: reportlab's digest of the document, given the invoice's identity
    # (never the clock: invariant).
    written.updateSignature("\x1f".join(("invoicing", doc.number, doc.account, doc.issue_date.isoformat())))
    canvas.save()
    return out, canvas, pages


def _check_decimal(label: str, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RenderError(f"{label} is not a finite Decimal: {value!r}")


def _validate(doc: InvoiceDocument) -> None:
    for label in ("subtotal", "tax_rate", "tax", "total"):
        _check_decimal(label, getattr(doc, label))
    for i, line in enumerate(doc.lines, 1):
        for label in ("quantity", "unit_price", "amount"):
            _check_decimal(f"line {i} {label}", getattr(line, label))
    for label in ("issue_date", "due_date", "period_start", "period_end"):
        if not isinstance(getattr(doc, label), date):
            raise RenderError(f"{label} is not a date: {getattr(doc, label)!r}")


def warm_up(seller: Seller) -> int:
    """Render one sample invoice in every bundled language, and throw them away: its
    labels, the seller's block, the catalogs, the locales' data and the glyph sets are
    then made. Called in a prefork worker's parent before it forks (celery.py), so that
    every child starts with them made; returns the number of invoices rendered."""
    from invoicing.pdf.translate import languages

    day = date(2026, 1, 31)
    line = InvoiceLine("Sample", Decimal("1"), Decimal("10.00"), Decimal("10.00"))
    rendered = 0
    for language in ["en", *languages()]:
        doc = InvoiceDocument(
            number="INV-0000-00-000000",
            issue_date=day,
            due_date=day,
            period_start=day,
            period_end=day,
            account="SAMPLE",
            name="Sample",
            address=("Sample",),
            country="",
            locale=language,
            currency="EUR",
            lines=(line,),
            subtotal=Decimal("10.00"),
            tax_rate=Decimal("0"),
            tax=Decimal("0.00"),
            total=Decimal("10.00"),
            seller=seller,
        )
        render_invoice(doc)
        rendered += 1
    return rendered
