"""Fragments, and the ``.frag`` file that carries a batch of them from the render workers
to the merge.

A fragment is one invoice pre-linked (prelink.py): its local objects, pages first, the
shared objects they reach, each serialized to bytes with its references cut out and the
offset of every cut recorded, and the glyphs it draws of each bundled face whose subset
the linker replaces by one subset of the union (`FACE_PREFIX`, merge.py). The linker
only numbers and joins them.

File layout (all integers little-endian)
    MAGIC, then COUNTS (format version, number of entries, number of shared records);
    the index: SHARED_INDEX per shared record (digest, offset, length), then
    ENTRY_INDEX per entry (key = sha256 of the PDF, offset, length, sha256 of the
    entry's bytes); the sha256 of everything so far; then the records, offsets
    counting from there. A shared record is an object record whose targets are the
    indexes of its children, which come before it; an entry is ENTRY_HEAD (pages,
    objects, faces), its object records, then per face a FACE_HEAD (key length, glyph
    count, texts' length), the key, GLYPH (glyph id, text length in code points) per
    glyph and the texts, one UTF-8 string.
    An object record is OBJ_HEAD (number of
    cuts, body length), the (cut offset, target) pairs, and the body. A target in an
    entry is the index of one of its own objects, PARENT_CODE (the page's /Pages
    node), or the number of its objects plus a shared record's index. No pickles and
    no PDF syntax: reading a file parses nothing.

Checks
    A shared record is stored once per file and named by its digest (`merkle`), which
    covers its children's digests: reading recomputes it, so a record that is damaged,
    or that has a damaged child, is not used. A file whose header fails its sha256, or
    has another VERSION, is ignored as a whole; an entry whose bytes fail their sha256,
    or that needs an unusable shared record, is ignored alone. Ignored means the merge
    parses that invoice's PDF instead, so damage costs time and never changes output.
    An entry stands in for a PDF only when the caller asks for the sha256 it is keyed
    by (`FragmentStore.get`).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import struct
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from invoicing.files import atomic_file
from invoicing.pdf.errors import MergeError

__all__ = [
    "COUNTS",
    "ENTRY_INDEX",
    "MAGIC",
    "PARENT",
    "PREFIX_SIZE",
    "SHARED_INDEX",
    "VERSION",
    "FACE_PREFIX",
    "Fragment",
    "FragmentStore",
    "GlyphUse",
    "FragmentWriter",
    "Header",
    "Obj",
    "Rec",
    "header_size",
    "merkle",
    "read_header",
]

# Opens a stream that appears whole under its name once its block ends (object storage).
Opener = Callable[[], AbstractContextManager[BinaryIO]]

# An object of a fragment: (body, cuts, targets). The body is the serialized object
# without its references; references go at the cut offsets, in order. A target is the
# index of a local object of the part, PARENT (the page's /Pages leaf, in page objects
# only) or the digest of a shared object.
Obj = tuple[bytes, tuple[int, ...], tuple[int | bytes, ...]]
# A shared object: (body, cuts, digests of the children). Read from a file, the body is
# a view into the file's bytes.
Rec = tuple[bytes | memoryview, tuple[int, ...], tuple[bytes, ...]]
PARENT = -1
# The body of a shared record that stands for a bundled face (the key follows): the
# linker points references to it at the face's one union subset, and writes no object.
# No serialized PDF object starts with a NUL byte.
FACE_PREFIX = b"\x00face:"
GlyphUse = dict[str, dict[int, str]]  # face key -> glyph id -> its ToUnicode text


class Fragment:
    """One pre-linked part: its local objects (its pages first), the shared objects they
    reach, by digest (a mapping that may hold more), and the glyphs it draws of the faces
    whose records it refers to."""

    __slots__ = ("pages", "objs", "shared", "glyphs")

    def __init__(
        self, pages: int, objs: list[Obj], shared: Mapping[bytes, Rec], glyphs: GlyphUse | None = None
    ):
        self.pages = pages
        self.objs = objs
        self.shared = shared
        self.glyphs: GlyphUse = glyphs or {}


def merkle(body: bytes | memoryview, cuts: Sequence[int], kids: Sequence[bytes]) -> bytes:
    """A shared object's digest: fixed-size fields first, so the encoding is unambiguous."""
    digest = hashlib.sha256(struct.pack(f"<I{len(cuts)}I", len(cuts), *cuts))
    for kid in kids:
        digest.update(kid)
    digest.update(body)
    return digest.digest()


