"""reportlab's font class for the bundled faces: glyph runs drawn as two-byte glyph ids.

reportlab draws and writes every invoice (render.py, page.py); what it has no public
call for is text as HarfBuzz glyph runs (shaping.py) in a composite font whose
ToUnicode map keeps each cluster's text. It is extended where its own fonts are:
`GlyphFont` is a font registered with `pdfmetrics`, one per face, whose
`formatForPdf` turns a string whose characters are glyph ids into the escaped
two-byte codes of an Identity-H font (page.py draws the runs' strings and TJ arrays
with it), and which writes its own Type0 / CIDFontType2 objects, as
`cidfonts.CIDFont.addObjects` does.

Which glyphs a document embeds is known only when every page is drawn, so it is a
dynamic font, as reportlab's TrueType fonts are (`ttfonts.TTFont`): a page that
selects it names the Type0 font on the document and puts it in the pages' font
dictionary (`getSubsetInternalName`), and the subset is made among the document's
`delayedFonts` when `PDFDocument.GetPDFData` writes the file (`addObjects`): embed.py's
objects for the runs the document drew (`drawn`), each a reportlab object (`Made`)
that formats to bytes made once per process (a face's base set is 96 % of the Latin
invoices' fonts: deflating its program and formatting its /W again per invoice was 60 %
of a naive canvas invoice's 2.9 ms). Being dynamic also keeps reportlab from setting
Helvetica in every page's preamble and embedding it unused.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFDocument, PDFObject
from reportlab.pdfbase.pdfmetrics import TypeFace

from invoicing.pdf import fonts
from invoicing.pdf.drawn import FontUse
from invoicing.pdf.embed import invoice_runs
from invoicing.pdf.fonts import Face
from invoicing.pdf.objects import Parts

__all__ = ["GlyphFont", "Made", "drawn", "glyph_font", "glyphs_beyond_base", "glyph_string"]

# reportlab's escapePDF writes every byte below 32 too as an octal escape: most
# glyph ids' high byte is 0, and the Latin invoices' content streams grew by a third.
_ESCAPES = {ord("\\"): "\\\\", ord("("): "\\(", ord(")"): "\\)", 13: "\\r"} | {
    code: f"\\{code:03o}" for code in range(128, 256)
}
_FONTS = "BasicFonts"  # reportlab's name of the document's font dictionary (pdfdoc.BasicFonts)


class Made(PDFObject):
    """An object made as bytes (embed.py's `Parts`, logo.py's image), each reference in it
    named: `refs` gives the reportlab name of the object it stands for, whose number is
    filled in when the document is written."""

    def __init__(self, parts: Parts, refs: Mapping[str, str] | None = None) -> None:
        self.parts = parts
        self.refs = refs or {}

    def format(self, document: PDFDocument) -> bytes:
        numbers = document.idToObjectNumberAndVersion
        refs = self.refs
        return b"".join(p if isinstance(p, bytes) else b"%d 0 R" % numbers[refs[p]][0] for p in self.parts)


def glyph_string(gids: Iterable[int]) -> str:
    """Glyph ids as the text a `GlyphFont` draws: one character per glyph id."""
    return "".join(map(chr, gids))


class GlyphFont:
    """One bundled face as a reportlab font: Type0 / CIDFontType2, Identity-H, its
    character codes the glyph ids of the face. A dynamic font, as reportlab's TrueType
    fonts are: a document names it when a page first selects it
    (`getSubsetInternalName`) and it adds its objects when the file is written
    (`addObjects`, among the document's `delayedFonts`). Shared by every document of
    the process; what one document draws is kept per document (`drawn`)."""

    _dynamicFont = 1
    _multiByte = 1
    shapable = False  # shaped here (shaping.py), never by reportlab
    substitutionFonts: list[object] = []

    def __init__(self, face: Face) -> None:
        self.bundled = face
        self.fontName = f"invoicing-{face.resource}-{face.name}"
        self.name = self.fontName
        self.face = TypeFace(self.fontName)  # reportlab's record of it: not a built-in face
        self.encoding = None

    def formatForPdf(self, text: str) -> str:
        """Two bytes per glyph id, escaped for a literal string in a page's code: what a
        literal cannot hold as it is, and the bytes above 127, which reportlab's page
        stream would encode as UTF-8 (`_ESCAPES`)."""
        return text.encode("utf-16-be", "surrogatepass").decode("latin-1").translate(_ESCAPES)

    def splitString(self, text: str, doc: PDFDocument, encoding: object = None) -> list[tuple[int, bytes]]:
        """One subset, whatever is drawn: two bytes per glyph id (for textOut)."""
        return [(0, text.encode("utf-16-be", "surrogatepass"))]

    def stringWidth(self, text: str, size: float, encoding: object = None) -> float:
        widths = self.bundled.widths
        return sum(widths[ord(ch)] for ch in text) * size * 0.001

    def getSubsetInternalName(self, subset: int, doc: PDFDocument) -> str:
        """The font's resource name on `doc` ("/F1": the face's). The first time, the Type0
        font is named on the document and put in the pages' font dictionary, and the
        font joins the fonts whose objects are made when the file is written."""
        name = doc.fontMapping.get(self.fontName)
        if name is None:
            resource = self.bundled.resource
            ref = doc.Reference(_Type0(self.bundled), f"{resource}.Font")
            doc.fontMapping[self.fontName] = name = "/" + resource
            doc.idToObject[_FONTS].dict[resource] = ref
            doc.delayedFonts.append(self)
        return name

    def addObjects(self, doc: PDFDocument) -> None:
        """The subset of what `doc` drew of the face: embed.py's objects."""
        doc.idToObject[f"{self.bundled.resource}.Font"].make(doc)


class _Type0(Made):
    """A face's Type0 font in one document; its subset is made (`make`) when the file is
    written."""

    def __init__(self, face: Face) -> None:
        super().__init__((b"null",))
        self.face = face
        self.beyond: dict[int, str] = {}

    def make(self, doc: PDFDocument) -> None:
        face = self.face
        objects, self.beyond = invoice_runs(face, drawn(doc).runs(face))
        refs: dict[str, str] = {}
        for name, parts in objects[:-1]:
            refs[name] = f"{face.resource}.{name}"
            doc.Reference(Made(parts, dict(refs)), refs[name])
        self.parts, self.refs = objects[-1][1], refs


_drawn: weakref.WeakKeyDictionary[PDFDocument, FontUse] = weakref.WeakKeyDictionary()
_drawn_lock = threading.Lock()


def drawn(doc: PDFDocument) -> FontUse:
    """The runs drawn on `doc` so far (page.py records them as it draws)."""
    hit = _drawn.get(doc)
    if hit is None:
        with _drawn_lock:
            hit = _drawn.setdefault(doc, FontUse())
    return hit


def glyphs_beyond_base(doc: PDFDocument) -> dict[str, dict[int, str]]:
    """Per face key, the glyphs `doc`'s subsets hold beyond the face's base set (after
    the file is written): the merge fragment's record of them."""
    out: dict[str, dict[int, str]] = {}
    for name in doc.fontMapping.values():
        font = doc.idToObject.get(f"{name[1:]}.Font")
        if isinstance(font, _Type0):
            out[font.face.key] = font.beyond
    return out


def _registered(face: Face) -> GlyphFont:
    font = GlyphFont(face)
    pdfmetrics.registerFont(font)
    return font


glyph_font = fonts.PerFace(_registered)  # the face's font, registered with pdfmetrics on first use
