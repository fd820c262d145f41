"""Many invoice PDFs -> one file, with a bookmark and page labels per invoice.

No Celery, no database: callers hand in paths and titles in the order wanted.

Two stages
    Pre-linking parses one invoice with pypdf and turns its pages, and everything they
    reference, into a *fragment*: each object serialized to bytes with its references
    cut out and the offset of every cut recorded, so that renumbering never needs a
    parse. The render workers pre-link their batch in parallel (`write_fragments`, one
    fragment file per batch). Linking (`merge_pdfs`, the serial chord body) numbers
    each part's objects, joins their bodies with "N 0 R" at the cuts and writes them
    straight away; what stays in memory per invoice is bookkeeping only (one byte
    offset per written object, one object number per page and per part). Titles and
    labels are read again from ``parts`` at the end, when the page tree, the outline
    (one bookmark per part), the page labels, the catalog, the xref table and the
    trailer are written. A part without a usable fragment is pre-linked in memory and
    linked the same way: one code path, so fragments never change the output.

Shared objects
    Objects reached through a ``/Resources`` entry (fonts, font descriptors, font
    programs, ToUnicode CMaps, widths arrays, images, forms) are shared: each is named
    by a Merkle digest, the sha256 of its body, its cut offsets and its children's
    digests, so equal digests mean equal output. The linker writes a digest once and
    refers to that object after (an LRU-bounded digest -> number map; a digest that
    aged out is just written again). The renderer seeds its font subsets so that these
    objects are byte-identical across invoices; the merged file then holds one copy of
    each. A page's direct /Resources dictionary becomes a shared indirect object too.
    Only an acyclic object can have a digest: one on a reference cycle, or referring
    to a page or to another unshared object, stays local.

    Parsing is what costs (a widths array takes milliseconds with pypdf), so the
    pre-linker first keys a shared object by its raw bytes in the part (as found
    through the part's xref): equal raw bytes parse to equal objects, so the serialized
    form, and with the children's digests the digest, are remembered (LRU-bounded) and
    a repeated object costs one sha256 of its raw bytes.

Everything else a page references (content streams, annotations) is local: copied
once per part. Streams keep their encoded data and filters.

Fragment files
    A magic line, the format version and two counts; an index of entries (sha256 of the
    PDF, offset, length, sha256 of the entry's bytes) and of shared records (digest,
    offset, length); the sha256 of all that; then the records: little-endian integers
    (cut offsets and targets) and object bodies, nothing pickled and no PDF syntax to
    parse. A shared record is stored once per file and checked against its digest. A
    file whose header fails its check is ignored, and so is an entry whose bytes, or a
    shared record it needs, fail theirs: that part is parsed from its file instead.

The output is a pure function of the parts, their order and the output name: the file
ID is a hash of the bytes written.
"""

from __future__ import annotations

import gc
import hashlib
import io
import re
import struct
import threading
import zlib
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    PdfObject,
    StreamObject,
    create_string_object,
)

from invoicing.errors import InvoicingError
from invoicing.files import atomic_file


class MergeError(InvoicingError):
    """A part cannot be read or the output cannot be written; one line for the user."""


@dataclass(frozen=True)
class Part:
    path: Path
    title: str  # bookmark text, e.g. "INV-2026-10-000001 — Jürgen Müller"
    label: str  # page label prefix, e.g. the invoice number
    sha256: str | None = None  # hex sha256 of the file's bytes as recorded when it was rendered


@dataclass(frozen=True)
class Merged:
    path: Path
    pages: int
    sha256: str
    size: int
    prelinked: int = 0  # how many parts came from fragment files rather than being parsed now


_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_FANOUT = 256  # kids per /Pages tree node
_CACHE_ENTRIES = 16384  # per digest map (~200 bytes an entry)
_TEMPLATE_BYTES = 32 << 20  # serialized shared objects the pre-linker keeps for later parts
_MAX_OFFSET = 9_999_999_999  # a classic xref entry has ten digits
# Exceptions pypdf raises on damaged input besides its own.
_READ_ERRORS = (
    PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
    RecursionError, zlib.error,
)  # fmt: skip


