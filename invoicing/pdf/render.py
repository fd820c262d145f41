"""Render one `InvoiceDocument` to PDF bytes with reportlab.

Pure function of the document: no clock, no database, no Celery. The same document
always gives the same bytes (invariant mode; creation date and trailer /ID come from
the invoice).

Layout
    A small layout of its own on a reportlab canvas (not platypus): text blocks are
    measured and wrapped, line items flow over pages with the column header repeated,
    then every page is painted knowing the page count ("Page x of y"). Text is never
    parsed as markup; it reaches the PDF only through PDF string escaping.

Fonts
    DejaVu Sans (regular, bold) for Latin, Cyrillic and Greek; Droid Sans Fallback for
    every run of characters that DejaVu Sans lacks (Japanese, Chinese, Korean, ￥, ...).
    Both are bundled in ``invoicing/fonts``, parsed once per process, lazily, under a
    lock; renders may run in threads.

Merge-friendly embedding
    reportlab subsets a TrueType font per document, giving characters subset codes
    in order of first use, so two invoices normally embed different font programs.
    Before anything is drawn, each DejaVu face is "seeded" for the document with a
    fixed, ordered character set (ASCII, Latin-1, Latin Extended-A, Cyrillic, Greek,
    the punctuation and currency signs babel prints) that fills exactly two
    256-code subsets. Invoices that only use seeded characters therefore embed
    byte-identical font objects, which pypdf's ``compress_identical_objects``
    collapses when the nightly batch is merged. Other characters go into later,
    per-invoice subsets. One pass of ``compress_identical_objects`` merges the leaf
    objects (font programs, CMaps, widths); repeating it until nothing changes also
    merges the Font and FontDescriptor dictionaries that point at them.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
import unicodedata
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import repeat
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    list_currencies,
)
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import escapePDF
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import (
    FF_NONSYMBOLIC,
    FF_SYMBOLIC,
    SUBSETN,
    TTFont,
)
from reportlab.pdfgen.canvas import Canvas

from invoicing.pdf.documents import InvoiceDocument

__all__ = ["RenderError", "render_invoice"]


class RenderError(Exception):
    """A permanent, data-caused failure: rendering this document again won't help.

    The message is one human-readable line; the billing run stores it on the invoice.
    """


# --------------------------------------------------------------------------- fonts

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "Invoicing-DejaVuSans"
BOLD = "Invoicing-DejaVuSans-Bold"
CJK = "Invoicing-DroidSansFallback"
_FONT_FILES = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    CJK: "DroidSansFallback.ttf",
}


def _codes(*ranges: tuple[int, int] | int) -> list[int]:
    out: list[int] = []
    for r in ranges:
        if isinstance(r, int):
            out.append(r)
        else:
            out.extend(range(r[0], r[1] + 1))
    return out


# The fixed, ordered seed (ASCII is always pre-assigned by reportlab's asciiReadable
# layout). 413 non-ASCII characters = exactly two subsets (159 free codes in subset 0,
# 254 in each further one). Changing this list changes every embedded font program,
# so change it rarely and as a whole.
# fmt: off
_SEED_CODES = _codes(
    (0x00A1, 0x00FF),  # Latin-1 letters, signs (£ ¥ § © « » ...)
    (0x0100, 0x0137), (0x0139, 0x0148), (0x014A, 0x017E),  # Latin Ext-A (not ĸ ŉ ſ)
    (0x0218, 0x021B),  # Romanian Ș ș Ț ț
    (0x0400, 0x045F), 0x0490, 0x0491,  # Cyrillic incl. Ukrainian/Serbian/Macedonian
    0x0386, (0x0388, 0x038A), 0x038C, (0x038E, 0x03A1), (0x03A3, 0x03CE),  # Greek
    0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x201E, 0x2022, 0x2026,
    0x2039, 0x203A,  # dashes, quotes, bullet, ellipsis
    0x202F, 0x2009,  # narrow no-break space (babel), thin space
    0x2212, 0x2116,  # minus sign (babel, some locales), numero sign
    0x20AC, 0x20BD, 0x20A9, 0x20B9, 0x20BA, 0x20B4, 0x20B8,  # € ₽ ₩ ₹ ₺ ₴ ₸
)
# fmt: on
# Used only if a face lacks some seed character, to keep the seeded subsets full.
_PAD_CODES = _codes((0x1EA0, 0x1EF9), (0x0180, 0x024F), (0x0500, 0x052F), (0x2190, 0x21FF))


class _Template(pdfdoc.PDFObject):
    """A pre-formatted indirect PDF object; its only live parts are references.

    The font objects of a subset never change, so they are formatted once per process
    and only the object numbers of the references are filled in per document.
    """

    __RefOnly__ = 1

    def __init__(self, parts: tuple[bytes | str, ...], refs: dict | None = None):
        self.parts = parts
        self.refs = refs or {}

    def format(self, document) -> bytes:
        refs = self.refs
        return b"".join(p if isinstance(p, bytes) else refs[p].format(document) for p in self.parts)


class _Slot(pdfdoc.PDFObject):
    """Placeholder marking where a named reference goes in a cached template."""

    PATTERN = re.compile(rb"\x00slot:(\w+)\x00")

    def __init__(self, name: str):
        self.name = name

    def format(self, document) -> bytes:
        return b"\x00slot:" + self.name.encode() + b"\x00"


def _template_parts(formatted: bytes) -> tuple[bytes | str, ...]:
    """Split formatted bytes at the slots: bytes and slot names, alternating."""
    parts = _Slot.PATTERN.split(formatted)
    return tuple(p.decode() if i % 2 else p for i, p in enumerate(parts))


def _deflated_stream(data: bytes, **entries: int) -> bytes:
    dictionary = {"Filter": pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")]), "Length": len(data)}
    dictionary.update(entries)
    head = pdfdoc.PDFDictionary(dictionary).format(_FORMAT_DOC)
    return head + b"\nstream\n" + data + b"endstream\n"


def _utf16_hex(code: int) -> str:
    if code <= 0xFFFF:
        return f"{code:04X}"
    code -= 0x10000
    return f"{0xD800 + (code >> 10):04X}{0xDC00 + (code & 0x3FF):04X}"


def _to_unicode_cmap(font_name: str, subset: list[int]) -> bytes:
    """ToUnicode CMap for one subset.

    Like reportlab's ``makeToUnicodeCMap``, but code points beyond the BMP are
    written as UTF-16 surrogate pairs (reportlab writes an invalid odd-length hex
    string) and entries come in blocks of at most 100, as the PDF spec asks.
    """
    entries = [f"<{i:02X}> <{_utf16_hex(code)}>" for i, code in enumerate(subset)]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({font_name})",
        f"/Ordering ({font_name})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{font_name} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
    ]
    for start in range(0, len(entries), 100):
        block = entries[start : start + 100]
        lines += [f"{len(block)} beginbfchar", *block, "endbfchar"]
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("latin-1")


@dataclass(frozen=True)
class _SubsetObjects:
    font: tuple[bytes | str, ...]  # slots: Widths, ToUnicode, FontDescriptor
    widths: tuple[bytes]  # array object
    descriptor: tuple[bytes | str, ...]  # slot: FontFile2
    to_unicode: tuple[bytes]  # complete stream object
    program: tuple[bytes]  # complete stream object: the deflated TrueType subset


class _InvoiceFont(TTFont):
    """TTFont whose per-subset PDF objects are built once per process.

    Emits the same objects as ``TTFont.addObjects`` (reportlab 5.1) — Font,
    FontDescriptor, ToUnicode CMap, FontFile2 per 256-code subset — but caches them:
    the seeded subsets are identical in every invoice, and building + deflating one
    costs ~6 ms. The cache lock also serialises ``face.makeSubset``, which moves the
    face's shared parser position and so is not thread-safe.
    """

    _CACHE_MAX = 64

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._subset_lock = threading.Lock()
        self._subset_cache: OrderedDict[tuple, _SubsetObjects] = OrderedDict()

    def _subset_objects(self, internal_name: str, n: int, subset: list[int]) -> _SubsetObjects:
        key = (internal_name, n, tuple(subset))
        with self._subset_lock:
            hit = self._subset_cache.get(key)
            if hit is not None:
                self._subset_cache.move_to_end(key)
                return hit
            hit = self._build_subset_objects(internal_name, n, list(subset))
            self._subset_cache[key] = hit
            if len(self._subset_cache) > self._CACHE_MAX:
                self._subset_cache.popitem(last=False)
            return hit

    def _build_subset_objects(self, internal_name: str, n: int, subset: list[int]) -> _SubsetObjects:
        face = self.face
        base_name = (b"".join((SUBSETN(n), b"+", face.name, face.subfontNameX))).decode("pdfdoc")
        program = face.makeSubset(subset)
        cmap = _to_unicode_cmap(base_name, subset)
        font = pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("Font"),
                "Subtype": pdfdoc.PDFName("TrueType"),
                "Name": pdfdoc.PDFName(internal_name),
                "BaseFont": pdfdoc.PDFName(base_name),
                "FirstChar": 0,
                "LastChar": len(subset) - 1,
                "Widths": _Slot("Widths"),
                "ToUnicode": _Slot("ToUnicode"),
                "FontDescriptor": _Slot("FontDescriptor"),
            }
        ).format(_FORMAT_DOC)
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("FontDescriptor"),
                "Ascent": face.ascent,
                "CapHeight": face.capHeight,
                "Descent": face.descent,
                "Flags": (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(face.bbox),
                "FontName": pdfdoc.PDFName(base_name),
                "ItalicAngle": face.italicAngle,
                "StemV": face.stemV,
                "FontFile2": _Slot("FontFile2"),
                "MissingWidth": face.defaultWidth,
            }
        ).format(_FORMAT_DOC)
        return _SubsetObjects(
            font=_template_parts(font),
            widths=(pdfdoc.PDFArray([face.getCharWidth(c) for c in subset]).format(_FORMAT_DOC),),
            descriptor=_template_parts(descriptor),
            to_unicode=(_deflated_stream(zlib.compress(cmap)),),
            program=(_deflated_stream(zlib.compress(program), Length1=len(program)),),
        )

    def addObjects(self, doc):
        state = self._assignState(doc)
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        for n, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(n, doc)[1:]
            cached = self._subset_objects(internal_name, n, subset)
            tag = f"{self.fontName}:{n}"
            to_unicode = doc.Reference(_Template(cached.to_unicode), "toUnicodeCMap:" + tag)
            program = doc.Reference(_Template(cached.program), "fontFile:" + tag)
            descriptor = doc.Reference(
                _Template(cached.descriptor, {"FontFile2": program}), "fontDescriptor:" + tag
            )
            # Widths as its own object (reportlab inlines it): leaf objects are what a
            # single pypdf compress_identical_objects pass can merge across invoices.
            widths = doc.Reference(_Template(cached.widths), "widths:" + tag)
            font = _Template(
                cached.font, {"Widths": widths, "ToUnicode": to_unicode, "FontDescriptor": descriptor}
            )
            doc.Reference(font, internal_name)
            fonts[internal_name] = font
        del self.state[doc]

    def seed(self, doc, template: TTFont.State) -> None:
        """Give ``doc`` a copy of the pre-computed seeded subset state."""
        state = TTFont.State.__new__(TTFont.State)
        state.assignments = dict(template.assignments)
        state.subsets = [list(s) for s in template.subsets]
        state.nextCode = template.nextCode
        state.internalName = None
        state.frozen = 0
        self.state[doc] = state
        self.getSubsetInternalName(0, doc)  # fixes /F1, /F2 in seeding order


_FORMAT_DOC = pdfdoc.PDFDocument(invariant=1)


class _Probe:
    """A weak-referenceable stand-in document used to lay out the seed once."""


@dataclass(frozen=True)
class _Face:
    font: _InvoiceFont
    cmap: frozenset[int]
    seed: TTFont.State | None  # subset layout after feeding the seed characters


def _load_face(name: str, seeded: bool) -> _Face:
    path = FONT_DIR / _FONT_FILES[name]
    # asciiReadable/shapable pinned so global rl_config can't change the layout.
    font = _InvoiceFont(name, str(path), asciiReadable=1, shapable=False)
    cmap = frozenset(font.face.charToGlyph)
    seed = None
    if seeded:
        probe = _Probe()
        font.splitString("".join(map(chr, range(0x20, 0x7F))), probe)
        state = font.state[probe]
        codes = [c for c in _SEED_CODES if c in cmap]
        font.splitString("".join(map(chr, codes)), probe)
        for code in _PAD_CODES:
            if state.nextCode % 256 == 0:
                break
            if code in cmap and code not in state.assignments:
                font.splitString(chr(code), probe)
        if state.nextCode % 256:
            raise RuntimeError(f"cannot fill the seed subsets of {path.name}")
        seed = state
        del font.state[probe]
    pdfmetrics.registerFont(font)
    _FONTS[name] = font
    return _Face(font, cmap, seed)


_FONTS: dict[str, _InvoiceFont] = {}  # by name, filled as faces load
_font_lock = threading.Lock()
_base: tuple[_Face, _Face] | None = None
_cjk: _Face | None = None


def _base_faces() -> tuple[_Face, _Face]:
    global _base
    base = _base
    if base is None:
        with _font_lock:
            if _base is None:
                _base = (_load_face(REGULAR, seeded=True), _load_face(BOLD, seeded=True))
            base = _base
    return base


def _cjk_face() -> _Face:
    global _cjk
    face = _cjk
    if face is None:
        with _font_lock:
            if _cjk is None:
                _cjk = _load_face(CJK, seeded=False)
            face = _cjk
    return face


# ---------------------------------------------------------------------- text

_WS_CONTROLS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_INVALID = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
    + "]"
)


def clean_text(value: object, limit: int = 1000) -> str:
    """Untrusted text -> plain text that is safe to lay out.

    Line breaks and tabs become spaces; other control characters, lone surrogates
    and non-characters are dropped; NFC normalised; capped at ``limit`` characters
    (an ellipsis marks the cut) so a single cell can never outgrow a page.
    """
    text = value if isinstance(value, str) else str(value)
    text = _WS_CONTROLS.sub(" ", text)
    text = _INVALID.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _runs(text: str, base: _Face) -> list[tuple[str, str]]:
    """Split ``text`` into (font name, text) runs: what ``base`` lacks goes to the CJK face."""
    name = base.font.fontName
    cmap = base.cmap
    if text.isascii() or all(ord(c) in cmap for c in text):
        return [(name, text)] if text else []
    cjk = _cjk_face().cmap
    runs: list[tuple[str, str]] = []
    buf: list[str] = []
    current = name
    for ch in text:
        code = ord(ch)
        if code in cmap:
            font = name
        elif code in cjk:
            font = CJK
        elif unicodedata.category(ch) == "Cf":
            continue  # invisible format character neither font has: don't draw a box
        else:
            # Nobody has a glyph: print U+FFFD (both DejaVu faces have it), which
            # shows and extracts as "�" rather than as a box that extracts as NUL.
            font, ch = name, "\ufffd"
        if font != current and buf:
            runs.append((current, "".join(buf)))
            buf = []
        current = font
        buf.append(ch)
    if buf:
        runs.append((current, "".join(buf)))
    return runs


@dataclass(frozen=True)
class _Style:
    font: str = REGULAR
    size: float = 9
    leading: float = 12
    color: colors.Color = colors.black
    right: bool = False


_Line = tuple[list[tuple[str, str]], float]  # runs, width


def _break_lines(runs: list[tuple[str, str]], size: float, width: float) -> list[_Line]:
    """Greedy line breaking: at spaces, next to CJK characters, else inside a word."""
    chars: list[str] = []
    fonts: list[str] = []
    widths: list[float] = []
    scale = size * 0.001
    for font_name, text in runs:
        face = _FONTS[font_name].face
        char_widths, default = face.charWidths, face.defaultWidth
        for ch in text:
            chars.append(ch)
            fonts.append(font_name)
            widths.append(char_widths.get(ord(ch), default) * scale)
    n = len(chars)
    lines: list[_Line] = []
    i = 0
    while i < n:
        while i < n and chars[i] == " ":
            i += 1
        if i >= n:
            break
        used = 0.0
        j = i
        best = -1  # last position a line may end before
        while j < n:
            if j > i and (chars[j] == " " or fonts[j] == CJK or fonts[j - 1] == CJK):
                best = j
            if j > i and used + widths[j] > width:
                break
            used += widths[j]
            j += 1
        end = j if j >= n or best <= i else best
        stop = end
        while stop > i and chars[stop - 1] == " ":
            stop -= 1
        line_runs: list[tuple[str, str]] = []
        k = i
        while k < stop:
            m = k
            while m < stop and fonts[m] == fonts[k]:
                m += 1
            line_runs.append((fonts[k], "".join(chars[k:m])))
            k = m
        lines.append((line_runs, sum(widths[i:stop])))
        i = end
    return lines


def _width(text: str, font_name: str) -> float:
    """Advance width of ``text`` in font units (1/1000 em)."""
    face = _FONTS[font_name].face
    return sum(map(face.charWidths.get, map(ord, text), repeat(face.defaultWidth)))


class _Text:
    """Plain text in one style, with font fallback, wrapped to a width.

    Never parses markup: the text reaches the PDF only through reportlab's string
    escaping, so ``<b>``, ``&amp;`` and friends print literally.
    """

    __slots__ = ("style", "runs", "natural", "max_lines", "_lines", "_width")

    def __init__(self, text: str, style: _Style, max_lines: int = 2):
        regular, bold = _base_faces()
        self.style = style
        self.runs = _runs(text, bold if style.font == BOLD else regular)
        self.natural = sum(_width(t, f) for f, t in self.runs) * style.size * 0.001
        self.max_lines = max_lines  # more is cut, ending in "…": no block outgrows a page
        self._lines: list[_Line] = []
        self._width: float | None = None

    def lines(self, width: float) -> list[_Line]:
        if self._width != width:
            if self.natural <= width:
                lines = [(self.runs, self.natural)] if self.runs else []
            else:
                lines = _break_lines(self.runs, self.style.size, max(width, 1.0))
                if len(lines) > self.max_lines:
                    lines = lines[: self.max_lines]
                    lines[-1] = self._ellipsize(lines[-1], width)
            self._lines = lines
            self._width = width
        return self._lines

    def _ellipsize(self, line: _Line, width: float) -> _Line:
        base = self.style.font
        scale = self.style.size * 0.001
        chars = [(f, c) for f, chunk in line[0] for c in chunk]
        used = line[1]
        ellipsis = _width("…", base) * scale
        while chars and (used + ellipsis > width or chars[-1][1] == " "):
            f, c = chars.pop()
            used -= _width(c, f) * scale
        chars.append((base, "…"))
        runs: list[tuple[str, str]] = []
        for f, c in chars:
            if runs and runs[-1][0] == f:
                runs[-1] = (f, runs[-1][1] + c)
            else:
                runs.append((f, c))
        return runs, used + ellipsis

    def height(self, width: float) -> float:
        return max(len(self.lines(width)), 1) * self.style.leading


# ---------------------------------------------------------------------- styles

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#66727f")
RULE = colors.HexColor("#d5dbe1")
ACCENT = colors.HexColor("#1d4e89")
SHADE = colors.HexColor("#f2f5f8")

PAGE_W, PAGE_H = A4
MARGIN_X = 18 * mm
CONTENT_W = PAGE_W - 2 * MARGIN_X
RIGHT_X = PAGE_W - MARGIN_X
TOP_Y = PAGE_H - 18 * mm  # first page content starts here
CONT_TOP_Y = PAGE_H - 22 * mm  # later pages, below the "continued" line
BOTTOM_Y = 26 * mm  # content stays above; the footer lives below

ST_BODY = _Style(color=INK)
ST_SMALL = _Style(size=8, leading=10.5, color=MUTED)
ST_LABEL = _Style(font=BOLD, size=7, leading=10, color=MUTED)
ST_NAME = _Style(font=BOLD, size=10.5, leading=14, color=INK)
ST_SELLER = _Style(font=BOLD, size=9.5, leading=13, color=INK)
ST_WORDMARK = _Style(font=BOLD, size=17, leading=21, color=ACCENT)
ST_TITLE = _Style(font=BOLD, size=22, leading=26, color=INK, right=True)
ST_TITLE_NO = _Style(size=10, leading=14, color=MUTED, right=True)
ST_META_K = _Style(size=8.5, leading=12.5, color=MUTED)
ST_META_V = _Style(size=8.5, leading=12.5, color=INK, right=True)
ST_TH = _Style(font=BOLD, size=7.5, leading=10, color=MUTED)
ST_TH_R = _Style(font=BOLD, size=7.5, leading=10, color=MUTED, right=True)
ST_TD = _Style(color=INK)
ST_TD_R = _Style(color=INK, right=True)
ST_TOTAL_K = _Style(color=MUTED)
ST_TOTAL_V = _Style(color=INK, right=True)
ST_GRAND_K = _Style(font=BOLD, size=11, leading=14, color=INK)
ST_GRAND_V = _Style(font=BOLD, size=11, leading=14, color=INK, right=True)
ST_FOOT = _Style(size=7, leading=9, color=MUTED)
ST_PAGE = _Style(size=7.5, leading=9, color=MUTED, right=True)

# Caps for untrusted fields (characters; then wrapped lines, see _Text.max_lines):
# every block stays well inside one page whatever the data.
MAX_NAME = 300
MAX_ADDRESS_LINES = 6
MAX_LINE = 300
MAX_DESCRIPTION = 1000
MAX_SHORT = 100


# ---------------------------------------------------------------------- pages


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _rgb(color: colors.Color) -> str:
    return f"{_num(color.red)} {_num(color.green)} {_num(color.blue)}"


class _Page:
    """One page: its vector graphics, then all of its text in a single BT/ET.

    Content operators are written directly (not through reportlab's TextObject and
    drawing calls) because that bookkeeping dominated render time; the fonts still
    go through TTFont.splitString, so subsetting/embedding is reportlab's own.
    """

    __slots__ = ("images", "rects", "rules", "texts")

    def __init__(self):
        self.images: list = []  # callables taking the canvas
        self.rects: list[tuple[float, float, float, float, colors.Color]] = []
        self.rules: list[tuple[float, float, float, float, colors.Color]] = []  # x1, x2, y, width
        self.texts: list[tuple[_Text, float, float, float]] = []  # text, x, top, width

    def text(self, item: _Text, x: float, top: float, width: float) -> float:
        """Place ``item`` with its top-left corner at (x, top); returns its height."""
        self.texts.append((item, x, top, width))
        return item.height(width)

    def line(self, x1: float, y: float, x2: float, width: float, color: colors.Color) -> None:
        self.rules.append((x1, x2, y, width, color))

    def paint(self, canvas: Canvas) -> None:
        for op in self.images:
            op(canvas)
        out = ["q"]
        for x, y, w, h, color in self.rects:
            out.append(f"{_rgb(color)} rg {_num(x)} {_num(y)} {_num(w)} {_num(h)} re f")
        stroke = None
        for x1, x2, y, width, color in self.rules:
            if (width, color) != stroke:
                out.append(f"{_rgb(color)} RG {_num(width)} w")
                stroke = (width, color)
            out.append(f"{_num(x1)} {_num(y)} m {_num(x2)} {_num(y)} l S")
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
            size = _num(style.size)
            y = top - style.size
            for runs, line_width in item.lines(width):
                x0 = x + width - line_width if style.right else x
                out.append(f"1 0 0 1 {_num(x0)} {_num(y)} Tm")
                for font_name, chunk in runs:
                    font = _FONTS[font_name]
                    # No bold CJK face: fake it with fill + thin stroke (Tr 2).
                    embolden = style.font == BOLD and font_name == CJK
                    if embolden != emboldened:
                        if embolden:
                            out.append(f"2 Tr {_rgb(style.color)} RG {_num(style.size * 0.04)} w")
                        else:
                            out.append("0 Tr")
                        emboldened = embolden
                    for subset, data in font.splitString(chunk, pdf):
                        key = (font_name, subset, size)
                        if key != current:
                            out.append(f"{font.getSubsetInternalName(subset, pdf)} {size} Tf")
                            current = key
                        out.append(f"({escapePDF(data)}) Tj")
                y -= style.leading
        out.append("0 Tr ET Q" if emboldened else "ET Q")
        canvas.addLiteral("\n".join(out))


def _column(page: _Page, items: list[_Text], x: float, top: float, width: float) -> float:
    y = top
    for item in items:
        y -= page.text(item, x, y, width)
    return top - y


# ------------------------------------------------------------------ formatting


@lru_cache(maxsize=8192)
def _format(kind: str, value: str, currency: str, locale: Locale) -> str:
    # Keyed by str(value): Decimal("1.0") == Decimal("1.00") would share a cache slot.
    number = Decimal(value)
    if kind == "money":
        return format_currency(number, currency, locale=locale)
    if kind == "price":  # unit prices may be finer than the currency (0.0025 per call)
        return format_currency(number, currency, locale=locale, decimal_quantization=False)
    if kind == "qty":
        return format_decimal(number, locale=locale, decimal_quantization=False)
    return format_percent(number / 100, locale=locale, decimal_quantization=False)


@dataclass(frozen=True)
class _Fmt:
    locale: Locale
    currency: str

    def money(self, amount: Decimal) -> str:
        return _format("money", str(amount), self.currency, self.locale)

    def price(self, amount: Decimal) -> str:
        return _format("price", str(amount), self.currency, self.locale)

    def qty(self, value: Decimal) -> str:
        return _format("qty", str(value), self.currency, self.locale)

    def percent(self, rate: Decimal) -> str:
        return _format("percent", str(rate), self.currency, self.locale)

    def date(self, value: date) -> str:
        return format_date(value, format="medium", locale=self.locale)


_CURRENCIES = frozenset(list_currencies())


def _formatter(doc: InvoiceDocument) -> _Fmt:
    try:
        locale = Locale.parse(doc.locale)
    except (UnknownLocaleError, ValueError, TypeError):
        raise RenderError(f"unknown locale {doc.locale!r}") from None
    if doc.currency not in _CURRENCIES:
        raise RenderError(f"unknown currency {doc.currency!r}")
    return _Fmt(locale, doc.currency)


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


def _iban(value: str) -> str:
    compact = "".join(value.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


# ------------------------------------------------------------------------ logo

_LOGO_MAX_W = 55 * mm
_LOGO_MAX_H = 18 * mm
_LOGO_MAX_PX = 1200  # larger logos are scaled down once, when first loaded


@dataclass(frozen=True)
class _Logo:
    """A logo file, decoded and compressed once per process (per file version)."""

    name: str  # XObject name, from a digest of the file
    width: float  # points on the page
    height: float
    image: tuple[bytes | str, ...]  # stream object template; slot "SMask" if alpha
    smask: bytes | None  # complete alpha stream object


_logo_lock = threading.Lock()
_logo_cache: OrderedDict[tuple, _Logo] = OrderedDict()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _image_stream(width: int, height: int, color_space: str, filt: str, data: bytes, smask: bool) -> bytes:
    entries = {
        "Type": pdfdoc.PDFName("XObject"),
        "Subtype": pdfdoc.PDFName("Image"),
        "Width": width,
        "Height": height,
        "BitsPerComponent": 8,
        "ColorSpace": pdfdoc.PDFName(color_space),
        "Filter": pdfdoc.PDFName(filt),
        "Length": len(data),
    }
    if smask:
        entries["SMask"] = _Slot("SMask")
    head = pdfdoc.PDFDictionary(entries).format(_FORMAT_DOC)
    return head + b"\nstream\n" + data + b"\nendstream\n"


def _load_logo(path: str, data: bytes) -> _Logo:
    from PIL import Image as PILImage  # reportlab depends on Pillow

    try:
        im = PILImage.open(io.BytesIO(data))
        im.load()
        if im.width <= 0 or im.height <= 0:
            raise ValueError("empty image")
        if max(im.size) > _LOGO_MAX_PX:
            im.thumbnail((_LOGO_MAX_PX, _LOGO_MAX_PX))
        if im.format == "JPEG" and im.mode in ("RGB", "L"):
            space = "DeviceRGB" if im.mode == "RGB" else "DeviceGray"
            body, filt, alpha = data, "DCTDecode", None
        else:
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            rgba = im.convert("RGBA") if has_alpha else None
            rgb = (rgba or im).convert("RGB")
            space, filt = "DeviceRGB", "FlateDecode"
            body = zlib.compress(rgb.tobytes())
            alpha = rgba.getchannel("A") if rgba is not None else None
            if alpha is not None and alpha.getextrema() == (255, 255):
                alpha = None
    except Exception as exc:  # PIL raises many types for bad data
        reason = f"not a PNG/JPEG image ({_one_line(exc)})"
        raise RenderError(f"cannot read logo file {path!r}: {reason}") from None
    w, h = im.size
    smask = None
    if alpha is not None:
        smask = _image_stream(w, h, "DeviceGray", "FlateDecode", zlib.compress(alpha.tobytes()), False)
    scale = min(_LOGO_MAX_W / w, _LOGO_MAX_H / h)
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()[:16]
    image = _template_parts(_image_stream(w, h, space, filt, body, smask is not None))
    return _Logo(f"Logo{digest}", w * scale, h * scale, image, smask)


def _logo(path: str) -> _Logo:
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        with _logo_lock:
            hit = _logo_cache.get(key)
        if hit is not None:
            return hit
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError, TypeError) as exc:
        reason = getattr(exc, "strerror", None) or _one_line(exc)
        raise RenderError(f"cannot read logo file {path!r}: {reason}") from None
    logo = _load_logo(path, data)
    with _logo_lock:
        _logo_cache[key] = logo
        while len(_logo_cache) > 8:
            _logo_cache.popitem(last=False)
    return logo


def _draw_logo(canvas: Canvas, logo: _Logo, x: float, y: float) -> None:
    """Register the cached image objects in this document and draw them."""
    pdf = canvas._doc
    reg_name = pdf.getXObjectName(logo.name)
    if reg_name not in pdf.idToObject:
        refs = {}
        if logo.smask is not None:
            refs["SMask"] = pdf.Reference(_Template((logo.smask,)), reg_name + ".SMask")
        pdf.Reference(_Template(logo.image, refs), reg_name)
    canvas._formsinuse.append(logo.name)  # page /Resources /XObject entry
    canvas._currentPageHasImages = 1
    canvas.addLiteral(f"q {_num(logo.width)} 0 0 {_num(logo.height)} {_num(x)} {_num(y)} cm /{reg_name} Do Q")


# ---------------------------------------------------------------------- layout

_QTY_W = 20 * mm
_PRICE_W = 32 * mm
_AMOUNT_W = 32 * mm
_GAP = 6  # between table columns
_DESC_W = CONTENT_W - _QTY_W - _PRICE_W - _AMOUNT_W - 3 * _GAP
_COLS = (  # x, width of description, quantity, unit price, amount
    (MARGIN_X, _DESC_W),
    (RIGHT_X - _AMOUNT_W - _PRICE_W - _QTY_W - 2 * _GAP, _QTY_W),
    (RIGHT_X - _AMOUNT_W - _PRICE_W - _GAP, _PRICE_W),
    (RIGHT_X - _AMOUNT_W, _AMOUNT_W),
)
_CELL_PAD = 4.5
_TOTALS_W = 84 * mm
_BOX_PAD = 6 * mm
_BOX_PAD_Y = 4.5 * mm


def _row_height(cells: list[_Text]) -> float:
    return max(cell.height(w) for cell, (_, w) in zip(cells, _COLS, strict=True)) + 2 * _CELL_PAD


def _draw_row(page: _Page, cells: list[_Text], top: float, height: float, rule: float, color) -> None:
    for cell, (x, w) in zip(cells, _COLS, strict=True):
        page.text(cell, x, top - _CELL_PAD, w)
    page.line(MARGIN_X, top - height, RIGHT_X, rule, color)


class _Layout:
    def __init__(self, doc: InvoiceDocument, fmt: _Fmt):
        self.doc = doc
        self.fmt = fmt
        self.pages: list[_Page] = []
        self.page = self._new_page()
        self.y = TOP_Y

    def _new_page(self) -> _Page:
        page = _Page()
        self.pages.append(page)
        self.page = page
        self.y = CONT_TOP_Y
        return page

    # -- blocks ------------------------------------------------------------
    def header(self) -> None:
        doc, seller, page = self.doc, self.doc.seller, self.page
        left_w = CONTENT_W * 0.62
        top = self.y
        y = top
        if seller.logo_path:
            logo = _logo(seller.logo_path)
            page.images.append(lambda c, y=y: _draw_logo(c, logo, MARGIN_X, y - logo.height))
            y -= logo.height + 3 * mm
            items = [_Text(clean_text(seller.name, MAX_NAME), ST_SELLER, 3)]
        else:
            items = [_Text(clean_text(seller.name, MAX_NAME), ST_WORDMARK, 3)]
        items += [_Text(clean_text(a, MAX_LINE), ST_SMALL) for a in seller.address[:MAX_ADDRESS_LINES]]
        extra = []
        if seller.tax_id:
            extra.append(f"Tax ID {clean_text(seller.tax_id, MAX_SHORT)}")
        if seller.email:
            extra.append(clean_text(seller.email, MAX_LINE))
        if extra:
            items.append(_Text(" · ".join(extra), ST_SMALL))
        y -= _column(page, items, MARGIN_X, y, left_w)
        right_w = CONTENT_W - left_w
        right = [_Text("INVOICE", ST_TITLE), _Text(clean_text(doc.number, MAX_SHORT), ST_TITLE_NO)]
        right_h = _column(page, right, RIGHT_X - right_w, top, right_w)
        self.y = min(y, top - right_h) - 10 * mm

    def parties(self) -> None:
        doc, fmt, page = self.doc, self.fmt, self.page
        meta_w = 84 * mm
        key_w = 28 * mm
        left_w = CONTENT_W - meta_w - 8 * mm
        top = self.y
        bill = [_Text("BILL TO", ST_LABEL), _Text(clean_text(doc.name, MAX_NAME), ST_NAME, 16)]
        budget = 24  # wrapped address lines in all: absurd data can't fill the page
        for address_line in doc.address[:MAX_ADDRESS_LINES]:
            if budget <= 0:
                break
            item = _Text(clean_text(address_line, MAX_LINE), ST_BODY, budget)
            budget -= len(item.lines(left_w))
            bill.append(item)
        left_h = _column(page, bill, MARGIN_X, top, left_w)
        rows = [
            ("Invoice number", clean_text(doc.number, MAX_SHORT)),
            ("Account", clean_text(doc.account, MAX_SHORT)),
            ("Issue date", fmt.date(doc.issue_date)),
            ("Due date", fmt.date(doc.due_date)),
            ("Billing period", f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"),
        ]
        x = RIGHT_X - meta_w
        y = top - 10  # line up with the name, below the BILL TO label
        for key, value in rows:
            k = _Text(key, ST_META_K)
            v = _Text(value, ST_META_V)
            h = max(page.text(k, x, y, key_w), page.text(v, x + key_w, y, meta_w - key_w))
            y -= h + 1.5
        self.y = min(top - left_h, y) - 9 * mm

    def items(self) -> None:
        fmt = self.fmt
        head = [
            _Text("DESCRIPTION", ST_TH),
            _Text("QTY", ST_TH_R),
            _Text("UNIT PRICE", ST_TH_R),
            _Text("AMOUNT", ST_TH_R),
        ]
        head_h = _row_height(head)
        self._table_head(head, head_h)
        for line in self.doc.lines:
            cells = [
                _Text(clean_text(line.description, MAX_DESCRIPTION), ST_TD, 30),
                _Text(fmt.qty(line.quantity), ST_TD_R),
                _Text(fmt.price(line.unit_price), ST_TD_R),
                _Text(fmt.money(line.amount), ST_TD_R),
            ]
            h = _row_height(cells)
            if self.y - h < BOTTOM_Y:
                self._new_page()
                self._table_head(head, head_h)
            _draw_row(self.page, cells, self.y, h, 0.4, RULE)
            self.y -= h

    def _table_head(self, head: list[_Text], height: float) -> None:
        _draw_row(self.page, head, self.y, height, 0.9, INK)
        self.y -= height

    def closing(self) -> None:
        """Totals, then payment instructions; each block is kept on one page."""
        doc, fmt = self.doc, self.fmt
        totals = [
            (_Text("Subtotal", ST_TOTAL_K), _Text(fmt.money(doc.subtotal), ST_TOTAL_V)),
            (_Text(f"Tax ({fmt.percent(doc.tax_rate)})", ST_TOTAL_K), _Text(fmt.money(doc.tax), ST_TOTAL_V)),
            (_Text(f"Total ({doc.currency})", ST_GRAND_K), _Text(fmt.money(doc.total), ST_GRAND_V)),
        ]
        key_w = _TOTALS_W - _AMOUNT_W - 6 * mm
        val_w = _TOTALS_W - key_w
        totals_h = 4 * mm + sum(max(k.height(key_w), v.height(val_w)) + 6 for k, v in totals) + 9

        number = clean_text(doc.number, MAX_SHORT)
        box_w = CONTENT_W - 2 * _BOX_PAD
        pay_key_w = 24 * mm
        intro = _Text(
            f"Please transfer {fmt.money(doc.total)} by {fmt.date(doc.due_date)}, "
            f"quoting the reference {number}.",
            ST_BODY,
            4,
        )
        details = []
        if doc.seller.bank:
            details.append(("Bank", clean_text(doc.seller.bank, MAX_LINE)))
        details += [
            ("IBAN", clean_text(_iban(doc.seller.iban), MAX_SHORT)),
            ("BIC", clean_text(doc.seller.bic, MAX_SHORT)),
            ("Reference", number),
        ]
        detail_items = [(_Text(k, ST_META_K), _Text(v, ST_BODY)) for k, v in details]
        label = _Text("PAYMENT", ST_LABEL)
        box_inner = (
            label.height(box_w)
            + intro.height(box_w)
            + 2 * mm
            + sum(max(k.height(pay_key_w), v.height(box_w - pay_key_w)) + 1.5 for k, v in detail_items)
        )
        box_h = box_inner + 2 * _BOX_PAD_Y

        if self.y - totals_h < BOTTOM_Y:
            self._new_page()
        page = self.page
        y = self.y - 4 * mm
        x = RIGHT_X - _TOTALS_W
        for i, (k, v) in enumerate(totals):
            if i == 2:
                y -= 3
                page.line(x, y, RIGHT_X, 0.9, INK)
                y -= 6
            h = max(page.text(k, x, y, key_w), page.text(v, x + key_w, y, val_w))
            y -= h + 6
        y -= 8 * mm
        if y - box_h < BOTTOM_Y:
            page = self._new_page()
            y = self.y
        box_top = y
        page.rects.append((MARGIN_X, box_top - box_h, CONTENT_W, box_h, SHADE))
        x = MARGIN_X + _BOX_PAD
        y = box_top - _BOX_PAD_Y
        y -= page.text(label, x, y, box_w)
        y -= page.text(intro, x, y, box_w) + 2 * mm
        for k, v in detail_items:
            h = max(page.text(k, x, y, pay_key_w), page.text(v, x + pay_key_w, y, box_w - pay_key_w))
            y -= h + 1.5
        self.y = box_top - box_h

    def paint(self, canvas: Canvas) -> None:
        doc = self.doc
        parts = [clean_text(doc.seller.name, MAX_NAME)]
        parts += [clean_text(a, MAX_LINE) for a in doc.seller.address[:MAX_ADDRESS_LINES]]
        footer = _Text(" · ".join(p for p in parts if p.strip()), ST_FOOT)
        continued = _Text(
            f"Invoice {clean_text(doc.number, MAX_SHORT)} · {clean_text(doc.name, MAX_NAME)} (continued)",
            ST_SMALL,
            1,
        )
        total = len(self.pages)
        for number, page in enumerate(self.pages, 1):
            page.line(MARGIN_X, 17 * mm, RIGHT_X, 0.5, RULE)
            page.text(footer, MARGIN_X, 15 * mm, CONTENT_W - 30 * mm)
            page.text(_Text(f"Page {number} of {total}", ST_PAGE), RIGHT_X - 30 * mm, 15 * mm, 30 * mm)
            if number > 1:
                page.text(continued, MARGIN_X, PAGE_H - 12 * mm, CONTENT_W)
            page.paint(canvas)
            canvas.showPage()


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


def _canvas(doc: InvoiceDocument, buf: io.BytesIO, period: str) -> Canvas:
    canvas = Canvas(buf, pagesize=A4, invariant=1, pageCompression=1, initialFontName=REGULAR)
    canvas.setTitle(clean_text(doc.number, MAX_SHORT))
    canvas.setAuthor(clean_text(doc.seller.name, MAX_NAME))
    canvas.setSubject(f"Invoice for {period}")
    canvas.setCreator("invoicing")
    pdf = canvas._doc
    pdf._timeStamp = _FixedTimeStamp(doc.issue_date)  # CreationDate/ModDate
    pdf._ID = _file_id(doc)
    # Seed before anything is drawn; this also fixes /F1 (regular) and /F2 (bold).
    for face in _base_faces():
        face.font.seed(pdf, face.seed)
    return canvas


def _save(canvas: Canvas) -> None:
    # Page streams: Flate only. reportlab's default (rl_config.useA85) adds an
    # ASCII85 layer: 25 % bigger and slow in pure Python.
    for page in canvas._doc.Pages.pages:
        if page.Contents is None and page.stream:
            page.Contents = pdfdoc.PDFStream(content=page.stream, filters=[pdfdoc.PDFZCompress])
    canvas.save()


# ---------------------------------------------------------------------- entry


def render_invoice(doc: InvoiceDocument) -> bytes:
    """Render ``doc`` to PDF bytes. Raises RenderError for bad data."""
    fmt = _formatter(doc)
    _validate(doc)
    _base_faces()
    layout = _Layout(doc, fmt)
    layout.header()
    layout.parties()
    layout.items()
    layout.closing()

    buf = io.BytesIO()
    period = f"{fmt.date(doc.period_start)} – {fmt.date(doc.period_end)}"
    canvas = _canvas(doc, buf, period)
    layout.paint(canvas)
    _save(canvas)
    return buf.getvalue()
