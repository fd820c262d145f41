"""Many invoice PDFs -> one file, with a bookmark and page labels per invoice.

No Celery, no database: callers hand in paths and titles in the order wanted.

The merge streams: each part is opened with pypdf, its pages and everything they
reference are written to the output straight away, and the part is dropped before the
next one is read. What stays in memory per invoice is bookkeeping only (one byte offset
per written object, one object number per page and per part); titles and labels are
read again from ``parts`` at the end, when the page tree, the outline (one bookmark
per part), the page labels, the catalog, the xref table and the trailer are written.

Shared objects
    Objects reached through a page's ``/Resources`` (fonts, font descriptors, font
    programs, ToUnicode CMaps, widths arrays, images, forms) are deduplicated by
    content, children first: an object whose serialized bytes, with references already
    renumbered, equal those of an object written before gets that object's number. The
    renderer seeds its font subsets so that these objects are byte-identical across
    invoices; the merged file then holds one copy of each.

    Serializing needs a parse, and parsing a font's widths array with pypdf costs
    milliseconds, so there is a faster key first: the object's raw bytes in the part
    (as found through the part's xref) plus the output numbers its references were
    given. Equal raw bytes parse to equal objects, so with equal children they give
    equal output, and a repeated object is recognised by one sha256 and two lookups.
    The maps are LRU-bounded: objects shared by the batch stay hot, one invoice's own
    objects (a CJK font subset) age out, so memory stays flat.

    A page's direct /Resources dictionary (the same in every invoice) becomes one
    shared indirect object.

Everything else a page references (content streams, annotations) is copied as is.
Streams keep their encoded data and filters. The output is a pure function of the
parts, their order and the output name: the file ID is a hash of the bytes written.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import re
import tempfile
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    EncodedStreamObject,
    IndirectObject,
    NameObject,
    NullObject,
    PdfObject,
    StreamObject,
    create_string_object,
)

from invoicing.errors import InvoicingError


class MergeError(InvoicingError):
    """A part cannot be read or the output cannot be written; one line for the user."""


@dataclass(frozen=True)
class Part:
    path: Path
    title: str  # bookmark text, e.g. "INV-2026-10-000001 — Jürgen Müller"
    label: str  # page label prefix, e.g. the invoice number


@dataclass(frozen=True)
class Merged:
    path: Path
    pages: int
    sha256: str
    size: int


_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_FANOUT = 256  # kids per /Pages tree node
_CACHE_ENTRIES = 16384  # per dedupe map (~200 bytes an entry)
_MAX_OFFSET = 9_999_999_999  # a classic xref entry has ten digits
_WRITE_BUFFER = 1 << 20
# Exceptions pypdf raises on damaged input besides its own.
_READ_ERRORS = (
    PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
    RecursionError, zlib.error,
)  # fmt: skip


def merge_pdfs(parts: Sequence[Part], output: Path) -> Merged:
    """Merge in the given order and write `output` atomically (temp file, then rename)."""
    if not parts:
        raise MergeError("nothing to merge: no rendered invoices")
    output = Path(output)
    with atomic_file(output) as handle:
        sink = _Sink(handle, output)
        merger = _Merger(sink)
        for part in parts:
            merger.add(_read_part(part.path), part.path)
        merger.finish(parts, title=output.stem)
        digest, size = sink.sha.hexdigest(), sink.pos
    return Merged(output, merger.pages, digest, size)


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@contextmanager
def atomic_file(output: Path) -> Iterator[BinaryIO]:
    """A temp file next to `output`, fsynced and renamed over it on success, removed on error."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(output.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _read_part(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise MergeError(f"missing invoice file {path}") from None
    except OSError as exc:
        raise MergeError(f"cannot read invoice file {path}: {_one_line(exc)}") from None


# ------------------------------------------------------------------------ output


