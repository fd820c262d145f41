"""A face embedded in a PDF: the objects of one glyph-id-preserving subset, and the
record of which glyphs a document uses.

Every face is embedded the same way, as a composite font:

    Type0 font        /Encoding /Identity-H: a character code is two bytes, the CID
      CIDFontType2    /W the advance of each glyph in the subset
        CIDToGIDMap   CID -> glyph in the subset
        descriptor    metrics, and /FontFile2: sfnt.py's subset of the face
      ToUnicode       each glyph's text, so that text can be copied and extracted

A CID is the glyph's id in the whole face: content streams are the same whatever the
subset. A single invoice embeds only the glyphs it draws; the merge (merge.py)
embeds, per face, one subset of the union of the glyphs all its invoices draw, built by
this same module (`font_objects`), and points every page at it.

The subset tag (ISO 32000-1 §9.6.4, the "ABCDEF+" in /BaseFont) is a digest of the
face and the glyph set: different subsets get different names, in one file and across
files, and the same subset gets the same name wherever it is embedded.

An object is given as parts (objects.Parts): bytes, and between them the names of the
other objects it refers to; the renderer and the merge fill in their object numbers.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.core import get_global
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import get_territory_currencies

from invoicing.pdf import fonts
from invoicing.pdf.fonts import Face
from invoicing.pdf.format import Formatter
from invoicing.pdf.objects import Parts, deflated_stream, fill
from invoicing.pdf.shaping import Shaped
from invoicing.pdf.text import Style, Text
from invoicing.pdf.translate import DOMAIN, LOCALE_DIR, languages, pro_rata, translator

__all__ = [
    "FontUse",
    "base_glyphs",
    "beyond_base",
    "font_objects",
    "invoice_font",
    "parse_to_unicode",
    "read_font",
    "program",
    "subset_tag",
    "to_unicode",
    "with_base",
]


class FontUse:
    """The glyphs one document draws, per face: glyph id -> its text for ToUnicode.

    The first text a glyph is drawn for is kept (a glyph drawn both as part of a cluster
    and alone keeps what it was first); a glyph first drawn without text (the second
    glyph of a cluster) takes the first text it is later drawn with.
    """

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: dict[int, Shaped] = {}  # by identity, in the order first drawn

    def add(self, shaped: Shaped) -> None:
        self._runs.setdefault(id(shaped), shaped)  # the runs are alive while this is

    def __iter__(self) -> Iterator[tuple[Face, dict[int, str]]]:
        """(face, glyph id -> text) in face order."""
        by_face: dict[int, list[Shaped]] = {}
        for shaped in self._runs.values():
            by_face.setdefault(shaped.face.index, []).append(shaped)
        for index in sorted(by_face):
            runs = by_face[index]
            glyphs: dict[int, str] = {}
            for shaped in reversed(runs):  # earlier runs win
                glyphs.update(shaped.glyphs)
            for gid, text in glyphs.items():
                if not text:
                    glyphs[gid] = next((t for r in runs if (t := r.glyphs.get(gid, ""))), "")
            yield runs[0].face, glyphs


def subset_tag(face: Face, gids: tuple[int, ...]) -> str:
    digest = hashlib.sha256(face.key.encode() + b"\0" + b"".join(g.to_bytes(2, "big") for g in gids)).digest()
    value = int.from_bytes(digest[:8], "big")
    letters = []
    for _ in range(6):
        value, rest = divmod(value, 26)
        letters.append(chr(65 + rest))
    return "".join(letters)


@lru_cache(maxsize=8192)
def _entry(gid: int, text: str) -> str:
    return f"<{gid:04X}> <{text.encode('utf-16-be').hex().upper()}>"


def to_unicode(glyphs: Mapping[int, str]) -> bytes:
    """ToUnicode CMap: two-byte codes (glyph ids) to their text, in blocks of at most 100.

    A glyph with no text of its own (the second glyph of a cluster: a mark, the half of a
    split vowel sign) maps to the empty string, so that it adds nothing to extracted
    text rather than a made-up character."""
    entries = [_entry(gid, text) for gid, text in sorted(glyphs.items())]
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(entries), 100):
        block = entries[start : start + 100]
        lines += [f"{len(block)} beginbfchar", *block, "endbfchar"]
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


_BLOCK = re.compile(rb"beginbfchar(.*?)endbfchar", re.DOTALL)
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]*)>")


def parse_to_unicode(data: bytes) -> dict[int, str] | None:
    """The glyph -> text map of a CMap that `to_unicode` wrote (its bfchar entries, in
    glyph order), or None if it has none or one is not well formed."""
    glyphs: dict[int, str] = {}
    last = -1
    try:
        for block in _BLOCK.findall(data):
            for code, text in _BFCHAR.findall(block):
                gid = int(code, 16)
                if gid <= last:
                    return None
                glyphs[gid] = bytes.fromhex(text.decode()).decode("utf-16-be") if text else ""
                last = gid
    except ValueError:
        return None
    return glyphs or None


def _widths(face: Face, gids: tuple[int, ...]) -> bytes:
    """/W: [first [w w ...] first [w ...] ...] over runs of consecutive glyph ids."""
    texts = face.width_texts
    out = []
    start = 0
    for i in range(1, len(gids) + 1):
        if i == len(gids) or gids[i] != gids[i - 1] + 1:
            out.append(b"%d [%s]" % (gids[start], b" ".join(texts[g] for g in gids[start:i])))
            start = i
    return b"[" + b" ".join(out) + b"]"


# ------------------------------------------------------------------ the base set

# What a base face (DejaVu Sans) embeds whatever the invoice draws, besides the glyphs of
# the fixed texts: printable ASCII and Latin-1. Latin Extended-A and -B, and the blocks
# of general punctuation and currency signs, are left out (each would add 3 to 13 KB
# to every invoice; the synthetic invoices draw none of Extended-B): the signs the
# bundled locales print come with the formatting samples (`_fixed_texts`).
_BASE_RANGES = ((0x20, 0x7E), (0xA0, 0xFF))
_ASCII = ((0x20, 0x7E),)  # a shaped face's spaces, digits and punctuation after its letters
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class _Base:
    """What every invoice embeds of one face: `texts`, the base glyphs and the text each
    stands for when an invoice does not draw it with another; `first`, those glyphs and
    their components (and .notdef), which lead every subset that holds them all
    (sfnt.TrueType.subset); `objects`, the font objects of exactly the base set."""

    __slots__ = ("texts", "first", "objects")

    def __init__(self, face: Face):
        lowest = _lowest_codes(face)
        ranges = _ASCII if face.shaped else ()
        if face in (fonts.base(fonts.REGULAR), fonts.base(fonts.BOLD)):
            ranges = _BASE_RANGES
        # A glyph of a face drawn without shaping stands for its character (the lowest
        # code point: U+0020, not U+00A0, for the space), whatever a fixed text drew it
        # for (a parenthesis mirrored on a right-to-left page); a glyph of a shaped face
        # for what the fixed texts drew it for (a contextual form, a split vowel sign).
        texts = {
            gid: chr(lowest[gid]) if gid in lowest and not face.shaped else text
            for gid, text in _fixed_glyphs(face).items()
        }
        for first, last in ranges:
            for code in range(first, last + 1):
                gid = face.cmap.get(code)
                if gid is not None:
                    texts.setdefault(gid, chr(lowest[gid]))
        self.texts: dict[int, str] = dict(sorted(texts.items()))
        self.first: frozenset[int] = frozenset(face.sfnt.closure({0, *texts}))
        self.objects: list[tuple[str, Parts]] = []


def _lowest_codes(face: Face) -> dict[int, int]:
    """Glyph id -> the lowest code point the cmap maps to it."""
    lowest: dict[int, int] = {}
    for code in sorted(face.cmap):
        lowest.setdefault(face.cmap[code], code)
    return lowest


_SAMPLE_DATES = tuple(date(2026, month, 28) for month in range(1, 13))
_SAMPLE_AMOUNT = Decimal("-1234567890.25")


@lru_cache(maxsize=1)
def _fixed_texts() -> tuple[tuple[str, bool], ...]:
    """What every invoice in a bundled language may print besides its own data, and its
    direction: each translation of the catalogs (placeholders cut out), or the English
    messages; and, in each language's locale, the dates of a year, a quantity, a rate,
    and an amount in the currency of each bundled language's likely territory."""
    likely = get_global("likely_subtags")
    catalogs = languages()
    currencies = sorted(
        {
            currency
            for language in catalogs
            for currency in get_territory_currencies(
                Locale.parse(likely.get(language, language)).territory or "ZZ"
            )[:1]
        }
    )
    found: list[tuple[str, bool]] = []
    with open(LOCALE_DIR / f"{DOMAIN}.pot", "rb") as handle:
        english = [message.id for message in read_po(handle) if message.id]
    for message in english:
        for singular in message if isinstance(message, (list, tuple)) else (message,):
            found.extend((piece, False) for piece in _PLACEHOLDER.split(singular) if piece.strip())
    for language in catalogs:
        with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
            catalog = read_mo(handle)
        rtl = translator(language).rtl
        for message in catalog:
            if not message.id:
                continue  # the header
            strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
            for string in strings:
                found.extend((piece, rtl) for piece in _PLACEHOLDER.split(string) if piece.strip())
        fmt = Formatter(Locale.parse(language), "XXX")
        samples = [fmt.date(day) for day in _SAMPLE_DATES]
        samples += [fmt.qty(_SAMPLE_AMOUNT), fmt.percent(Decimal("19.5"))]
        samples += [Formatter(fmt.locale, currency).money(_SAMPLE_AMOUNT) for currency in currencies]
        words = translator(language)
        samples.append(pro_rata(words, "", _SAMPLE_DATES[8], _SAMPLE_DATES[9], 17, 31))  # "–" of a period
        found.extend((sample, rtl) for sample in samples)
    return tuple(found)