def merge_pdfs(parts: Sequence[Part], output: Path, fragments: Sequence[Path] = ()) -> Merged:
    """Merge in the given order and write `output` atomically (temp file, then rename).

    A part whose `sha256` is given and is the key of an entry in one of the `fragments`
    files is linked from that entry, without reading `part.path`; any other part, or
    one whose entry is damaged, is read and pre-linked here. The bytes are the same.
    """
    if not parts:
        raise MergeError("nothing to merge: no rendered invoices")
    output = Path(output)
    store = _FragmentStore(fragments)
    prelinker = _Prelinker()
    with atomic_file(output) as handle:
        sink = _Sink(handle, output)
        linker = _Linker(sink)
        for part in parts:
            fragment = store.get(part.sha256)
            if fragment is None:
                fragment = prelinker.fragment(_read_part(part.path), f"invoice file {part.path}")
            linker.add(fragment)
        linker.finish(parts, title=output.stem)
        digest, size = sink.sha.hexdigest(), sink.pos
    return Merged(output, linker.pages, digest, size, store.used)


def write_fragments(pdfs: Sequence[bytes], output: Path, shas: Sequence[str] | None = None) -> int:
    """Pre-link each PDF into one fragment file, written atomically; returns its entry count.

    Entries are keyed by the sha256 of the PDF's bytes (a repeated PDF is stored once);
    a caller that has just hashed the PDFs passes the hex digests as `shas`. A PDF that
    cannot be pre-linked raises MergeError and nothing is written.
    """
    if shas is not None and len(shas) != len(pdfs):
        raise ValueError("one sha256 per PDF")
    prelinker = _thread_prelinker()
    table: dict[bytes, int] = {}  # shared digest -> index in the file
    records: list[tuple[bytes, bytes]] = []  # (digest, encoded record), children first
    entries: dict[bytes, bytes] = {}
    for i, pdf in enumerate(pdfs):
        key = bytes.fromhex(shas[i]) if shas is not None else hashlib.sha256(pdf).digest()
        if key in entries:
            continue
        fragment = prelinker.fragment(pdf, f"PDF {i + 1} of {len(pdfs)} (sha256 {key.hex()[:16]})")
        for digest, (body, cuts, kids) in fragment.shared.items():  # children come first
            if digest not in table:
                table[digest] = len(records)
                records.append((digest, _encode_obj(body, cuts, [table[kid] for kid in kids])))
        entries[key] = _encode_entry(fragment, table)
    head, blobs, offset = [], [], 0
    for digest, record in records:
        head.append(_SHARED_INDEX.pack(digest, offset, len(record)))
        blobs.append(record)
        offset += len(record)
    for key, entry in entries.items():
        head.append(_ENTRY_INDEX.pack(key, offset, len(entry), hashlib.sha256(entry).digest()))
        blobs.append(entry)
        offset += len(entry)
    header = _MAGIC + _COUNTS.pack(_VERSION, len(entries), len(records)) + b"".join(head)
    output = Path(output)
    with atomic_file(output) as handle:
        for chunk in (header, hashlib.sha256(header).digest(), *blobs):
            handle.write(chunk)
    return len(entries)


def _thread_prelinker() -> _Prelinker:
    """The calling thread's pre-linker, kept between calls: a render worker pre-links
    batch after batch of invoices that embed the same font objects, and what it
    remembers is keyed by raw bytes, so it is right for any part (and bounded)."""
    prelinker = getattr(_THREAD, "prelinker", None)
    if prelinker is None:
        prelinker = _THREAD.prelinker = _Prelinker()
    return prelinker


_THREAD = threading.local()


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


# --------------------------------------------------------------------- fragments

