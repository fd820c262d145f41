"""What is placed on one page, drawn on reportlab's canvas.

A page collects what the layout places on it (texts with their width, rules, filled
rectangles, images) and draws it all in `Page.draw`, when the layout is done and the
page count is known: the logo (canvas.drawImage, logo.py), the fills and rules
(canvas.rect, canvas.line), then a watermark in a text object of its own if there is
one (`Page.watermark`), then all of the page's other text in one text object
(canvas.beginText / drawText): its colour, font and moves between texts through the
text object's calls.

Text is drawn as glyph ids (two bytes each, Identity-H) in reportlab fonts of the
bundled faces (glyph_font.py) from the shaped runs text.py lays out: a run whose
glyphs simply follow each other is one string and Tj; one with kerning, marks or
right-to-left order is a TJ array whose numbers move each glyph to the position the
shaper gave it, with Ts for raised or lowered marks. reportlab has no call for a
positioned glyph run (its own shaping makes 256-glyph simple subsets whose unmapped
glyphs extract as private-use characters), so these operators, with the font's
`formatForPdf` strings, are added to the text object's code as its own text calls add
theirs. Runs are written left to right, as extractors expect (shaping.py). Every run
drawn is recorded for the document's font subsets (glyph_font.drawn).

A night's invoices print most of their texts alike (labels, the seller's block, the
dates, common amounts), and layout.py shares such a Text between them (text.py
`shared_text`). So each text's operators are made once per place (`_paint`, kept on
the Text as `Painted`): after a first move to where it starts, they do not depend on
what the page drew before; the page moves there (Td, relative to where the last text
left the line matrix) and sets the colour and the font where they change. Making each
run's operators again per invoice through the text object's string calls took 0.3 ms
of a 1 ms Latin invoice.

Numbers in the runs' operators are written with at most two decimals and no trailing
zeros (`num`): 1/100 pt is far below what a printer resolves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING

from reportlab.lib import colors
from reportlab.lib.rl_accel import escapePDF, fp_str

from invoicing.pdf.fonts import BOLD
from invoicing.pdf.glyph_font import GlyphFont, drawn, glyph_font, glyph_string
from invoicing.pdf.logo import draw_logo
from invoicing.pdf.text import Painted

if TYPE_CHECKING:
    from reportlab.pdfbase.pdfdoc import PDFDocument
    from reportlab.pdfgen.canvas import Canvas

    from invoicing.pdf.logo import Logo
    from invoicing.pdf.shaping import Shaped
    from invoicing.pdf.text import Text

__all__ = ["Page", "num"]


@lru_cache(maxsize=8192)
def num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@lru_cache(maxsize=64)
def _rgb(color: colors.Color) -> tuple[float, float, float]:
    """A colour to two decimals, as every number the pages write: 1/100 is below what
    a printer tells apart, and reportlab's six digits made the page streams larger."""
    return round(color.red, 2), round(color.green, 2), round(color.blue, 2)


def _round(*values: float) -> list[float]:
    return [round(value, 2) for value in values]