def _fixed_glyphs(face: Face) -> dict[int, str]:
    """The glyphs `face` draws for the fixed texts, in either weight, each with the first
    text it is drawn for (shaped forms and ligatures too)."""
    glyphs: dict[int, str] = {}
    for message, rtl in _fixed_texts():
        for weight in (fonts.REGULAR, fonts.BOLD):
            if face.index not in fonts.choose(message, weight)[1]:
                continue
            for run in Text(message, Style(font=weight), rtl=rtl).para.runs:
                if run.face == face.index:
                    for gid, text in run.shaped.glyphs.items():
                        if text and not glyphs.get(gid):
                            glyphs[gid] = text
                        else:
                            glyphs.setdefault(gid, text)
    return glyphs


_bases: dict[int, _Base] = {}
_bases_lock = threading.Lock()


def _base(face: Face) -> _Base:
    found = _bases.get(face.index)
    if found is None:
        with _bases_lock:
            found = _bases.get(face.index)
            if found is None:
                found = _Base(face)
                found.objects = _font_objects(face, found.texts, found.first, level=9)
                _bases[face.index] = found
    return found


def base_glyphs(face: Face) -> Mapping[int, str]:
    """The face's base set: glyph id -> the text it stands for when no invoice draws it
    with another."""
    return _base(face).texts


