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
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache

from invoicing.pdf import fonts
from invoicing.pdf.fonts import Face
from invoicing.pdf.objects import Parts, deflated_stream, fill, stream
from invoicing.pdf.shaping import Shaped

__all__ = [
    "FontUse",
    "font_objects",
    "parse_to_unicode",
    "read_font",
    "program",
    "subset_tag",
    "to_unicode",
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

    def extend(self, runs: Iterable[Shaped]) -> None:
        setdefault = self._runs.setdefault
        for shaped in runs:
            setdefault(id(shaped), shaped)

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


_programs: OrderedDict[tuple[int, tuple[int, ...]], tuple[bytes, bytes]] = OrderedDict()
_programs_lock = threading.Lock()
_PROGRAMS_MAX = 256  # a batch's subsets: the header renders, then pre-links them


def program(face: Face, gids: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The face's subset for these glyph ids, and its CIDToGIDMap, uncompressed; cached."""
    key = (face.index, gids)
    hit = _programs.get(key)
    if hit is None:
        subset = face.sfnt.subset(gids)
        cid_map = bytearray(2 * (gids[-1] + 1 if gids else 1))
        for gid in gids:
            cid_map[2 * gid : 2 * gid + 2] = subset.index[gid].to_bytes(2, "big")
        hit = (subset.program, bytes(cid_map))
        with _programs_lock:
            _programs[key] = hit
            if len(_programs) > _PROGRAMS_MAX:
                _programs.popitem(last=False)
    return hit


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
    """The objects that embed `face` with these glyphs, children first; the last is the
    Type0 font. Names: "FontFile2", "CIDToGIDMap", "ToUnicode", "FontDescriptor",
    "CIDFont", "Font". `tag`: the subset tag, if not `subset_tag`'s (the merge may need another).
    `level`: zlib's for the font program, 0 for none. An invoice's own subset is made
    for every invoice and left as it is: glyph outlines deflate by a quarter only, and
    compressing them cost a seventh of the render; the merged file's union is made once,
    and compressed hard."""
    gids = tuple(sorted(glyphs))
    data, cid_map = program(face, gids)
    dictionaries = _dictionaries(face, gids, tag or subset_tag(face, gids))
    return [
        (
            "FontFile2",
            (
                deflated_stream(zlib.compress(data, level), Length1=len(data))
                if level
                else stream(b"/Length1 %d" % len(data), data),
            ),
        ),
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
    """(face, glyph id -> text) if `body` is a Type0 font that `font_objects` made, with
    its objects (`objects(number)` gives an object's body as in the file): the subset of
    a bundled face, this version of it, for exactly those glyphs. None for anything else.

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
    return face, glyphs