# An object of a fragment: (body, cuts, targets). The body is the serialized object
# without its references; references go at the cut offsets, in order. A target is the
# index of a local object of the part, _PARENT (the page's /Pages leaf, in page
# objects only) or the digest of a shared object.
Obj = tuple[bytes, tuple[int, ...], tuple[int | bytes, ...]]
# A shared object: (body, cuts, digests of the children).
Rec = tuple[bytes, tuple[int, ...], tuple[bytes, ...]]
_PARENT = -1


class _Fragment:
    """One pre-linked part: its local objects (its pages first) and the shared objects
    they reach, by digest (a mapping that may hold more)."""

    __slots__ = ("pages", "objs", "shared")

    def __init__(self, pages: int, objs: list[Obj], shared: Mapping[bytes, Rec]):
        self.pages = pages
        self.objs = objs
        self.shared = shared


def _merkle(body: bytes, cuts: Sequence[int], kids: Sequence[bytes]) -> bytes:
    """A shared object's digest: fixed-size fields first, so the encoding is unambiguous."""
    digest = hashlib.sha256(struct.pack(f"<I{len(cuts)}I", len(cuts), *cuts))
    for kid in kids:
        digest.update(kid)
    digest.update(body)
    return digest.digest()


_MAGIC = b"\x89invoicing-fragments\r\n\x1a\n"
_VERSION = 1
_COUNTS = struct.Struct("<III")  # version, entries, shared records
_ENTRY_INDEX = struct.Struct("<32sQI32s")  # key (sha256 of the PDF), offset, length, sha256 of the entry
_SHARED_INDEX = struct.Struct("<32sQI")  # digest, offset, length
_OBJ_HEAD = struct.Struct("<II")  # number of cuts, body length; then (cut, target) pairs, body
_ENTRY_HEAD = struct.Struct("<II")  # pages, objects (pages first)
_PREFIX = len(_MAGIC) + _COUNTS.size
_PARENT_CODE = 0xFFFFFFFF  # in a file a target is a local index, this, or objects + shared index
_MAX_RECORDS = 1 << 20
_MAX_DEPTH = 200  # deeper shared records are refused: the linker recurses through them
_OPEN_FILES = 2  # loaded fragment files kept; parts come in batch order


def _encode_obj(body: bytes, cuts: Sequence[int], targets: Sequence[int]) -> bytes:
    pairs = [value for pair in zip(cuts, targets, strict=True) for value in pair]
    try:
        return _OBJ_HEAD.pack(len(cuts), len(body)) + struct.pack(f"<{len(pairs)}I", *pairs) + body
    except struct.error:
        raise MergeError("cannot pre-link: an object is larger than 4 GiB") from None


def _encode_entry(fragment: _Fragment, table: Mapping[bytes, int]) -> bytes:
    count = len(fragment.objs)
    chunks = [_ENTRY_HEAD.pack(fragment.pages, count)]
    for body, cuts, targets in fragment.objs:
        codes = [
            count + table[t] if isinstance(t, bytes) else _PARENT_CODE if t == _PARENT else t for t in targets
        ]
        chunks.append(_encode_obj(body, cuts, codes))
    return b"".join(chunks)


