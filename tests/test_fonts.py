"""The bundled faces as HarfBuzz reads them (fonts.py) are the faces as fontTools, a
reader apart from it, reads them: what the renderer draws with and what the PDF font
descriptor says."""

from __future__ import annotations

import pytest

from invoicing.pdf import fonts
from tests.support.glyphs import cmap_and_advances, descriptor_values

FACES = range(fonts.face_count())


@pytest.mark.parametrize("index", FACES, ids=lambda i: fonts.face(i).name)
def test_a_faces_cmap_and_widths_are_the_font_files(index: int) -> None:
    # given a bundled face, and its file read by fontTools
    face = fonts.face(index)
    cmap, advances = cmap_and_advances(face)
    # then the face maps the same characters to the same glyphs, with the same advances
    assert (face.cmap, face.widths) == (cmap, [round(a * 1000 / face.upem) for a in advances])


@pytest.mark.parametrize("index", FACES, ids=lambda i: fonts.face(i).name)
def test_a_faces_descriptor_metrics_are_the_font_files(index: int) -> None:
    # given a bundled face
    face = fonts.face(index)
    # then its bounding box, ascent, descent, cap height, italic angle and weight are the file's
    assert face.metrics == descriptor_values(face)
