"""Runs of text in one face and one direction, turned into positioned glyphs.

Faces of the scripts that need it (fonts.py: Arabic, Hebrew, the Indic scripts, Thai)
are shaped by HarfBuzz: joined and contextual forms, ligatures, reordered vowel signs,
mark positioning and kerning. DejaVu Sans and Droid Sans Fallback runs map each
character to its glyph through the cmap and advance by its width, as reportlab did
before; that is also what keeps a Latin invoice fast.

A `Shaped` run lists its glyphs in visual order, left to right, the order they are
written to the content stream in, as most PDF producers do; extractors expect that and
put right-to-left text back into reading order themselves (pypdf and poppler do, and
they reverse the characters of a right-to-left ligature too, so its text is stored
reversed). The characters of a cluster are named, for ToUnicode, by its first glyph
(`texts`).

A mark the shaper moves up or down (a stack of them on one letter) is kept between
`ink_bounds` (the face's clipping ascent and descent, and a little more): real text
stays within them, and marks stacked beyond (what
the cleaning's cap on marks per letter still lets through, in a face that stacks them)
are drawn on top of each other instead of climbing into the block above. A cluster's
text for ToUnicode is cut to `MAX_GLYPH_TEXT`, so that every entry of the CMap is one
that readers accept.

Shaping is cached per process by (face, text, direction): labels, dates and amounts
repeat on thousands of invoices.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Literal

import uharfbuzz as hb

from invoicing.pdf.bidi import MIRROR
from invoicing.pdf.fonts import Face
from invoicing.pdf.lru import Lru

__all__ = ["MAX_GLYPH_TEXT", "Shaped", "fit_glyph_text", "ink_bounds", "shape"]

_FLAGS = hb.BufferFlags.REMOVE_DEFAULT_IGNORABLES
# How far a moved glyph's ink may reach, in 1/1000 em from the baseline: the face's own
# clipping ascent and descent (OS/2 usWinAscent/usWinDescent, which Windows clips text
# to), with a tenth of an em to spare, and at least INK_TOP and INK_BOTTOM. Real text
# stays within: the layout puts a line's top one font size (1000) above its baseline,
# and the highest real text goes a little beyond (a Thai tone mark over an upper vowel
# on a tall consonant, ฝี่: 1096; fully vowelled Arabic, the basmala's shadda and
# superscript alef: 1448 in a face whose ascent is 1374), the lowest to -467 (Thai ญฺุ).
INK_TOP = 1100
INK_BOTTOM = -500
INK_SPARE = 100
# The longest text one glyph may stand for in ToUnicode, in UTF-16 code units: poppler
# reads a CMap's tokens into 256-byte buffers, so a longer destination string (more than
# 252 hex digits) is "an illegal entry" it drops (the spec's bound, 512 bytes, is
# looser). Reached only by a cluster of dozens of characters; the run's ActualText
# (page.py) still gives extractors its whole text.
MAX_GLYPH_TEXT = 63
_CACHE_MAX = 4096
SNAP = 8  # 1/1000 em: 0.07 pt at 9 pt, 0.18 pt in a 22 pt title


class Shaped:
    """One run's glyphs, left to right, in 1/1000 em. Never changed once made (it is
    shared by every invoice that draws the run); a plain class, not a frozen
    dataclass, because names and addresses make thousands of them a minute."""

    __slots__ = (
        "_glyphs",
        "advances",
        "direct",
        "end",
        "face",
        "gids",
        "shown",
        "starts",
        "summary",
        "text",
        "texts",
        "width",
        "xs",
        "ys",
    )

    def __init__(
        self,
        face: Face,
        gids: tuple[int, ...],
        xs: tuple[int, ...] | None,
        ys: tuple[int, ...] | None,
        texts: tuple[str, ...],
        width: int,
        advances: tuple[int, ...],
        starts: tuple[bool, ...],
        text: str,
        direct: bool = False,
    ) -> None:
        self.face = face
        self.gids = gids
        # The x of each glyph's origin from the run's left edge; None: each glyph follows the
        # previous one by its width (what a plain Tj does).
        self.xs = xs
        self.ys = ys  # raised (positive) or lowered glyphs, e.g. marks; None: all 0
        self.texts = texts  # what each glyph stands for in ToUnicode ("": the rest of a cluster)
        self.width = width
        self.advances = advances  # per character: its cluster's advance on its first character, else 0
        self.starts = starts  # per character: does a cluster start here (a line may break before it)
        self.text = text  # the run's characters, in reading order
        # Each glyph is its character's cmap glyph, left to right, and stands for it.
        self.direct = direct
        self._glyphs: dict[int, str] | None = None
        self.shown: dict[float, str] = {}  # page.py's operators for it, by font size
        # embed.py's: the face's script sets it draws a glyph of, or None if it draws one
        # beyond them (or one with another text); False until asked
        self.summary: frozenset[int] | None | Literal[False] = False
        # where a viewer leaves the text position after drawing it
        if xs is None or not gids:
            self.end = width if xs is None else 0
        else:
            self.end = xs[-1] + face.widths[gids[-1]]

    @property
    def glyphs(self) -> dict[int, str]:
        """Glyph id -> its text: the first one it has in the run (drawn.drawn_glyphs
        merges these). Made when asked: most runs are embedded by their `summary`."""
        glyphs = self._glyphs
        if glyphs is None:
            gids, texts = self.gids, self.texts
            if self.xs is None and self.ys is None and all(texts):
                # One character per glyph: the first text of each glyph wins, so fill
                # from the end. (Key order is immaterial: embed sorts by glyph id.)
                glyphs = dict(zip(reversed(gids), reversed(texts), strict=True))
            else:
                glyphs = {}
                for gid, glyph_text in zip(gids, texts, strict=True):
                    if glyph_text and not glyphs.get(gid):
                        glyphs[gid] = glyph_text
                    else:
                        glyphs.setdefault(gid, glyph_text)
            self._glyphs = glyphs
        return glyphs


_cache: Lru[tuple[int, str, bool], Shaped] = Lru(_CACHE_MAX)  # labels stay, names go


def shape(face: Face, text: str, rtl: bool, keep: bool = True) -> Shaped:
    """`text`, all of it in `face`, shaped in the given direction. `keep=False`: a text
    of one invoice only (a name, a street), shaped without the cache: kept, it would only
    push out what recurs, and keep the garbage collector busy until it did."""
    if not keep:
        return _harfbuzz(face, text, rtl) if face.shaped else _direct(face, text, rtl)
    key = (face.index, text, rtl)
    hit = _cache.hit(key)
    if hit is not None:
        return hit
    return _cache.keep(key, _harfbuzz(face, text, rtl) if face.shaped else _direct(face, text, rtl))


def _texts(
    face: Face, text: str, gids: list[int], clusters: list[int], following: dict[int, int], rtl: bool
) -> list[str]:
    """What each glyph stands for, for ToUnicode, which has one text per glyph whatever
    the context it is drawn in: a glyph that is a character's own (its cmap glyph)
    stands for that character; the characters of a cluster left over (a conjunct, a
    ligature, a contextual form) go to the cluster's first other glyph. So a glyph means
    the same in every cluster and every invoice, at the price of the order of a vowel
    sign drawn before its consonant (ActualText, page.py, gives that back to the
    extractors that read it). Extractors put right-to-left glyphs into reading order
    themselves, the characters of a ligature too: its text is given in visual order."""
    cmap = face.cmap
    texts = [""] * len(gids)
    members: dict[int, list[int]] = {}
    for i in range(len(gids) - 1, -1, -1) if rtl else range(len(gids)):  # reading order
        members.setdefault(clusters[i], []).append(i)
    for cluster, glyphs in members.items():
        left = list(text[cluster : following[cluster]])
        for i in glyphs:
            for k, ch in enumerate(left):
                if cmap.get(ord(ch)) == gids[i]:
                    texts[i] = ch
                    del left[k]
                    break
        if left:
            target = next((i for i in glyphs if not texts[i]), glyphs[0])
            texts[target] = fit_glyph_text(texts[target] + "".join(left)[:: -1 if rtl else 1])
    return texts


def fit_glyph_text(text: str) -> str:
    """`text`, cut to at most MAX_GLYPH_TEXT UTF-16 code units (never inside a pair)."""
    if len(text) <= MAX_GLYPH_TEXT // 2:
        return text
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ch > "\uffff" else 1
        if units > MAX_GLYPH_TEXT:
            return text[:i]
    return text


_bounds: dict[int, tuple[float, float]] = {}


def ink_bounds(face: Face) -> tuple[float, float]:
    """(lowest, highest) a glyph the shaper moves may reach in `face`, in 1/1000 em."""
    hit = _bounds.get(face.index)
    if hit is None:
        font = face.hb_font
        ascent = font.get_metric_position(hb.OTMetricsTag.HORIZONTAL_CLIPPING_ASCENT) or 0
        descent = font.get_metric_position(hb.OTMetricsTag.HORIZONTAL_CLIPPING_DESCENT) or 0
        hit = _bounds[face.index] = (
            min(INK_BOTTOM, -abs(descent) * face.scale - INK_SPARE),
            max(INK_TOP, ascent * face.scale + INK_SPARE),
        )
    return hit


def _within_ink_bounds(face: Face, gid: int, y: int) -> int:
    """The y offset (font units) of a moved glyph, changed as little as needed for its
    ink to stay within `ink_bounds`."""
    extents = face.hb_font.get_glyph_extents(gid)
    if extents is None or not extents.height:
        return y
    lowest, highest = ink_bounds(face)
    top = y + extents.y_bearing
    bottom = top + extents.height  # height is negative: y runs upwards
    if top > highest / face.scale:
        y -= top - highest / face.scale
    elif bottom < lowest / face.scale:
        y += lowest / face.scale - bottom
    return round(y)


def _direct(face: Face, text: str, rtl: bool) -> Shaped:
    cmap, widths = face.cmap, face.widths
    if rtl:  # neutrals at an odd level: mirrored ("(" is drawn as ")"), right to left
        gids = tuple(cmap.get(ord(MIRROR.get(ch, ch))) or cmap[ord(ch)] for ch in reversed(text))
        texts = tuple(reversed(text))
    else:  # map() over C functions: the names and addresses of every invoice come here
        gids = tuple(map(cmap.__getitem__, map(ord, text)))
        texts = tuple(text)
    advances = tuple(map(widths.__getitem__, gids))
    char_advances = advances[::-1] if rtl else advances
    starts = (True,) * len(text)
    return Shaped(face, gids, None, None, texts, sum(advances), char_advances, starts, text, not rtl)


def _harfbuzz(face: Face, text: str, rtl: bool) -> Shaped:
    buf = hb.Buffer()
    buf.add_codepoints([ord(ch) for ch in text])
    buf.direction = "rtl" if rtl else "ltr"
    buf.script = face.script
    buf.flags = _FLAGS
    hb.shape(face.hb_font, buf, {})
    infos, positions = buf.glyph_infos, buf.glyph_positions
    scale = face.scale
    widths = face.widths
    # Visual order (left to right), in font units, then scaled once per position.
    pen = 0
    xs_visual, ys_visual = [], []
    for info, pos in zip(infos, positions, strict=True):
        xs_visual.append(round((pen + pos.x_offset) * scale))
        y = pos.y_offset
        if y:
            y = _within_ink_bounds(face, info.codepoint, y)
        ys_visual.append(round(y * scale))
        pen += pos.x_advance
    width = round(pen * scale)
    clusters = [info.cluster for info in infos]
    gids = [info.codepoint for info in infos]
    bounds = sorted(set(clusters)) + [len(text)]
    following = {start: bounds[i + 1] for i, start in enumerate(bounds[:-1])}
    texts = _texts(face, text, gids, clusters, following, rtl)
    advances = [0] * len(text)
    starts = [False] * len(text)
    for cluster, pos in zip(clusters, positions, strict=True):
        advances[cluster] += pos.x_advance
        starts[cluster] = True
    if text:
        starts[0] = True
    char_advances = tuple(round(a * scale) for a in advances)
    # A glyph within SNAP of where the previous one leaves the pen (a mark a hair off, a
    # kerning of 0.5 %) is drawn there: no visible difference, and a plainer stream.
    pen = 0
    for i, gid in enumerate(gids):
        if abs(xs_visual[i] - pen) <= SNAP:
            xs_visual[i] = pen
        if abs(ys_visual[i]) <= SNAP:
            ys_visual[i] = 0
        pen = xs_visual[i] + widths[gid]
    plain = not any(ys_visual) and xs_visual == list(accumulate([0] + [widths[g] for g in gids[:-1]]))
    if plain:
        width = sum(widths[g] for g in gids)  # what the viewer advances by
    return Shaped(
        face,
        tuple(gids),
        None if plain else tuple(xs_visual),
        tuple(ys_visual) if any(ys_visual) else None,
        tuple(texts),
        width,
        char_advances,
        tuple(starts),
        text,
    )