# ------------------------------------------------------------------------ format

MAGIC = b"\x89invoicing-fragments\r\n\x1a\n"
VERSION = 3  # 2: glyph uses per entry; 3: a face's glyph texts as one string
COUNTS = struct.Struct("<III")  # version, entries, shared records
ENTRY_INDEX = struct.Struct("<32sQI32s")  # key (sha256 of the PDF), offset, length, sha256 of the entry
SHARED_INDEX = struct.Struct("<32sQI")  # digest, offset, length
OBJ_HEAD = struct.Struct("<II")  # number of cuts, body length; then (cut, target) pairs, body
ENTRY_HEAD = struct.Struct("<III")  # pages, objects (pages first), faces
FACE_HEAD = struct.Struct("<HII")  # length of the key, glyphs, length of their texts (UTF-8)
GLYPH = struct.Struct("<HH")  # glyph id, length of its text (code points)
PREFIX_SIZE = len(MAGIC) + COUNTS.size  # what `header_size` needs to see
PARENT_CODE = 0xFFFFFFFF  # in a file a target is a local index, this, or objects + shared index
MAX_RECORDS = 1 << 20  # per kind; a header claiming more is not read
MAX_DEPTH = 200  # deeper shared records are refused: the linker recurses through them
_OPEN_FILES = 2  # loaded fragment files kept; parts come in batch order
_FILE_BITS = 24  # FragmentStore's index: a key prefix above the file's number
_FILE_MASK = (1 << _FILE_BITS) - 1
_MAX_FILES = 1 << _FILE_BITS  # files past this are not indexed: their invoices are parsed


def _prefix(key: bytes) -> int:
    return int.from_bytes(key[:5], "big")  # 40 bits: 64 - _FILE_BITS


class Header(NamedTuple):
    entries: dict[bytes, tuple[int, int, bytes]]  # key -> (offset, length, sha256); the first wins
    shared: list[tuple[bytes, int, int]]  # (digest, offset, length) per shared record, in order
    blob_start: int  # where the records begin; their offsets count from here


def _encode_obj(body: bytes | memoryview, cuts: Sequence[int], targets: Sequence[int]) -> bytes:
    pairs = [value for pair in zip(cuts, targets, strict=True) for value in pair]
    try:
        return OBJ_HEAD.pack(len(cuts), len(body)) + struct.pack(f"<{len(pairs)}I", *pairs) + body
    except struct.error:
        raise MergeError("cannot pre-link: an object is larger than 4 GiB") from None


def _encode_entry(fragment: Fragment, table: Mapping[bytes, int]) -> bytes:
    count = len(fragment.objs)
    chunks = [ENTRY_HEAD.pack(fragment.pages, count, len(fragment.glyphs))]
    for body, cuts, targets in fragment.objs:
        codes = [
            count + table[t] if isinstance(t, bytes) else PARENT_CODE if t == PARENT else t for t in targets
        ]
        chunks.append(_encode_obj(body, cuts, codes))
    for key, glyphs in fragment.glyphs.items():
        encoded_key = key.encode()
        # A face's glyphs are a hundred or more: their heads are packed in one call and
        # their texts are one string, encoded and decoded in one piece.
        texts = "".join(glyphs.values()).encode()
        chunks.append(FACE_HEAD.pack(len(encoded_key), len(glyphs), len(texts)) + encoded_key)
        heads = [0] * (2 * len(glyphs))
        heads[0::2] = glyphs
        heads[1::2] = map(len, glyphs.values())
        chunks.append(struct.pack(f"<{len(heads)}H", *heads))
        chunks.append(texts)
    return b"".join(chunks)


def _decode_obj(data: memoryview, pos: int) -> tuple[memoryview, tuple[int, ...], tuple[int, ...], int]:
    """(body, cuts, targets, position after) of the object record at `pos`; ValueError if bad."""
    count, size = OBJ_HEAD.unpack_from(data, pos)
    pos += OBJ_HEAD.size
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


# ----------------------------------------------------------------------- writing


