"""Render one `InvoiceDocument` to PDF bytes.

Pure function of the document: no clock, no database, no Celery. The same document
always gives the same bytes, in any process and with any hash seed: the creation date
is the issue date, the trailer /ID a digest of the invoice's identity, and what is
embedded of each face depends only on the glyphs drawn (embed.py). The billing run
records each file's sha256 and the merge trusts pre-linked fragments by it, so this
matters.

The steps: check the data (RenderError for what no retry will fix), lay the invoice out
on pages in the subscriber's language (layout.py, translate.py), paint the pages into
content streams (page.py), embed the glyphs they drew (embed.py) and the logo, and
write the file (writer.py). reportlab's canvas and object model are not used: its
bookkeeping cost a third of the render once the text and the fonts were written here.
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import date
from decimal import Decimal

from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.embed import FontUse, invoice_runs
from invoicing.pdf.errors import RenderError
from invoicing.pdf.format import formatter
from invoicing.pdf.fragments import Fragment, GlyphUse
from invoicing.pdf.layout import MAX_NAME, MAX_SHORT, PAGE_H, PAGE_W, lay_out
from invoicing.pdf.logo import Logo
from invoicing.pdf.objects import Parts, deflated_stream, fill, text_string
from invoicing.pdf.own_fragment import PageObjects, own_fragment
from invoicing.pdf.page import num
from invoicing.pdf.text import clean_text
from invoicing.pdf.translate import translator
from invoicing.pdf.writer import PdfFile

__all__ = ["RenderError", "render_invoice", "render_prelinked", "warm_up"]

_MEDIA_BOX = b"%s %s" % (num(PAGE_W).encode(), num(PAGE_H).encode())


def render_invoice(doc: InvoiceDocument) -> bytes:
    """Render ``doc`` to PDF bytes. Raises RenderError for bad data."""
    return _render(doc, None)


def render_prelinked(doc: InvoiceDocument) -> tuple[bytes, Fragment]:
    """Render ``doc``; the PDF bytes, and the merge fragment of exactly those bytes, made
    from the objects just written (own_fragment.py) rather than by parsing the file."""
    made: list[PageObjects] = []
    glyphs: GlyphUse = {}
    pdf = _render(doc, (made, glyphs))
    return pdf, own_fragment(made, glyphs, _MEDIA_BOX)


def _render(doc: InvoiceDocument, made: tuple[list[PageObjects], GlyphUse] | None) -> bytes:
    """The file; with `made`, what own_fragment needs of it is put there as it is written."""
    fmt = formatter(doc)
    _validate(doc)
    words = translator(doc.locale)
    pages = lay_out(doc, fmt, words)

    pdf = PdfFile()
    catalog, tree = pdf.reserve(), pdf.reserve()
    use = FontUse()
    mirror = PAGE_W if words.rtl else None
    contents = [page.paint(use, mirror) for page in pages]

    faces = [(face, *invoice_runs(face, runs)) for face, runs in use]
    fonts = b" ".join(
        b"/%s %d 0 R" % (face.resource.encode(), _embed(pdf, objects)) for face, objects, _ in faces
    )
    images: dict[str, int] = {}
    images_by_name: dict[str, Logo] = {}
    kids = []
    for page, content in zip(pages, contents, strict=True):
        resources = b"/Font << %s >>" % fonts
        if page.images:
            for logo, *_ in page.images:
                if logo.name not in images:
                    images[logo.name] = _logo(pdf, logo)
                    images_by_name[logo.name] = logo
            names = sorted({logo.name for logo, *_ in page.images})
            resources += b" /XObject << %s >>" % b" ".join(
                b"/%s %d 0 R" % (n.encode(), images[n]) for n in names
            )
        deflated = zlib.compress(content)
        stream = pdf.add(deflated_stream(deflated))
        if made is not None:
            page_images = [(n, images_by_name[n]) for n in names] if page.images else []
            made[0].append((deflated, [(face.resource, face) for face, *_ in faces], page_images))
        kids.append(
            pdf.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << %s >> /Contents %d 0 R >>"
                % (tree, num(PAGE_W).encode(), num(PAGE_H).encode(), resources, stream)
            )
        )
    pdf.put(
        tree, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    )
    pdf.put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    period = f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"
    if doc.document_type == "381":
        subject = words.gettext("Credit note for {period}")
    else:
        subject = words.gettext("Invoice for {period}")
    moment = b"(D:%s000000+00'00')" % doc.issue_date.strftime("%Y%m%d").encode()
    info = pdf.add(
        b"<< /Title %s /Author %s /Subject %s /Creator (invoicing) /Producer (invoicing) /CreationDate %s"
        b" /ModDate %s >>"
        % (
            text_string(clean_text(doc.number, MAX_SHORT)),
            text_string(clean_text(doc.seller.name, MAX_NAME)),
            text_string(subject.format(period=period)),
            moment,
            moment,
        )
    )
    if made is not None:
        made[1].update((face.key, beyond) for face, _, beyond in faces)
    return pdf.finish(catalog, info, _file_id(doc))


def _embed(pdf: PdfFile, objects: list[tuple[str, Parts]]) -> int:
    """Write the objects of one face's subset; returns the number of its Type0 font."""
    refs: dict[str, int] = {}
    for name, parts in objects:
        refs[name] = pdf.add(fill(parts, refs))
    return refs["Font"]


def _logo(pdf: PdfFile, logo: Logo) -> int:
    refs = {"SMask": pdf.add(logo.smask)} if logo.smask is not None else {}
    return pdf.add(fill(logo.image, refs))


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


def _file_id(doc: InvoiceDocument) -> bytes:
    """The trailer /ID: a digest of the invoice's identity, never of the clock."""
    key = "\x1f".join(("invoicing", doc.number, doc.account, doc.issue_date.isoformat()))
    return hashlib.md5(key.encode("utf-8", "replace"), usedforsecurity=False).hexdigest().upper().encode()


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
