"""The content-stream painter: what is placed on one page, written as PDF operators.

A page collects what the layout places on it (texts with their width, rules, filled
rectangles, images) and writes it all in `Page.paint`, when the layout is done and the
page count is known: one literal holds the vector graphics, then a watermark in its
own BT/ET if there is one (`Page.watermark`), then all of the page's other text in a
single BT/ET; within a text, runs are placed with relative moves (Td) and
only where a run does not start where the last one ended. Operators are written
directly, not through reportlab's TextObject and drawing calls, because that
bookkeeping dominated render time.

Text is drawn as glyph ids (two bytes each, Identity-H; see embed.py) of the shaped
runs text.py lays out: a run whose glyphs simply follow each other is one string and
Tj; one with kerning, marks or right-to-left order is a TJ array whose numbers move
each glyph to the position the shaper gave it, with Ts for raised or lowered marks.
Runs are written left to right, as extractors expect (shaping.py). Every glyph drawn
is recorded in the document's `FontUse`, which decides what is embedded.

A night's invoices print most of their texts alike (labels, the seller's block, the
dates, common amounts), and layout.py shares such a Text between them (text.py
`shared_text`). So each text is painted once per place (`_paint`, kept on the Text as
`Painted`): its operators, after a first move to where it starts, do not depend on
what the page drew before; the page adds that move (Td, relative to where the last
text left the line matrix), and the colour and the font where they change. A page is
then mostly a join of bytes already made.

Numbers are written with at most two decimals and no trailing zeros (`num`): 1/100 pt
is far below what a printer resolves, and short numbers keep the streams small.
"""

from __future__ import annotations

import math
import re
import struct
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

from reportlab.lib import colors

from invoicing.pdf.drawn import FontUse
from invoicing.pdf.fonts import BOLD
from invoicing.pdf.objects import text_string

if TYPE_CHECKING:
    from invoicing.pdf.logo import Logo
    from invoicing.pdf.shaping import Shaped
    from invoicing.pdf.text import Text

__all__ = ["Page", "Painted", "num"]


@lru_cache(maxsize=8192)
def num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rgb(color: colors.Color) -> str:
    return f"{num(color.red)} {num(color.green)} {num(color.blue)}"


class Page:
    """One page: its images, its vector graphics, then all of its text in one BT/ET."""

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

    def paint(self, use: FontUse, mirror: float | None = None) -> bytes:
        """The page's content stream; the glyphs it draws are recorded in `use`.

        `mirror`: the page width of a right-to-left page, whose layout was placed left to
        right and is drawn mirrored (x -> width - x); text itself is never mirrored.
        """
        flip = (lambda x, w: mirror - x - w) if mirror is not None else (lambda x, w: x)
        out = [
            f"q {num(w)} 0 0 {num(h)} {num(flip(x, w))} {num(y)} cm /{logo.name} Do Q"
            for logo, x, y, w, h in self.images
        ]
        out.append("q")
        for x, y, w, h, color in self.rects:
            out.append(f"{_rgb(color)} rg {num(flip(x, w))} {num(y)} {num(w)} {num(h)} re f")
        stroke = None
        for x1, x2, y, width, color in self.rules:
            if (width, color) != stroke:
                out.append(f"{_rgb(color)} RG {num(width)} w")
                stroke = (width, color)
            a, b = (flip(x2, 0), flip(x1, 0)) if mirror is not None else (x1, x2)
            out.append(f"{num(a)} {num(y)} m {num(b)} {num(y)} l S")
        ops = ["\n".join(out).encode("ascii")]
        for item, x, y, angle in self.marks:
            mark, drawn = _mark(item, mirror - x if mirror is not None else x, y, angle)
            if mark:
                ops.append(mark)
                use.extend(drawn)
        ops.append(b"BT")
        fill = None
        current = None  # the font and size set
        origin = (0.0, 0.0)  # the text line matrix's: each text is moved to relative to it (Td)
        runs = []
        for item, place in self.texts:
            key = place if mirror is None else (*place, mirror)
            painted = item.painted.get(key)
            if painted is None:
                if len(item.painted) >= _PLACES_MAX:  # an amount printed in row after row
                    item.painted.clear()
                painted = item.painted[key] = _paint(item, *place, mirror)
            if not painted.body:
                continue
            color = item.style.color
            if color is not fill:  # the styles share the layout's colour objects
                ops.append(_fill(color))
                fill = color
            if painted.font != current:
                ops.append(_font(*painted.font))
            current = painted.last_font
            ops.append(_move_to(painted.at, origin))
            origin = painted.last_at
            ops.append(painted.body)
            runs.append(painted.runs)
        use.extend(chain.from_iterable(runs))
        ops.append(b"ET Q")
        return b"\n".join(ops)


