"""A face's glyphs as fontTools reads them: a reader of TrueType fonts independent of
HarfBuzz, whose subsetter the renderer uses."""

from __future__ import annotations

from functools import lru_cache

from fontTools.ttLib import TTFont

from invoicing.pdf import fonts


@lru_cache(maxsize=4)
def _font(file: str) -> TTFont:
    return TTFont(fonts.FONT_DIR / file, lazy=True)


def with_components(face: fonts.Face, gids: set[int]) -> set[int]:
    """`gids`, .notdef, and every component of a composite glyph among them."""
    font = _font(face.file)
    order, glyf = font.getGlyphOrder(), font["glyf"]
    seen = {0, *gids}
    todo = list(seen)
    while todo:
        for name in glyf[order[todo.pop()]].getComponentNames(glyf):
            part = font.getGlyphID(name)
            if part not in seen:
                seen.add(part)
                todo.append(part)
    return seen
