"""TrueType fonts read with `struct`, and subsets of them.

The invoice embeds its fonts as CIDFontType2 whose CIDs are the glyph ids of the full
face (embed.py): a content stream does not depend on the subset, and two subsets of one
face can be replaced by one subset of their union (merge.py). The subset itself is
compact, its glyphs renumbered 0, 1, 2, ... in the order of their ids in the face; the
font's CIDToGIDMap maps each CID to its glyph there (`Subset.index`).

`TrueType.subset` is a pure function of the face's bytes and the glyph set, and the same
function builds the per-invoice subsets and the merged file's union subset:

    head hhea maxp  copied; numGlyphs, numberOfHMetrics, indexToLocFormat and the
                    checksum adjustment are the subset's own
    hmtx            the face's metrics of the glyphs in the subset
    loca glyf       the subset's glyphs (composite glyphs pull in their components,
                    renumbered), their hinting instructions removed
    post            version 3 (no glyph names)

No cmap, GSUB, GPOS, hinting programs or names: text is shaped before it is drawn
(shaping.py), PDF viewers map character codes to glyphs through CIDToGIDMap, and the
PDF's /W array gives the advances. Dropping hinting makes the subsets about a third
smaller for the Noto faces; PDF viewers scale outlines without it.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate

__all__ = ["SfntError", "Subset", "TrueType"]

_TABLE = struct.Struct(">4sIII")  # tag, checksum, offset, length
# composite glyph flags
_ARG_WORDS = 0x0001
_HAVE_SCALE = 0x0008
_MORE = 0x0020
_HAVE_XY_SCALE = 0x0040
_HAVE_2X2 = 0x0080
_HAVE_INSTRUCTIONS = 0x0100


class SfntError(ValueError):
    """Not a TrueType font this module can read."""


@dataclass(frozen=True)
class Subset:
    program: bytes  # the font file
    index: dict[int, int]  # glyph id in the face -> glyph id in the subset
    # program[start:end], the outlines of `first` (TrueType.subset), is the same in every
    # subset with the same `first`: embed.py compresses that part once
    stable: tuple[int, int] = (0, 0)


_SWAP = struct.pack("=H", 1) != struct.pack(">H", 1)  # a little-endian machine


def _checksum(data: bytes) -> int:
    """The sfnt checksum: the sum of the big-endian 32-bit words, modulo 2**32."""
    words = array("I", data + b"\0" * (-len(data) % 4))
    if _SWAP:
        words.byteswap()
    return sum(words) & 0xFFFFFFFF


class TrueType:
    """One TrueType (glyf) font: its metrics, its cmap, and subsets of it."""

    def __init__(self, data: bytes):
        if data[:4] not in (b"\x00\x01\x00\x00", b"true"):
            raise SfntError("not a TrueType font (CFF outlines and collections are not supported)")
        self.data = data
        (count,) = struct.unpack_from(">H", data, 4)
        self.tables: dict[bytes, tuple[int, int]] = {}
        for i in range(count):
            tag, _, offset, length = _TABLE.unpack_from(data, 12 + 16 * i)
            self.tables[tag] = (offset, length)
        for tag in (b"head", b"hhea", b"maxp", b"hmtx", b"loca", b"glyf", b"cmap"):
            if tag not in self.tables:
                raise SfntError(f"no {tag.decode()} table")
        head = self.table(b"head")
        self.upem = struct.unpack_from(">H", head, 18)[0]
        self.bbox = struct.unpack_from(">4h", head, 36)
        long_loca = struct.unpack_from(">h", head, 50)[0] == 1
        hhea = self.table(b"hhea")
        self.ascent, self.descent = struct.unpack_from(">hh", hhea, 4)
        metrics = struct.unpack_from(">H", hhea, 34)[0]
        self.glyph_count = struct.unpack_from(">H", self.table(b"maxp"), 4)[0]
        n = self.glyph_count
        loca = array("I" if long_loca else "H", self.table(b"loca")[: (n + 1) * (4 if long_loca else 2)])
        if _SWAP:
            loca.byteswap()
        self._loca = loca if long_loca else array("I", (2 * x for x in loca))
        hmtx = array("h", self.table(b"hmtx")[: 4 * metrics + 2 * (n - metrics)])
        if _SWAP:
            hmtx.byteswap()
        advances = array("H", hmtx[0 : 2 * metrics : 2].tobytes())
        self.advances = advances + array("H", [advances[-1]]) * (n - metrics)  # font units
        self.lsbs = array("h", hmtx[1 : 2 * metrics : 2]) + hmtx[2 * metrics :]
        self._glyf = self.tables[b"glyf"][0]
        self._glyphs: dict[int, tuple[bytes, tuple[tuple[int, int], ...]]] = {}
        self._leads: dict[frozenset[int], _Lead] = {}
        self._lock = threading.Lock()

    def table(self, tag: bytes) -> bytes:
        offset, length = self.tables[tag]
        return self.data[offset : offset + length]

    # ------------------------------------------------------------------ names

    @cached_property
    def postscript_name(self) -> str:
        """Name ID 6, as PDF's /BaseFont wants it (spaces and PDF delimiters removed)."""
        data = self.table(b"name") if b"name" in self.tables else b""
        found = ""
        if data:
            count, strings = struct.unpack_from(">2H", data, 2)
            for i in range(count):
                platform, encoding, _, name_id, length, offset = struct.unpack_from(">6H", data, 6 + 12 * i)
                if name_id != 6:
                    continue
                raw = data[strings + offset : strings + offset + length]
                found = raw.decode("utf-16-be" if platform in (0, 3) else "latin-1", "replace")
                if platform == 3 and encoding == 1:
                    break
        cleaned = "".join(c for c in found if c.isascii() and c.isalnum() or c in "-_.")
        return cleaned or "Font"

    @cached_property
    def cap_height(self) -> int:
        os2 = self.table(b"OS/2") if b"OS/2" in self.tables else b""
        if len(os2) >= 90 and struct.unpack_from(">H", os2, 0)[0] >= 2:
            return struct.unpack_from(">h", os2, 88)[0]
        return self.ascent

    @cached_property
    def weight(self) -> int:
        os2 = self.table(b"OS/2") if b"OS/2" in self.tables else b""
        return struct.unpack_from(">H", os2, 4)[0] if len(os2) >= 6 else 400

    @cached_property
    def italic_angle(self) -> float:
        post = self.table(b"post") if b"post" in self.tables else b""
        if len(post) < 8:
            return 0.0
        whole, fraction = struct.unpack_from(">hH", post, 4)
        return whole + fraction / 65536

    # ------------------------------------------------------------------- cmap

    @cached_property
    def cmap(self) -> dict[int, int]:
        """Code point -> glyph id, from the best Unicode subtable (format 12, else 4)."""
        data = self.table(b"cmap")
        (count,) = struct.unpack_from(">H", data, 2)
        best: tuple[int, int] | None = None  # (rank, offset)
        for i in range(count):
            platform, encoding, offset = struct.unpack_from(">HHI", data, 4 + 8 * i)
            fmt = struct.unpack_from(">H", data, offset)[0]
            rank = {(3, 10, 12): 4, (0, 4, 12): 4, (0, 6, 12): 4, (3, 1, 4): 2, (0, 3, 4): 2}.get(
                (platform, encoding, fmt), 1 if fmt == 4 and platform in (0, 3) else 0
            )
            if rank and (best is None or rank > best[0]):
                best = (rank, offset)
        if best is None:
            raise SfntError("no Unicode cmap")
        offset = best[1]
        out: dict[int, int] = {}
        if struct.unpack_from(">H", data, offset)[0] == 12:
            (groups,) = struct.unpack_from(">I", data, offset + 12)
            for g in range(groups):
                start, end, glyph = struct.unpack_from(">3I", data, offset + 16 + 12 * g)
                for code in range(start, end + 1):
                    if glyph + code - start < self.glyph_count:
                        out[code] = glyph + code - start
        else:
            segs = struct.unpack_from(">H", data, offset + 6)[0] // 2
            ends = struct.unpack_from(f">{segs}H", data, offset + 14)
            starts = struct.unpack_from(f">{segs}H", data, offset + 16 + 2 * segs)
            deltas = struct.unpack_from(f">{segs}h", data, offset + 16 + 4 * segs)
            range_at = offset + 16 + 6 * segs
            ranges = struct.unpack_from(f">{segs}H", data, range_at)
            for s in range(segs):
                for code in range(starts[s], ends[s] + 1):
                    if code == 0xFFFF:
                        continue
                    if ranges[s] == 0:
                        glyph = (code + deltas[s]) & 0xFFFF
                    else:
                        at = range_at + 2 * s + ranges[s] + 2 * (code - starts[s])
                        glyph = struct.unpack_from(">H", data, at)[0]
                        if glyph:
                            glyph = (glyph + deltas[s]) & 0xFFFF
                    if 0 < glyph < self.glyph_count:
                        out[code] = glyph
        out.pop(0, None)
        return out

    # ----------------------------------------------------------------- glyphs

    def glyph(self, gid: int) -> tuple[bytes, tuple[tuple[int, int], ...]]:
        """(the glyph's outline without hinting instructions, padded to 4 bytes; the
        (offset, glyph id) of each component of a composite glyph)."""
        hit = self._glyphs.get(gid)
        if hit is None:
            if not 0 <= gid < self.glyph_count:
                raise SfntError(f"no glyph {gid}")
            start, end = self._loca[gid], self._loca[gid + 1]
            raw = self.data[self._glyf + start : self._glyf + end] if end > start else b""
            hit = _strip(raw)
            with self._lock:
                self._glyphs[gid] = hit
        return hit

    def closure(self, gids: Iterable[int]) -> list[int]:
        """The glyph ids, plus every component of a composite glyph among them, sorted."""
        count = self.glyph_count
        glyph = self.glyph
        seen = {g for g in gids if 0 <= g < count}
        todo = [g for g in seen if glyph(g)[1]]  # composites
        while todo:
            for _, part in glyph(todo.pop())[1]:
                if part not in seen and part < count:
                    seen.add(part)
                    todo.append(part)
        return sorted(seen)

    def subset(self, gids: Iterable[int], first: frozenset[int] = frozenset()) -> Subset:
        """A font program with the glyphs `gids`, and their components; glyph 0 (.notdef)
        is always the first. The glyphs of `first` (a set closed under components, that
        holds glyph 0 and is a part of the subset) come first, in the order of their ids,
        then the others in the order of theirs: so the glyf table of every subset with the
        same `first` starts with the same bytes (`Subset.stable`), and what depends on
        `first` alone is made once (`_lead`)."""
        if first:
            lead = self._lead(first)
            rest = [g for g in self.closure(g for g in gids if g not in first) if g not in first]
        else:
            lead = _Lead([], {}, b"", 0, [0], [])
            rest = self.closure({0, *gids})
        keep = lead.keep + rest
        index = lead.index.copy()
        index.update((gid, i) for i, gid in enumerate(rest, len(lead.keep)))
        data = self._outlines(rest, index)
        tail = b"".join(data)
        glyf = lead.glyf + tail
        offsets = lead.offsets + [lead.offsets[-1] + o for o in accumulate(map(len, data))]
        short = offsets[-1] < 0x20000
        if short:
            loca = struct.pack(f">{len(offsets)}H", *[o >> 1 for o in offsets])
        else:
            loca = struct.pack(f">{len(offsets)}I", *offsets)
        hmtx = struct.pack(f">{2 * len(keep)}h", *lead.metrics, *self._metrics(rest))
        head = bytearray(self.table(b"head")[:54])
        head[8:12] = b"\0\0\0\0"  # checkSumAdjustment, set below
        head[50:52] = struct.pack(">h", 0 if short else 1)
        hhea = bytearray(self.table(b"hhea")[:36])
        hhea[34:36] = struct.pack(">H", len(keep))
        maxp = bytearray(self.table(b"maxp"))
        maxp[4:6] = struct.pack(">H", len(keep))
        post = bytearray(self.table(b"post")[:32]) if b"post" in self.tables else bytearray(32)
        post[0:4] = b"\x00\x03\x00\x00"
        tables = {
            b"glyf": glyf,
            b"head": bytes(head),
            b"hhea": bytes(hhea),
            b"hmtx": hmtx,
            b"loca": loca,
            b"maxp": bytes(maxp),
            b"post": bytes(post[:32]),
        }
        glyf_at = 12 + 16 * len(tables)  # glyf sorts first: it follows the table directory
        # the outlines are padded to 4 bytes: the checksum of glyf is the sum of its parts'
        glyf_sum = (lead.checksum + _checksum(tail)) & 0xFFFFFFFF
        return Subset(_assemble(tables, {b"glyf": glyf_sum}), index, (glyf_at, glyf_at + len(lead.glyf)))

    def _outlines(self, gids: list[int], index: dict[int, int]) -> list[bytes]:
        """The outlines of `gids` (loaded by closure()), components renumbered by `index`."""
        loaded = self._glyphs
        data = []
        for gid in gids:
            outline, parts = loaded[gid]
            if parts:
                patched = bytearray(outline)
                for offset, part in parts:
                    struct.pack_into(">H", patched, offset, index[part])
                outline = bytes(patched)
            data.append(outline)
        return data

    def _metrics(self, gids: list[int]) -> list[int]:
        """hmtx's values for `gids`: advance (as a signed short) and left side bearing."""
        advances, lsbs = self.advances, self.lsbs
        return [v for g in gids for v in (advances[g] - ((advances[g] >> 15) << 16), lsbs[g])]

    def _lead(self, first: frozenset[int]) -> _Lead:
        """What the subsets that start with the glyphs `first` share; cached."""
        lead = self._leads.get(first)
        if lead is None:
            keep = self.closure(first)
            index = {gid: i for i, gid in enumerate(keep)}
            data = self._outlines(keep, index)
            glyf = b"".join(data)
            lead = _Lead(
                keep, index, glyf, _checksum(glyf), [0, *accumulate(map(len, data))], self._metrics(keep)
            )
            with self._lock:
                self._leads[first] = lead
        return lead