class _Sink:
    """The output file: running offset, running sha256, one xref offset per object."""

    def __init__(self, handle: BinaryIO, output: Path):
        self._write = handle.write
        self.output = output
        self.sha = hashlib.sha256()
        self.pos = 0
        self.offsets = array("Q", [0])  # by object number; 0 = allocated, not written yet
        self.write(_HEADER)

    def alloc(self) -> int:
        self.offsets.append(0)
        return len(self.offsets) - 1

    def alloc_many(self, count: int) -> int:
        first = len(self.offsets)
        self.offsets.extend(array("Q", bytes(8 * count)))
        return first

    def write(self, data: bytes) -> None:
        try:
            self._write(data)
        except OSError as exc:
            raise MergeError(f"cannot write {self.output}: {_one_line(exc)}") from None
        self.sha.update(data)
        self.pos += len(data)

    def obj(self, num: int, body: bytes) -> None:
        if self.pos > _MAX_OFFSET:
            raise MergeError(f"cannot write {self.output}: larger than a PDF xref table can address")
        self.offsets[num] = self.pos
        self.write(b"%d 0 obj\n%s\nendobj\n" % (num, body))


def _dump(obj: PdfObject) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def _ref(num: int) -> bytes:
    return b"%d 0 R" % num


def _text(value: str) -> bytes:
    """A PDF text string: PDFDocEncoding where it fits, else UTF-16BE with BOM."""
    return _dump(create_string_object(value))


_NULL = NullObject()
_SKIP = object()  # a reference that must not be followed (page tree nodes, catalog)
_STRUCTURE_TYPES = frozenset({"/Pages", "/Page", "/Catalog"})
_PAGE_SKIP_KEYS = frozenset({"/Parent", "/B"})  # /B: article beads, would pull in threads
_OBJ_HEAD = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj")
_STREAM_KEYWORD = re.compile(rb">>\s*stream(?:\r\n|\r|\n)")
_INDIRECT_LENGTH = re.compile(rb"/Length\s+\d+\s+\d+\s+R")

Key = tuple[int, int]  # (object number, generation) in a part


class _Lru:
    """A bounded map; hits move to the young end, the oldest entry goes first."""

    __slots__ = ("_data", "_cap")

    def __init__(self, cap: int):
        self._data: OrderedDict[bytes, Any] = OrderedDict()
        self._cap = cap

    def get(self, key: bytes) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: bytes, value: Any) -> None:
        self._data[key] = value
        if len(self._data) > self._cap:
            self._data.popitem(last=False)