class Page:
    """One page: its images, its vector graphics, then all of its text in one text object."""

    __slots__ = ("images", "marks", "rects", "rules", "texts")

    def __init__(self) -> None:
        self.images: list[tuple[Logo, float, float, float, float]] = []  # logo, x, y, width, height
        self.marks: list[tuple[Text, float, float, float]] = []  # watermark, centre x, centre y, angle
        self.rects: list[tuple[float, float, float, float, colors.Color]] = []  # x, y, width, height
        self.rules: list[tuple[float, float, float, float, colors.Color]] = []  # x1, x2, y, width
        self.texts: list[tuple[Text, tuple[float, float, float]]] = []  # text, (x, top, width)

    def text(self, item: Text, x: float, top: float, width: float) -> float:
        """Place ``item`` with its top-left corner at (x, top); returns its height."""
        self.texts.append((item, (x, top, width)))
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

    def watermark(self, item: Text, x: float, y: float, angle: float) -> None:
        """Draw `item` on one line, turned `angle` degrees anticlockwise about its centre,
        which is put at (x, y): over the fills and rules, under every other text. It is
        text in the page's content (a "SAMPLE" or "DRAFT" that extractors read and a
        printer prints), not an annotation a viewer may hide."""
        self.marks.append((item, x, y, angle))

    def draw(self, canvas: Canvas, mirror: float | None = None) -> None:
        """Draw the page on `canvas` (its current page); the runs it draws are recorded for
        the document's font subsets (glyph_font.drawn).

        `mirror`: the page width of a right-to-left page, whose layout was placed left to
        right and is drawn mirrored (x -> width - x); text itself is never mirrored.
        """
        flip = (lambda x, w: mirror - x - w) if mirror is not None else (lambda x, w: x)
        for logo, x, y, w, h in self.images:
            draw_logo(canvas, logo, *_round(flip(x, w), y, w, h))
        for x, y, w, h, color in self.rects:
            canvas.setFillColorRGB(*_rgb(color))
            canvas.rect(*_round(flip(x, w), y, w, h), stroke=0, fill=1)
        stroke = None
        for x1, x2, y, width, color in self.rules:
            if (width, color) != stroke:
                canvas.setStrokeColorRGB(*_rgb(color))
                canvas.setLineWidth(round(width, 2))
                stroke = (width, color)
            a, b = (flip(x2, 0), flip(x1, 0)) if mirror is not None else (x1, x2)
            canvas.line(*_round(a, y, b, y))
        doc = canvas._doc
        use = drawn(doc)
        for item, x, y, angle in self.marks:
            use.extend(_mark(canvas, item, mirror - x if mirror is not None else x, y, angle))
        text = canvas.beginText()
        # The text object's operators: its colours, moves and fonts are added to them as
        # its own calls add theirs, from strings made once per process (through its
        # setFillColor and moveCursor they took a third of the page's time).
        code = text._code
        fill = None
        current: tuple[GlyphFont, float] | None = None  # the font and size set
        origin = (0.0, 0.0)  # the text line matrix's: each text is moved to relative to it (Td)
        runs = []
        for painted, color in self._painted(mirror):
            if color is not fill:  # the styles share the layout's colour objects
                code.append(_fill(color))
                fill = color
            code.append(_move_to(painted.at, origin))
            origin = painted.last_at
            for font, size, ops in painted.segments:
                if (font, size) != current:
                    code.append(_select(font, size, doc))
                    current = (font, size)
                code.append(ops)
            runs.append(painted.runs)
        use.extend(chain.from_iterable(runs))
        canvas.drawText(text)

    def runs(self, mirror: float | None = None) -> Iterator[Shaped]:
        """The runs the page draws, in the order `draw` records them (the watermark's
        first)."""
        for item, *_ in self.marks:
            yield from _marked(item).runs
        for painted, _ in self._painted(mirror):
            yield from painted.runs

    def _painted(self, mirror: float | None) -> Iterator[tuple[Painted, colors.Color]]:
        """Each text that draws something, painted at its place, and its colour."""
        for item, place in self.texts:
            key = place if mirror is None else (*place, mirror)
            painted = item.painted.get(key)
            if painted is None:
                if len(item.painted) >= _PLACES_MAX:  # an amount printed in row after row
                    item.painted.clear()
                painted = item.painted[key] = _paint(item, *place, mirror)
            if painted.segments:
                yield painted, item.style.color


_PLACES_MAX = 64
# Where a watermark's operators are kept on its Text: a key no placed text has (those
# are (x, top, width) and, mirrored, the page width too).
_MARK: tuple[float, ...] = (-1.0,)


def _marked(item: Text) -> Painted:
    painted = item.painted.get(_MARK)
    if painted is None:
        painted = item.painted[_MARK] = _paint(item, 0, item.style.size, item.natural + 1, None)
    return painted


