"""reportlab's own bytes of what every invoice writes alike, formatted once per process.

reportlab formats each object of a file when it is saved (`PDFDocument.format`) through
its generic dictionary and array code, value by value: a page's /MediaBox and
/Resources (two arrays and a dictionary) took 0.2 ms of a Latin invoice's 1.9 ms, the
information dictionary 0.06 ms, the catalog and the page tree 0.04 ms (thread CPU time,
400 invoices of the synthetic mix in one process, on a loaded machine); and they are the
same on every invoice but for a few values. Formatted once, a rendered invoice with its
merge fragment takes 11.15 M instructions instead of 11.87 M (callgrind, 200 invoices
of the synthetic mix in a warmed process, the same bytes).

Here reportlab formats each kind once, in a template document in which every object
referred to has a sentinel number (`preformat`); the bytes are kept as parts
(objects.Parts: the bytes, and between them the names of the objects referred to)
whose numbers are filled in from the document being saved (`_fill`). So the file is
byte for byte what reportlab's own formatting writes (tests/test_preformat.py), and
reportlab still writes it: a page keeps reportlab's PDFPage, its /MediaBox and
/Resources "set explicitly" (PDFPage's own word) as reportlab's PDFArray and
PDFResourceDictionary that format faster; the information dictionary, catalog and page
tree are reportlab's PDFInfo, PDFCatalog and PDFPages with a `format` that fills the
invoice's values into parts made once (the title, author, subject and dates still
formatted by reportlab's PDFString and PDFDate, the references by the document's
numbers). Anything an invoice does not have (outlines, rotated pages, transparency, a
parent page tree) is left to reportlab's own `format`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence

from reportlab.pdfbase.pdfdoc import (
    NoEncryption,
    PDFArray,
    PDFCatalog,
    PDFDate,
    PDFDocument,
    PDFInfo,
    PDFObject,
    PDFObjectReference,
    PDFPage,
    PDFPages,
    PDFResourceDictionary,
    PDFString,
    format,
)

from invoicing.pdf.objects import Parts

__all__ = ["Info", "preformat", "preformat_document", "preformat_page"]

# Object numbers no invoice reaches: the template's, one per object referred to.
_SENTINEL = 987_650_000
_SENTINEL_REF = re.compile(rb"(98765\d{4} 0 R)")


class _Template:
    """What reportlab's formatting asks of a document, for an object that holds only
    references and direct objects (`format` of an indirect object needs `Reference`)."""

    encrypt = NoEncryption()

    def __init__(self, names: Sequence[str]) -> None:
        self.idToObjectNumberAndVersion = {name: (_SENTINEL + i, 0) for i, name in enumerate(names)}

    def Reference(self, obj: object, name: str | None = None) -> object:  # noqa: N802 - reportlab's
        """As PDFDocument.Reference for a reference or a plain value (itself); nothing
        here becomes a new object."""
        if name is not None or (isinstance(obj, PDFObject) and not isinstance(obj, PDFObjectReference)):
            raise ValueError(f"preformat: {type(obj).__name__} would be a new object")
        return obj


def preformat(obj: object, names: Sequence[str] = ()) -> Parts:
    """reportlab's bytes of `obj` as a direct object, each reference to one of the
    objects `names` (reportlab's names of them) a part naming it."""
    formatted = format(obj, _Template(names), toplevel=1)
    pieces = _SENTINEL_REF.split(formatted)  # bytes, a reference, bytes, ...
    parts: list[bytes | str] = []
    for i, piece in enumerate(pieces):
        if i % 2:
            parts.append(names[int(piece.split()[0]) - _SENTINEL])
        elif piece:
            parts.append(piece)
    return tuple(parts)


def _fill(parts: Parts, document: PDFDocument, names: Mapping[str, str] | None = None) -> bytes:
    """The bytes of `parts` with the numbers `document` gave the objects they name
    (through `names`, the template's name -> the document's, if given)."""
    numbers = document.idToObjectNumberAndVersion
    if names is None:
        return b"".join(p if isinstance(p, bytes) else b"%d 0 R" % numbers[p][0] for p in parts)
    return b"".join(p if isinstance(p, bytes) else b"%d 0 R" % numbers[names[p]][0] for p in parts)


class _Box(PDFArray):
    """A page's /MediaBox, reportlab's PDFArray, formatted once (`parts`)."""

    parts: Parts | None = None

    def format(self, document: PDFDocument, IND: bytes = b"\n ") -> bytes:
        return super().format(document, IND) if self.parts is None else _fill(self.parts, document)


class _Resources(PDFResourceDictionary):
    """A page's /Resources, reportlab's PDFResourceDictionary, formatted once (`parts`)."""

    parts: Parts | None = None

    def format(self, document: PDFDocument) -> bytes:
        return super().format(document) if self.parts is None else _fill(self.parts, document)


_lock = threading.Lock()
_pages: dict[tuple[object, ...], tuple[_Box, _Resources]] = {}  # by page kind
_PAGE_KINDS_MAX = 64  # a kind per page size and logo: a process sees a few


def preformat_page(page: PDFPage) -> None:
    """Give a page reportlab's canvas just made (`showPage`) its /MediaBox and /Resources
    as PDFPage.check_format would make them when the file is written, formatted once per
    kind of page (size, images). A page with anything else in its resources (graphics
    states, shadings, colour spaces), rotated or with resources of its own is left to
    reportlab. Shared by the pages of a kind: reportlab writes both as direct objects,
    and only reads them."""
    if page.Resources or page.ExtGState or page._shadingUsed or page._colorsUsed or page.Rotate:
        return
    xobjects = page.XObjects.dict if page.XObjects else {}
    images = tuple((key, ref.name) for key, ref in sorted(xobjects.items()))
    key = (page.pagewidth, page.pageheight, bool(page.hasImages), images)
    made = _pages.get(key)
    if made is None:
        box = _Box([0, 0, page.pagewidth, page.pageheight])
        resources = _Resources()
        resources.basicFonts()
        if page.hasImages:
            resources.allProcs()
        else:
            resources.basicProcs()
        if page.XObjects:
            resources.XObject = page.XObjects
        box.parts = preformat(box)
        resources.parts = preformat(resources, ["BasicFonts", *(name for _, name in images)])
        with _lock:
            if len(_pages) >= _PAGE_KINDS_MAX:
                _pages.clear()
            made = _pages.setdefault(key, (box, resources))
    page.MediaBox, page.Resources = made


class _Catalog(PDFCatalog):
    """reportlab's document catalog, formatted from parts made once: when it has only
    its type, page mode and page tree, as every invoice's has (else PDFCatalog.format)."""

    _made: dict[tuple[object, ...], Parts] = {}

    def format(self, document: PDFDocument) -> bytes:
        values = {k: getattr(self, k, v) for k, v in self.__Defaults__.items()}  # as PDFCatalog.format
        values |= {k: v for k in self.__NoDefault__ if (v := getattr(self, k, None)) is not None}
        values = {k: v for k, v in values.items() if v is not None}
        if values.keys() != {"Type", "PageMode", "Pages"} or not isinstance(values["PageMode"], str):
            return super().format(document)
        key = (values["Type"], values["PageMode"])
        parts = self._made.get(key)
        if parts is None:
            template = PDFCatalog()
            template.Type, template.PageMode = key
            template.Pages = PDFObjectReference("Pages")
            parts = preformat(template, ["Pages"])
            with _lock:
                self._made.setdefault(key, parts)
        return _fill(parts, document, {"Pages": document.Reference(self.Pages).name})


class _Pages(PDFPages):
    """reportlab's page tree, formatted from parts made once per page count: its kids,
    its count, its type (PDFPages.format, if it has a parent)."""

    _made: dict[int, Parts] = {}

    def format(self, document: PDFDocument) -> bytes:
        if getattr(self, "Parent", None) is not None:
            return super().format(document)
        count = len(self.pages)
        parts = self._made.get(count)
        names = [f"Page{i}" for i in range(count)]
        if parts is None:
            template = PDFPages()
            template.pages = [PDFObjectReference(name) for name in names]
            parts = preformat(template, names)
            with _lock:
                self._made.setdefault(count, parts)
        kids = [document.Reference(page).name for page in self.pages]  # as PDFPages.check_format
        return _fill(parts, document, dict(zip(names, kids, strict=True)))


_FIELDS = ("title", "author", "subject")
_DATE = "date"


class Info(PDFInfo):
    """reportlab's information dictionary (PDFInfo), formatted from parts made once per
    set of its fixed entries (producer, creator, keywords, trapped): PDFInfo.format with
    the invoice's title, author and subject, each a PDFString, and its dates, a PDFDate."""

    _made: dict[tuple[str, ...], Parts] = {}

    def format(self, document: PDFDocument) -> bytes:
        key = (self.producer, self.creator, self.keywords, self.trapped)
        parts = self._made.get(key)
        if parts is None:
            template = PDFInfo()
            template.__dict__.update(self.__dict__)
            for field in _FIELDS:
                setattr(template, field, _slot(field))
            template._dateFormatter = lambda *_: _slot(_DATE)
            formatted = template.format(document)  # refers to no object
            parts = tuple(
                part.decode("ascii")[3:-3] if part.startswith(b"({{") else part
                for part in re.split(rb"(\(\{\{[a-z]+\}\}\))", formatted)
            )
            with _lock:
                self._made.setdefault(key, parts)
        values = {field: PDFString(getattr(self, field)).format(document) for field in _FIELDS}
        values[_DATE] = PDFDate(ts=document._timeStamp, dateFormatter=self._dateFormatter).format(document)
        return b"".join(p if isinstance(p, bytes) else values[p] for p in parts)


def _slot(field: str) -> str:
    return "{{" + field + "}}"


def preformat_document(document: PDFDocument) -> None:
    """Make `document`'s information dictionary an `Info`, its catalog a `_Catalog` and
    its page tree a `_Pages`, each keeping what was set on it; before any page is added.
    reportlab's PDFDocument makes them in its constructor and formats whatever its
    `info`, `Catalog` and `Pages` are; the canvas offers no way to give it others
    (internal attributes: reportlab>=5.1,<5.2)."""
    if document.Pages.pages:
        raise ValueError("preformat_document: the document has pages already")
    info = Info()
    info.__dict__.update(document.info.__dict__)
    pages = _Pages()
    pages.__dict__.update(document.Pages.__dict__)
    catalog = _Catalog()
    catalog.__dict__.update(document.Catalog.__dict__)
    catalog.Pages = pages
    document.info = info
    document.Pages = pages
    document.Catalog = document._catalog = catalog
