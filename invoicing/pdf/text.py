"""Untrusted text made safe to lay out, split into runs, shaped, wrapped and put in
visual order.

Text is never parsed as markup: it reaches the PDF only as glyph ids (page.py), so
``<b>``, ``&amp;`` and friends print literally. What could upset a layout is removed up
front instead (`clean_text`, over `invoicing.untrusted.clean`, the cleaning every
output shares): control characters, lone surrogates, non-characters, the explicit bidi
formatting characters (a name must not reorder what is printed next to it), invisible
format characters, combining marks beyond a few per base character, and sheer length.

Then, per text (`Text`): every character gets a face (fonts.choose) and a bidi level
(bidi.py; the paragraph direction is that of its first strong character, else the
document's), the text is cut into runs of one face and one level, and each run is
shaped (shaping.py). Line breaking is greedy over the logical text: at spaces, next to
CJK characters (which have no spaces between words), else between two clusters of a
word that is wider than the line, never inside a cluster; a line that is cut is shaped
again, so Arabic letters at its end take their final forms. Each line's runs are then
placed in visual order (UAX #9 L2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from reportlab.lib import colors

from invoicing.pdf import bidi, fonts
from invoicing.pdf.fonts import REGULAR, SKIP
from invoicing.pdf.lru import Lru
from invoicing.pdf.shaping import Shaped, shape
from invoicing.untrusted import clean

__all__ = ["Analyses", "Line", "Painted", "Piece", "Style", "Text", "clean_text", "shared_text", "unbroken"]

WORD_JOINER = "\u2060"  # no line break on either side; drawn as nothing (fonts.choose: SKIP)


def clean_text(value: object, limit: int = 1000) -> str:
    """Untrusted text -> plain text that is safe to lay out: the one cleaning every
    output shares (`invoicing.untrusted.clean`: whitespace controls become spaces; other
    controls, bidi formatting and invisible format characters dropped; NFC; combining
    marks capped per base character), then capped at ``limit`` characters (an ellipsis
    marks the cut) so a single cell can never outgrow a page. Cached for strings: the
    seller's fields and the recurring line descriptions are cleaned once per process."""
    text = clean(value)
    return text if len(text) <= limit else _cut(text, limit)


@lru_cache(maxsize=256)
def _cut(text: str, limit: int) -> str:
    return text[: limit - 1] + "…"


def unbroken(text: str) -> str:
    """`text` (a figure the layout sets in a sentence) as one word for the line breaker:
    its spaces made no-break spaces, and a word joiner on each side of a character a
    line may otherwise break beside (a CJK one: "￥"). Untrusted text never carries word
    joiners (the cleaning drops them); this is for the layout's own figures."""
    text = text.replace(" ", "\u00a0")
    if text.isascii():
        return text
    _, picks = fonts.choose(text, REGULAR)
    if fonts.CJK not in picks:
        return text
    return "".join(
        f"{WORD_JOINER}{ch}{WORD_JOINER}" if pick == fonts.CJK else ch
        for ch, pick in zip(text, picks, strict=True)
    )


@dataclass(frozen=True)
class Style:
    font: str = REGULAR  # REGULAR or BOLD; other faces stand in per character
    size: float = 9
    leading: float = 12
    color: colors.Color = colors.black
    right: bool = False  # aligned to the end of the line (right; left on a right-to-left page)


Piece = tuple[Shaped, float]  # a run's glyphs, and its left edge from the line's start, in points
Line = tuple[list[Piece], float]  # pieces in logical order, line width in points


class _Run(NamedTuple):
    start: int
    end: int
    face: int
    level: int
    shaped: Shaped


class _Paragraph:
    """A text analysed: faces, bidi levels, shaped runs. Shared and never changed once
    made; a plain class for the same reason as Shaped."""

    __slots__ = ("base", "chars", "levels", "picks", "runs", "whole", "width")

    def __init__(
        self,
        chars: str,
        picks: tuple[int, ...],
        levels: tuple[int, ...] | None,
        base: int,
        runs: tuple[_Run, ...],
        width: int,
    ) -> None:
        self.chars = chars  # as drawn: replacements made
        self.picks = picks  # face index per character, SKIP for one not drawn
        self.levels = levels  # None: all 0
        self.base = base
        self.runs = runs
        self.width = width  # 1/1000 em
        self.whole: dict[float, Line] = {}  # the one-line layout, by size

    def line(self, size: float) -> Line:
        """All of it on one line (cached: labels, dates and amounts recur on every invoice)."""
        hit = self.whole.get(size)
        if hit is None:
            hit = self.whole[size] = _line(self.runs, size)
        return hit


# Rare amounts and texts come and go (an invoice's own texts, its name and address,
# never come in: layout.py's `own`): a small cache keeps the RSS flat.
_paragraphs: Lru[tuple[str, str, int], _Paragraph] = Lru(2048)