_FILLS: dict[int, tuple[colors.Color, str]] = {}  # by id: the layout's colours live as long


def _fill(color: colors.Color) -> str:
    """The colour's "rg", as the text object's setFillColorRGB writes it."""
    hit = _FILLS.get(id(color))
    if hit is None or hit[0] is not color:
        hit = _FILLS[id(color)] = (color, f"{fp_str(*_rgb(color))} rg")
    return hit[1]


@lru_cache(maxsize=8192)
def _move_to(at: tuple[float, float], origin: tuple[float, float]) -> str:
    """The Td from `origin` to `at` (the page's move between two texts: the same pairs
    recur on every invoice of a layout)."""
    return _move(round(at[0] - origin[0], 2), round(at[1] - origin[1], 2))


def _select(font: GlyphFont, size: float, doc: PDFDocument) -> str:
    """Select the font, as a text object does for a dynamic font when it draws a string
    (textobject._formatText)."""
    return f"{font.getSubsetInternalName(0, doc)} {num(size)} Tf"


def _mark(canvas: Canvas, item: Text, x: float, y: float, angle: float) -> tuple[Shaped, ...]:
    """A watermark's own text object: its line painted from the origin, in a text matrix
    that turns it about its centre and puts that at (x, y); the runs it draws."""
    painted = _marked(item)
    if not painted.segments:
        return ()
    turn = math.radians(angle)
    cos, sin = math.cos(turn), math.sin(turn)
    # The centre of the word in its own space: half its width, half a capital's height.
    cx, cy = item.natural / 2, item.style.size * 0.35
    ex, ey = x - (cos * cx - sin * cy), y - (sin * cx + cos * cy)
    text = canvas.beginText()
    text.setFillColorRGB(*_rgb(item.style.color))
    text.setTextTransform(
        round(cos, 4), round(sin, 4), round(-sin, 4), round(cos, 4), round(ex, 2), round(ey, 2)
    )
    text.moveCursor(painted.at[0], -painted.at[1])
    for font, size, ops in painted.segments:
        text._code.append(_select(font, size, canvas._doc))
        text._code.append(ops)
    canvas.drawText(text)
    return painted.runs


def _paint(item: Text, x: float, top: float, width: float, mirror: float | None) -> Painted:
    style = item.style
    rtl = mirror is not None
    box = mirror - x - width if mirror is not None else x
    y = round(top - style.size, 2)
    scale = style.size * 0.001
    segments: list[tuple[GlyphFont, float, str]] = []
    ops: list[str] = []
    runs: list[Shaped] = []
    current: GlyphFont | None = None
    emboldened = False
    pen = (-1.0, -1.0)  # where the last glyph left the text position
    first_at = origin = (0.0, 0.0)  # the text line matrix's: Td moves relative to it
    placed = False
    for pieces, line_width in item.lines(width):
        start = box + width - line_width if style.right != rtl else box
        # Left to right, so that a run that starts where the last one ended (a date's
        # digits and slashes at two bidi levels) needs no new position.
        for shaped, left in sorted(pieces, key=_left) if len(pieces) > 1 else pieces:
            face = shaped.face
            font = glyph_font(face)
            if font != current:
                if current is not None:
                    segments.append((current, style.size, " ".join(ops)))
                    ops = []
                current = font
            # No bold for the CJK face: fake it with fill + thin stroke (Tr 2).
            embolden = face.fake_bold and style.font == BOLD
            if embolden != emboldened:
                if embolden:
                    ops.append(f"2 Tr {' '.join(map(num, _rgb(style.color)))} RG {num(style.size * 0.04)} w")
                else:
                    ops.append("0 Tr")
                emboldened = embolden
            at = (round(start + left, 2), y)
            moved = at != pen
            if not placed:  # the page moves there
                first_at = origin = at
                placed = True
            elif moved:
                ops.append(_move(round(at[0] - origin[0], 2), round(at[1] - origin[1], 2)))
                origin = at
            shown = shaped.shown.get(scale)
            if shown is None:
                shown = shaped.shown[scale] = _show(shaped, scale)
            if not moved and ops and ops[-1][-4:] == ") Tj" and shown[:1] == "(" and shown[-4:] == ") Tj":
                ops[-1] = ops[-1][:-4] + shown[1:]  # one string: "(ab) Tj" + "(cd) Tj"
            else:
                ops.append(shown)
            pen = (round(start + left + shaped.end * scale, 2), y)  # unrounded start: no drift
            runs.append(shaped)
        y = round(y - style.leading, 2)
    if emboldened:
        ops.append("0 Tr")  # every text starts and ends in fill mode
    if current is None:  # nothing drawn
        return Painted(first_at, (), origin, ())
    segments.append((current, style.size, " ".join(ops)))
    return Painted(first_at, tuple(segments), origin, tuple(runs))


