"""The pre-linker: one invoice PDF, parsed with pypdf, turned into a `Fragment`.

The render workers mostly need no parsing: the renderer makes the fragment of the file
it writes itself (own_fragment.py, `render_prelinked`), equal to what this module makes
of that file, and `write_fragments` takes it. What is parsed here: files the renderer
did not leave as written (a hybrid e-invoice), files rendered by an earlier attempt,
and every part of a merge that has no usable fragment.

A fragment holds the part's pages and everything they reference, each object
serialized to bytes with its references cut out and the offset of every cut recorded,
so that the linker (merge.py) can renumber objects without parsing anything. The render
workers pre-link their batch in parallel (`write_fragments`, one fragment file per
batch); the merge pre-links, the same way, any part that has no usable fragment.

Shared objects
    Objects reached through a ``/Resources`` entry (fonts, font descriptors, font
    programs, ToUnicode CMaps, widths arrays, images, forms) are shared: each is named
    by a Merkle digest, the sha256 of its body, its cut offsets and its children's
    digests (`fragments.merkle`), so equal digests mean equal output: the merged file
    holds one copy of each (a logo, a page's fonts dictionary). A page's direct
    /Resources dictionary becomes a shared indirect object too. Only an acyclic object
    can have a digest: one on a reference cycle, or referring to a page or to another
    unshared object, stays local.

Bundled faces
    A font that the renderer embedded (a Type0 font of a bundled face, embed.py) is not
    copied: it becomes a record naming the face (FACE_PREFIX), and the glyphs it holds
    go into the fragment, so that the linker embeds one subset of the union of every
    part's glyphs. That is done only for a font checked to be exactly what the renderer
    makes of this face version for those glyphs (`_face_font`: the font program, the
    widths, the ToUnicode map, the subset name); any other font is an ordinary shared
    object and is copied as it is.

Local objects
    Everything else a page references (content streams, annotations) is local: copied
    once per part. Streams keep their encoded data and filters. Page tree nodes, the
    catalog and pages of no part are never copied; a page's /Parent is cut to the
    PARENT target, which the linker points at the page's /Pages node.

Parsing is what costs
    A widths array takes milliseconds with pypdf, so the pre-linker first keys a shared
    object by its raw bytes in the part (as found through the part's xref): equal raw
    bytes parse to equal objects, so the serialized form, and with the children's
    digests the digest, are remembered (LRU-bounded, across parts) and a repeated
    object costs one sha256 of its raw bytes. Encrypted parts skip that shortcut, as
    decryption depends on the object number.
"""

from __future__ import annotations

import gc
import hashlib
import io
import re
import threading
import zlib
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    PdfObject,
    StreamObject,
)

from invoicing.pdf import embed
from invoicing.pdf.errors import MergeError, one_line
from invoicing.pdf.fragments import (
    FACE_PREFIX,
    PARENT,
    Fragment,
    FragmentWriter,
    GlyphUse,
    Obj,
    Opener,
    Rec,
    merkle,
)

__all__ = ["Lru", "Prelinker", "write_fragments"]

_CACHE_ENTRIES = 16384  # per digest map (~200 bytes an entry)
_TEMPLATE_BYTES = 32 << 20  # serialized shared objects the pre-linker keeps for later parts
# Exceptions pypdf raises on damaged input besides its own.
_READ_ERRORS = (
    PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
    RecursionError, zlib.error,
)  # fmt: skip


def write_fragments(
    pdfs: Sequence[bytes],
    output: Path | str,
    shas: Sequence[str] | None = None,
    made: Sequence[Fragment | None] | None = None,
    opener: Opener | None = None,
) -> int:
    """Pre-link each PDF into one fragment file, written atomically (or to the stream
    `opener` gives, for object storage); returns its entry count.

    Entries are keyed by the sha256 of the PDF's bytes (a repeated PDF is stored once);
    a caller that has just hashed the PDFs passes the hex digests as `shas`. `made`: per
    PDF, the fragment the renderer made of exactly those bytes (render_prelinked), or None
    where the PDF is to be parsed. A PDF that cannot be pre-linked raises MergeError and
    nothing is written.
    """
    if shas is not None and len(shas) != len(pdfs):
        raise ValueError("one sha256 per PDF")
    if made is not None and len(made) != len(pdfs):
        raise ValueError("one fragment (or None) per PDF")
    prelinker = _thread_prelinker()
    writer = FragmentWriter()
    for i, pdf in enumerate(pdfs):
        key = bytes.fromhex(shas[i]) if shas is not None else hashlib.sha256(pdf).digest()
        if key in writer:
            continue
        fragment = made[i] if made is not None else None
        if fragment is None:
            fragment = prelinker.fragment(pdf, f"PDF {i + 1} of {len(pdfs)} (sha256 {key.hex()[:16]})")
        writer.add(key, fragment)
    return writer.write(output, opener)


