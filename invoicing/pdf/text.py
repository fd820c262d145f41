"""Untrusted text made safe to lay out, split into font runs, and wrapped to a width.

Text is never parsed as markup: it reaches the PDF only through PDF string escaping
(page.py), so ``<b>``, ``&amp;`` and friends print literally. What could upset a layout
is removed up front instead (`clean_text`): control characters, lone surrogates,
non-characters, and sheer length.

Font fallback is per character: a run of characters that the base face (DejaVu Sans,
regular or bold) lacks is drawn in the CJK face; a character neither has prints as
U+FFFD. Line breaking is greedy: at spaces, next to CJK characters (which have no
spaces between words), else inside a word that is wider than the line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from reportlab.lib import colors

from invoicing.pdf import fonts
from invoicing.pdf.fonts import BOLD, CJK, REGULAR

__all__ = ["Line", "Run", "Style", "Text", "break_lines", "clean_text", "font_runs"]

_WS_CONTROLS = re.compile("[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_INVALID = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
    + "]"
)


def clean_text(value: object, limit: int = 1000) -> str:
    """Untrusted text -> plain text that is safe to lay out.

    Line breaks and tabs become spaces; other control characters, lone surrogates
    and non-characters are dropped; NFC normalised; capped at ``limit`` characters
    (an ellipsis marks the cut) so a single cell can never outgrow a page.
    """
    text = value if isinstance(value, str) else str(value)
    text = _WS_CONTROLS.sub(" ", text)
    text = _INVALID.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


Run = tuple[str, str]  # font name, text


def font_runs(text: str, base: fonts.Face) -> list[Run]:
    """Split ``text`` into (font name, text) runs: what ``base`` lacks goes to the CJK face."""
    name = base.name
    cmap = base.cmap
    if text.isascii() or all(ord(c) in cmap for c in text):
        return [(name, text)] if text else []
    cjk = fonts.cjk_face().cmap
    runs: list[Run] = []
    buf: list[str] = []
    current = name
    for ch in text:
        code = ord(ch)
        if code in cmap:
            font = name
        elif code in cjk:
            font = CJK
        elif unicodedata.category(ch) == "Cf":
            continue  # invisible format character neither font has: don't draw a box
        else:
            # Nobody has a glyph: print U+FFFD (both DejaVu faces have it), which
            # shows and extracts as "�" rather than as a box that extracts as NUL.
            font, ch = name, "\ufffd"
        if font != current and buf:
            runs.append((current, "".join(buf)))
            buf = []
        current = font
        buf.append(ch)
    if buf:
        runs.append((current, "".join(buf)))
    return runs


@dataclass(frozen=True)
class Style:
    font: str = REGULAR  # REGULAR or BOLD; the CJK face stands in where it lacks glyphs
    size: float = 9
    leading: float = 12
    color: colors.Color = colors.black
    right: bool = False  # right-aligned within the width the text is given


Line = tuple[list[Run], float]  # runs, width in points


def break_lines(runs: list[Run], size: float, width: float) -> list[Line]:
    """Greedy line breaking: at spaces, next to CJK characters, else inside a word."""
    chars: list[str] = []
    font_names: list[str] = []
    advances: list[float] = []
    scale = size * 0.001
    for font_name, text in runs:
        char_widths, default = fonts.widths(font_name)
        for ch in text:
            chars.append(ch)
            font_names.append(font_name)
            advances.append(char_widths.get(ord(ch), default) * scale)
    n = len(chars)
    lines: list[Line] = []
    i = 0
    while i < n:
        while i < n and chars[i] == " ":
            i += 1
        if i >= n:
            break
        used = 0.0
        j = i
        best = -1  # last position a line may end before
        while j < n:
            if j > i and (chars[j] == " " or font_names[j] == CJK or font_names[j - 1] == CJK):
                best = j
            if j > i and used + advances[j] > width:
                break
            used += advances[j]
            j += 1
        end = j if j >= n or best <= i else best
        stop = end
        while stop > i and chars[stop - 1] == " ":
            stop -= 1
        line_runs: list[Run] = []
        k = i
        while k < stop:
            m = k
            while m < stop and font_names[m] == font_names[k]:
                m += 1
            line_runs.append((font_names[k], "".join(chars[k:m])))
            k = m
        lines.append((line_runs, sum(advances[i:stop])))
        i = end
    return lines


class Text:
    """Plain text in one style, with font fallback, wrapped to a width.

    Never parses markup: the text reaches the PDF only through reportlab's string
    escaping, so ``<b>``, ``&amp;`` and friends print literally.
    """

    __slots__ = ("style", "runs", "natural", "max_lines", "_lines", "_width")

    def __init__(self, text: str, style: Style, max_lines: int = 2):
        regular, bold = fonts.base_faces()
        self.style = style
        self.runs = font_runs(text, bold if style.font == BOLD else regular)
        self.natural = sum(fonts.width(t, f) for f, t in self.runs) * style.size * 0.001
        self.max_lines = max_lines  # more is cut, ending in "…": no block outgrows a page
        self._lines: list[Line] = []
        self._width: float | None = None

    def lines(self, width: float) -> list[Line]:
        if self._width != width:
            if self.natural <= width:
                lines = [(self.runs, self.natural)] if self.runs else []
            else:
                lines = break_lines(self.runs, self.style.size, max(width, 1.0))
                if len(lines) > self.max_lines:
                    lines = lines[: self.max_lines]
                    lines[-1] = self._ellipsize(lines[-1], width)
            self._lines = lines
            self._width = width
        return self._lines

    def _ellipsize(self, line: Line, width: float) -> Line:
        base = self.style.font
        scale = self.style.size * 0.001
        chars = [(f, c) for f, chunk in line[0] for c in chunk]
        used = line[1]
        ellipsis = fonts.width("…", base) * scale
        while chars and (used + ellipsis > width or chars[-1][1] == " "):
            f, c = chars.pop()
            used -= fonts.width(c, f) * scale
        chars.append((base, "…"))
        runs: list[Run] = []
        for f, c in chars:
            if runs and runs[-1][0] == f:
                runs[-1] = (f, runs[-1][1] + c)
            else:
                runs.append((f, c))
        return runs, used + ellipsis

    def height(self, width: float) -> float:
        return max(len(self.lines(width)), 1) * self.style.leading