def _paragraph(text: str, weight: str, default_level: int) -> _Paragraph:
    key = (text, weight, default_level)
    hit = _paragraphs.hit(key)
    return hit if hit is not None else _paragraphs.keep(key, _analyse(text, weight, default_level))


def _analyse(
    text: str, weight: str, default_level: int, base: int | None = None, keep: bool = True
) -> _Paragraph:
    if text.isascii() and not default_level and base is None:
        face = fonts.base(weight)
        runs = (_Run(0, len(text), face.index, 0, shape(face, text, False, keep)),) if text else ()
        return _Paragraph(text, (face.index,) * len(text), None, 0, runs, runs[0].shaped.width if runs else 0)
    chars, picks = fonts.choose(text, weight)
    rtl = bidi.has_rtl(chars)
    if base is None:
        base = bidi.base_level(chars, default_level) if rtl or default_level else 0
    levels = tuple(bidi.levels(chars, base)) if base or rtl else None
    runs = tuple(_runs(chars, picks, levels, 0, len(chars), keep))
    return _Paragraph(chars, tuple(picks), levels, base, runs, sum(r.shaped.width for r in runs))


def _runs(
    chars: str,
    picks: list[int] | tuple[int, ...],
    levels: tuple[int, ...] | None,
    start: int,
    end: int,
    keep: bool = True,
):
    """Runs of one face and one level in chars[start:end], shaped; skipped characters
    belong to no run. `keep=False` (one invoice's own text) shapes a run that is the
    whole text without the cache; a run that is only part of it goes through the cache
    all the same: the words of a sentence around its amount, a city beside its postcode
    recur on other invoices."""
    i = start
    while i < end:
        if picks[i] == SKIP:
            i += 1
            continue
        face, level = picks[i], levels[i] if levels else 0
        j = i + 1
        while j < end and (picks[j] == face or picks[j] == SKIP) and (levels[j] if levels else 0) == level:
            j += 1
        piece = chars[i:j]
        if SKIP in picks[i:j]:
            piece = "".join(chars[k] for k in range(i, j) if picks[k] != SKIP)
        whole = i == start and j == end
        yield _Run(i, j, face, level, shape(fonts.face(face), piece, level % 2 == 1, keep or not whole))
        i = j


def _line(runs: tuple[_Run, ...] | list[_Run], size: float) -> Line:
    """The runs of one line placed left to right in visual order; pieces stay in logical order."""
    scale = size * 0.001
    if len(runs) == 1:
        return [(runs[0].shaped, 0.0)], runs[0].shaped.width * scale
    order = bidi.visual_order([r.level for r in runs])
    lefts = [0.0] * len(runs)
    x = 0.0
    for index in order:
        lefts[index] = x
        x += runs[index].shaped.width * scale
    return [(run.shaped, left) for run, left in zip(runs, lefts, strict=True)], x


class Painted(NamedTuple):
    """A text's operators at one place, painted once and kept on the (shared) Text:
    where it starts, which the page moves to from wherever the last text left the line
    matrix; its segments, each a font (glyph_font.py), a size and the operators
    that draw with it from there, which do not depend on what the page drew before
    (none for a text that draws nothing); the line matrix's origin they leave; and the
    runs they draw (page.py), for the document's subsets. (Its colour is the text's style's.)"""

    at: tuple[float, float]
    segments: tuple[tuple[Any, float, str], ...]  # font: a glyph_font.GlyphFont
    last_at: tuple[float, float]
    runs: tuple[Shaped, ...]


Analyses = dict[tuple[str, str, int], _Paragraph]  # one invoice's own texts, by text, weight, level