def _decode_obj(data: memoryview, pos: int) -> tuple[memoryview, tuple[int, ...], tuple[int, ...], int]:
    """(body, cuts, targets, position after) of the object record at `pos`; ValueError if bad."""
    count, size = _OBJ_HEAD.unpack_from(data, pos)
    pos += _OBJ_HEAD.size
    end = pos + 8 * count + size
    if end > len(data):
        raise ValueError("record runs past its end")
    if not count:
        return data[pos:end], (), (), end
    pairs = struct.unpack_from(f"<{2 * count}I", data, pos)
    cuts, targets = pairs[0::2], pairs[1::2]
    if cuts[-1] > size or any(b < a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise ValueError("cuts out of order")
    return data[end - size : end], cuts, targets, end


_Header = tuple[dict[bytes, tuple[int, int, bytes]], list[tuple[bytes, int, int]], int]


def _header(data: bytes) -> _Header | None:
    """(entries by key, shared index, blob start) if `data` starts with a sound header."""
    size = _header_size(data)
    if size is None or len(data) < size:
        return None
    if hashlib.sha256(data[: size - 32]).digest() != data[size - 32 : size]:
        return None
    _, n_entries, n_shared = _COUNTS.unpack_from(data, len(_MAGIC))
    pos = _PREFIX
    shared = []
    for _ in range(n_shared):
        shared.append(_SHARED_INDEX.unpack_from(data, pos))
        pos += _SHARED_INDEX.size
    entries: dict[bytes, tuple[int, int, bytes]] = {}
    for _ in range(n_entries):
        key, offset, length, sha = _ENTRY_INDEX.unpack_from(data, pos)
        entries.setdefault(key, (offset, length, sha))
        pos += _ENTRY_INDEX.size
    return entries, shared, size


def _header_size(prefix: bytes) -> int | None:
    if len(prefix) < _PREFIX or not prefix.startswith(_MAGIC):
        return None
    version, n_entries, n_shared = _COUNTS.unpack_from(prefix, len(_MAGIC))
    if version != _VERSION or n_entries > _MAX_RECORDS or n_shared > _MAX_RECORDS:
        return None
    return _PREFIX + n_shared * _SHARED_INDEX.size + n_entries * _ENTRY_INDEX.size + 32


def _index_keys(path: Path) -> Iterator[bytes]:
    """The entry keys of a fragment file, from its header only; none if it is unusable."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(_PREFIX)
            size = _header_size(prefix)
            if size is None:
                return
            header = _header(prefix + handle.read(size - _PREFIX))
    except OSError:
        return
    if header is not None:
        yield from header[0]


class _FragmentFile:
    """A loaded fragment file: its shared records, all checked, and its entries."""

    def __init__(self, data: bytes):
        header = _header(data)
        if header is None:
            raise ValueError("bad fragment file header")
        self.entries, index, start = header
        self.blob = blob = memoryview(data)[start:]
        self.digests = [digest for digest, _, _ in index]
        self.records: dict[bytes, Rec] = {}  # the sound ones: checked, and so are their children
        depth = [0] * len(index)
        for i, (digest, offset, length) in enumerate(index):
            try:
                body, cuts, kids, end = _decode_obj(blob, offset)
            except (ValueError, struct.error):
                continue
            # Children come first; one that is unsound (depth 0) makes its parents unsound.
            if end != offset + length or not all(kid < i and depth[kid] for kid in kids):
                continue
            kid_digests = tuple(self.digests[kid] for kid in kids)
            level = 1 + max((depth[kid] for kid in kids), default=0)
            if level <= _MAX_DEPTH and _merkle(body, cuts, kid_digests) == digest:
                depth[i] = level
                self.records[digest] = (body, cuts, kid_digests)

    def fragment(self, key: bytes) -> _Fragment | None:
        """The entry for `key`, or None if there is none or it does not check out."""
        where = self.entries.get(key)
        if where is None:
            return None
        offset, length, sha = where
        data = self.blob[offset : offset + length]
        if len(data) != length or hashlib.sha256(data).digest() != sha:
            return None
        try:
            return self._decode(data)
        except (ValueError, struct.error, IndexError):
            return None

    def _decode(self, data: memoryview) -> _Fragment:
        pages, count = _ENTRY_HEAD.unpack_from(data, 0)
        if not 0 < pages <= count:
            raise ValueError("bad page count")
        pos = _ENTRY_HEAD.size
        objs: list[Obj] = []
        for i in range(count):
            body, cuts, codes, pos = _decode_obj(data, pos)
            targets: list[int | bytes] = []
            for code in codes:
                if code == _PARENT_CODE:
                    targets.append(_PARENT)
                elif code < count:
                    targets.append(code)
                else:
                    digest = self.digests[code - count]
                    if digest not in self.records:
                        raise ValueError("needs a damaged shared record")
                    targets.append(digest)
            if targets.count(_PARENT) != (i < pages):  # exactly one /Parent in a page, else none
                raise ValueError("bad /Parent")
            objs.append((bytes(body), cuts, tuple(targets)))
        if pos != len(data):
            raise ValueError("trailing bytes")
        return _Fragment(pages, objs, self.records)


class _FragmentStore:
    """Fragment entries by key: an index read from the headers up front, files loaded
    when a part needs them, a few at a time."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(path) for path in paths]
        self.where: dict[bytes, int] = {}  # key -> index in paths; the first file wins
        for number, path in enumerate(self.paths):
            for key in _index_keys(path):
                self.where.setdefault(key, number)
        self.files: OrderedDict[int, _FragmentFile | None] = OrderedDict()
        self.used = 0

    def get(self, sha256: str | None) -> _Fragment | None:
        if not sha256 or not self.where:
            return None
        try:
            key = bytes.fromhex(sha256)
        except ValueError:
            return None
        number = self.where.get(key)
        if number is None:
            return None
        loaded = self._file(number)
        fragment = loaded.fragment(key) if loaded is not None else None
        if fragment is not None:
            self.used += 1
        return fragment

    def _file(self, number: int) -> _FragmentFile | None:
        if number in self.files:
            self.files.move_to_end(number)
            return self.files[number]
        try:
            loaded: _FragmentFile | None = _FragmentFile(self.paths[number].read_bytes())
        except (OSError, ValueError):
            loaded = None
        self.files[number] = loaded
        if len(self.files) > _OPEN_FILES:
            self.files.popitem(last=False)
        return loaded


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
    """A PDF text string: PDFDocEncoding where it fits, else UTF-16BE with BOM.

    The bytes pypdf writes, without its per-byte loops (two strings per invoice).
    """
    if value.isascii() and value.isprintable():  # the same in PDFDocEncoding
        encoded = value.encode("ascii")
    else:
        encoded = create_string_object(value).get_encoded_bytes()
    return b"(" + b"".join(map(_ESCAPES.__getitem__, encoded)) + b")"


_ESCAPES = [bytes([c]) if bytes([c]).isalnum() or c == 32 else b"\\%03o" % c for c in range(256)]


def _patch(body: bytes, cuts: Sequence[int], nums: Sequence[int]) -> bytes:
    if not cuts:
        return bytes(body)
    pieces, prev = [], 0
    for cut, num in zip(cuts, nums, strict=True):
        pieces.append(body[prev:cut])
        pieces.append(b"%d 0 R" % num)
        prev = cut
    pieces.append(body[prev:])
    return b"".join(pieces)


class _Lru:
    """A bounded map; hits move to the young end, the oldest entries go first."""

    __slots__ = ("_data", "_cap", "_budget", "_weight")

    def __init__(self, cap: int, budget: int = 0):
        self._data: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
        self._cap = cap
        self._budget = budget  # bound on the sum of the entries' weights; 0: none
        self._weight = 0

    def get(self, key: bytes) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: bytes, value: Any, weight: int = 0) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self._weight -= old[1]
        self._data[key] = (value, weight)
        self._weight += weight
        while len(self._data) > self._cap or (self._budget and self._weight > self._budget):
            self._weight -= self._data.popitem(last=False)[1][1]