def _thread_prelinker() -> Prelinker:
    """The calling thread's pre-linker, kept between calls: a render worker pre-links
    batch after batch of invoices that embed the same font objects, and what it
    remembers is keyed by raw bytes, so it is right for any part (and bounded)."""
    prelinker = getattr(_THREAD, "prelinker", None)
    if prelinker is None:
        prelinker = _THREAD.prelinker = Prelinker()
    return prelinker


_THREAD = threading.local()

V = TypeVar("V")


class Lru(Generic[V]):
    """A bounded map; hits move to the young end, the oldest entries go first."""

    __slots__ = ("_data", "_cap", "_budget", "_weight")

    def __init__(self, cap: int, budget: int = 0):
        self._data: OrderedDict[bytes, tuple[V, int]] = OrderedDict()
        self._cap = cap
        self._budget = budget  # bound on the sum of the entries' weights; 0: none
        self._weight = 0

    def get(self, key: bytes) -> V | None:
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: bytes, value: V, weight: int = 0) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self._weight -= old[1]
        self._data[key] = (value, weight)
        self._weight += weight
        while len(self._data) > self._cap or (self._budget and self._weight > self._budget):
            self._weight -= self._data.popitem(last=False)[1][1]


Key = tuple[int, int]  # (object number, generation) in a part
# A reference found while serializing: (what, shared), where what is a Key, a direct
# /Resources dictionary or _PARENT_REF.
Ref = tuple[Any, bool]
# A serialized object before its references are resolved: (body, cuts, refs).
Serialized = tuple[bytes, tuple[int, ...], tuple[Ref, ...]]

_SKIP: Serialized = (b"", (), ())  # stands for an object that is never copied (by identity)
_PARENT_REF = object()
_NO_DIGEST = bytes(32)  # a null child, in the raw-bytes key of a digest
_STRUCTURE_TYPES = frozenset({"/Pages", "/Page", "/Catalog"})
_PAGE_SKIP_KEYS = frozenset({"/Parent", "/B"})  # /B: article beads, would pull in threads
_RAW_HEAD = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj")
_STREAM_KEYWORD = re.compile(rb">>\s*stream(?:\r\n|\r|\n)")
_INDIRECT_LENGTH = re.compile(rb"/Length\s+\d+\s+\d+\s+R")


