"""The objects the renderer has reportlab format once (pdf/preformat.py) write the bytes
reportlab's own formatting writes: the same drawing saved with and without them is the
same file, for what invoices have (pages, images, titles in any script) and for what
they do not (outlines, rotated pages, transparency), which is left to reportlab."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from pypdf import PdfReader
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf.preformat import preformat_document, preformat_page


def _logo() -> ImageReader:
    image = Image.new("RGBA", (120, 30), (29, 78, 137, 255))
    image.paste((0, 0, 0, 0), (0, 0, 30, 30))
    data = io.BytesIO()
    image.save(data, "PNG")
    data.seek(0)
    return ImageReader(data)


def _save(draw: Callable[[Canvas, int], None], pages: int, preformatted: bool, **info: str) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595.2756, 841.8898), invariant=1, pageCompression=1)
    written = canvas._doc
    if preformatted:
        preformat_document(written)
    for number in range(pages):
        draw(canvas, number)
        canvas.showPage()
        if preformatted:
            preformat_page(written.idToObject[f"Page{written.pageCounter - 1}"])
    canvas.setTitle(info.get("title", "INV-2026-10-000001"))
    canvas.setAuthor(info.get("author", "Nordlicht Telecom GmbH"))
    canvas.setSubject(info.get("subject", "Invoice for Oct 1, 2026 – Oct 31, 2026"))
    canvas.setCreator("invoicing")
    canvas.setDateFormatter(lambda *_: "D:20261101000000+00'00'")
    canvas.save()
    return out.getvalue()


def _text(canvas: Canvas, number: int) -> None:
    canvas.setFont("Helvetica", 10)
    canvas.drawString(72, 720, f"Page {number + 1} (of many) \\ 100 %")
    canvas.rect(72, 700, 200, 10, stroke=0, fill=1)


def _with_logo(canvas: Canvas, number: int) -> None:
    canvas.drawImage(_LOGO, 72, 760, 120, 30, mask="auto")
    _text(canvas, number)


def _rotated(canvas: Canvas, number: int) -> None:
    canvas.setPageRotation(90)
    _text(canvas, number)


def _transparent(canvas: Canvas, number: int) -> None:
    canvas.setFillAlpha(0.5)
    _text(canvas, number)


def _outlined(canvas: Canvas, number: int) -> None:
    canvas.bookmarkPage(f"p{number}")
    canvas.addOutlineEntry(f"Page {number + 1}", f"p{number}")
    canvas.showOutline()
    _text(canvas, number)


_LOGO = _logo()


@pytest.mark.parametrize(
    "draw, pages",
    [
        (_text, 1),
        (_text, 3),
        (_text, 12),  # a page tree of more than ten kids: reportlab breaks its line
        (_with_logo, 2),  # an image in the page's resources
        (_rotated, 1),  # left to reportlab
        (_transparent, 1),  # a graphics state in the resources: left to reportlab
        (_outlined, 2),  # a catalog with outlines: left to reportlab
    ],
)
def test_preformatted_document_is_byte_for_byte_reportlabs(draw, pages):
    # given a drawing, when it is saved with and without the preformatted objects
    pdf = _save(draw, pages, preformatted=True)
    # then the files are the same, and a reader sees every page
    assert pdf == _save(draw, pages, preformatted=False)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == pages


@pytest.mark.parametrize(
    "info",
    [
        {"title": "RE-2026/10 (Gutschrift) \\ 2", "author": "Müller & Söhne"},
        {"subject": "請求書 2026年10月", "author": "شركة الاتصالات"},
        {"title": "", "author": "", "subject": ""},
    ],
)
def test_information_dictionary_is_byte_for_byte_reportlabs(info):
    pdf = _save(_text, 1, preformatted=True, **info)
    assert pdf == _save(_text, 1, preformatted=False, **info)
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    assert metadata is not None
    assert metadata["/Title"] == info.get("title", "INV-2026-10-000001")
    assert metadata["/Author"] == info.get("author", "Nordlicht Telecom GmbH")


def test_a_document_with_pages_is_refused():
    canvas = Canvas(io.BytesIO(), invariant=1)
    canvas.showPage()
    with pytest.raises(ValueError, match="has pages already"):
        preformat_document(canvas._doc)