class _Linker:
    """Writes fragments to the output, then the document structure around them."""

    def __init__(self, sink: _Sink):
        self.sink = sink
        self.numbers = _Lru(_CACHE_ENTRIES)  # shared digest -> output number
        self.page_nums = array("Q")  # output number of every page, in order
        self.leaves = array("Q")  # output number of every /Pages leaf
        self.first_pages = array("Q")  # index of each part's first page

    @property
    def pages(self) -> int:
        return len(self.page_nums)

    def add(self, fragment: _Fragment) -> None:
        """Number the part's objects (pages first), then write them in order; a shared
        object is written, children first, when it is first needed."""
        sink = self.sink
        self.first_pages.append(len(self.page_nums))
        nums, leaves = [], []
        for _ in range(fragment.pages):
            num, leaf = self.next_page()
            nums.append(num)
            leaves.append(leaf)
        rest = len(fragment.objs) - fragment.pages
        first = sink.alloc_many(rest)
        nums.extend(range(first, first + rest))
        shared = fragment.shared
        for i, (body, cuts, targets) in enumerate(fragment.objs):
            refs = [
                self._shared(t, shared) if isinstance(t, bytes) else leaves[i] if t == _PARENT else nums[t]
                for t in targets
            ]
            sink.obj(nums[i], _patch(body, cuts, refs))

    def _shared(self, digest: bytes, records: Mapping[bytes, Rec]) -> int:
        num = self.numbers.get(digest)
        if num is None:
            body, cuts, kids = records[digest]
            refs = [self._shared(kid, records) for kid in kids]
            num = self.sink.alloc()
            self.sink.obj(num, _patch(body, cuts, refs))
            self.numbers.put(digest, num)
        return num

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


