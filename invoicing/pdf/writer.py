"""The file of one invoice: numbered objects, a classic cross-reference table, a trailer.

The renderer writes its PDF itself rather than through reportlab's canvas and object
model: everything on a page is already PDF operators (page.py), fonts and logos are
pre-made bytes (embed.py, logo.py), and what is left, the page tree, the catalog and the
information dictionary, is a few lines. It also keeps the file a pure function of the
invoice: no clock, no process state. Objects are written in number order, each as
"N 0 obj ... endobj", then the xref table and the trailer with the given /ID.
"""

from __future__ import annotations

__all__ = ["PdfFile"]

_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


class PdfFile:
    """Objects by number (from 1); `reserve` a number to refer to before writing it."""

    __slots__ = ("_objects",)

    def __init__(self) -> None:
        self._objects: list[bytes | None] = []

    def reserve(self) -> int:
        self._objects.append(None)
        return len(self._objects)

    def put(self, num: int, body: bytes) -> None:
        self._objects[num - 1] = body

    def add(self, body: bytes) -> int:
        self._objects.append(body)
        return len(self._objects)

    def finish(self, root: int, info: int, file_id: bytes) -> bytes:
        """The whole file; `file_id` is the trailer's /ID element (hex digits)."""
        out = [_HEADER]
        pos = len(_HEADER)
        offsets = []
        for num, body in enumerate(self._objects, 1):
            if body is None:
                raise ValueError(f"object {num} was reserved but never written")
            chunk = b"%d 0 obj\n%s\nendobj\n" % (num, body)
            offsets.append(pos)
            out.append(chunk)
            pos += len(chunk)
        size = len(self._objects) + 1
        out.append(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        out.append(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        out.append(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, root, info, file_id, file_id, pos)
        )
        return b"".join(out)
