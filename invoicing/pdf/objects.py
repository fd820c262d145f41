"""PDF objects as bytes, with the references to other objects filled in last.

An object that refers to others is kept as parts (`Parts`): bytes, and between them the
name of each object it refers to. Font subsets (embed.py) and logos (logo.py) are made
this way once per process and reused by every invoice: reportlab writes them into each
file as they are (glyph_font.Made fills in the numbers it gave them), and the merge
(merge.py) fills in the object numbers of the file it writes (`fill`). Deflating a
face's base set and formatting its objects again per invoice, as reportlab's own
TrueType embedding does, was 60 % of a naive canvas invoice's 2.9 ms.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Parts", "deflated_stream", "fill", "image_stream", "stream"]

Parts = tuple[bytes | str, ...]  # bytes, and the names of referenced objects between them


def fill(parts: Parts, refs: Mapping[str, int]) -> bytes:
    """The object's bytes with "N 0 R" for each named reference."""
    return b"".join(p if isinstance(p, bytes) else b"%d 0 R" % refs[p] for p in parts)


def stream(entries: bytes, data: bytes) -> bytes:
    """A stream object: `entries` (dictionary entries, without << >>), then `data`."""
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


def deflated_stream(data: bytes, **entries: int) -> bytes:
    """A stream object around already deflated `data` (font programs, CMaps, pages)."""
    extra = b"".join(b" /%s %d" % (key.encode(), value) for key, value in entries.items())
    return stream(b"/Filter /FlateDecode" + extra, data)


def image_stream(width: int, height: int, color_space: str, filt: str, data: bytes, smask: bool) -> Parts:
    """An image XObject around encoded `data`; with `smask`, a reference "SMask" to its alpha."""
    head = (
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 8 /ColorSpace /%s /Filter /%s"
        % (
            width,
            height,
            color_space.encode(),
            filt.encode(),
        )
    )
    if not smask:
        return (stream(head, data),)
    whole = stream(head + b" /SMask \x00", data)
    before, after = whole.split(b"\x00", 1)
    return (before, "SMask", after)