# --------------------------------------------------------------------- pre-link

Key = tuple[int, int]  # (object number, generation) in a part
# A serialized object before its references are resolved: (body, cuts, refs), where a
# ref is (what, shared): a Key, a direct /Resources dictionary or _PARENT_REF.
Template = tuple[bytes, tuple[int, ...], tuple[tuple[Any, bool], ...]]

_SKIP = object()  # template of an object that is never copied (page tree nodes, catalog)
_PARENT_REF = object()
_NO_DIGEST = bytes(32)  # a null child, in the raw-bytes key of a digest
_STRUCTURE_TYPES = frozenset({"/Pages", "/Page", "/Catalog"})
_PAGE_SKIP_KEYS = frozenset({"/Parent", "/B"})  # /B: article beads, would pull in threads
_RAW_HEAD = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj")
_STREAM_KEYWORD = re.compile(rb">>\s*stream(?:\r\n|\r|\n)")
_INDIRECT_LENGTH = re.compile(rb"/Length\s+\d+\s+\d+\s+R")


class _Prelinker:
    """Turns parts into fragments; remembers shared objects by their raw bytes across parts."""

    def __init__(self) -> None:
        self.templates = _Lru(_CACHE_ENTRIES, _TEMPLATE_BYTES)  # sha256(raw body) -> template or _SKIP
        self.digests = _Lru(_CACHE_ENTRIES)  # sha256(raw body) + children's digests -> digest
        self.names: dict[str, bytes] = {}

    def fragment(self, data: bytes, what: str) -> _Fragment:
        fragment = self._fragment(data, what)
        # pypdf's objects point back at their reader, so a part's objects are freed by
        # the cycle collector, not when the part is done. Closing the stream (in
        # _fragment) releases the file's bytes at once; collecting the young generations
        # now, when nothing of the part is referenced any more, keeps the rest from being
        # promoted to the old generation and piling up there. (Without both, peak RSS
        # grew by ~30 MB over the first 20,000 parts when the caller held 100,000 Parts.)
        gc.collect(1)
        return fragment

    def _fragment(self, data: bytes, what: str) -> _Fragment:
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
            raise MergeError(f"cannot read {what}: {_one_line(exc)}") from None

    def template(self, obj: Any, shared: bool) -> Template:
        out = io.BytesIO()
        cuts: list[int] = []
        refs: list[tuple[Any, bool]] = []
        self.write(obj, shared, out, cuts, refs)
        return out.getvalue(), tuple(cuts), tuple(refs)

    def write(self, obj: Any, shared: bool, out: io.BytesIO, cuts: list[int], refs: list) -> None:
        """Serialize `obj` like pypdf does, recording where each reference goes instead of
        writing it; values under a "/Resources" key are shared."""
        if isinstance(obj, IndirectObject):
            cuts.append(out.tell())
            refs.append(((obj.idnum, obj.generation), shared))
        elif isinstance(obj, DictionaryObject):
            stream = isinstance(obj, StreamObject)
            out.write(b"<<\n")
            for key, value in obj.items():
                if (stream and key == "/Length") or _internal_key(key):
                    continue
                out.write(self.name(key))
                out.write(b" ")
                self.write(value, shared or key == "/Resources", out, cuts, refs)
                out.write(b"\n")
            if stream:
                data = obj._data  # encoded, as read
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