_PLACES_MAX = 64
# Where a watermark's operators are kept on its Text: a key no placed text has (those
# are (x, top, width) and, mirrored, the page width too).
_MARK: tuple[float, ...] = (-1.0,)


def _mark(item: Text, x: float, y: float, angle: float) -> tuple[bytes, tuple[Shaped, ...]]:
    """A watermark's own BT/ET: its line painted from the origin, in a text matrix that
    turns it about its centre and puts that at (x, y)."""
    painted = item.painted.get(_MARK)
    if painted is None:
        painted = item.painted[_MARK] = _paint(item, 0, item.style.size, item.natural + 1, None)
    if not painted.body:
        return b"", ()
    turn = math.radians(angle)
    cos, sin = math.cos(turn), math.sin(turn)
    # The centre of the word in its own space: half its width, half a capital's height.
    cx, cy = item.natural / 2, item.style.size * 0.35
    ex, ey = x - (cos * cx - sin * cy), y - (sin * cx + cos * cy)
    # Four decimals for the turn: two would skew a letter a page wide.
    matrix = f"{cos:.4f} {sin:.4f} {-sin:.4f} {cos:.4f} {num(ex)} {num(ey)} Tm".encode()
    ops = [
        b"BT",
        _fill(item.style.color),
        _font(*painted.font),
        matrix,
        _move(*painted.at),
        painted.body,
        b"ET",
    ]
    return b"\n".join(ops), painted.runs


class Painted(NamedTuple):
    """A text's operators at one place, painted once and kept on the (shared) Text: the
    font it starts in, which the page sets if it is not set already; where it starts,
    which the page moves to from wherever the last text left the line matrix; the
    operators from there, which do not depend on what the page drew before (empty for a
    text that draws nothing); the font and the line matrix's origin they leave; and the
    runs they draw, for the page's FontUse. (Its colour is the text's style's.)"""

    font: tuple[str, float]
    at: tuple[float, float]
    body: bytes
    last_font: tuple[str, float]
    last_at: tuple[float, float]
    runs: tuple[Shaped, ...]


def _paint(item: Text, x: float, top: float, width: float, mirror: float | None) -> Painted:
    style = item.style
    rtl = mirror is not None
    box = mirror - x - width if mirror is not None else x
    y = round(top - style.size, 2)
    scale = style.size * 0.001
    ops: list[bytes] = []
    runs: list[Shaped] = []
    first = current = None
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
            # No bold for the CJK face: fake it with fill + thin stroke (Tr 2).
            embolden = face.fake_bold and style.font == BOLD
            if embolden != emboldened:
                if embolden:
                    ops.append(f"2 Tr {_rgb(style.color)} RG {num(style.size * 0.04)} w".encode())
                else:
                    ops.append(b"0 Tr")
                emboldened = embolden
            font = (face.resource, style.size)
            if first is None:
                first = font  # set by the page, only if it is not already
            elif font != current:
                ops.append(_font(*font))
            current = font
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
            if not moved and ops and ops[-1][-4:] == b") Tj" and shown[:1] == b"(" and shown[-4:] == b") Tj":
                ops[-1] = ops[-1][:-4] + shown[1:]  # one string: "(ab) Tj" + "(cd) Tj"
            else:
                ops.append(shown)
            pen = (round(start + left + shaped.end * scale, 2), y)  # unrounded start: no drift
            runs.append(shaped)
        y = round(y - style.leading, 2)
    if emboldened:
        ops.append(b"0 Tr")  # every text starts and ends in fill mode
    if first is None or current is None:  # nothing drawn
        return Painted(("", 0.0), first_at, b"", ("", 0.0), origin, ())
    return Painted(first, first_at, b"\n".join(ops), current, origin, tuple(runs))