class _Merger:
    def __init__(self, sink: _Sink):
        self.sink = sink
        self.raw_refs = _Lru(_CACHE_ENTRIES)  # sha256(raw body) -> references, in order
        self.by_raw = _Lru(_CACHE_ENTRIES)  # sha256(raw body) + child numbers -> output number
        self.by_content = _Lru(_CACHE_ENTRIES)  # sha256(serialized object) -> output number
        self.page_nums = array("Q")  # output number of every page, in order
        self.leaves = array("Q")  # output number of every /Pages leaf
        self.first_pages = array("Q")  # index of each part's first page

    @property
    def pages(self) -> int:
        return len(self.page_nums)

    def add(self, data: bytes, path: Path) -> None:
        try:
            self._copy(data, path)
        except MergeError:
            raise
        except _READ_ERRORS as exc:
            raise MergeError(f"cannot read invoice file {path}: {_one_line(exc)}") from None
        # pypdf's objects point back at their reader, so a part's objects are freed by
        # the cycle collector, not when the part is done. Closing the stream (in _copy)
        # releases the file's bytes at once; collecting the young generations now, when
        # nothing of the part is referenced any more, keeps the rest from being promoted
        # to the old generation and piling up there. (Without both, peak RSS grew by
        # ~30 MB over the first 20,000 parts when the caller held 100,000 Parts.)
        gc.collect(1)

    def _copy(self, data: bytes, path: Path) -> None:
        with io.BytesIO(data) as stream:
            reader = PdfReader(stream)
            pages = list(reader.pages)
            if not pages:
                raise MergeError(f"cannot read invoice file {path}: it has no pages")
            self.first_pages.append(len(self.page_nums))
            _PartCopy(self, reader, data, pages).copy()

    def next_page(self) -> tuple[int, int]:
        """Allocate a page object; returns (page number, its /Pages leaf)."""
        if len(self.page_nums) % _FANOUT == 0:
            self.leaves.append(self.sink.alloc())
        num = self.sink.alloc()
        self.page_nums.append(num)
        return num, self.leaves[-1]

    # ------------------------------------------------------------------ the end

    def finish(self, parts: Sequence[Part], title: str) -> None:
        sink = self.sink
        pages = self._page_tree()
        outlines = self._outline(parts)
        labels = self._labels(parts)
        info = sink.alloc()
        sink.obj(info, b"<<\n/Title %s\n/Producer %s\n>>" % (_text(title), _text("invoicing")))
        catalog = sink.alloc()
        sink.obj(
            catalog,
            b"<<\n/Type /Catalog\n/Pages %s\n/Outlines %s\n/PageLabels %s\n/PageMode /UseOutlines\n>>"
            % (_ref(pages), _ref(outlines), _ref(labels)),
        )
        offsets = sink.offsets
        if 0 in offsets[1:]:
            raise MergeError(f"cannot write {sink.output}: internal error, an object was never written")
        xref = sink.pos
        sink.write(b"xref\n0 %d\n0000000000 65535 f \n" % len(offsets))
        for start in range(1, len(offsets), 4096):
            sink.write(b"".join(b"%010d 00000 n \n" % off for off in offsets[start : start + 4096]))
        file_id = sink.sha.copy().hexdigest()[:32].encode()
        sink.write(
            b"trailer\n<<\n/Size %d\n/Root %s\n/Info %s\n/ID [ <%s> <%s> ]\n>>\nstartxref\n%d\n%%%%EOF\n"
            % (len(offsets), _ref(catalog), _ref(info), file_id, file_id, xref)
        )

    def _page_tree(self) -> int:
        """Write the /Pages nodes: the leaves allocated while streaming, then levels above."""
        sink = self.sink
        levels: list[list[int]] = [list(self.leaves)]
        while len(levels[-1]) > 1:
            below = len(levels[-1])
            levels.append([sink.alloc() for _ in range(-(-below // _FANOUT))])
        counts: list[int] = []
        for i, leaf in enumerate(levels[0]):
            kids = self.page_nums[i * _FANOUT : (i + 1) * _FANOUT]
            counts.append(len(kids))
            parent = levels[1][i // _FANOUT] if len(levels) > 1 else None
            sink.obj(leaf, _pages_node(kids, len(kids), parent))
        for depth in range(1, len(levels)):
            above = levels[depth + 1] if depth + 1 < len(levels) else None
            child_nums, child_counts, counts = levels[depth - 1], counts, []
            for j, node in enumerate(levels[depth]):
                count = sum(child_counts[j * _FANOUT : (j + 1) * _FANOUT])
                counts.append(count)
                parent = above[j // _FANOUT] if above is not None else None
                sink.obj(node, _pages_node(child_nums[j * _FANOUT : (j + 1) * _FANOUT], count, parent))
        return levels[-1][0]

    def _outline(self, parts: Sequence[Part]) -> int:
        """One top-level bookmark per part, to its first page."""
        sink = self.sink
        root = sink.alloc()
        total = len(self.first_pages)
        first = sink.alloc_many(total)
        parent = b"/Parent " + _ref(root) + b"\n"
        for i, part in enumerate(parts):
            num = first + i
            prev = b"/Prev %s\n" % _ref(num - 1) if i else b""
            nxt = b"/Next %s\n" % _ref(num + 1) if i + 1 < total else b""
            page = self.page_nums[self.first_pages[i]]
            sink.obj(
                num,
                b"<<\n/Title %s\n%s%s%s/Dest [ %s /Fit ]\n>>"
                % (_text(part.title), parent, prev, nxt, _ref(page)),
            )
        sink.obj(
            root,
            b"<<\n/Type /Outlines\n/First %s\n/Last %s\n/Count %d\n>>"
            % (_ref(first), _ref(first + total - 1), total),
        )
        return root

    def _labels(self, parts: Sequence[Part]) -> int:
        """/PageLabels: "<label> p.1", "p.2", ... for each part's pages.

        One flat /Nums array, written in pieces: a number tree with /Kids would be
        valid too, but pypdf (7.1) cannot find labels past the last key of a leaf.
        """
        sink = self.sink
        root = sink.alloc()
        sink.offsets[root] = sink.pos
        sink.write(b"%d 0 obj\n<<\n/Nums [" % root)
        first_pages, chunk = self.first_pages, []
        for i, part in enumerate(parts):
            chunk.append(b"\n%d << /S /D /P %s /St 1 >>" % (first_pages[i], _text(f"{part.label} p.")))
            if len(chunk) == 1024:
                sink.write(b"".join(chunk))
                chunk.clear()
        sink.write(b"".join(chunk))
        sink.write(b" ]\n>>\nendobj\n")
        return root


def _pages_node(kids: Sequence[int], count: int, parent: int | None) -> bytes:
    up = b"/Parent %s\n" % _ref(parent) if parent is not None else b""
    return b"<<\n/Type /Pages\n%s/Count %d\n/Kids [ %s ]\n>>" % (up, count, b" ".join(_ref(k) for k in kids))


# ------------------------------------------------------------------------- parts


class _PartCopy:
    """Copies the pages of one part, and what they reference, into the output."""

    def __init__(self, merger: _Merger, reader: PdfReader, data: bytes, pages: list):
        self.m = merger
        self.sink = merger.sink
        self.reader = reader
        self.data = data
        self.view = memoryview(data)
        self.pages = pages
        self.memo: dict[Key, int | None] = {}  # part object -> output number (None: null)
        self.page_map: dict[Key, int] = {}
        self.active: set[Key] = set()  # shared objects being visited (cycle detection)
        self.reserved: set[Key] = set()  # numbered early because a cycle reached them
        self.extents: dict[Key, tuple[int, int]] | None = None
        self.raw_ok = not reader.is_encrypted  # decryption depends on the object number

    def copy(self) -> None:
        targets = []
        for page in self.pages:
            num, leaf = self.m.next_page()
            ref = page.indirect_reference
            if ref is not None:
                self.page_map[(ref.idnum, ref.generation)] = num
            targets.append((num, leaf))
        for page, (num, leaf) in zip(self.pages, targets, strict=True):
            out = DictionaryObject()
            if "/Resources" in page:  # first, so shared objects go the deduplicating way
                resources = page.raw_get("/Resources")
                if isinstance(resources, DictionaryObject):  # direct: make it a shared object
                    resources = IndirectObject(self._shared_direct(resources), 0, None)
                else:
                    resources = self._remap(resources, self._resolve, True)
                out[NameObject("/Resources")] = resources
            for key, value in page.items():
                if key in _PAGE_SKIP_KEYS or key == "/Resources":
                    continue
                out[key] = self._remap(value, self._resolve, False)
            out[NameObject("/Parent")] = IndirectObject(leaf, 0, None)
            self.sink.obj(num, _dump(out))

    # -------------------------------------------------------------- references

    def _remap(self, obj: Any, resolve: Callable[[Key, bool], int | None], shared: bool) -> Any:
        """A copy of `obj` with references renumbered; "/Resources" entries go shared."""
        if isinstance(obj, IndirectObject):
            num = resolve((obj.idnum, obj.generation), shared)
            return _NULL if num is None else IndirectObject(num, 0, None)
        if isinstance(obj, DictionaryObject):
            if isinstance(obj, StreamObject):
                out: DictionaryObject = EncodedStreamObject() if "/Filter" in obj else DecodedStreamObject()
                out._data = obj._data
            else:
                out = DictionaryObject()
            for key, value in obj.items():
                out[key] = self._remap(value, resolve, shared or key == "/Resources")
            return out
        if isinstance(obj, ArrayObject):
            return ArrayObject([self._remap(value, resolve, shared) for value in obj])
        return obj

    def _resolve(self, key: Key, shared: bool) -> int | None:
        memo = self.memo
        if key in memo:
            return memo[key]
        if key in self.page_map:
            return self.page_map[key]
        if shared:
            return self._shared(key)
        obj = self._load(key)
        if obj is _SKIP:
            memo[key] = None
            return None
        num = memo[key] = self.sink.alloc()  # before the children: cycles end here
        self.sink.obj(num, _dump(self._remap(obj, self._resolve, False)))
        return num

    def _mapped(self, key: Key, shared: bool) -> int | None:
        """The number a visited reference got (every child of a finished shared object)."""
        if key in self.memo:
            return self.memo[key]
        return self.page_map[key]

    def _shared(self, key: Key) -> int | None:
        """Visit children first, then reuse an identical object written before, or write it."""
        memo, m = self.memo, self.m
        if key in self.active:  # a cycle: number it now, it can't be deduplicated
            num = memo[key] = self.sink.alloc()
            self.reserved.add(key)
            return num
        self.active.add(key)
        raw = self._raw_digest(key) if self.raw_ok else None
        obj: Any = None
        refs = m.raw_refs.get(raw) if raw is not None else None
        if refs is None:
            obj = self._load(key)
            refs = () if obj is _SKIP else tuple(dict.fromkeys(_references(obj)))
            if raw is not None:
                m.raw_refs.put(raw, (obj is _SKIP, refs))
        else:
            skip, refs = refs
            if skip:
                obj = _SKIP
        if obj is _SKIP:
            self.active.discard(key)
            memo[key] = None
            return None
        children = [self._resolve(ref, True) for ref in refs]
        self.active.discard(key)
        if key in self.reserved:
            num = memo[key]
            assert num is not None
            if obj is None:
                obj = self._load(key)
            self.sink.obj(num, _dump(self._remap(obj, self._mapped, True)))
            return num
        raw_key = None
        if raw is not None:
            raw_key = raw + array("q", [-1 if c is None else c for c in children]).tobytes()
            num = m.by_raw.get(raw_key)
            if num is not None:
                memo[key] = num
                return num
        if obj is None:
            obj = self._load(key)
        body = _dump(self._remap(obj, self._mapped, True))
        digest = hashlib.sha256(body).digest()
        num = m.by_content.get(digest)
        if num is None:
            num = self.sink.alloc()
            self.sink.obj(num, body)
            m.by_content.put(digest, num)
        if raw_key is not None:
            m.by_raw.put(raw_key, num)
        memo[key] = num
        return num

    def _shared_direct(self, obj: DictionaryObject) -> int:
        """An indirect object for a direct dictionary, one per distinct content."""
        body = _dump(self._remap(obj, self._resolve, True))
        digest = hashlib.sha256(body).digest()
        num = self.m.by_content.get(digest)
        if num is None:
            num = self.sink.alloc()
            self.sink.obj(num, body)
            self.m.by_content.put(digest, num)
        return num

    def _load(self, key: Key) -> Any:
        obj = self.reader.get_object(IndirectObject(key[0], key[1], self.reader))
        if obj is None:
            return _NULL
        if isinstance(obj, DictionaryObject) and obj.get("/Type") in _STRUCTURE_TYPES:
            return _SKIP  # page tree nodes, the catalog, pages of no part: never copied
        return obj

    # ------------------------------------------------------------------- raw keys

    def _raw_digest(self, key: Key) -> bytes | None:
        """sha256 of the object's bytes in the part, from after "N G obj" to its "endobj".

        An object's extent runs to the next object's offset (or the end of the file),
        so it always holds the whole object, maybe with something after it; cutting at
        the last "endobj" in it keeps the whole object. None if the xref entry does not
        point at the object's header, or for streams with an indirect /Length (their
        data depends on another object).
        """
        if self.extents is None:
            self.extents = self._find_extents()
        extent = self.extents.get(key)
        if extent is None:
            return None
        start, end = extent
        data = self.data
        head = _OBJ_HEAD.match(data, start, min(end, start + 64))
        if head is None or (int(head[1]), int(head[2])) != key:
            return None
        body_start = head.end()
        body_end = data.rfind(b"endobj", body_start, end)
        if body_end < 0:
            return None
        stream = _STREAM_KEYWORD.search(data, body_start, body_end)
        if stream is not None and _INDIRECT_LENGTH.search(data, body_start, stream.start()):
            return None
        return hashlib.sha256(self.view[body_start:body_end]).digest()

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


def _references(obj: Any) -> Iterator[Key]:
    """The references in `obj`, depth first, in order."""
    if isinstance(obj, IndirectObject):
        yield (obj.idnum, obj.generation)
    elif isinstance(obj, DictionaryObject):
        for value in obj.values():
            yield from _references(value)
    elif isinstance(obj, ArrayObject):
        for value in obj:
            yield from _references(value)
