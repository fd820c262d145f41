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
    # and its /W texts are those widths as the PDF writes them
    assert face.width_texts == [str(w).encode() for w in face.widths]


def test_every_face_shares_one_number_and_one_text_per_width() -> None:
    # given every bundled face, 69,852 glyphs of them
    faces = [fonts.face(index) for index in FACES]
    # then each width is one object however many glyphs of however many faces have it
    numbers = {id(w) for face in faces for w in face.widths}
    texts = {id(t) for face in faces for t in face.width_texts}
    widths = {w for face in faces for w in face.widths}
    assert len(numbers) == len(texts) == len(widths) < 2_000


@pytest.mark.parametrize("index", FACES, ids=lambda i: fonts.face(i).name)
def test_a_faces_descriptor_metrics_are_the_font_files(index: int) -> None:
    # given a bundled face
    face = fonts.face(index)
    # then its bounding box, ascent, descent, cap height, italic angle and weight are the file's
    assert face.metrics == descriptor_values(face)