@lru_cache(maxsize=4096)
def _move(dx: float, dy: float) -> bytes:
    return f"{num(dx)} {num(dy)} Td".encode()


@lru_cache(maxsize=8192)
def _move_to(at: tuple[float, float], origin: tuple[float, float]) -> bytes:
    """The Td from `origin` to `at` (the page's move between two texts: the same pairs
    recur on every invoice of a layout)."""
    return _move(round(at[0] - origin[0], 2), round(at[1] - origin[1], 2))


@lru_cache(maxsize=256)
def _font(resource: str, size: float) -> bytes:
    return f"/{resource} {num(size)} Tf".encode()


_FILLS: dict[tuple[float, float, float], bytes] = {}


def _fill(color: colors.Color) -> bytes:
    key = (color.red, color.green, color.blue)
    hit = _FILLS.get(key)
    if hit is None:
        hit = _FILLS[key] = f"{_rgb(color)} rg".encode()
    return hit


_ESCAPES = {b"\\": b"\\\\", b"(": b"\\(", b")": b"\\)", b"\r": b"\\r"}  # the backslash first
_SPECIAL = re.compile(rb"[\\()\r]")


def _left(piece: tuple[Shaped, float]) -> float:
    return piece[1]


def _string(gids: tuple[int, ...] | list[int]) -> bytes:
    """A PDF literal string of two-byte glyph ids; only what a literal cannot hold escaped."""
    data = struct.pack(f">{len(gids)}H", *gids)
    if _SPECIAL.search(data):  # one scan; most runs have none of them
        for raw, escaped in _ESCAPES.items():
            data = data.replace(raw, escaped)
    return b"(" + data + b")"


def _show(shaped: Shaped, scale: float) -> bytes:
    """The operators that draw a run at the current text position. An Indic or Thai run
    whose glyphs' texts, in drawing order, are not its text (a vowel sign drawn before
    its consonant, a reph after it), or that has a glyph without a text of its own (the
    half of a split vowel, which ToUnicode may name after another use), is marked with
    its text (ActualText), which extractors that know it (poppler, Acrobat) copy instead."""
    shown = _glyphs(shaped, scale)
    texts = shaped.texts
    if shaped.face.script in _ACTUAL_TEXT and ("" in texts or "".join(texts) != shaped.text):
        return b"/Span << /ActualText %s >> BDC %s EMC" % (text_string(shaped.text), shown)
    return shown


_ACTUAL_TEXT = frozenset({"deva", "beng", "taml", "thai"})


def _glyphs(shaped: Shaped, scale: float) -> bytes:
    gids, xs, ys = shaped.gids, shaped.xs, shaped.ys
    if xs is None and ys is None:
        return _string(gids) + b" Tj"
    widths = shaped.face.widths
    out: list[bytes] = []
    array: list[bytes] = []
    group: list[int] = []
    pen = 0
    rise = 0
    for i, gid in enumerate(gids):
        x = xs[i] if xs is not None else pen
        y = ys[i] if ys is not None else 0
        if y != rise:
            if group:
                array.append(_string(group))
                group = []
            if array:
                out.append(b"[" + b"".join(array) + b"] TJ")
                array = []
            out.append(f"{num(y * scale)} Ts".encode())
            rise = y
        if x != pen:
            if group:
                array.append(_string(group))
                group = []
            array.append(str(pen - x).encode())
        group.append(gid)
        pen = x + widths[gid]
    if group:
        array.append(_string(group))
    if array:
        out.append(b"[" + b"".join(array) + b"] TJ")
    if rise:
        out.append(b"0 Ts")
    return b" ".join(out)
