"""What one document draws: its shaped runs per face (`FontUse`), and the glyphs of
runs with the text each is drawn for (`drawn_glyphs`), for the ToUnicode map of the
face's subset (embed.py).

glyph_font.py keeps one `FontUse` per document, which page.py extends as it draws;
when the file is written, embed.py makes each face's subset of its runs
(`invoice_runs`). Tests build one of their own to drive the embedding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from invoicing.pdf.fonts import Face
from invoicing.pdf.shaping import Shaped

__all__ = ["FontUse", "drawn_glyphs"]


class FontUse:
    """The runs one document draws, per face, each once, in the order first drawn
    (`runs`); their glyphs, each with its text for ToUnicode, are `drawn_glyphs` of them."""

    __slots__ = ("_faces",)

    def __init__(self) -> None:
        self._faces: dict[int, dict[int, Shaped]] = {}  # face index -> runs by identity

    def extend(self, runs: Iterable[Shaped]) -> None:
        faces = self._faces
        for shaped in runs:  # by identity: the runs are alive while this is
            by_id = faces.get(shaped.face.index)
            if by_id is None:
                by_id = faces[shaped.face.index] = {}
            by_id.setdefault(id(shaped), shaped)

    def runs(self, face: Face) -> list[Shaped]:
        """The runs drawn in `face`, in the order first drawn."""
        return list(self._faces.get(face.index, {}).values())

    def __iter__(self) -> Iterator[tuple[Face, list[Shaped]]]:
        """(face, the runs drawn in it, in the order first drawn) in face order."""
        for index in sorted(self._faces):
            runs = list(self._faces[index].values())
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