class Prelinker:
    """Turns parts into fragments; remembers shared objects by their raw bytes across parts."""

    def __init__(self) -> None:
        # sha256(raw body) -> serialized object, or _SKIP
        self.templates: Lru[Serialized] = Lru(_CACHE_ENTRIES, _TEMPLATE_BYTES)
        self.digests: Lru[bytes] = Lru(_CACHE_ENTRIES)  # sha256(raw body) + children's digests -> digest
        self.names: dict[str, bytes] = {}

    def fragment(self, data: bytes, what: str) -> Fragment:
        """The PDF `data` pre-linked; MergeError naming `what` if it cannot be read."""
        fragment = self._fragment(data, what)
        # pypdf's objects point back at their reader, so a part's objects are freed by
        # the cycle collector, not when the part is done. Closing the stream (in
        # _fragment) releases the file's bytes at once; collecting the young generations
        # now, when nothing of the part is referenced any more, keeps the rest from being
        # promoted to the old generation and piling up there. (Without both, peak RSS
        # grew by ~30 MB over the first 20,000 parts when the caller held 100,000 Parts.)
        gc.collect(1)
        return fragment

    def _fragment(self, data: bytes, what: str) -> Fragment:
        try:
            with io.BytesIO(data) as stream:
                reader = PdfReader(stream)
                pages = list(reader.pages)
                if not pages:
                    raise MergeError(f"cannot read {what}: it has no pages")
                return _PartPrelink(self, reader, data, pages).run()
        except MergeError:
            raise
        except _READ_ERRORS as exc:
            raise MergeError(f"cannot read {what}: {one_line(exc)}") from None

    def template(self, obj: Any, shared: bool) -> Serialized:
        out = io.BytesIO()
        cuts: list[int] = []
        refs: list[Ref] = []
        self.write(obj, shared, out, cuts, refs)
        return out.getvalue(), tuple(cuts), tuple(refs)

    def write(self, obj: Any, shared: bool, out: io.BytesIO, cuts: list[int], refs: list[Ref]) -> None:
        """Serialize `obj` like pypdf does, recording where each reference goes instead of
        writing it; values under a "/Resources" key are shared."""
        if isinstance(obj, IndirectObject):
            cuts.append(out.tell())
            refs.append(((obj.idnum, obj.generation), shared))
        elif isinstance(obj, DictionaryObject):
            stream = obj if isinstance(obj, StreamObject) else None
            out.write(b"<<\n")
            for key, value in obj.items():
                if (stream is not None and key == "/Length") or _internal_key(key):
                    continue
                out.write(self.name(key))
                out.write(b" ")
                self.write(value, shared or key == "/Resources", out, cuts, refs)
                out.write(b"\n")
            if stream is not None:
                data = stream._data  # encoded, as read
                out.write(b"/Length %d\n>>\nstream\n" % len(data))
                out.write(data)
                out.write(b"\nendstream")
            else:
                out.write(b">>")
        elif isinstance(obj, ArrayObject):
            out.write(b"[")
            for value in obj:
                out.write(b" ")
                self.write(value, shared, out, cuts, refs)
            out.write(b" ]")
        elif type(obj) is NameObject:
            out.write(self.name(obj))
        else:
            obj.write_to_stream(out)

    def name(self, name: Any) -> bytes:
        """A name's bytes; pypdf's escaping is slow and a part has the same few names."""
        data = self.names.get(name) if type(name) is NameObject else None
        if data is None:
            data = _dump(name)
            if type(name) is NameObject and len(self.names) < 4096:
                self.names[name] = data
        return data


def _dump(obj: PdfObject) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def _internal_key(key: str) -> bool:
    return len(key) > 2 and key[1] == "%" and key[-1] == "%"  # pypdf never writes these


def _finish(body: bytes, cuts: Sequence[int], targets: Sequence[int | bytes | None]) -> Obj:
    """An object from a template and its resolved references; None targets become null."""
    if None not in targets:
        return body, tuple(cuts), cast(tuple[int | bytes, ...], tuple(targets))
    pieces: list[bytes] = []
    kept_cuts: list[int] = []
    kept: list[int | bytes] = []
    prev, shift = 0, 0
    for cut, target in zip(cuts, targets, strict=True):
        if target is None:
            pieces += (body[prev:cut], b"null")
            prev = cut
            shift += 4
        else:
            kept_cuts.append(cut + shift)
            kept.append(target)
    pieces.append(body[prev:])
    return b"".join(pieces), tuple(kept_cuts), tuple(kept)


def _digests(targets: Sequence[int | bytes]) -> tuple[bytes, ...] | None:
    """The targets as children's digests; None if one is a local object or PARENT (an int)."""
    kids = tuple(t for t in targets if isinstance(t, bytes))
    return kids if len(kids) == len(targets) else None


