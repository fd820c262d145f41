"""The content-stream painter: what is placed on one page, written as PDF operators.

A page collects what the layout places on it (texts with their width, rules, filled
rectangles, images) and writes it all in `Page.paint`, when the layout is done and the
page count is known. Operators are written directly, not through reportlab's TextObject
and drawing calls, because that bookkeeping dominated render time: one literal per
page holds the vector graphics, then all of the page's text in a single BT/ET. Fonts
still go through reportlab (fonts.split), so subsetting and embedding are its own.

Numbers are written with at most two decimals and no trailing zeros (`num`): 1/100 pt
is far below what a printer resolves, and short numbers keep the streams small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reportlab.lib import colors
from reportlab.lib.rl_accel import escapePDF

from invoicing.pdf import fonts
from invoicing.pdf.fonts import BOLD, CJK
from invoicing.pdf.objects import Template

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

    from invoicing.pdf.logo import Logo
    from invoicing.pdf.text import Text

__all__ = ["Page", "num"]


def num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rgb(color: colors.Color) -> str:
    return f"{num(color.red)} {num(color.green)} {num(color.blue)}"


class Page:
    """One page: its images, its vector graphics, then all of its text in one BT/ET."""

    __slots__ = ("images", "rects", "rules", "texts")

    def __init__(self) -> None:
        self.images: list[tuple[Logo, float, float, float, float]] = []  # logo, x, y, width, height
        self.rects: list[tuple[float, float, float, float, colors.Color]] = []  # x, y, width, height
        self.rules: list[tuple[float, float, float, float, colors.Color]] = []  # x1, x2, y, width
        self.texts: list[tuple[Text, float, float, float]] = []  # text, x, top, width

    def text(self, item: Text, x: float, top: float, width: float) -> float:
        """Place ``item`` with its top-left corner at (x, top); returns its height."""
        self.texts.append((item, x, top, width))
        return item.height(width)

    def line(self, x1: float, y: float, x2: float, width: float, color: colors.Color) -> None:
        """A horizontal rule from x1 to x2 at height y, `width` points thick."""
        self.rules.append((x1, x2, y, width, color))

    def rect(self, x: float, y: float, width: float, height: float, color: colors.Color) -> None:
        """A filled rectangle, (x, y) its bottom-left corner; drawn under rules and text."""
        self.rects.append((x, y, width, height, color))

    def image(self, logo: Logo, x: float, y: float, width: float, height: float) -> None:
        """Draw `logo` into the box with bottom-left corner (x, y); drawn first."""
        self.images.append((logo, x, y, width, height))

    def paint(self, canvas: Canvas) -> None:
        for logo, x, y, w, h in self.images:
            _draw_image(canvas, logo, x, y, w, h)
        out = ["q"]
        for x, y, w, h, color in self.rects:
            out.append(f"{_rgb(color)} rg {num(x)} {num(y)} {num(w)} {num(h)} re f")
        stroke = None
        for x1, x2, y, width, color in self.rules:
            if (width, color) != stroke:
                out.append(f"{_rgb(color)} RG {num(width)} w")
                stroke = (width, color)
            out.append(f"{num(x1)} {num(y)} m {num(x2)} {num(y)} l S")
        out.append("BT")
        pdf = canvas._doc
        fill = None
        current = None
        emboldened = False
        for item, x, top, width in self.texts:
            style = item.style
            if style.color != fill:
                out.append(f"{_rgb(style.color)} rg")
                fill = style.color
            size = num(style.size)
            y = top - style.size
            for runs, line_width in item.lines(width):
                x0 = x + width - line_width if style.right else x
                out.append(f"1 0 0 1 {num(x0)} {num(y)} Tm")
                for font_name, chunk in runs:
                    # No bold CJK face: fake it with fill + thin stroke (Tr 2).
                    embolden = style.font == BOLD and font_name == CJK
                    if embolden != emboldened:
                        if embolden:
                            out.append(f"2 Tr {_rgb(style.color)} RG {num(style.size * 0.04)} w")
                        else:
                            out.append("0 Tr")
                        emboldened = embolden
                    for subset, data in fonts.split(font_name, chunk, pdf):
                        key = (font_name, subset, size)
                        if key != current:
                            out.append(f"{fonts.subset_name(font_name, subset, pdf)} {size} Tf")
                            current = key
                        out.append(f"({escapePDF(data)}) Tj")
                y -= style.leading
        out.append("0 Tr ET Q" if emboldened else "ET Q")
        canvas.addLiteral("\n".join(out))


def _draw_image(canvas: Canvas, logo: Logo, x: float, y: float, width: float, height: float) -> None:
    """Register the cached image objects in this document (once) and draw them."""
    pdf = canvas._doc
    reg_name = pdf.getXObjectName(logo.name)
    if reg_name not in pdf.idToObject:
        refs: dict[str, Any] = {}
        if logo.smask is not None:
            refs["SMask"] = pdf.Reference(Template((logo.smask,)), reg_name + ".SMask")
        pdf.Reference(Template(logo.image, refs), reg_name)
    canvas._formsinuse.append(logo.name)  # page /Resources /XObject entry
    canvas._currentPageHasImages = 1
    canvas.addLiteral(f"q {num(width)} 0 0 {num(height)} {num(x)} {num(y)} cm /{reg_name} Do Q")