class Text:
    """Plain text in one style, with font fallback and bidi, wrapped to a width."""

    __slots__ = ("style", "para", "natural", "max_lines", "keep", "_wrapped", "_heights", "painted")

    def __init__(
        self,
        text: str,
        style: Style,
        max_lines: int = 2,
        rtl: bool = False,
        own: Analyses | None = None,
    ):
        """`rtl`: the page is right to left, which is the direction of a text that has
        no strong character of its own (an amount, a date, a number). `own`: the text
        is one invoice's (its number, the name), analysed and shaped outside the
        process's caches, and kept in `own` (that invoice's) for its other styles."""
        self.style = style
        level = 1 if rtl else 0
        self.keep = own is None
        if own is None:
            self.para = _paragraph(text, style.font, level)
        else:
            key = (text, style.font, level)
            para = own.get(key)
            if para is None:
                para = own[key] = _analyse(text, style.font, level, keep=False)
            self.para = para
        self.natural = self.para.width * style.size * 0.001
        self.max_lines = max_lines  # more is cut, ending in "…": no block outgrows a page
        # By width. A Text is shared by the invoices that print it (`shared_text`) and
        # never changes: these only cache what it always gives.
        self._wrapped: dict[float, list[Line]] = {}
        self._heights: dict[float, float] = {}
        self.painted: dict[tuple[float, ...], Painted] = {}  # page.py's, by place (and mirror)

    def lines(self, width: float) -> list[Line]:
        hit = self._wrapped.get(width)
        if hit is None:
            para, size = self.para, self.style.size
            if self.natural <= width:
                lines = [para.line(size)] if para.runs else []
            else:
                ranges = self._break(max(width, 1.0))
                if len(ranges) > self.max_lines:
                    ranges = ranges[: self.max_lines]
                    last = self._ellipsized(ranges.pop(), width)
                else:
                    last = None
                lines = [_line(self._slice(i, stop), size) for i, stop in ranges]
                if last is not None:
                    lines.append(last)
            hit = self._wrapped[width] = lines
        return hit

    def height(self, width: float) -> float:
        hit = self._heights.get(width)
        if hit is None:
            hit = self._heights[width] = max(len(self.lines(width)), 1) * self.style.leading
        return hit

    # ------------------------------------------------------------------ breaking

    def _advances(self) -> tuple[list[float], list[bool]]:
        """Per character: advance in points, and whether a line may end before it."""
        para = self.para
        scale = self.style.size * 0.001
        advances = [0.0] * len(para.chars)
        starts = [False] * len(para.chars)
        for run in para.runs:
            shaped = run.shaped
            if len(shaped.advances) == run.end - run.start:  # no skipped character: one slice
                advances[run.start : run.end] = map(scale.__mul__, shaped.advances)
                starts[run.start : run.end] = shaped.starts
                continue
            k = 0
            for i in range(run.start, run.end):
                if para.picks[i] == SKIP:
                    continue
                advances[i] = shaped.advances[k] * scale
                starts[i] = shaped.starts[k]
                k += 1
        return advances, starts

    def _break(self, width: float) -> list[tuple[int, int]]:
        """Greedy: (start, stop) of each line, trailing spaces left out."""
        para = self.para
        chars, picks = para.chars, para.picks
        advances, starts = self._advances()
        cjk = fonts.CJK
        n = len(chars)
        out: list[tuple[int, int]] = []
        i = 0
        while i < n:
            while i < n and chars[i] == " ":
                i += 1
            if i >= n:
                break
            used = 0.0
            j = i
            best = -1  # the last position a line may end before
            cut = -1  # the last cluster start: where a word that does not fit is cut
            while j < n:
                if j > i and starts[j]:
                    cut = j
                    if (chars[j] == " " or picks[j] == cjk or picks[j - 1] == cjk) and chars[
                        j - 1
                    ] != WORD_JOINER:
                        best = j
                if j > i and used + advances[j] > width and cut > i:
                    break
                used += advances[j]
                j += 1
            end = j if j >= n else best if best > i else cut
            stop = end
            while stop > i and chars[stop - 1] == " ":
                stop -= 1
            out.append((i, stop))
            i = end
        return out

    def _slice(self, start: int, stop: int) -> tuple[_Run, ...]:
        """The runs of chars[start:stop], shaped again where a run was cut."""
        para = self.para
        if start == 0 and stop == len(para.chars):
            return para.runs
        return tuple(_runs(para.chars, para.picks, para.levels, start, stop, self.keep))

    def _ellipsized(self, line: tuple[int, int], width: float) -> Line:
        """The line cut so that "…" fits after it."""
        para, style = self.para, self.style
        start, stop = line
        advances, starts = self._advances()
        scale = style.size * 0.001
        ellipsis = fonts.base(style.font).widths[fonts.base(style.font).cmap[0x2026]] * scale
        used = sum(advances[start:stop])
        while stop > start and (
            used + ellipsis > width or para.chars[stop - 1] == " " or not starts[stop - 1]
        ):
            stop -= 1
            used -= advances[stop]
            if starts[stop] and used + ellipsis <= width and para.chars[stop - 1 : stop] != " ":
                break
        cut = _analyse(para.chars[start:stop] + "…", style.font, 0, base=para.base, keep=self.keep)
        return _line(cut.runs, style.size)


_texts: Lru[tuple[str, int, int, bool], Text] = Lru(4096)


def shared_text(text: str, style: Style, max_lines: int = 2, rtl: bool = False) -> Text:
    """`Text(...)`, shared by every invoice that prints the same text in the same style:
    the labels, the seller's block, the dates and the common amounts of a night's run are
    then wrapped and painted once per process (page.py keeps the painted operators on the
    Text), not once per invoice. The key holds `id(style)`: an entry keeps its style
    alive, so that id cannot be reused while the entry exists."""
    key = (text, id(style), max_lines, rtl)
    hit = _texts.hit(key)
    return hit if hit is not None else _texts.keep(key, Text(text, style, max_lines, rtl))