def invoice_font(face: Face, drawn: Mapping[int, str]) -> tuple[list[tuple[str, Parts]], dict[int, str]]:
    """The objects that embed `face` in an invoice that draws `drawn` (FontUse's glyph id
    -> text), and the glyphs beyond the base set (the merge fragment's record of the
    face: a drawn glyph outside it, or one drawn for another text than its base text).

    The invoice embeds the base set and the glyphs it draws, each drawn glyph with the
    text it was drawn for: a superset, so extracted text is what the glyphs drawn say.
    When every glyph is in the base set with its base text, which is most invoices,
    the objects are made once per process."""
    found = _base(face)
    texts = found.texts
    beyond = {gid: text for gid, text in drawn.items() if texts.get(gid) != text}
    if not beyond:
        return found.objects, beyond
    return font_objects(face, {**texts, **beyond}), beyond


def beyond_base(face: Face, glyphs: Mapping[int, str]) -> dict[int, str]:
    """The entries of an embedded glyph set that the face's base set does not imply."""
    texts = _base(face).texts
    return {gid: text for gid, text in glyphs.items() if texts.get(gid) != text}


def with_base(face: Face, glyphs: Mapping[int, str]) -> dict[int, str]:
    """The base set, its texts replaced by those of `glyphs`, and the glyphs beyond it:
    what the merged file embeds of a face for the union of its invoices' records."""
    return {**_base(face).texts, **glyphs}


# ------------------------------------------------------------------ subsets

_programs: OrderedDict[tuple[int, tuple[int, ...]], tuple[bytes, bytes, tuple[int, int]]] = OrderedDict()
_programs_lock = threading.Lock()
_PROGRAMS_MAX = 256  # a batch's subsets: the header renders, then pre-links them


def _first(face: Face, gids: tuple[int, ...]) -> frozenset[int]:
    """The glyphs that lead a subset of `gids`: the base glyphs and their components if
    it holds them all (their outlines are then the same bytes in every such subset, and
    are compressed once: _deflate_program), else none (the glyphs in id order)."""
    found = _base(face)
    return found.first if found.texts.keys() <= set(gids) else frozenset()


