"""What one document draws: its shaped runs per face (`FontUse`), and the glyphs of
runs with the text each is drawn for (`drawn_glyphs`), for the ToUnicode map of the
face's subset (embed.py).

Apart from embed.py so that the painter of pages records what it draws without
importing the embedding (which reads the glyph sets, which lay text out): no import
circle in `pdf/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from invoicing.pdf.fonts import Face
from invoicing.pdf.shaping import Shaped

__all__ = ["FontUse", "drawn_glyphs"]


class FontUse:
    """The runs one document draws, per face; their glyphs, each with its text for
    ToUnicode, are `drawn_glyphs` of them."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: dict[int, Shaped] = {}  # by identity, in the order first drawn

    def extend(self, runs: Iterable[Shaped]) -> None:
        setdefault = self._runs.setdefault  # by identity: the runs are alive while this is
        for shaped in runs:
            setdefault(id(shaped), shaped)

    def __iter__(self) -> Iterator[tuple[Face, list[Shaped]]]:
        """(face, the runs drawn in it, in the order first drawn) in face order."""
        by_face: dict[int, list[Shaped]] = {}
        for shaped in self._runs.values():
            by_face.setdefault(shaped.face.index, []).append(shaped)
        for index in sorted(by_face):
            runs = by_face[index]
            yield runs[0].face, runs


def drawn_glyphs(runs: list[Shaped]) -> dict[int, str]:
    """Glyph id -> text of what `runs` draw. The first text a glyph is drawn for is kept
    (a glyph drawn both as part of a cluster and alone keeps what it was first); a glyph
    first drawn without text (the second glyph of a cluster) takes the first text it is
    later drawn with."""
    glyphs: dict[int, str] = {}
    for shaped in reversed(runs):  # earlier runs win
        glyphs.update(shaped.glyphs)
    for gid, text in glyphs.items():
        if not text:
            glyphs[gid] = next((t for r in runs if (t := r.glyphs.get(gid, ""))), "")
    return glyphs
