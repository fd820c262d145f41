"""The merge fragment of an invoice, made by the renderer from the objects it just wrote.

Pre-linking a file with pypdf (prelink.py) parses back what the renderer had in hand a
moment before: the page's content stream, which fonts it embedded (a bundled face and
the glyphs it drew) and the logo. Here the fragment is built from those directly, with
no parsing: per page a page object and its content stream (local), a /Resources
dictionary (shared), and for each font the record naming its face (FACE_PREFIX), for a
logo its image and soft mask (shared), each with the offsets of its references.

The bytes are written in the pre-linker's canonical form (pypdf's serialization, as
`Prelinker.write` emits it), so that a renderer-made fragment is equal, object for
object and digest for digest, to what pre-linking the file gives: the merged file is
the same whichever way a part came (tests/test_merge.py compares them for every script,
multi-page invoices and logos). Only for the file the renderer wrote: a file changed
afterwards (a hybrid e-invoice's incremental update) is pre-linked by parsing, and the
merge uses a fragment only for the sha256 the database records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from invoicing.pdf.fragments import FACE_PREFIX, PARENT, Fragment, GlyphUse, Obj, Rec, merkle

if TYPE_CHECKING:
    from invoicing.pdf.fonts import Face
    from invoicing.pdf.logo import Logo

__all__ = ["PageObjects", "own_fragment"]

# A page as the renderer wrote it: its deflated content stream, its fonts (resource
# name, face) and its images (resource name, logo), in the order of its /Resources.
PageObjects = tuple[bytes, Sequence[tuple[str, "Face"]], Sequence[tuple[str, "Logo"]]]

_PAGE_HEAD = b"<<\n/Resources "
_DICT_ENTRY = re.compile(rb"/([A-Za-z0-9]+) (/[A-Za-z0-9]+|\d+|\x00)")
_STREAM_HEAD = re.compile(rb"<< (.*) /Length (\d+) >>\nstream\n", re.DOTALL)


def own_fragment(pages: Sequence[PageObjects], glyphs: GlyphUse, media_box: bytes) -> Fragment:
    """The fragment of the pages just written; `glyphs`: per face key, glyph id -> text, of
    every face the pages use; `media_box`: the pages' /MediaBox numbers ("595.28 841.89")."""
    count = len(pages)
    page_tail = b"\n/Type /Page\n/MediaBox [ 0 0 %s ]\n/Contents " % media_box
    objs: list[Obj] = []
    contents: list[Obj] = []
    shared: dict[bytes, Rec] = {}
    for i, (content, fonts, images) in enumerate(pages):
        resources = _resources(fonts, images, shared)
        cut_contents = len(_PAGE_HEAD) + len(page_tail)
        body = _PAGE_HEAD + page_tail + b"\n/Parent \n>>"
        objs.append((body, (len(_PAGE_HEAD), cut_contents, cut_contents + 9), (resources, count + i, PARENT)))
        contents.append(
            (
                b"<<\n/Filter /FlateDecode\n/Length %d\n>>\nstream\n%s\nendstream" % (len(content), content),
                (),
                (),
            )
        )
    return Fragment(
        count, objs + contents, shared, {key: dict(sorted(use.items())) for key, use in glyphs.items()}
    )


def _resources(
    fonts: Sequence[tuple[str, Face]], images: Sequence[tuple[str, Logo]], shared: dict[bytes, Rec]
) -> bytes:
    """The digest of a page's /Resources, its children put into `shared` before it."""
    parts = [b"<<\n/Font <<\n"]
    cuts: list[int] = []
    kids: list[bytes] = []
    size = len(parts[0])

    def entry(name: str, digest: bytes) -> None:
        nonlocal size
        head = b"/%s " % name.encode()
        parts.append(head + b"\n")
        cuts.append(size + len(head))
        kids.append(digest)
        size += len(head) + 1

    def chunk(data: bytes) -> None:
        nonlocal size
        parts.append(data)
        size += len(data)

    for name, face in fonts:
        body, digest = _face_record(face.key)
        shared.setdefault(digest, (body, (), ()))
        entry(name, digest)
    chunk(b">>\n")
    if images:
        chunk(b"/XObject <<\n")
        for name, logo in images:
            for digest, record in _logo_records(logo):
                shared.setdefault(digest, record)
            entry(name, digest)
        chunk(b">>\n")
    chunk(b">>")
    body = b"".join(parts)
    digest = merkle(body, cuts, kids)
    shared.setdefault(digest, (body, tuple(cuts), tuple(kids)))
    return digest


@lru_cache(maxsize=64)
def _face_record(key: str) -> tuple[bytes, bytes]:
    body = FACE_PREFIX + key.encode()
    return body, merkle(body, (), ())


_logos: dict[str, tuple[tuple[bytes, Rec], ...]] = {}


def _logo_records(logo: Logo) -> tuple[tuple[bytes, Rec], ...]:
    """The logo's shared records, its soft mask first; the last is the image. Cached per
    logo (its name is a digest of the file)."""
    hit = _logos.get(logo.name)
    if hit is None:
        records: list[tuple[bytes, Rec]] = []
        kids: tuple[bytes, ...] = ()
        if logo.smask is not None:
            body, _ = _stream(logo.smask)
            digest = merkle(body, (), ())
            records.append((digest, (body, (), ())))
            kids = (digest,)
        whole = b"".join(p if isinstance(p, bytes) else b"\x00" for p in logo.image)
        body, cuts = _stream(whole)
        records.append((merkle(body, cuts, kids), (body, cuts, kids)))
        hit = _logos[logo.name] = tuple(records)
        if len(_logos) > 16:
            _logos.pop(next(iter(_logos)))
    return hit


def _stream(obj: bytes) -> tuple[bytes, tuple[int, ...]]:
    """An image stream as objects.image_stream writes it ("<< /K V ... /Length N >>", a NUL
    for the reference to its soft mask), in the canonical form; the offset of the cut."""
    head = _STREAM_HEAD.match(obj)
    if head is None:
        raise ValueError("not an image stream of objects.image_stream")
    data = obj[head.end() : head.end() + int(head[2])]
    out = b"<<\n"
    cuts: list[int] = []
    for key, value in _DICT_ENTRY.findall(head[1]):
        out += b"/%s " % key
        if value == b"\x00":
            cuts.append(len(out))
        else:
            out += value
        out += b"\n"
    return out + b"/Length %d\n>>\nstream\n%s\nendstream" % (len(data), data), tuple(cuts)
