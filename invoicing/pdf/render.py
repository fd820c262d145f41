"""Render one `InvoiceDocument` to PDF bytes with reportlab.

Pure function of the document: no clock, no database, no Celery. The same document
always gives the same bytes, in any process and with any hash seed: reportlab runs in
invariant mode, the creation date is the issue date, the trailer /ID a digest of the
invoice's identity, and what is embedded of each face depends only on the glyphs drawn
(embed.py).
The billing run records each file's sha256 and the merge trusts pre-linked fragments by
it, so this matters.

The steps: check the data (RenderError for what no retry will fix), lay the invoice out
on pages (layout.py, a small layout of its own on a reportlab canvas, not platypus),
then paint the pages (page.py writes their content streams), and embed the glyphs they
drew. reportlab's canvas provides the document around them: pages, resources, images,
metadata, the file itself; it never sees the text.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.embed import FontUse, font_objects
from invoicing.pdf.errors import RenderError
from invoicing.pdf.format import formatter
from invoicing.pdf.layout import MAX_NAME, MAX_SHORT, PAGE_W, lay_out
from invoicing.pdf.objects import Template, deflated_stream
from invoicing.pdf.text import clean_text
from invoicing.pdf.translate import translator

__all__ = ["RenderError", "render_invoice"]


def render_invoice(doc: InvoiceDocument) -> bytes:
    """Render ``doc`` to PDF bytes. Raises RenderError for bad data."""
    fmt = formatter(doc)
    _validate(doc)
    words = translator(doc.locale)
    pages = lay_out(doc, fmt, words)

    buf = io.BytesIO()
    period = f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"
    canvas = _canvas(doc, buf, words.gettext("Invoice for {period}").format(period=period))
    use = FontUse()
    mirror = PAGE_W if words.rtl else None
    contents = []
    for page in pages:
        contents.append(page.paint(canvas, use, mirror))
        canvas.showPage()
    _save(canvas, contents, use)
    return buf.getvalue()


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


# ---------------------------------------------------------------------- PDF file


class _FixedTimeStamp:
    """What PDFDocument reads from reportlab's TimeStamp, pinned to a date (UTC)."""

    def __init__(self, day: date):
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        self.t = moment.timestamp()
        self.lt = moment.timetuple()
        self.YMDhms = (day.year, day.month, day.day, 0, 0, 0)
        self.dhh = self.dmm = 0
        self.tzname = "UTC"
        self.datetime = moment


def _file_id(doc: InvoiceDocument) -> bytes:
    """The trailer /ID: a digest of the invoice's identity, never of the clock."""
    key = "\x1f".join(("invoicing", doc.number, doc.account, doc.issue_date.isoformat()))
    digest = hashlib.md5(key.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    hexed = f"<{digest.upper()}>".encode("ascii")
    return b"\n[" + hexed + b" " + hexed + b"]\n"


class _NoFont:
    """The canvas's initial font. reportlab sets an initial font on every page unless it
    is a "dynamic" one; the text is written by page.py in the embedded faces, so none."""

    fontName = "Invoicing-NoFont"
    _dynamicFont = 1
    _multiByte = 0

    class face:  # noqa: N801 - the attribute reportlab reads
        name = b"Invoicing-NoFont"


pdfmetrics.registerFont(_NoFont())


def _canvas(doc: InvoiceDocument, buf: io.BytesIO, subject: str) -> Canvas:
    canvas = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1, initialFontName=_NoFont.fontName)
    canvas.setTitle(clean_text(doc.number, MAX_SHORT))
    canvas.setAuthor(clean_text(doc.seller.name, MAX_NAME))
    canvas.setSubject(subject)
    canvas.setCreator("invoicing")
    pdf = canvas._doc
    pdf._timeStamp = _FixedTimeStamp(doc.issue_date)  # CreationDate/ModDate
    pdf._ID = _file_id(doc)
    return canvas


def _save(canvas: Canvas, contents: list[bytes], use: FontUse) -> None:
    pdf = canvas._doc
    fonts = pdf.idToObject["BasicFonts"].dict
    for face, glyphs in use:
        refs: dict = {}
        for name, parts in font_objects(face, glyphs):
            if name == "Font":
                font = Template(parts, refs)
                pdf.Reference(font, face.resource)
                fonts[face.resource] = font
            else:
                refs[name] = pdf.Reference(Template(parts, refs), f"{name}:{face.resource}")
    # Page streams: Flate only, and written by page.py (reportlab's default would add
    # an ASCII85 layer: 25 % bigger and slow in pure Python).
    for page, content in zip(pdf.Pages.pages, contents, strict=True):
        page.Contents = Template((deflated_stream(zlib.compress(content)),))
    canvas.save()
