"""PDF objects as bytes, with the references to other objects filled in last.

An object that refers to others is kept as parts (`Parts`): bytes, and between them the
name of each object it refers to. Font subsets (embed.py) and logos (logo.py) are made
this way once and cached; the renderer (writer.py) and the merge (merge.py) fill in the
object numbers of the file they write (`fill`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Parts", "deflated_stream", "fill", "image_stream", "stream", "text_string"]

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


def text_string(value: str) -> bytes:
    """A PDF text string: printable ASCII as a literal, anything else UTF-16BE with a BOM."""
    if value.isascii() and value.isprintable():
        escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode("ascii") + b">"