@lru_cache(maxsize=4096)
def _move(dx: float, dy: float) -> str:
    return f"{num(dx)} {num(dy)} Td"


def _left(piece: tuple[Shaped, float]) -> float:
    return piece[1]


def _show(shaped: Shaped, scale: float) -> str:
    """The operators that draw a run at the current text position. An Indic or Thai run
    whose glyphs' texts, in drawing order, are not its text (a vowel sign drawn before
    its consonant, a reph after it), or that has a glyph without a text of its own (the
    half of a split vowel, which ToUnicode may name after another use), is marked with
    its text (ActualText), which extractors that know it (poppler, Acrobat) copy instead."""
    shown = _glyphs(shaped, scale)
    texts = shaped.texts
    if shaped.face.script in _ACTUAL_TEXT and ("" in texts or "".join(texts) != shaped.text):
        return f"/Span << /ActualText {_text_string(shaped.text)} >> BDC {shown} EMC"
    return shown


_ACTUAL_TEXT = frozenset({"deva", "beng", "taml", "thai"})


def _text_string(value: str) -> str:
    """A PDF text string: printable ASCII as a literal, anything else UTF-16BE with a byte
    order mark in hex (half the size of reportlab's octal escapes of it)."""
    if value.isascii() and value.isprintable():
        return f"({escapePDF(value)})"
    return f"<FEFF{value.encode('utf-16-be', 'surrogatepass').hex().upper()}>"


def _glyphs(shaped: Shaped, scale: float) -> str:
    """A run's glyphs: a string of them and Tj if they simply follow each other, else a
    TJ array whose numbers move each glyph to the position the shaper gave it, and Ts
    for raised or lowered marks. The strings are the font's (GlyphFont.formatForPdf)."""
    gids, xs, ys = shaped.gids, shaped.xs, shaped.ys
    string = glyph_font(shaped.face).formatForPdf
    if xs is None and ys is None:
        return f"({string(glyph_string(gids))}) Tj"
    widths = shaped.face.widths
    out: list[str] = []
    array: list[str] = []
    group: list[int] = []
    pen = 0
    rise = 0
    for i, gid in enumerate(gids):
        x = xs[i] if xs is not None else pen
        y = ys[i] if ys is not None else 0
        if y != rise:
            if group:
                array.append(f"({string(glyph_string(group))})")
                group = []
            if array:
                out.append(f"[{' '.join(array)}] TJ")
                array = []
            out.append(f"{num(y * scale)} Ts")
            rise = y
        if x != pen:
            if group:
                array.append(f"({string(glyph_string(group))})")
                group = []
            array.append(str(pen - x))
        group.append(gid)
        pen = x + widths[gid]
    if group:
        array.append(f"({string(glyph_string(group))})")
    if array:
        out.append(f"[{' '.join(array)}] TJ")
    if rise:
        out.append("0 Ts")
    return " ".join(out)
