"""A face embedded in a PDF: the objects of one glyph-id-preserving subset, the base set
of glyphs every invoice embeds of a face, and the record of which glyphs a document uses.

Every face is embedded the same way, as a composite font:

    Type0 font        /Encoding /Identity-H: a character code is two bytes, the CID
      CIDFontType2    /W the advance of each glyph in the subset
        CIDToGIDMap   CID -> glyph in the subset
        descriptor    metrics, and /FontFile2: HarfBuzz's subset of the face
      ToUnicode       each glyph's text, so that text can be copied and extracted

A CID is the glyph's id in the whole face: content streams are the same whatever the
subset.

The base set. Every invoice embeds, of each face it draws with, the face's base set,
each of its script sets the invoice draws a glyph of, and the glyphs it draws beyond
them (glyphsets.py: the sets depend only on the bundled face and catalogs). Most
invoices (96 % of the Latin synthetic ones) draw nothing else, and embed a subset
whose objects are made once per process and reused as bytes (`invoice_font`). Each
glyph of the sets has a text; a glyph drawn is given the text it was drawn with
(FontUse), so a glyph embedded but not drawn never changes what a page extracts to.

The subsets are HarfBuzz's (`_subset`): the glyphs and their components, renumbered
in the order of their ids in the face (.notdef first), with glyf, loca, head, hhea,
hmtx, maxp and a post without glyph names; no cmap, layout tables, names or hinting
(NO_HINTING: a third smaller for the Noto faces, and PDF viewers scale outlines without
it). Text is shaped before it is drawn, the CIDToGIDMap maps each CID to its glyph in
the subset and /W gives the advances. The glyph ids are not retained (RETAIN_GIDS):
that makes loca and hmtx as long as the face up to the highest glyph drawn, and a
Japanese invoice's Droid Sans Fallback subset then takes 2.2 ms to make and 1.3 ms to
deflate (its 308 KB) and is 2 KB larger deflated, against 0.3 ms, 0.4 ms and a CIDToGIDMap
of 86 bytes deflated.

An invoice that draws glyphs beyond the sets (most shaped ones; 2,000 synthetic
invoices make 407 such subsets) deflates its subset whole, at zlib's fastest level
(`_BEYOND_LEVEL`): HarfBuzz lays out the glyphs in id order, so the sets' outlines are
not one run of bytes that could be deflated once and spliced in, as they were when the
project wrote subsets itself. Measured over those 407: 0.5 ms each then, 0.9 ms now
at zlib's default level (HarfBuzz's subset 0.1 ms, deflating 12 to 19 KB 0.3 to 0.55
ms); level 1 deflates them in 0.2 to 0.3 ms, for 5 % (450) more bytes. The ToUnicode
CMap still lists each set's glyphs in blocks of their own, deflated once, then the
other glyphs; /W runs are cached.

A merge fragment records, per face, only the glyphs beyond the base set, or drawn for
another text than theirs in it (`invoice_font`, `read_font`). The merge (merge.py)
embeds, per face, one subset of the base set and the union of its invoices' records
(`with_base`), built by this same module (`font_objects`), and points every page at
it.

The subset tag (ISO 32000-1 §9.6.4, the "ABCDEF+" in /BaseFont) is a digest of the
face and the glyph set: different subsets get different names, in one file and across
files, and the same subset gets the same name wherever it is embedded.

An object is given as parts (objects.Parts): bytes, and between them the names of the
other objects it refers to; the renderer and the merge fill in their object numbers.
The caches are shared by the renderer's threads: entries are made whole, then put in
under a lock.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import pairwise

import uharfbuzz as hb

from invoicing.pdf import fonts
from invoicing.pdf.drawn import FontUse, drawn_glyphs
from invoicing.pdf.fonts import Face
from invoicing.pdf.glyphsets import glyph_sets
from invoicing.pdf.lru import Lru
from invoicing.pdf.objects import Parts, deflated_stream, fill
from invoicing.pdf.shaping import Shaped, fit_glyph_text

__all__ = [
    "FontUse",
    "base_glyphs",
    "beyond_base",
    "font_objects",
    "drawn_glyphs",
    "invoice_font",
    "invoice_runs",
    "parse_to_unicode",
    "prepare",
    "read_font",
    "program",
    "subset_tag",
    "to_unicode",
    "with_base",
]


def subset_tag(face: Face, gids: tuple[int, ...]) -> str:
    ids = array("H", gids)
    if sys.byteorder == "little":
        ids.byteswap()  # big-endian, two bytes per glyph id
    digest = hashlib.sha256(face.key.encode() + b"\0" + ids.tobytes()).digest()
    value = int.from_bytes(digest[:8], "big")
    letters = []
    for _ in range(6):
        value, rest = divmod(value, 26)
        letters.append(chr(65 + rest))
    return "".join(letters)


# ------------------------------------------------------------------ ToUnicode

_CMAP_HEAD = (
    b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
    b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
    b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
    b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
)
_CMAP_TAIL = b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"


@lru_cache(maxsize=8192)
def _entry(gid: int, text: str) -> str:
    # Cut as shaping cuts what it records (shaping.MAX_GLYPH_TEXT): a glyph text read from
    # a file rendered before that rule (the merge's fragments) still makes a valid entry.
    return f"<{gid:04X}> <{fit_glyph_text(text).encode('utf-16-be').hex().upper()}>"


def _bfchar(glyphs: Iterable[tuple[int, str]]) -> bytes:
    """bfchar blocks of at most 100 entries, each line ending in a newline."""
    entries = [_entry(gid, text) for gid, text in glyphs]
    return "".join(
        f"{len(block)} beginbfchar\n" + "\n".join(block) + "\nendbfchar\n"
        for block in (entries[start : start + 100] for start in range(0, len(entries), 100))
    ).encode("ascii")


def _unicode_blocks(glyphs: Mapping[int, str], found: _Base) -> list[tuple[int, bytes]]:
    """The bfchar blocks of a ToUnicode CMap: first each block of the base set and of
    the script sets (`_Base.chunks`: a hundred glyphs of one set, in id order), with
    those of its glyphs that have their own text, then the other glyphs in id order.
    (chunk number, bytes): the number of a block that is whole, -1 for any other."""
    texts = found.texts
    out: list[tuple[int, bytes]] = []
    for number, chunk in enumerate(found.chunks):
        kept = [gid for gid in chunk if glyphs.get(gid) == texts[gid]]
        if len(kept) == len(chunk):
            out.append((number, found.blocks[number][0]))
        elif kept:
            out.append((-1, _bfchar((gid, texts[gid]) for gid in kept)))
    rest = sorted(gid for gid, text in glyphs.items() if texts.get(gid) != text)
    if rest:
        out.append((-1, _bfchar((gid, glyphs[gid]) for gid in rest)))
    return out


def to_unicode(face: Face, glyphs: Mapping[int, str]) -> bytes:
    """The ToUnicode CMap of a subset of `face`: two-byte codes (glyph ids) to their
    text, in blocks of at most 100 (`_unicode_blocks`).

    A glyph with no text of its own (the second glyph of a cluster: a mark, the half of a
    split vowel sign) maps to the empty string, so that it adds nothing to extracted
    text rather than a made-up character."""
    return _cmap(_unicode_blocks(glyphs, _base(face)))


def _cmap(blocks: list[tuple[int, bytes]]) -> bytes:
    return _CMAP_HEAD + b"".join(block for _, block in blocks) + _CMAP_TAIL


def _deflate_unicode(found: _Base, glyphs: Mapping[int, str], level: int) -> bytes:
    """The CMap deflated: at `level` as a whole, or (0) the base set's whole blocks
    deflated once per process and spliced in."""
    blocks = _unicode_blocks(glyphs, found)
    text = _cmap(blocks)
    if level:
        return zlib.compress(text, level)
    parts = [b"\x78\xda", _raw(_CMAP_HEAD, 6, zlib.Z_SYNC_FLUSH)]
    pending: list[bytes] = []
    for number, block in blocks:
        if number < 0:
            pending.append(block)
            continue
        if pending:
            parts.append(_raw(b"".join(pending), 6, zlib.Z_SYNC_FLUSH))
            pending = []
        parts.append(found.blocks[number][1])
    parts.append(_raw(b"".join(pending) + _CMAP_TAIL, 6, zlib.Z_FINISH))
    parts.append(zlib.adler32(text).to_bytes(4, "big"))
    return b"".join(parts)


_BLOCK = re.compile(rb"beginbfchar(.*?)endbfchar", re.DOTALL)
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]*)>")


def parse_to_unicode(data: bytes) -> dict[int, str] | None:
    """The glyph -> text map of a CMap that `to_unicode` wrote (its bfchar entries, each
    glyph once), or None if it has none or one is not well formed."""
    glyphs: dict[int, str] = {}
    try:
        for block in _BLOCK.findall(data):
            for code, text in _BFCHAR.findall(block):
                gid = int(code, 16)
                if gid in glyphs:
                    return None
                glyphs[gid] = bytes.fromhex(text.decode()).decode("utf-16-be") if text else ""
    except ValueError:
        return None
    return glyphs or None


# ------------------------------------------------------------------ /W

_runs: Lru[tuple[int, int, int], bytes] = Lru(1 << 14)  # (face, first, last) -> "first [w w ...]"


def _widths(face: Face, gids: tuple[int, ...]) -> bytes:
    """/W: [first [w w ...] first [w ...] ...] over runs of consecutive glyph ids; the
    runs are cached (a base set's are in every subset that holds it)."""
    texts = face.width_texts
    index = face.index
    if not gids:
        return b"[]"
    cuts = [0, *(i for i in range(1, len(gids)) if gids[i] != gids[i - 1] + 1), len(gids)]
    out = []
    for start, stop in pairwise(cuts):
        key = (index, gids[start], gids[stop - 1])
        run = _runs.hit(key)
        if run is None:  # the base set's runs stay, a batch's names come and go
            run = _runs.keep(key, b"%d [%s]" % (gids[start], b" ".join(texts[g] for g in gids[start:stop])))
        out.append(run)
    return b"[" + b" ".join(out) + b"]"


# ------------------------------------------------------------------ the base set


class _Base:
    """A face's glyph sets (glyphsets.py), and what is made of them once per process.

    `core`: the base set; `groups`: the script sets; `texts`: each of their glyphs'
    text; `chunks`, `blocks`: the ToUnicode blocks of the base set and of each script
    set, as text and deflated; the subsets of the base set with script sets (`stable`)."""

    __slots__ = ("texts", "core", "groups", "group_of", "chunks", "blocks", "_sets", "_chars")

    def __init__(self, face: Face):
        sets = glyph_sets(face)
        self.core, self.texts = sets.core, sets.texts
        self.groups = sets.groups
        self.group_of: dict[int, int] = {gid: n for n, group in enumerate(self.groups) for gid in group}
        gids = list(self.core)
        self.chunks = [chunk for part in (gids, *self.groups) for chunk in _hundreds(list(part))]
        self.blocks: list[tuple[bytes, bytes]] = []
        for chunk in self.chunks:
            block = _bfchar((gid, self.texts[gid]) for gid in chunk)
            self.blocks.append((block, _raw(block, 9, zlib.Z_SYNC_FLUSH)))
        self._chars: dict[str, int] | None = None
        self._sets: dict[frozenset[int], tuple[dict[int, str], list[tuple[str, Parts]], dict[int, str]]] = {}

    def char_sets(self, face: Face) -> dict[str, int]:
        """Character -> the script set its cmap glyph is in (-1: the base set), for the
        characters whose glyph in the sets stands for them."""
        chars = self._chars
        if chars is None:
            texts, group_of = self.texts, self.group_of
            chars = {
                chr(code): group_of.get(gid, -1)
                for code, gid in face.cmap.items()
                if texts.get(gid) == chr(code)
            }
            self._chars = chars
        return chars

    def stable(
        self, face: Face, groups: frozenset[int]
    ) -> tuple[dict[int, str], list[tuple[str, Parts]], dict[int, str]]:
        """The base set and these script sets: (glyph id -> text, its font objects, the
        record of it beyond the base set); made once per process."""
        hit = self._sets.get(groups)
        if hit is None:
            glyphs = dict(self.core)
            for n in sorted(groups):
                glyphs.update((gid, self.texts[gid]) for gid in self.groups[n])
            objects = _font_objects(face, glyphs, self, level=9)
            hit = (glyphs, objects, _record(self, glyphs))
            with _sets_lock:
                self._sets[groups] = hit
        return hit


def _hundreds(gids: list[int]) -> list[list[int]]:
    return [gids[start : start + 100] for start in range(0, len(gids), 100)]


_sets_lock = threading.Lock()
_base = fonts.PerFace(_Base)


def prepare() -> None:
    """Make every face's base set and its objects, and HarfBuzz's preprocessed face for
    subsetting, now (about 1 s: the catalogs, Babel's data of every bundled locale, 0.5 s
    to preprocess Droid Sans Fallback): in a prefork worker's parent, so that its
    children share them instead of each making them."""
    for index in range(fonts.face_count()):
        face = fonts.face(index)
        face.preprocess()
        _base(face).stable(face, frozenset())
        _base(face).char_sets(face)


def _record(found: _Base, glyphs: Mapping[int, str]) -> dict[int, str]:
    return {gid: text for gid, text in glyphs.items() if found.core.get(gid) != text}


def base_glyphs(face: Face) -> Mapping[int, str]:
    """The face's base set, in every invoice: glyph id -> the text it stands for when
    the invoice does not draw it with another."""
    return _base(face).core


def invoice_font(face: Face, drawn: Mapping[int, str]) -> tuple[list[tuple[str, Parts]], dict[int, str]]:
    """The objects that embed `face` in an invoice that draws `drawn` (`drawn_glyphs`' glyph id
    -> text), and the record of the glyphs beyond the base set, for the merge fragment
    (`beyond_base`).

    The invoice embeds the base set, each script set it draws a glyph of, and the glyphs
    it draws beyond them, each drawn glyph with the text it was drawn for: a superset,
    so extracted text is what the glyphs drawn say. When it draws no other glyph, and
    none with another text, which is most invoices, the objects are made once per
    process."""
    found = _base(face)
    texts, group_of = found.texts, found.group_of
    groups = frozenset(group_of[gid] for gid in drawn if gid in group_of)
    glyphs, objects, record = found.stable(face, groups)
    beyond = {gid: text for gid, text in drawn.items() if texts.get(gid) != text}
    if not beyond:
        return objects, record
    key = (face.index, groups, tuple(sorted(beyond.items())))
    made = _beyond.hit(key)
    if made is None:
        made = _beyond.keep(key, _font_objects(face, {**glyphs, **beyond}, found))
    return made, {**record, **beyond}


# The subsets of invoices that draw glyphs beyond the sets. Some recur: the mirrored
# parentheses of a right-to-left page, a city's kanji, an Arabic amount's marks.
_beyond: Lru[tuple[int, frozenset[int], tuple[tuple[int, str], ...]], list[tuple[str, Parts]]] = Lru(128)


def invoice_runs(face: Face, runs: list[Shaped]) -> tuple[list[tuple[str, Parts]], dict[int, str]]:
    """`invoice_font` of what `runs` draw (FontUse's runs of `face`). Most of the runs a
    night draws recur (labels, amounts), and each knows once per process whether it
    stays within the base and script sets (`Shaped.summary`): when every run does, the
    sets' objects are taken without gathering the invoice's glyphs one by one."""
    found = _base(face)
    groups: set[int] = set()
    for shaped in runs:
        summary = shaped.summary
        if summary is False:
            summary = shaped.summary = _summary(found, shaped)
        if summary is None:
            return invoice_font(face, drawn_glyphs(runs))
        groups |= summary
    _, objects, record = found.stable(face, frozenset(groups))
    return objects, record


def _summary(found: _Base, shaped: Shaped) -> frozenset[int] | None:
    """The script sets the run draws a glyph of; None if it draws a glyph beyond the
    sets, or one with another text than theirs (or, for a run shaped directly, may: the
    glyph-by-glyph way then decides)."""
    if shaped.direct:  # by its characters, without gathering its glyphs
        sets: set[int | None] = set(map(found.char_sets(shaped.face).get, set(shaped.text)))
        if None in sets:
            return None
        return frozenset(n for n in sets if n is not None and n >= 0)
    glyphs, group_of = shaped.glyphs, found.group_of
    if not glyphs.items() <= found.texts.items():  # each (glyph, text) one of the sets'
        return None
    return frozenset(map(group_of.__getitem__, glyphs.keys() & group_of.keys()))


def beyond_base(face: Face, glyphs: Mapping[int, str]) -> dict[int, str]:
    """The entries of an embedded glyph set that the face's base set does not imply:
    the glyphs outside it, and those with another text than theirs in it."""
    return _record(_base(face), glyphs)


def with_base(face: Face, glyphs: Mapping[int, str]) -> dict[int, str]:
    """The base set, its texts replaced by those of `glyphs`, and the glyphs beyond it:
    what the merged file embeds of a face for the union of its invoices' records."""
    return {**_base(face).core, **glyphs}


# ------------------------------------------------------------------ subsets

# Subsets asked for again (the same glyphs of a face) within a batch. Few are: rendering
# 3,000 mixed invoices asked for 580, 50 KB each on average, of which 256 entries found
# 58 and held 14.8 MB of a worker's peak; 32 find 2, and the 56 made again cost 0.015 ms
# of CPU per invoice (0.5 %), for 13 MB less in every render process.
_programs: Lru[tuple[int, tuple[int, ...]], tuple[bytes, bytes]] = Lru(32)

# The tables a CIDFontType2 font program keeps (ISO 32000-1 §9.9: glyf, head, hhea, hmtx,
# loca, maxp; post, as HarfBuzz writes it, is 32 bytes without glyph names).
_KEPT_TABLES = frozenset({"glyf", "head", "hhea", "hmtx", "loca", "maxp", "post"})


@lru_cache(maxsize=64)
def _dropped(face: Face) -> tuple[int, ...]:
    """The face's tables outside `_KEPT_TABLES`, as HarfBuzz's tags."""
    return tuple(
        int.from_bytes(tag.encode("latin-1"), "big")
        for tag in face.hb_face.table_tags
        if tag not in _KEPT_TABLES
    )


def _subset(face: Face, gids: tuple[int, ...]) -> tuple[bytes, bytes]:
    """HarfBuzz's subset of `face` for these glyph ids (sorted), and its CIDToGIDMap:
    two bytes per CID up to the highest, each the glyph's id in the subset; cached.
    The glyphs' components come along; GSUB's closure does not (NO_LAYOUT_CLOSURE):
    text is shaped before it is drawn, and the subset holds what was drawn."""
    key = (face.index, gids)
    hit = _programs.hit(key)
    if hit is None:
        wanted = hb.SubsetInput()
        wanted.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NO_LAYOUT_CLOSURE
        wanted.drop_table_tag_set.update(_dropped(face))
        wanted.glyph_set.update(gids)
        plan = hb.SubsetPlan(face.subset_face(), wanted)
        index = plan.old_to_new_glyph_mapping
        cid_map = bytearray(2 * (gids[-1] + 1 if gids else 1))
        for gid in gids:
            cid_map[2 * gid : 2 * gid + 2] = index[gid].to_bytes(2, "big")
        hit = _programs.keep(key, (plan.execute().blob.data, bytes(cid_map)))
    return hit


def program(face: Face, gids: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The face's subset for these glyph ids, and its CIDToGIDMap, uncompressed; cached."""
    return _subset(face, gids)


def _raw(data: bytes, level: int, mode: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(mode)


def _deflate_runs(data: bytes) -> bytes:
    """Deflate a CIDToGIDMap: two bytes per glyph id of the face up to the highest one
    drawn, almost all zero (66 KB for a Japanese invoice). Run-length matching only
    (Z_RLE) makes it smaller than zlib's default, at a quarter of the time."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    return packer.compress(data) + packer.flush()


@lru_cache(maxsize=64)
def _metrics(face: Face) -> bytes:
    """The descriptor's entries after /Flags: the face's, whatever the subset."""
    metrics = face.metrics
    scale = face.scale
    bbox = " ".join(str(round(v * scale)) for v in metrics.bbox)
    stem_v = 50 + int(pow(metrics.weight / 65.0, 2))
    return b"/FontBBox [%s] /ItalicAngle %s /Ascent %d /Descent %d /CapHeight %d /StemV %d" % (
        bbox.encode(),
        f"{metrics.italic_angle:g}".encode(),
        round(metrics.ascent * scale),
        round(metrics.descent * scale),
        round(metrics.cap_height * scale),
        stem_v,
    )


def _dictionaries(face: Face, gids: tuple[int, ...], tag: str) -> dict[str, Parts]:
    """The dictionary objects of a subset: descriptor, CIDFont and Type0 font."""
    name = f"{tag}+{face.name}".encode("ascii")
    descriptor = (
        b"<< /Type /FontDescriptor /FontName /%s /Flags 4 %s /FontFile2 " % (name, _metrics(face)),
        "FontFile2",
        b" >>",
    )
    cid_font = (
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        b" /W %s /CIDToGIDMap " % (name, _widths(face, gids)),
        "CIDToGIDMap",
        b" /FontDescriptor ",
        "FontDescriptor",
        b" >>",
    )
    font = (
        b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [" % name,
        "CIDFont",
        b"] /ToUnicode ",
        "ToUnicode",
        b" >>",
    )
    return {"FontDescriptor": descriptor, "CIDFont": cid_font, "Font": font}


def font_objects(
    face: Face, glyphs: Mapping[int, str], tag: str | None = None, level: int = 0
) -> list[tuple[str, Parts]]:
    """The objects that embed `face` with exactly these glyphs, children first; the last
    is the Type0 font. Names: "FontFile2", "CIDToGIDMap", "ToUnicode", "FontDescriptor",
    "CIDFont", "Font". `tag`: the subset tag, if not `subset_tag`'s (the merge may need
    another). `level`: zlib's for the font program and the ToUnicode CMap (the merged
    file's union, made once); 0, an invoice's: the program at `_BEYOND_LEVEL`, the CMap's
    base blocks deflated once per process and spliced in (_deflate_unicode)."""
    found = _base(face)
    return _font_objects(face, glyphs, found, tag, level)


_BEYOND_LEVEL = 1  # zlib's, for the program of an invoice's subset beyond the sets (see above)


def _font_objects(
    face: Face,
    glyphs: Mapping[int, str],
    found: _Base,
    tag: str | None = None,
    level: int = 0,
) -> list[tuple[str, Parts]]:
    """`font_objects`, with the face's `_Base`."""
    gids = tuple(sorted(glyphs))
    data, cid_map = _subset(face, gids)
    dictionaries = _dictionaries(face, gids, tag or subset_tag(face, gids))
    deflated = zlib.compress(data, level or _BEYOND_LEVEL)
    return [
        ("FontFile2", (deflated_stream(deflated, Length1=len(data)),)),
        ("CIDToGIDMap", (deflated_stream(_deflate_runs(cid_map)),)),
        ("ToUnicode", (deflated_stream(_deflate_unicode(found, glyphs, level)),)),
        ("FontDescriptor", dictionaries["FontDescriptor"]),
        ("CIDFont", dictionaries["CIDFont"]),
        ("Font", dictionaries["Font"]),
    ]


# ------------------------------------------------------------------ reading back

_TYPE0 = re.compile(
    rb"<< /Type /Font /Subtype /Type0 /BaseFont /([A-Z]{6})\+([A-Za-z0-9._-]+) /Encoding /Identity-H"
    rb" /DescendantFonts \[(\d+) 0 R\] /ToUnicode (\d+) 0 R >>"
)
_CID_REFS = re.compile(rb"/CIDToGIDMap (\d+) 0 R /FontDescriptor (\d+) 0 R >>$")
_W = re.compile(rb" /W \[((?:\d+ \[[\d ]+\] ?)*)\] ")
_W_RUN = re.compile(rb"(\d+) \[([\d ]+)\]")
_FONT_FILE = re.compile(rb"/FontFile2 (\d+) 0 R >>$")
_STREAM = re.compile(rb"<< (/Filter /FlateDecode ?)?(?:/Length1 \d+ )?/Length (\d+) >>\nstream\n")


def _stream_data(body: bytes | None) -> bytes | None:
    """The data of a stream object as `font_objects` writes them (deflated or not)."""
    found = _STREAM.match(body) if body is not None else None
    if found is None or body is None:
        return None
    data = body[found.end() : found.end() + int(found[2])]
    if not found[1]:
        return data
    try:
        return zlib.decompress(data)
    except zlib.error:
        return None


def read_font(body: bytes, objects: Callable[[int], bytes | None]) -> tuple[Face, dict[int, str]] | None:
    """(face, glyph id -> text beyond the face's base set) if `body` is a Type0 font that
    `font_objects` made, with its objects (`objects(number)` gives an object's body as in
    the file): the subset of a bundled face, this version of it, for exactly the glyphs
    its ToUnicode names. None for anything else. The glyphs are given as
    `invoice_font` records them for the merge, so a parsed fragment is the one the
    renderer makes.

    The dictionaries must be byte for byte what `font_objects` writes for that face, tag
    and glyphs, the streams must decompress to its font program, CIDToGIDMap and
    ToUnicode map; so a font that passes is the face's own glyphs, and the merge may draw
    them from its union subset instead. Reads bytes only: parsing these objects with
    pypdf, the /W array above all, costs milliseconds."""
    top = _TYPE0.fullmatch(body)
    if top is None:
        return None
    face = fonts.face_by_name(top[2].decode())
    cid_num, unicode_num = int(top[3]), int(top[4])
    cid_body = objects(cid_num)
    if face is None or cid_body is None:
        return None
    refs, widths = _CID_REFS.search(cid_body), _W.search(cid_body)
    if refs is None or widths is None:
        return None
    gids = tuple(int(first) + k for first, run in _W_RUN.findall(widths[1]) for k in range(len(run.split())))
    glyphs = parse_to_unicode(_stream_data(objects(unicode_num)) or b"")
    if not gids or glyphs is None or tuple(sorted(glyphs)) != gids or list(gids) != sorted(set(gids)):
        return None
    tag = top[1].decode()
    if tag != subset_tag(face, gids):
        return None
    map_num, descriptor_num = int(refs[1]), int(refs[2])
    descriptor_body = objects(descriptor_num)
    file_ref = _FONT_FILE.search(descriptor_body) if descriptor_body is not None else None
    if file_ref is None:
        return None
    numbers = {"CIDFont": cid_num, "ToUnicode": unicode_num, "CIDToGIDMap": map_num}
    numbers |= {"FontDescriptor": descriptor_num, "FontFile2": int(file_ref[1])}
    expected = _dictionaries(face, gids, tag)
    actual = {"Font": body, "CIDFont": cid_body, "FontDescriptor": descriptor_body}
    if any(fill(parts, numbers) != actual[name] for name, parts in expected.items()):
        return None
    data, cid_map = program(face, gids)
    if _stream_data(objects(numbers["FontFile2"])) != data or _stream_data(objects(map_num)) != cid_map:
        return None
    return face, dict(sorted(beyond_base(face, glyphs).items()))  # in glyph order, as own_fragment