class FragmentWriter:
    """Collects fragments by key, then writes them as one file; a shared object that
    several fragments reach is stored once."""

    def __init__(self) -> None:
        self._table: dict[bytes, int] = {}  # shared digest -> index in the file
        self._records: list[tuple[bytes, bytes]] = []  # (digest, encoded record), children first
        self._entries: dict[bytes, bytes] = {}  # key -> encoded entry

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: bytes, fragment: Fragment) -> None:
        """Add `fragment` as the entry for `key` (32 bytes: the sha256 of its PDF)."""
        table, records = self._table, self._records
        for digest, (body, cuts, kids) in fragment.shared.items():  # children come first
            if digest not in table:
                table[digest] = len(records)
                records.append((digest, _encode_obj(body, cuts, [table[kid] for kid in kids])))
        self._entries[key] = _encode_entry(fragment, table)

    def write(self, output: Path | str, opener: Opener | None = None) -> int:
        """Write the file atomically (or to the stream `opener` gives); returns its number
        of entries."""
        head, blobs, offset = [], [], 0
        for digest, record in self._records:
            head.append(SHARED_INDEX.pack(digest, offset, len(record)))
            blobs.append(record)
            offset += len(record)
        for key, entry in self._entries.items():
            head.append(ENTRY_INDEX.pack(key, offset, len(entry), hashlib.sha256(entry).digest()))
            blobs.append(entry)
            offset += len(entry)
        header = MAGIC + COUNTS.pack(VERSION, len(self._entries), len(self._records)) + b"".join(head)
        with opener() if opener is not None else atomic_file(Path(output)) as handle:
            for chunk in (header, hashlib.sha256(header).digest(), *blobs):
                handle.write(chunk)
        return len(self._entries)


# ----------------------------------------------------------------------- reading


def read_header(data: bytes) -> Header | None:
    """The header if `data` starts with a sound one (magic, version, counts, sha256), else None."""
    size = header_size(data)
    if size is None or len(data) < size:
        return None
    if hashlib.sha256(data[: size - 32]).digest() != data[size - 32 : size]:
        return None
    _, n_entries, n_shared = COUNTS.unpack_from(data, len(MAGIC))
    pos = PREFIX_SIZE
    shared = []
    for _ in range(n_shared):
        shared.append(SHARED_INDEX.unpack_from(data, pos))
        pos += SHARED_INDEX.size
    entries: dict[bytes, tuple[int, int, bytes]] = {}
    for _ in range(n_entries):
        key, offset, length, sha = ENTRY_INDEX.unpack_from(data, pos)
        entries.setdefault(key, (offset, length, sha))
        pos += ENTRY_INDEX.size
    return Header(entries, shared, size)


def header_size(prefix: bytes) -> int | None:
    """The header's size, its sha256 included, from the first PREFIX_SIZE bytes of a file;
    None if they are not those of a fragment file of this VERSION."""
    if len(prefix) < PREFIX_SIZE or not prefix.startswith(MAGIC):
        return None
    version, n_entries, n_shared = COUNTS.unpack_from(prefix, len(MAGIC))
    if version != VERSION or n_entries > MAX_RECORDS or n_shared > MAX_RECORDS:
        return None
    return PREFIX_SIZE + n_shared * SHARED_INDEX.size + n_entries * ENTRY_INDEX.size + 32


def _index_keys(path: Any, open_file: Callable[[Any], BinaryIO]) -> Iterator[bytes]:
    """The entry keys of a fragment file, from its header only; none if it is unusable."""
    try:
        with closing(open_file(path)) as handle:
            prefix = handle.read(PREFIX_SIZE)
            size = header_size(prefix)
            if size is None:
                return
            header = read_header(prefix + handle.read(size - PREFIX_SIZE))
    except OSError:
        return
    if header is not None:
        yield from header.entries


