"""The bundled TrueType faces: registration with reportlab, and their seeded subsets.

Every use of reportlab's TTFont internals in the package is in this module; text.py and
page.py measure and encode text through `widths`, `width`, `split` and `subset_name`.

Faces
    DejaVu Sans (regular, bold) for Latin, Cyrillic and Greek; Droid Sans Fallback for
    every run of characters that DejaVu Sans lacks (Japanese, Chinese, Korean, ￥, ...).
    All are bundled in ``invoicing/pdf/fonts`` (see the README there), parsed once per
    process, lazily, under a lock; renders may run in threads. The fallback face is
    loaded only when some text needs it.

Seeded subsets
    reportlab subsets a TrueType font per document, giving characters subset codes
    in order of first use, so two invoices normally embed different font programs.
    Before anything is drawn, each DejaVu face is "seeded" for the document (`seed`)
    with a fixed, ordered character set (ASCII, Latin-1, Latin Extended-A, Cyrillic,
    Greek, the punctuation and currency signs babel prints) that fills exactly two
    256-code subsets. Invoices that only use seeded characters therefore embed
    byte-identical font objects (Font, FontDescriptor, Widths, ToUnicode, FontFile2).
    That is what keeps a merged batch small: the pre-linker names every object reached
    through a page's /Resources by a digest of its bytes and its children's digests
    (prelink.py, "Shared objects"), and the linker writes each digest once. Other characters go into
    later, per-invoice subsets, and the fallback face is never seeded: its subsets are
    per invoice.

Cached subset objects
    The objects of one subset are built and deflated once per process and reused by
    every document that has the same subset (`_InvoiceFont`): the seeded subsets are
    the same in every invoice, and building one costs ~6 ms.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import (
    FF_NONSYMBOLIC,
    FF_SYMBOLIC,
    SUBSETN,
    TTFont,
)

from invoicing.pdf.objects import FORMAT_DOC, Slot, Template, deflated_stream, template_parts

__all__ = [
    "BOLD",
    "CJK",
    "FONT_DIR",
    "REGULAR",
    "Face",
    "base_faces",
    "cjk_face",
    "seed",
    "split",
    "subset_name",
    "width",
    "widths",
]

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# The names the faces are registered under with reportlab (process-wide).
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


# ------------------------------------------------------------------ subset objects


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

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._subset_lock = threading.Lock()
        self._subset_cache: OrderedDict[tuple[str, int, tuple[int, ...]], _SubsetObjects] = OrderedDict()

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
                "Widths": Slot("Widths"),
                "ToUnicode": Slot("ToUnicode"),
                "FontDescriptor": Slot("FontDescriptor"),
            }
        ).format(FORMAT_DOC)
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
                "FontFile2": Slot("FontFile2"),
                "MissingWidth": face.defaultWidth,
            }
        ).format(FORMAT_DOC)
        return _SubsetObjects(
            font=template_parts(font),
            widths=(pdfdoc.PDFArray([face.getCharWidth(c) for c in subset]).format(FORMAT_DOC),),
            descriptor=template_parts(descriptor),
            to_unicode=(deflated_stream(zlib.compress(cmap)),),
            program=(deflated_stream(zlib.compress(program), Length1=len(program)),),
        )

    def addObjects(self, doc: Any) -> None:
        state = self._assignState(doc)
        state.frozen = 1
        fonts = doc.idToObject["BasicFonts"].dict
        for n, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(n, doc)[1:]
            cached = self._subset_objects(internal_name, n, subset)
            tag = f"{self.fontName}:{n}"
            to_unicode = doc.Reference(Template(cached.to_unicode), "toUnicodeCMap:" + tag)
            program = doc.Reference(Template(cached.program), "fontFile:" + tag)
            descriptor = doc.Reference(
                Template(cached.descriptor, {"FontFile2": program}), "fontDescriptor:" + tag
            )
            # Widths as an object of its own, where reportlab inlines the array. It was
            # done for pypdf's compress_identical_objects, which the merge no longer uses
            # (it shares whole object graphs by digest); it stays because any change to
            # these objects changes the bytes, and so the sha256, of every invoice.
            widths = doc.Reference(Template(cached.widths), "widths:" + tag)
            font = Template(
                cached.font, {"Widths": widths, "ToUnicode": to_unicode, "FontDescriptor": descriptor}
            )
            doc.Reference(font, internal_name)
            fonts[internal_name] = font
        del self.state[doc]

    def seed(self, doc: Any, template: TTFont.State) -> None:
        """Give ``doc`` a copy of the pre-computed seeded subset state."""
        state = TTFont.State.__new__(TTFont.State)
        state.assignments = dict(template.assignments)
        state.subsets = [list(s) for s in template.subsets]
        state.nextCode = template.nextCode
        state.internalName = None
        state.frozen = 0
        self.state[doc] = state
        self.getSubsetInternalName(0, doc)  # fixes /F1, /F2 in seeding order


# ------------------------------------------------------------------------- faces


class _Probe:
    """A weak-referenceable stand-in document used to lay out the seed once."""


@dataclass(frozen=True)
class Face:
    """A loaded face: the registered font, the code points it has a glyph for, and for a
    seeded face the subset layout after feeding it the seed characters."""

    font: _InvoiceFont
    cmap: frozenset[int]
    seed: TTFont.State | None  # None: not seeded (the fallback face)

    @property
    def name(self) -> str:
        return self.font.fontName


def _load_face(name: str, seeded: bool) -> Face:
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
    return Face(font, cmap, seed)


_FONTS: dict[str, _InvoiceFont] = {}  # by name, filled as faces load
_font_lock = threading.Lock()
_base: tuple[Face, Face] | None = None
_cjk: Face | None = None


def base_faces() -> tuple[Face, Face]:
    """(regular, bold), loaded on first use."""
    global _base
    base = _base
    if base is None:
        with _font_lock:
            if _base is None:
                _base = (_load_face(REGULAR, seeded=True), _load_face(BOLD, seeded=True))
            base = _base
    return base


def cjk_face() -> Face:
    """The fallback face, loaded on first use."""
    global _cjk
    face = _cjk
    if face is None:
        with _font_lock:
            if _cjk is None:
                _cjk = _load_face(CJK, seeded=False)
            face = _cjk
    return face


# ------------------------------------------------------- what text and pages use


def seed(doc: Any) -> None:
    """Seed both base faces for reportlab document `doc`; before anything is drawn.

    This also fixes their resource names: /F1 (regular) and /F2 (bold).
    """
    for face in base_faces():
        face.font.seed(doc, face.seed)


def widths(font_name: str) -> tuple[dict[int, int], int]:
    """(advance width by code point, width of any other code point), in 1/1000 em."""
    face = _FONTS[font_name].face
    return face.charWidths, face.defaultWidth


def width(text: str, font_name: str) -> float:
    """Advance width of ``text`` in font units (1/1000 em)."""
    face = _FONTS[font_name].face
    return sum(map(face.charWidths.get, map(ord, text), repeat(face.defaultWidth)))


def split(font_name: str, text: str, doc: Any) -> list[tuple[int, bytes]]:
    """``text`` as (subset number, codes) pieces for `doc`, assigning codes to new characters."""
    return _FONTS[font_name].splitString(text, doc)


def subset_name(font_name: str, subset: int, doc: Any) -> str:
    """The resource name ("/F3") of a subset in `doc`; a first use allocates the next one."""
    return _FONTS[font_name].getSubsetInternalName(subset, doc)