class _PartPrelink:
    """Pre-links the pages of one part and what they reference."""

    def __init__(self, prelinker: Prelinker, reader: PdfReader, data: bytes, pages: list[PageObject]):
        self.pre = prelinker
        self.reader = reader
        self.data = data
        self.view = memoryview(data)
        self.pages = pages
        self.objs: list[Obj | None] = []  # local objects, pages first
        self.shared: dict[bytes, Rec] = {}  # children before parents
        self.memo: dict[Key, int | bytes | None] = {}  # part object -> target (None: null)
        self.active: set[Key] = set()  # shared objects being visited (cycle detection)
        self.reserved: dict[Key, int] = {}  # made local because a cycle reached them -> number
        self.extents: dict[Key, tuple[int, int]] | None = None
        self.raw_ok = not reader.is_encrypted  # decryption depends on the object number
        self.glyphs: GlyphUse = {}

    def run(self) -> Fragment:
        for page in self.pages:
            ref = page.indirect_reference
            if ref is not None:
                self.memo[(ref.idnum, ref.generation)] = len(self.objs)
            self.objs.append(None)
        for i, page in enumerate(self.pages):
            self.objs[i] = self._page(page)
        objs = [obj for obj in self.objs if obj is not None]
        if len(objs) != len(self.objs):
            raise MergeError("internal error: an object was never pre-linked")
        return Fragment(len(self.pages), objs, self.shared, self.glyphs)

    def _page(self, page: DictionaryObject) -> Obj:
        pre = self.pre
        out = io.BytesIO()
        cuts: list[int] = []
        refs: list[Ref] = []
        out.write(b"<<\n")
        if "/Resources" in page:  # first, so shared objects go the deduplicating way
            resources = page.raw_get("/Resources")
            out.write(b"/Resources ")
            if isinstance(resources, DictionaryObject):  # direct: make it an object of its own
                cuts.append(out.tell())
                refs.append((resources, True))
            else:
                pre.write(resources, True, out, cuts, refs)
            out.write(b"\n")
        for key, value in page.items():
            if key in _PAGE_SKIP_KEYS or key == "/Resources" or _internal_key(key):
                continue
            out.write(pre.name(key))
            out.write(b" ")
            pre.write(value, False, out, cuts, refs)
            out.write(b"\n")
        out.write(b"/Parent ")
        cuts.append(out.tell())
        refs.append((_PARENT_REF, False))
        out.write(b"\n>>")
        return _finish(out.getvalue(), cuts, [self._target(ref, shared) for ref, shared in refs])

    def _target(self, ref: Any, shared: bool) -> int | bytes | None:
        if ref is _PARENT_REF:
            return PARENT
        if isinstance(ref, DictionaryObject):
            return self._direct(ref)
        return self._resolve(ref, shared)

    def _resolve(self, key: Key, shared: bool) -> int | bytes | None:
        memo = self.memo
        if key in memo:
            return memo[key]
        if shared:
            return self._shared(key)
        obj = self._load(key)
        if obj is None:
            memo[key] = None
            return None
        num = memo[key] = len(self.objs)  # before the children: cycles end here
        self.objs.append(None)
        body, cuts, refs = self.pre.template(obj, False)
        self.objs[num] = _finish(body, cuts, [self._resolve(k, s) for k, s in refs])
        return num

    def _shared(self, key: Key) -> int | bytes | None:
        """A digest for an acyclic object (children first); else a local object."""
        memo, pre = self.memo, self.pre
        if key in self.active:  # a cycle: it will be local
            num = memo[key] = len(self.objs)
            self.objs.append(None)
            self.reserved[key] = num
            return num
        face = self._face_font(key)
        if face is not None:
            memo[key] = face
            return face
        raw = self._raw_digest(key) if self.raw_ok else None
        template = pre.templates.get(raw) if raw is not None else None
        if template is None:
            obj = self._load(key)
            template = _SKIP if obj is None else pre.template(obj, True)
            if raw is not None:
                pre.templates.put(raw, template, 0 if template is _SKIP else len(template[0]))
        if template is _SKIP:
            memo[key] = None
            return None
        body, cuts, refs = template
        self.active.add(key)
        targets = [self._resolve(k, True) for k, _ in refs]
        self.active.discard(key)
        obj = _finish(body, cuts, targets)
        kids = _digests(obj[2])
        if key in self.reserved or kids is None:
            held = self.reserved.get(key)  # the number a cycle reserved for it
            if held is None:
                num = len(self.objs)
                self.objs.append(obj)
            else:
                num = held
                self.objs[num] = obj
            memo[key] = num
            return num
        record: Rec = (obj[0], obj[1], kids)
        raw_key = None
        digest = None
        if raw is not None:
            # Here every target is a digest or None (a null).
            raw_key = raw + b"".join(t if isinstance(t, bytes) else _NO_DIGEST for t in targets)
            digest = pre.digests.get(raw_key)
        if digest is None:
            digest = merkle(*record)
            if raw_key is not None:
                pre.digests.put(raw_key, digest)
        self.shared.setdefault(digest, record)
        memo[key] = digest
        return digest

    def _direct(self, obj: DictionaryObject) -> int | bytes:
        """A direct dictionary as an object of its own: shared if it can be."""
        body, cuts, refs = self.pre.template(obj, True)
        made = _finish(body, cuts, [self._resolve(k, s) for k, s in refs])
        kids = _digests(made[2])
        if kids is None:
            self.objs.append(made)
            return len(self.objs) - 1
        record: Rec = (made[0], made[1], kids)
        digest = merkle(*record)
        self.shared.setdefault(digest, record)
        return digest

    def _load(self, key: Key) -> Any:
        """The part's object, or None for a null, a missing object or a structure node."""
        obj = self.reader.get_object(IndirectObject(key[0], key[1], self.reader))
        if obj is None or isinstance(obj, NullObject):
            return None
        if isinstance(obj, DictionaryObject) and obj.get("/Type") in _STRUCTURE_TYPES:
            return None  # page tree nodes, the catalog, pages of no part: never copied
        return obj

    def _face_font(self, key: Key) -> bytes | None:
        """The digest of the face record standing for this object, if it is a font the
        renderer embedded (embed.read_font, from the file's bytes); its glyphs go into
        `self.glyphs`. None for anything else."""
        if not self.raw_ok:
            return None
        body = self._raw_body(key)
        if body is None or not body.startswith(b"<< /Type /Font /Subtype /Type0 "):
            return None  # the common case, decided without parsing
        found = embed.read_font(body, lambda num: self._raw_body((num, 0)))
        if found is None:
            return None
        face, glyphs = found
        use = self.glyphs.setdefault(face.key, {})
        for gid, text in glyphs.items():
            if text and not use.get(gid, ""):
                use[gid] = text
            elif gid not in use:
                use[gid] = text
        body = FACE_PREFIX + face.key.encode()
        digest = merkle(body, (), ())
        self.shared.setdefault(digest, (body, (), ()))
        return digest

    # ------------------------------------------------------------------- raw keys

    def _raw_digest(self, key: Key) -> bytes | None:
        """sha256 of the object's bytes in the part, from after "N G obj" to its "endobj".

        None if the xref entry does not point at the object's header, or for streams with
        an indirect /Length (their data depends on another object). See `_raw_span`.
        """
        span = self._raw_span(key)
        if span is None:
            return None
        body_start, body_end = span
        data = self.data
        stream = _STREAM_KEYWORD.search(data, body_start, body_end)
        if stream is not None and _INDIRECT_LENGTH.search(data, body_start, stream.start()):
            return None
        return hashlib.sha256(self.view[body_start:body_end]).digest()

    def _raw_body(self, key: Key) -> bytes | None:
        """The object's bytes in the part, between "N G obj" and "endobj", trimmed."""
        span = self._raw_span(key)
        return self.data[span[0] : span[1]].strip() if span is not None else None

    def _raw_span(self, key: Key) -> tuple[int, int] | None:
        """Where the object's body is in the part: after "N G obj", up to its "endobj".

        An object's extent runs to the next object's offset (or the end of the file),
        so it always holds the whole object, maybe with something after it; cutting at
        the last "endobj" in it keeps the whole object. None if the xref entry does not
        point at the object's header.
        """
        if self.extents is None:
            self.extents = self._find_extents()
        extent = self.extents.get(key)
        if extent is None:
            return None
        start, end = extent
        data = self.data
        head = _RAW_HEAD.match(data, start, min(end, start + 64))
        if head is None or (int(head[1]), int(head[2])) != key:
            return None
        body_start = head.end()
        body_end = data.rfind(b"endobj", body_start, end)
        if body_end < 0:
            return None
        return body_start, body_end

    def _find_extents(self) -> dict[Key, tuple[int, int]]:
        offsets: dict[Key, int] = {}
        for generation, table in self.reader.xref.items():
            for num, offset in table.items():
                if isinstance(offset, int) and 0 <= offset < len(self.data):
                    offsets[(num, generation)] = offset
        bounds = sorted(set(offsets.values()))
        size = len(self.data)
        extents = {}
        for key, offset in offsets.items():
            after = bisect_right(bounds, offset)
            extents[key] = (offset, bounds[after] if after < len(bounds) else size)
        return extents