def _subset(face: Face, gids: tuple[int, ...], first: frozenset[int]) -> tuple[bytes, bytes, tuple[int, int]]:
    key = (face.index, gids)
    hit = _programs.get(key)
    if hit is None:
        subset = face.sfnt.subset(gids, first)
        cid_map = bytearray(2 * (gids[-1] + 1 if gids else 1))
        index = subset.index
        for gid in gids:
            cid_map[2 * gid : 2 * gid + 2] = index[gid].to_bytes(2, "big")
        hit = (subset.program, bytes(cid_map), subset.stable)
        with _programs_lock:
            _programs[key] = hit
            if len(_programs) > _PROGRAMS_MAX:
                _programs.popitem(last=False)
    return hit


def program(face: Face, gids: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The face's subset for these glyph ids, and its CIDToGIDMap, uncompressed; cached."""
    data, cid_map, _ = _subset(face, gids, _first(face, gids))
    return data, cid_map


_stable: dict[tuple[int, int], bytes] = {}  # (face, length) -> the base outlines, deflated
_stable_lock = threading.Lock()


def _raw(data: bytes, level: int, mode: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(mode)


def _deflate_program(face: Face, data: bytes, stable: tuple[int, int]) -> bytes:
    """A zlib stream of the font program, its base outlines (`stable`) deflated once per
    process at zlib's best and spliced in: deflate blocks that end on a sync flush may
    be concatenated, and the outlines' block refers to nothing before it."""
    start, end = stable
    if start == end:
        return zlib.compress(data, 6)
    key = (face.index, end - start)
    middle = _stable.get(key)
    if middle is None:
        middle = _raw(data[start:end], 9, zlib.Z_SYNC_FLUSH)
        with _stable_lock:
            _stable[key] = middle
    return b"".join(
        (
            b"\x78\xda",  # zlib header: deflate, 32 KB window
            _raw(data[:start], 6, zlib.Z_SYNC_FLUSH),
            middle,
            _raw(data[end:], 6, zlib.Z_FINISH),
            zlib.adler32(data).to_bytes(4, "big"),
        )
    )


def _deflate_runs(data: bytes) -> bytes:
    """Deflate a CIDToGIDMap: two bytes per glyph id of the face up to the highest one
    drawn, almost all zero (66 KB for a Japanese invoice). Run-length matching only
    (Z_RLE) makes it smaller than zlib's default, at a quarter of the time."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    return packer.compress(data) + packer.flush()


@lru_cache(maxsize=64)
def _metrics(face: Face) -> bytes:
    """The descriptor's entries after /Flags: the face's, whatever the subset."""
    sfnt = face.sfnt
    scale = face.scale
    bbox = " ".join(str(round(v * scale)) for v in sfnt.bbox)
    stem_v = 50 + int(pow(sfnt.weight / 65.0, 2))
    return b"/FontBBox [%s] /ItalicAngle %s /Ascent %d /Descent %d /CapHeight %d /StemV %d" % (
        bbox.encode(),
        f"{sfnt.italic_angle:g}".encode(),
        round(sfnt.ascent * scale),
        round(sfnt.descent * scale),
        round(sfnt.cap_height * scale),
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
    another). `level`: zlib's for the whole font program (the merged file's union, made
    once); 0, an invoice's: its base outlines compressed once per process, the rest at
    zlib's default (_deflate_program)."""
    gids = tuple(sorted(glyphs))
    return _font_objects(face, glyphs, _first(face, gids), tag, level)


def _font_objects(
    face: Face, glyphs: Mapping[int, str], first: frozenset[int], tag: str | None = None, level: int = 0
) -> list[tuple[str, Parts]]:
    gids = tuple(sorted(glyphs))
    data, cid_map, stable = _subset(face, gids, first)
    dictionaries = _dictionaries(face, gids, tag or subset_tag(face, gids))
    deflated = zlib.compress(data, level) if level else _deflate_program(face, data, stable)
    return [
        ("FontFile2", (deflated_stream(deflated, Length1=len(data)),)),
        ("CIDToGIDMap", (deflated_stream(_deflate_runs(cid_map)),)),
        ("ToUnicode", (deflated_stream(zlib.compress(to_unicode(glyphs))),)),
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
    return face, beyond_base(face, glyphs)
