"""Many invoice PDFs -> one file, with a bookmark and page labels per invoice: the linker.

No Celery, no database: callers hand in paths and titles in the order wanted (or, for
other storage, the callables that read a part, open the output and open a fragment file).

Two stages
    Pre-linking (prelink.py) parses one invoice with pypdf and turns its pages, and
    everything they reference, into a *fragment* (fragments.py): each object
    serialized to bytes with its references cut out and the offset of every cut
    recorded, so that renumbering never needs a parse. The render workers pre-link
    their batch in parallel (`write_fragments`, one fragment file per batch). Linking
    (`merge_pdfs`, here; the serial chord body) numbers each part's objects, joins
    their bodies with "N 0 R" at the cuts and writes them straight away. A part without
    a usable fragment is pre-linked here, in memory, and linked the same way: one code
    path, so fragments never change the output.

Streaming
    ``parts`` is read once, one part at a time (the chord body hands in a generator
    over the database). What stays in memory per invoice is bookkeeping only: one byte
    offset per written object, one object number per page and per part. Titles and
    labels wait in temporary files (volumes.TitleSpool) until the end, when the page
    tree, the outline (one bookmark per part), the page labels, the catalog, the xref
    table and the trailer are written.

Print-ready output (volumes.py)
    With a `PrintLayout`, each invoice can be padded to an even number of pages
    (duplex) and the output cut into volumes of at most N pages between invoices, each
    volume a complete file of its own (its outline, labels and face subsets). Without
    one, the output is what it always was.

Shared objects
    A fragment names each shared object (fonts, images, a page's /Resources: see
    prelink.py) by a Merkle digest, so equal digests mean equal output. The linker
    writes a digest once and refers to that object after (an LRU-bounded digest ->
    number map; a digest that aged out is just written again).

One subset per face
    The renderer embeds in each invoice a subset of each face: the face's base set and
    the glyphs that invoice draws beyond it, and names glyphs by their id in the whole
    face (embed.py). A fragment replaces such a font by a record naming the face and
    lists the glyphs beyond the base set (prelink.py); the linker gives each face one
    object number, and at the end writes one subset of the base set and the union of
    every part's glyphs under it, made by the same code as the invoices' own. So the
    merged file holds each face once, with no more glyphs than its invoices embed,
    however many invoices there are.

One name per font program
    Fonts copied as they are (from other producers, or older invoices) keep their
    subset tag unless another font program with the same name is already in the file:
    then the tag is replaced by one derived from the font's digest (ISO 32000-1 §9.6.4:
    different subsets in one file have different tags).

Why it writes PDF itself
    No library streams a merge: pypdf's PdfWriter keeps every page and its objects in
    memory and writes the file at the end, and copies each invoice's fonts. Measured on
    the same 2,000 generated invoices: PdfWriter.append + write peaked at 468 MB RSS and
    wrote 30.2 KB per invoice in 531 s (a loaded 2-core machine); this merge 80 MB, 1.9 KB
    per invoice, 18 s. reportlab writes new documents only.

The output is a pure function of the parts, their order and the output name: the file
ID is a hash of the bytes written.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from pypdf.generic import TextStringObject

from invoicing.errors import plural
from invoicing.files import atomic_file
from invoicing.pdf import embed, fonts
from invoicing.pdf.errors import MergeError, one_line
from invoicing.pdf.fragments import FACE_PREFIX, PARENT, Fragment, FragmentStore, Rec
from invoicing.pdf.objects import fill
from invoicing.pdf.prelink import Lru, Prelinker, write_fragments
from invoicing.pdf.volumes import Placement, PrintLayout, TitleSpool, Volume, blank_page, volume_path
from invoicing.untrusted import clean

__all__ = [
    "Merged",
    "MergeError",
    "Part",
    "Placement",
    "PrintLayout",
    "Volume",
    "merge_pdfs",
    "volume_path",
    "write_fragments",
]


@dataclass(frozen=True)
class Part:
    path: Path | str  # a file, or a location the caller's `read_part` reads
    title: str  # bookmark text, e.g. "INV-2026-10-000001 — Jürgen Müller"; cleaned as the page is
    label: str  # page label prefix, e.g. the invoice number
    sha256: str | None = None  # hex sha256 of the file's bytes as recorded when it was rendered
    account: str = ""  # for the print manifest


@dataclass(frozen=True)
class Merged:
    path: Path | str  # the file or object; with volumes, the first one
    pages: int  # in all volumes, padding included
    sha256: str  # of `path`
    size: int  # bytes, in all volumes
    prelinked: int = 0  # how many parts came from fragment files rather than being parsed now
    volumes: tuple[Volume, ...] = ()  # every file written, in order (one without volumes)


_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_TAGGED = re.compile(rb"/(BaseFont|FontName)\s*/([A-Z]{6}\+[^\s/<>\[\]()]+)")
_FANOUT = 256  # kids per /Pages tree node
_NUMBERS = 16384  # shared digests whose output number is remembered (~200 bytes an entry)
_MAX_OFFSET = 9_999_999_999  # a classic xref entry has ten digits
_NARROW = 0xFFFF_FFFF  # offsets up to here take 4 bytes each (`_Sink.offsets_for`)


def merge_pdfs(
    parts: Iterable[Part],
    output: Path | str,
    fragments: Sequence[Any] = (),
    layout: PrintLayout | None = None,
    placed: Callable[[Part, Placement], None] | None = None,
    *,
    read_part: Callable[[Part], bytes] | None = None,
    open_output: Callable[[Path | str], AbstractContextManager[BinaryIO]] | None = None,
    open_fragment: Callable[[Any], BinaryIO] | None = None,
    fragment_store: Any | None = None,
) -> Merged:
    """Merge in the given order and write `output` atomically (temp file, then rename).

    `parts` is iterated once. A part whose `sha256` is given and is the key of an entry
    in one of the `fragments` files is linked from that entry, without reading
    `part.path`; any other part, or one whose entry is damaged, is read and pre-linked
    here. The bytes are the same. With `layout.max_pages` the output is volumes named by
    `volume_path` (`output` itself is not written); `placed` hears where each part went.
    A part longer than a volume is a MergeError, raised before any of it is written.
    Files are read and written here unless the callables are given: `read_part` (the
    part's bytes), `open_output` (a stream for a file or volume that appears whole at the
    end of its block), `open_fragment` (a fragment file, for reading). `fragment_store`,
    if given, is asked instead of a `FragmentStore` of `fragments`: anything with its
    `get(sha256)` and `used` (a merge that runs while the fragment files are written).
    """
    layout = layout or PrintLayout()
    if open_output is None:
        output = Path(output)
        open_output = lambda location: atomic_file(Path(location))  # noqa: E731
    remaining = iter(parts)
    pending = next(remaining, None)
    if pending is None:
        raise MergeError("nothing to merge: no rendered invoices")
    store = fragment_store if fragment_store is not None else FragmentStore(fragments, open_fragment)
    prelinker = Prelinker()
    volumes: list[Volume] = []
    carried: Fragment | None = None  # fetched for a part that went to the next volume
    index = 0
    with TitleSpool() as spool:
        while pending is not None:
            path = volume_path(output, len(volumes) + 1) if layout.max_pages else output
            with open_output(path) as handle:
                sink = _Sink(handle, path)
                linker = _Linker(sink)
                spool.reset()
                while pending is not None:
                    part = pending
                    fragment = carried or _fragment(part, store, prelinker, read_part)
                    carried = None
                    span = layout.span(fragment.pages)
                    if layout.too_small_for(fragment.pages):
                        raise MergeError(
                            f"a volume of at most {plural(layout.max_pages, 'page')} cannot hold invoice "
                            f"{part.label}: it takes {plural(span, 'page')}"
                        )
                    if layout.max_pages and linker.pages and linker.pages + span > layout.max_pages:
                        carried = fragment
                        break
                    first = linker.pages
                    linker.add(fragment)
                    blank = span > fragment.pages
                    if blank:
                        linker.add_blank(fragment)
                    spool.add(_text(clean(part.title)), _label(first, _text(f"{clean(part.label)} p.")))
                    if placed is not None:
                        placed(part, Placement(index, len(volumes) + 1, first + 1, fragment.pages, blank))
                    index += 1
                    pending = next(remaining, None)
                linker.finish(spool, title=PurePath(path).stem)
                digest, size = sink.sha.hexdigest(), sink.pos
            volumes.append(Volume(len(volumes) + 1, path, linker.pages, digest, size, spool.count))
    return Merged(
        volumes[0].path,
        sum(v.pages for v in volumes),
        volumes[0].sha256,
        sum(v.size for v in volumes),
        store.used,
        tuple(volumes),
    )


def _fragment(
    part: Part, store: FragmentStore, prelinker: Prelinker, read: Callable[[Part], bytes] | None
) -> Fragment:
    fragment = store.get(part.sha256)
    if fragment is not None and not all(fonts.face_by_key(key) for key in fragment.glyphs):
        fragment = None  # made with another version of a face: parse the file instead
    if fragment is None:
        fragment = prelinker.fragment(_read_part(part, read), f"invoice file {part.path}")
    return fragment


def _read_part(part: Part, read: Callable[[Part], bytes] | None) -> bytes:
    try:
        return read(part) if read is not None else Path(part.path).read_bytes()
    except FileNotFoundError:
        raise MergeError(f"missing invoice file {part.path}") from None
    except OSError as exc:  # the cause tells the caller whether trying again may work
        raise MergeError(f"cannot read invoice file {part.path}: {one_line(exc)}") from exc


# ------------------------------------------------------------------------ output


class _Sink:
    """The output file: running offset, running sha256, one xref offset per object.

    The offsets take 4 bytes each until the file passes 4 GiB, then 8: with the page
    numbers, they are what the merge holds per invoice, whose page, contents and bookmark
    are 3 objects (at a million invoices 12 MB of offsets, not 25).
    """

    def __init__(self, handle: BinaryIO, output: Path | str):
        self._write = handle.write
        self.output = output
        self.sha = hashlib.sha256()
        self.pos = 0
        self.offsets = array("I", [0])  # by object number; 0 = allocated, not written yet
        self.write(_HEADER)

    def alloc(self) -> int:
        self.offsets.append(0)
        return len(self.offsets) - 1

    def alloc_many(self, count: int) -> int:
        first = len(self.offsets)
        self.offsets.extend(array(self.offsets.typecode, bytes(self.offsets.itemsize * count)))
        return first

    def write(self, data: bytes) -> None:
        try:
            self._write(data)
        except OSError as exc:
            raise MergeError(f"cannot write {self.output}: {one_line(exc)}") from exc
        self.sha.update(data)
        self.pos += len(data)

    def offsets_for(self, pos: int) -> array[int]:
        """The offsets, able to hold `pos` (widened to 8 bytes an entry past 4 GiB)."""
        if pos > _MAX_OFFSET:
            raise MergeError(f"cannot write {self.output}: larger than a PDF xref table can address")
        if pos > _NARROW and self.offsets.typecode == "I":
            self.offsets = array("Q", self.offsets)
        return self.offsets

    def obj(self, num: int, body: bytes) -> None:
        self.offsets_for(self.pos)[num] = self.pos
        self.write(b"%d 0 obj\n%s\nendobj\n" % (num, body))


def _ref(num: int) -> bytes:
    return b"%d 0 R" % num


def _text(value: str) -> bytes:
    """A PDF text string: PDFDocEncoding where it fits, else UTF-16BE with BOM; a
    literal, or a hex string where that is shorter (a UTF-16 title in most scripts).
    """
    if value.isascii() and value.isprintable():  # the same in PDFDocEncoding
        encoded = value.encode("ascii")
    else:
        encoded = TextStringObject(value).get_encoded_bytes()
    literal = b"(" + b"".join(map(_ESCAPES.__getitem__, encoded)) + b")"
    hexed = b"<" + encoded.hex().upper().encode("ascii") + b">"
    return hexed if len(hexed) < len(literal) else literal  # hex is shorter for most scripts


_ESCAPES = [bytes([c]) if bytes([c]).isalnum() or c == 32 else b"\\%03o" % c for c in range(256)]


def _patch(body: bytes | memoryview, cuts: Sequence[int], nums: Sequence[int]) -> bytes:
    """`body` with "N 0 R" at each cut, for the object numbers `nums`."""
    if not cuts:
        return bytes(body)
    pieces: list[bytes | memoryview] = []
    prev = 0
    for cut, num in zip(cuts, nums, strict=True):
        pieces.append(body[prev:cut])
        pieces.append(b"%d 0 R" % num)
        prev = cut
    pieces.append(body[prev:])
    return b"".join(pieces)


class _Linker:
    """Writes fragments to the output, then the document structure around them."""

    def __init__(self, sink: _Sink):
        self.sink = sink
        self.numbers: Lru[int] = Lru(_NUMBERS)  # shared digest -> output number
        self.faces: dict[str, tuple[int, dict[int, str]]] = {}  # face key -> (number, glyphs)
        self.names: dict[bytes, bytes] = {}  # font name (TAG+Name) -> digest of its descriptor
        self.renamed: dict[bytes, tuple[bytes, bytes]] = {}  # digest -> (old name, new name)
        # (An object number fits in 4 bytes: PDF readers stop at 8,388,607 objects.)
        self.page_nums = array("I")  # output number of every page, in order
        self.leaves = array("I")  # output number of every /Pages leaf
        self.first_pages = array("I")  # index of each part's first page

    @property
    def pages(self) -> int:
        return len(self.page_nums)

    def add(self, fragment: Fragment) -> None:
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
        for key, glyphs in fragment.glyphs.items():
            use = self._face(key)[1]
            for gid, text in glyphs.items():
                if text and not use.get(gid, ""):
                    use[gid] = text
                elif gid not in use:
                    use[gid] = text
        shared = fragment.shared
        for i, (body, cuts, targets) in enumerate(fragment.objs):
            refs = [
                self._shared(t, shared) if isinstance(t, bytes) else leaves[i] if t == PARENT else nums[t]
                for t in targets
            ]
            sink.obj(nums[i], _patch(body, cuts, refs))

    def add_blank(self, fragment: Fragment) -> None:
        """A blank page the size of the fragment's last page (duplex padding)."""
        num, leaf = self.next_page()
        self.sink.obj(num, blank_page(fragment.objs[fragment.pages - 1][0]) + b"%s\n>>" % _ref(leaf))

    def _shared(self, digest: bytes, records: Mapping[bytes, Rec]) -> int:
        num = self.numbers.get(digest)
        if num is None:
            body, cuts, kids = records[digest]
            if bytes(body[: len(FACE_PREFIX)]) == FACE_PREFIX:
                num = self._face(bytes(body[len(FACE_PREFIX) :]).decode())[0]
            else:
                refs = [self._shared(kid, records) for kid in kids]
                num = self.sink.alloc()
                self.sink.obj(num, _patch(self._unique_name(digest, bytes(body), kids), cuts, refs))
            self.numbers.put(digest, num)
        return num

    def _face(self, key: str) -> tuple[int, dict[int, str]]:
        """The output number and the glyphs so far of a face's union subset."""
        entry = self.faces.get(key)
        if entry is None:
            entry = self.faces[key] = (self.sink.alloc(), {})
        return entry

    def _unique_name(self, digest: bytes, body: bytes, kids: Sequence[bytes]) -> bytes:
        """`body` with its font's subset tag replaced if another font in the file has its name.

        A descriptor (/FontName) owns its name; a font dictionary (/BaseFont) is renamed
        with the descriptor below it, which the linker writes first."""
        found = _TAGGED.search(body)
        if found is None:
            return body
        name = found[2]
        if found[1] == b"FontName":
            owner = self.names.setdefault(name, digest)
            if owner != digest:
                new = self._free_name(name, digest)
                self.names[new] = digest
                self.renamed[digest] = (name, new)
        else:
            for kid in kids:
                if kid in self.renamed and self.renamed[kid][0] == name:
                    self.renamed[digest] = self.renamed[kid]
                    break
        if digest in self.renamed:
            old, new = self.renamed[digest]
            body = body.replace(b"/" + old, b"/" + new)  # same length: the cuts stay right
        return body

    def _free_name(self, name: bytes, seed: bytes) -> bytes:
        """A name with the tag replaced, derived from `seed`, that no font in the file has."""
        rest = name[6:]
        for attempt in range(1 << 16):
            value = int.from_bytes(hashlib.sha256(seed + attempt.to_bytes(4, "big")).digest()[:8], "big")
            tag = bytearray()
            for _ in range(6):
                value, letter = divmod(value, 26)
                tag.append(65 + letter)
            candidate = bytes(tag) + rest
            if candidate not in self.names:
                return candidate
        raise MergeError("cannot name a font subset")  # pragma: no cover - 2^16 collisions

    def next_page(self) -> tuple[int, int]:
        """Allocate a page object; returns (page number, its /Pages leaf)."""
        if len(self.page_nums) % _FANOUT == 0:
            self.leaves.append(self.sink.alloc())
        num = self.sink.alloc()
        self.page_nums.append(num)
        return num, self.leaves[-1]

    # ------------------------------------------------------------------ the end

    def _write_faces(self) -> None:
        """Each face's union subset, under the number its references already point at."""
        for key, (num, glyphs) in self.faces.items():
            face = fonts.face_by_key(key)
            if face is None:  # merge_pdfs parsed any part made with another version
                raise MergeError(f"internal error: no face {key}")
            glyphs = embed.with_base(face, glyphs)  # the parts record the glyphs beyond it
            name = b"%s+%s" % (embed.subset_tag(face, tuple(sorted(glyphs))).encode(), face.name.encode())
            if name in self.names:  # an older subset of this face, copied as it was, has the name
                name = self._free_name(name, key.encode())
            self.names[name] = key.encode()
            objects = embed.font_objects(face, glyphs, tag=name[:6].decode(), level=9)
            refs: dict[str, int] = {}
            for obj_name, parts in objects:
                target = num if obj_name == "Font" else self.sink.alloc()
                self.sink.obj(target, fill(parts, refs))
                refs[obj_name] = target

    def finish(self, spool: TitleSpool, title: str) -> None:
        sink = self.sink
        self._write_faces()
        pages = self._page_tree()
        outlines = self._outline(spool.titles())
        labels = self._labels(spool.labels())
        info = sink.alloc()
        sink.obj(info, b"<<\n/Title %s\n/Producer %s\n>>" % (_text(title), _text("invoicing")))
        catalog = sink.alloc()
        sink.obj(
            catalog,
            b"<<\n/Type /Catalog\n/Pages %s\n/Outlines %s\n/PageLabels %s\n/PageMode /UseOutlines\n>>"
            % (_ref(pages), _ref(outlines), _ref(labels)),
        )
        offsets = sink.offsets
        if offsets.count(0) > 1:  # the free entry's, and another's (no copy of them all)
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

    def _outline(self, titles: Iterator[bytes]) -> int:
        """One top-level bookmark per part (its encoded title), to its first page.

        The bookmarks are written as `_Sink.obj` would, 1024 to a write: with one write
        and one sha256 update each they took 56 ms of the file end's 126 ms at 20,000
        invoices, 33 ms this way (bench, load average 3), and the end follows the last part."""
        sink = self.sink
        root = sink.alloc()
        total = len(self.first_pages)
        first = sink.alloc_many(total)
        parent = b"/Parent " + _ref(root) + b"\n"
        offsets, page_nums, first_pages = sink.offsets, self.page_nums, self.first_pages
        pos, chunk = sink.pos, []
        for i, title in enumerate(titles):
            if pos > _NARROW:
                offsets = sink.offsets_for(pos)
            num = first + i
            prev = b"/Prev %d 0 R\n" % (num - 1) if i else b""
            nxt = b"/Next %d 0 R\n" % (num + 1) if i + 1 < total else b""
            item = b"%d 0 obj\n<<\n/Title %s\n%s%s%s/Dest [ %d 0 R /Fit ]\n>>\nendobj\n" % (
                num,
                title,
                parent,
                prev,
                nxt,
                page_nums[first_pages[i]],
            )
            offsets[num] = pos
            pos += len(item)
            chunk.append(item)
            if len(chunk) == 1024:
                sink.write(b"".join(chunk))
                chunk.clear()
        sink.write(b"".join(chunk))
        sink.obj(
            root,
            b"<<\n/Type /Outlines\n/First %s\n/Last %s\n/Count %d\n>>"
            % (_ref(first), _ref(first + total - 1), total),
        )
        return root

    def _labels(self, labels: Iterator[bytes]) -> int:
        """/PageLabels: "<label> p.1", "p.2", ... for each part's pages (encoded prefixes).

        One flat /Nums array, written in pieces: a number tree with /Kids would be
        valid too, but pypdf (7.1) cannot find labels past the last key of a leaf.
        """
        sink = self.sink
        root = sink.alloc()
        sink.offsets_for(sink.pos)[root] = sink.pos
        sink.write(b"%d 0 obj\n<<\n/Nums [" % root)
        for block in labels:  # each part's entry (`_label`), made as it was linked
            sink.write(block)
        sink.write(b" ]\n>>\nendobj\n")
        return root


def _label(first_page: int, prefix: bytes) -> bytes:
    """A part's entry of the /PageLabels /Nums array: its first page (counted from 0 in
    the file) and its encoded label prefix."""
    return b"\n%d << /S /D /P %s /St 1 >>" % (first_page, prefix)


def _pages_node(kids: Sequence[int], count: int, parent: int | None) -> bytes:
    up = b"/Parent %s\n" % _ref(parent) if parent is not None else b""
    return b"<<\n/Type /Pages\n%s/Count %d\n/Kids [ %s ]\n>>" % (up, count, b" ".join(_ref(k) for k in kids))