def _internal_key(key: str) -> bool:
    return len(key) > 2 and key[1] == "%" and key[-1] == "%"  # pypdf never writes these


def _finish(body: bytes, cuts: Sequence[int], targets: list[Any]) -> Obj:
    """An object from a template and its resolved references; None targets become null."""
    if None not in targets:
        return body, tuple(cuts), tuple(targets)
    pieces, kept_cuts, kept, prev, shift = [], [], [], 0, 0
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


def _is_local(targets: Sequence[Any]) -> bool:
    return any(type(t) is int for t in targets)


class _PartPrelink:
    """Pre-links the pages of one part and what they reference."""

    def __init__(self, prelinker: _Prelinker, reader: PdfReader, data: bytes, pages: list):
        self.pre = prelinker
        self.reader = reader
        self.data = data
        self.view = memoryview(data)
        self.pages = pages
        self.objs: list[Obj | None] = []  # local objects, pages first
        self.shared: dict[bytes, Rec] = {}  # children before parents
        self.memo: dict[Key, int | bytes | None] = {}  # part object -> target (None: null)
        self.active: set[Key] = set()  # shared objects being visited (cycle detection)
        self.reserved: set[Key] = set()  # made local because a cycle reached them
        self.extents: dict[Key, tuple[int, int]] | None = None
        self.raw_ok = not reader.is_encrypted  # decryption depends on the object number

    def run(self) -> _Fragment:
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
        return _Fragment(len(self.pages), objs, self.shared)

    def _page(self, page: DictionaryObject) -> Obj:
        pre = self.pre
        out = io.BytesIO()
        cuts: list[int] = []
        refs: list[tuple[Any, bool]] = []
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
            return _PARENT
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
            self.reserved.add(key)
            return num
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
        if key in self.reserved or _is_local(targets):
            num = memo.get(key) if key in self.reserved else None
            if num is None:
                num = len(self.objs)
                self.objs.append(obj)
            else:
                self.objs[num] = obj
            memo[key] = num
            return num
        raw_key = None
        digest = None
        if raw is not None:
            raw_key = raw + b"".join(_NO_DIGEST if t is None else t for t in targets)
            digest = pre.digests.get(raw_key)
        if digest is None:
            digest = _merkle(*obj)
            if raw_key is not None:
                pre.digests.put(raw_key, digest)
        self.shared.setdefault(digest, obj)  # type: ignore[arg-type]  # targets are digests
        memo[key] = digest
        return digest

    def _direct(self, obj: DictionaryObject) -> int | bytes:
        """A direct dictionary as an object of its own: shared if it can be."""
        body, cuts, refs = self.pre.template(obj, True)
        made = _finish(body, cuts, [self._resolve(k, s) for k, s in refs])
        if _is_local(made[2]):
            self.objs.append(made)
            return len(self.objs) - 1
        digest = _merkle(*made)
        self.shared.setdefault(digest, made)  # type: ignore[arg-type]
        return digest

    def _load(self, key: Key) -> Any:
        """The part's object, or None for a null, a missing object or a structure node."""
        obj = self.reader.get_object(IndirectObject(key[0], key[1], self.reader))
        if obj is None or isinstance(obj, NullObject):
            return None
        if isinstance(obj, DictionaryObject) and obj.get("/Type") in _STRUCTURE_TYPES:
            return None  # page tree nodes, the catalog, pages of no part: never copied
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
        head = _RAW_HEAD.match(data, start, min(end, start + 64))
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