@dataclass(frozen=True)
class _Lead:
    keep: list[int]  # the glyphs, in id order
    index: dict[int, int]
    glyf: bytes  # their outlines
    checksum: int  # of `glyf`
    offsets: list[int]  # loca's, from 0
    metrics: list[int]  # hmtx's values


def _assemble(tables: dict[bytes, bytes], checksums: dict[bytes, int]) -> bytes:
    """An sfnt file of `tables` (sorted by tag), with checksums (those of `checksums` as
    given) and head's adjustment."""
    count = len(tables)
    power = 1 << (count.bit_length() - 1)
    header = [
        struct.pack(">IHHHH", 0x00010000, count, 16 * power, power.bit_length() - 1, 16 * (count - power))
    ]
    offset = 12 + 16 * count
    body: list[bytes] = []
    total = 0  # the whole file's checksum: the tables' (padded) plus the directory's
    head_at = 0
    for tag in sorted(tables):
        data = tables[tag]
        checksum = checksums[tag] if tag in checksums else _checksum(data)
        total += checksum
        header.append(_TABLE.pack(tag, checksum, offset, len(data)))
        if tag == b"head":
            head_at = offset
        body.append(data + b"\0" * (-len(data) % 4))
        offset += len(body[-1])
    directory = b"".join(header)
    total = (total + _checksum(directory)) & 0xFFFFFFFF
    font = bytearray(directory + b"".join(body))
    font[head_at + 8 : head_at + 12] = struct.pack(">I", (0xB1B0AFBA - total) & 0xFFFFFFFF)
    return bytes(font)


def _strip(raw: bytes) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """A glyph without its instructions, padded to 4 bytes, and its components."""
    if len(raw) < 10:
        return b"", ()
    contours = struct.unpack_from(">h", raw, 0)[0]
    if contours >= 0:
        at = 10 + 2 * contours
        (size,) = struct.unpack_from(">H", raw, at)
        simple = raw[:at] + b"\0\0" + raw[at + 2 + size :]
        return simple + b"\0" * (-len(simple) % 4), ()
    out = bytearray(raw)
    parts = []
    pos = 10
    while True:
        flags, part = struct.unpack_from(">HH", out, pos)
        parts.append((pos + 2, part))
        struct.pack_into(">H", out, pos, flags & ~_HAVE_INSTRUCTIONS)
        pos += 4 + (4 if flags & _ARG_WORDS else 2)
        if flags & _HAVE_SCALE:
            pos += 2
        elif flags & _HAVE_XY_SCALE:
            pos += 4
        elif flags & _HAVE_2X2:
            pos += 8
        if not flags & _MORE:
            break
    del out[pos:]
    out += b"\0" * (-len(out) % 4)
    return bytes(out), tuple(parts)
