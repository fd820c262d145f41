"""Pre-formatted PDF objects that reportlab's document writes out verbatim.

A font subset's objects and a logo's image never change within a process, so they are
formatted to bytes once (`Template`), with a `Slot` where a reference to another object
goes; per document only the object numbers of those references are filled in. The
formatting itself is reportlab's (`pdfdoc`), so the bytes are those reportlab would
write. fonts.py and logo.py build templates; fonts.py and page.py put them into a
document.
"""

from __future__ import annotations

import re
from typing import Any

from reportlab.pdfbase import pdfdoc

__all__ = ["FORMAT_DOC", "Slot", "Template", "deflated_stream", "image_stream", "template_parts"]

# Formats dictionaries and arrays, which need a document; nothing is ever written to it.
FORMAT_DOC = pdfdoc.PDFDocument(invariant=1)


class Template(pdfdoc.PDFObject):
    """A pre-formatted indirect PDF object; its only live parts are references.

    `parts` alternates bytes and slot names (see `template_parts`); `refs` gives the
    document's reference for each slot name.
    """

    __RefOnly__ = 1

    def __init__(self, parts: tuple[bytes | str, ...], refs: dict[str, Any] | None = None):
        self.parts = parts
        self.refs = refs or {}

    def format(self, document: Any) -> bytes:
        refs = self.refs
        return b"".join(p if isinstance(p, bytes) else refs[p].format(document) for p in self.parts)


class Slot(pdfdoc.PDFObject):
    """Placeholder marking where a named reference goes in a cached template."""

    PATTERN = re.compile(rb"\x00slot:(\w+)\x00")

    def __init__(self, name: str):
        self.name = name

    def format(self, document: Any) -> bytes:
        return b"\x00slot:" + self.name.encode() + b"\x00"


def template_parts(formatted: bytes) -> tuple[bytes | str, ...]:
    """Split formatted bytes at the slots: bytes and slot names, alternating."""
    parts = Slot.PATTERN.split(formatted)
    return tuple(p.decode() if i % 2 else p for i, p in enumerate(parts))


def deflated_stream(data: bytes, **entries: int) -> bytes:
    """A complete stream object around already deflated `data` (font programs, CMaps)."""
    dictionary = {"Filter": pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")]), "Length": len(data)}
    dictionary.update(entries)
    head = pdfdoc.PDFDictionary(dictionary).format(FORMAT_DOC)
    return head + b"\nstream\n" + data + b"endstream\n"


def image_stream(width: int, height: int, color_space: str, filt: str, data: bytes, smask: bool) -> bytes:
    """An image XObject around encoded `data`; with `smask`, a slot "SMask" for its alpha."""
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
        entries["SMask"] = Slot("SMask")
    head = pdfdoc.PDFDictionary(entries).format(FORMAT_DOC)
    return head + b"\nstream\n" + data + b"\nendstream\n"
