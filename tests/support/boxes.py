"""What "inside its box" means for a laid-out invoice, checked one way by every test that
asks it: every line of every text within the page's margins and its box's width, every
glyph a shaper moved within its face's ink bounds, and no figure wrapped."""

from __future__ import annotations

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.format import formatter
from invoicing.pdf.layout import MARGIN_X, PAGE_W, lay_out
from invoicing.pdf.shaping import Shaped, ink_bounds
from invoicing.pdf.translate import translator


def assert_laid_out_inside_boxes(doc: InvoiceDocument) -> None:
    """Lay `doc` out as the renderer does and check every text of every page."""
    fmt = formatter(doc)
    figures = {fmt.money(amount) for amount in (doc.subtotal, doc.tax, doc.total)}
    figures |= {fmt.money(line.amount) for line in doc.lines} | {
        fmt.price(line.unit_price) for line in doc.lines
    }
    for page in lay_out(doc, fmt, translator(doc.locale)):
        for item, (x, _top, width) in page.texts:
            assert MARGIN_X - 0.01 <= x and x + width <= PAGE_W - MARGIN_X + 0.01, (item.para.chars, x, width)
            wrapped = item.lines(width)
            assert all(line_width <= width + 0.01 for _, line_width in wrapped), item.para.chars
            if item.para.chars in figures:
                assert len(wrapped) == 1, item.para.chars
            for pieces, _ in wrapped:
                for shaped, _left in pieces:
                    assert_inside_ink_bounds(shaped)


def assert_inside_ink_bounds(shaped: Shaped) -> None:
    """Every glyph the shaper moved has its ink within the face's bounds (1/1000 em,
    one unit of rounding)."""
    face, lowest, highest = shaped.face, *ink_bounds(shaped.face)
    for gid, y in zip(shaped.gids, shaped.ys or (0,) * len(shaped.gids), strict=True):
        extents = face.hb_font.get_glyph_extents(gid)
        if y and extents is not None and extents.height:
            top = y + extents.y_bearing * face.scale
            assert lowest - 1 <= top + extents.height * face.scale and top <= highest + 1, (shaped.text, top)