class _FragmentFile:
    """A loaded fragment file: its shared records, all checked, and its entries."""

    def __init__(self, data: bytes):
        header = read_header(data)
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
            if level <= MAX_DEPTH and merkle(body, cuts, kid_digests) == digest:
                depth[i] = level
                self.records[digest] = (body, cuts, kid_digests)

    def fragment(self, key: bytes) -> Fragment | None:
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

    def _decode(self, data: memoryview) -> Fragment:
        pages, count, faces = ENTRY_HEAD.unpack_from(data, 0)
        if not 0 < pages <= count:
            raise ValueError("bad page count")
        pos = ENTRY_HEAD.size
        objs: list[Obj] = []
        for i in range(count):
            body, cuts, codes, pos = _decode_obj(data, pos)
            targets: list[int | bytes] = []
            for code in codes:
                if code == PARENT_CODE:
                    targets.append(PARENT)
                elif code < count:
                    targets.append(code)
                else:
                    digest = self.digests[code - count]
                    if digest not in self.records:
                        raise ValueError("needs a damaged shared record")
                    targets.append(digest)
            if targets.count(PARENT) != (i < pages):  # exactly one /Parent in a page, else none
                raise ValueError("bad /Parent")
            objs.append((bytes(body), cuts, tuple(targets)))
        glyphs: GlyphUse = {}
        for _ in range(faces):
            size, n, text_bytes = FACE_HEAD.unpack_from(data, pos)
            pos += FACE_HEAD.size
            key = bytes(data[pos : pos + size]).decode()
            pos += size
            heads = struct.unpack_from(f"<{2 * n}H", data, pos)
            pos += GLYPH.size * n
            texts = bytes(data[pos : pos + text_bytes]).decode()
            pos += text_bytes
            gids, lengths = heads[0::2], heads[1::2]
            if lengths.count(1) == n == len(texts):  # the common case: one code point a glyph
                glyphs[key] = dict(zip(gids, texts, strict=True))
                continue
            ends = list(accumulate(lengths))
            if (ends[-1] if ends else 0) != len(texts):
                raise ValueError("glyph texts do not add up")
            glyphs[key] = {
                gid: texts[end - length : end] for gid, length, end in zip(gids, lengths, ends, strict=True)
            }
        if pos != len(data):
            raise ValueError("trailing bytes")
        return Fragment(pages, objs, self.records, glyphs)


class FragmentStore:
    """Fragment entries by key: an index read from the headers up front, files loaded
    when a part needs them, a few at a time.

    The index is compact, since a run's body holds it for every invoice of the run: one
    64-bit integer per entry, a 40-bit prefix of its key above the number of its file,
    sorted. A prefix only says which files may hold a key; the loaded file's own index
    (full keys) decides, so two keys sharing a prefix cost a look, never a wrong entry.
    """

    def __init__(self, paths: Sequence[Any], open_file: Callable[[Any], BinaryIO] | None = None):
        # Paths, or locations that `open_file` opens for reading (object storage).
        self.paths = list(paths) if open_file is not None else [Path(path) for path in paths]
        self.open_file = open_file or _open_local
        per_file = []
        for number, path in enumerate(self.paths[:_MAX_FILES]):
            per_file.append(
                array(
                    "Q",
                    sorted(_prefix(key) << _FILE_BITS | number for key in _index_keys(path, self.open_file)),
                )
            )
        # Merged, not sorted in one list: a list of a million ints would cost more than the index.
        self.index = array("Q", heapq.merge(*per_file))
        del per_file
        self.files: OrderedDict[int, _FragmentFile | None] = OrderedDict()
        self.used = 0  # entries handed out

    def get(self, sha256: str | None) -> Fragment | None:
        """The sound entry keyed by `sha256` (hex, any case), or None."""
        if not sha256 or not self.index:
            return None
        try:
            key = bytes.fromhex(sha256)
        except ValueError:
            return None
        if len(key) != 32:
            return None
        prefix = _prefix(key)
        index = self.index
        at = bisect.bisect_left(index, prefix << _FILE_BITS)
        # The first file (in the order given) whose header lists the key wins.
        while at < len(index) and index[at] >> _FILE_BITS == prefix:
            loaded = self._file(index[at] & _FILE_MASK)
            at += 1
            if loaded is None or key not in loaded.entries:
                continue
            fragment = loaded.fragment(key)
            if fragment is not None:
                self.used += 1
            return fragment
        return None

    def unload(self) -> None:
        """Let go of the loaded files; the index stays, and a later `get` loads again."""
        self.files.clear()

    def _file(self, number: int) -> _FragmentFile | None:
        if number in self.files:
            self.files.move_to_end(number)
            return self.files[number]
        try:
            with closing(self.open_file(self.paths[number])) as handle:
                data = handle.read()
            loaded: _FragmentFile | None = _FragmentFile(data)
        except (OSError, ValueError):
            loaded = None
        self.files[number] = loaded
        if len(self.files) > _OPEN_FILES:
            self.files.popitem(last=False)
        return loaded


def _open_local(path: Any) -> BinaryIO:
    return open(path, "rb")
