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


def cmap_and_advances(face: fonts.Face) -> tuple[dict[int, int], list[int]]:
    """The face's best Unicode cmap (code point -> glyph id) and its advances in font
    units, by glyph id."""
    font = _font(face.file)
    order = font.getGlyphOrder()
    ids = {name: gid for gid, name in enumerate(order)}
    cmap = {code: ids[name] for code, name in font.getBestCmap().items() if code}
    metrics = font["hmtx"].metrics
    return cmap, [metrics[name][0] for name in order]


def descriptor_values(face: fonts.Face) -> fonts.FaceMetrics:
    """What a PDF font descriptor takes from the face's head, hhea, OS/2 and post."""
    font = _font(face.file)
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    cap_height = getattr(os2, "sCapHeight", 0) if os2.version >= 2 else 0
    return fonts.FaceMetrics(
        bbox=(head.xMin, head.yMin, head.xMax, head.yMax),
        ascent=hhea.ascent,
        descent=hhea.descent,
        cap_height=cap_height or hhea.ascent,
        italic_angle=float(font["post"].italicAngle),
        weight=os2.usWeightClass,
    )
