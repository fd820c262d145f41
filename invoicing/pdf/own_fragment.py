"""The merge fragment of an invoice, made by the renderer from the objects reportlab
just wrote.

Pre-linking a file with pypdf (prelink.py) parses back what the renderer had in hand a
moment before: the pages reportlab made, their content streams, which fonts they use (a
bundled face and the glyphs it drew) and the logo. Here the fragment is built from
those directly, with no parsing: reportlab's document (`PDFDocument`) holds each page,
its resources and where it wrote each object in the file (`idToOffset`), so a page's
content stream is sliced from the bytes it wrote; per page a page object and its
content stream (local), its /Resources and font dictionary (shared), and for each font
the record naming its face (FACE_PREFIX), for a logo its image and soft mask (shared),
each with the offsets of its references.

The bytes are written in the pre-linker's canonical form (pypdf's serialization of what
reportlab wrote, keys in reportlab's sorted order, as `Prelinker.write` emits it), so
that a renderer-made fragment is equal, object for object and digest for digest, to
what pre-linking the file gives: the merged file is the same whichever way a part came
(tests/test_merge.py compares them for every script, multi-page invoices and logos).
Only for the file the renderer wrote: a file changed afterwards (a hybrid e-invoice's
incremental update) is pre-linked by parsing, and the merge uses a fragment only for
the sha256 the database records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from reportlab.lib.rl_accel import fp_str

from invoicing.pdf.fragments import FACE_PREFIX, PARENT, Fragment, GlyphUse, Obj, Rec, merkle

if TYPE_CHECKING:
    from reportlab.pdfbase.pdfdoc import PDFDocument

    from invoicing.pdf.logo import Logo

__all__ = ["own_fragment"]

_DICT_ENTRY = re.compile(rb"/([A-Za-z0-9]+) (/[A-Za-z0-9]+|\d+|\x00)")
_STREAM_HEAD = re.compile(rb"<< (.*) /Length (\d+) >>\nstream\n", re.DOTALL)
_CONTENT_HEAD = re.compile(rb"\d+ 0 obj\n<<\n/Filter \[ /FlateDecode \] /Length (\d+)\n>>\nstream\n")
_PAGE_HEAD = b"<<\n/Resources "


def own_fragment(doc: PDFDocument, pdf: bytes, glyphs: GlyphUse, logos: Mapping[str, Logo]) -> Fragment:
    """The fragment of the pages reportlab wrote in `pdf` for `doc`; `glyphs`: per face
    key, glyph id -> text beyond the face's base set (glyph_font.glyphs_beyond_base);
    `logos`: the logos drawn, by the name reportlab gave their image (logo.draw_logo)."""
    objects, offsets = doc.idToObject, doc.idToOffset
    count = doc.pageCounter - 1
    objs: list[Obj] = []
    contents: list[Obj] = []
    shared: dict[bytes, Rec] = {}
    fonts, keys = _fonts(doc, shared)
    for i in range(count):
        page = objects[f"Page{i + 1}"]
        resources = _resources(page.Resources, fonts, logos, shared)
        head = _CONTENT_HEAD.match(pdf, offsets[page.Contents.__InternalName__])
        if head is None:
            raise ValueError("a page's content stream is not where reportlab wrote it")
        data = pdf[head.end() : head.end() + int(head[1])]
        tail = _page_tail(tuple(page.MediaBox.sequence))
        body = _PAGE_HEAD + b"\n/Contents " + tail
        objs.append(
            (body, (len(_PAGE_HEAD), len(_PAGE_HEAD) + 11, len(body) - 3), (resources, count + i, PARENT))
        )
        contents.append(
            (
                b"<<\n/Filter [ /FlateDecode ]\n/Length %d\n>>\nstream\n%s\nendstream" % (len(data), data),
                (),
                (),
            )
        )
    faces = {key: dict(sorted(glyphs[key].items())) for key in keys}  # in the font dictionary's order
    return Fragment(count, objs + contents, shared, faces)


@lru_cache(maxsize=16)
def _page_tail(media_box: tuple[float, ...]) -> bytes:
    box = b" ".join(_number(v) for v in media_box)
    return b"\n/MediaBox [ %s ]\n/Type /Page\n/Parent \n>>" % box


def _number(value: float) -> bytes:
    """A number as reportlab writes it (fp_str); pypdf writes a page size read back the same."""
    return fp_str(value).encode()


def _fonts(doc: PDFDocument, shared: dict[bytes, Rec]) -> tuple[bytes, list[str]]:
    """The digest of the document's font dictionary, its face records put into `shared`
    before it, and the keys of its faces; its entries in reportlab's order (sorted by
    resource name)."""
    names = sorted(name[1:] for name in doc.fontMapping.values())
    body = b"<<\n"
    cuts: list[int] = []
    kids: list[bytes] = []
    keys: list[str] = []
    for name in names:
        keys.append(doc.idToObject[f"{name}.Font"].face.key)
        face_body, digest = _face_record(keys[-1])
        shared.setdefault(digest, (face_body, (), ()))
        body += b"/%s " % name.encode()
        cuts.append(len(body))
        kids.append(digest)
        body += b"\n"
    body += b">>"
    digest = merkle(body, cuts, kids)
    shared.setdefault(digest, (body, tuple(cuts), tuple(kids)))
    return digest, keys


def _resources(resources: Any, fonts: bytes, logos: Mapping[str, Logo], shared: dict[bytes, Rec]) -> bytes:
    """The digest of a page's /Resources (reportlab's PDFResourceDictionary: its font
    dictionary, its procedure sets, its images), its children put into `shared` before it."""
    procs = b" ".join(str(name).encode() for name in resources.ProcSet)
    body = b"<<\n/Font "
    cuts = [len(body)]
    kids = [fonts]
    body += b"\n/ProcSet [ %s ]\n" % procs
    images = resources.XObject
    if images:
        body += b"/XObject <<\n"
        for name in sorted(images.dict):
            for digest, record in _logo_records(logos[name]):
                shared.setdefault(digest, record)
            body += b"/%s " % name.encode()
            cuts.append(len(body))
            kids.append(digest)
            body += b"\n"
        body += b">>\n"
    body += b">>"
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
