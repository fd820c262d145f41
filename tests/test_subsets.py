"""Small files whatever the script: each invoice embeds, of each face, the face's base set
and the glyphs it draws beyond it, named by glyph ids of the whole face, and the merged
file holds one subset per face of the base set and the union of its invoices' glyphs,
under a name no other font program in it has."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import pytest
import uharfbuzz as hb
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject

from invoicing.pdf import InvoiceDocument, Part, embed, fonts, merge_pdfs, render_invoice, write_fragments
from invoicing.pdf.objects import fill
from tests.support.factories import synthetic_documents
from tests.support.glyphs import with_components
from tests.support.paths import ROOT
from tests.support.tools import require_tool

LATIN_ONE_PAGE = 30 * 1024
ANY_ONE_PAGE = 60 * 1024
MERGED_PER_INVOICE = 2500


def write(folder: Path, docs: list[InvoiceDocument]) -> list[Part]:
    parts = []
    for doc in docs:
        path = folder / f"{doc.number}.pdf"
        pdf = render_invoice(doc)
        path.write_bytes(pdf)
        parts.append(Part(path, f"{doc.number} — {doc.name}", doc.number, hashlib.sha256(pdf).hexdigest()))
    return parts


def type0_fonts(reader: PdfReader) -> list[tuple[str, DictionaryObject, DictionaryObject]]:
    """(BaseFont, Type0 font, its CIDFont) of every composite font in the file."""
    found = []
    for num in reader.xref[0]:
        obj = reader.get_object(num)
        if isinstance(obj, DictionaryObject) and obj.get("/Subtype") == "/Type0":
            found.append((str(obj["/BaseFont"]), obj, obj["/DescendantFonts"][0].get_object()))
    return found


def cids_of(cid_font: DictionaryObject) -> set[int]:
    widths = cid_font["/W"]
    return {int(widths[i]) + k for i in range(0, len(widths), 2) for k in range(len(widths[i + 1]))}


# ------------------------------------------------------------------- one invoice


def test_one_page_invoices_are_small_in_every_script(tmp_path: Path):
    # given one invoice per country of the synthetic data (every script and language)
    docs = synthetic_documents(600)
    first = {}
    for doc in docs:
        first.setdefault(doc.country, doc)
    assert len(first) >= 25
    for country, doc in sorted(first.items()):
        pdf = render_invoice(doc)
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
        # then a Latin-script invoice is at most 30 KB and any other at most 60 KB
        latin = country in {"DE", "AT", "CH", "FR", "GB", "US", "PL", "ES", "IT", "NL", "PT", "SE", "TR"}
        assert len(pdf) <= (LATIN_ONE_PAGE if latin else ANY_ONE_PAGE), (country, len(pdf))


def test_invoices_that_draw_only_base_glyphs_embed_the_same_base_subset():
    # given two German invoices for different subscribers, whose glyphs are all in the base set
    docs = synthetic_documents(60, ["DE"])
    a, b = (PdfReader(io.BytesIO(render_invoice(doc))) for doc in docs[:2])
    fonts_a, fonts_b = type0_fonts(a), type0_fonts(b)
    # then each embeds the regular and the bold face, under the same subset names
    assert {n.split("+")[1] for n, _, _ in fonts_a} == {"DejaVuSans", "DejaVuSans-Bold"}
    assert {n for n, _, _ in fonts_a} == {n for n, _, _ in fonts_b}
    for (_, _, cid_a), (_, _, cid_b) in zip(sorted(fonts_a), sorted(fonts_b), strict=True):
        program_a = cid_a["/FontDescriptor"]["/FontFile2"].get_object().get_data()
        assert program_a == cid_b["/FontDescriptor"]["/FontFile2"].get_object().get_data()
    # and the subset is the face's base set: its glyphs, their components and .notdef, no more
    for name, _, cid_font in fonts_a:
        face = fonts.face_by_name(name.split("+")[1])
        assert face is not None
        assert cids_of(cid_font) == set(embed.base_glyphs(face))
        program = cid_font["/FontDescriptor"]["/FontFile2"].get_object().get_data()
        assert hb.Face(hb.Blob(program)).glyph_count == len(with_components(face, cids_of(cid_font)))


def test_an_invoice_embeds_the_base_set_and_the_glyphs_it_draws_beyond_it():
    # given a German invoice for a name with letters outside the base set
    from dataclasses import replace

    doc = synthetic_documents(1, ["DE"])[0]
    plain = type0_fonts(PdfReader(io.BytesIO(render_invoice(doc))))
    name = "Łucja Ǆokić Щукин"
    pdf = render_invoice(replace(doc, name=name))
    cids = {n.split("+")[1]: cids_of(c) for n, _, c in type0_fonts(PdfReader(io.BytesIO(pdf)))}
    base = {n.split("+")[1]: cids_of(c) for n, _, c in plain}
    # then the subset of the face that draws the name holds the base set and the name's glyphs
    holding = []
    for face in (fonts.base(fonts.REGULAR), fonts.base(fonts.BOLD)):
        drawn = {face.cmap[ord(ch)] for ch in name if ch != " "}
        assert drawn - base[face.name]
        assert cids[face.name] >= base[face.name]
        holding.append(cids[face.name] >= drawn)
    assert any(holding)
    # and the name reads back as it was written
    assert name in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_a_glyph_keeps_the_text_it_was_drawn_for_and_others_their_own():
    # given the space drawn for a no-break space and a parenthesis drawn mirrored
    face = fonts.base(fonts.REGULAR)
    space, close = face.cmap[ord(" ")], face.cmap[ord(")")]
    drawn = {space: "\xa0", close: "(", face.cmap[ord("A")]: "A"}
    objects, record = embed.invoice_font(face, drawn)
    refs = {name: i for i, (name, _) in enumerate(objects, 1)}
    bodies = {i: fill(parts, refs) for i, (_, parts) in enumerate(objects, 1)}
    # then the subset's ToUnicode maps those glyphs to what they were drawn for, the others
    # of the base set to their own characters
    found = embed.read_font(bodies[refs["Font"]], bodies.get)
    assert found is not None and found[0] is face
    texts = embed.parse_to_unicode(zlib.decompress(_stream(bodies[refs["ToUnicode"]])))
    assert texts is not None
    assert texts[space] == "\xa0" and texts[close] == "(" and texts[face.cmap[ord("(")]] == "("
    assert texts[face.cmap[ord("Z")]] == "Z"
    # and the merge's record of the face is exactly what differs from the base set
    assert found[1] == record == {space: "\xa0", close: "("}
    # and the same glyphs give the same bytes
    assert embed.invoice_font(face, dict(reversed(drawn.items())))[0] == objects


def test_the_runs_short_cut_embeds_what_the_glyph_by_glyph_way_does():
    # given the pages of invoices in every script, one of them with a name beyond the
    # base sets and a no-break space (a base glyph drawn for another text than its own)
    from dataclasses import replace

    from invoicing.pdf.embed import FontUse, drawn_glyphs, invoice_runs
    from invoicing.pdf.format import formatter
    from invoicing.pdf.layout import lay_out
    from invoicing.pdf.shaping import Shaped
    from invoicing.pdf.translate import translator

    docs = synthetic_documents(120)
    docs.append(replace(docs[0], name="Łucja\xa0Ǆokić 山田"))
    took: set[bool] = set()
    for doc in docs:
        use = FontUse()
        for page in lay_out(doc, formatter(doc), translator(doc.locale)):
            use.extend(page.runs())
        for face, runs in use:
            # then the objects and the merge's record are those of the invoice's glyphs
            # gathered one by one, whether or not its runs stayed within the sets
            assert invoice_runs(face, runs) == embed.invoice_font(face, drawn_glyphs(runs))
            took.add(all(isinstance(shaped.summary, frozenset) for shaped in runs))
    assert took == {True, False}
    # and a run knows once whether it stays within the sets
    face = fonts.base(fonts.REGULAR)
    run = Shaped(face, (face.cmap[ord("A")],), None, None, ("A",), 0, (0,), (True,), "A")
    assert run.summary is False
    invoice_runs(face, [run])
    assert run.summary == frozenset()


def test_a_pages_runs_are_what_drawing_it_records_for_the_subsets():
    # given a right-to-left draft (watermarked), and a Latin invoice, laid out and drawn
    from invoicing.pdf.glyph_font import drawn
    from invoicing.pdf.layout import PAGE_W
    from invoicing.pdf.render import _render
    from tests.support.factories import invoice

    for doc, mirror in ((invoice(locale="ar_SA", currency="SAR", draft=True), PAGE_W), (invoice(), None)):
        _, canvas, pages = _render(doc)
        # when the runs its pages say they draw are gathered per face
        said: dict[int, dict[int, object]] = {}
        for page in pages:
            for shaped in page.runs(mirror):
                said.setdefault(shaped.face.index, {}).setdefault(id(shaped), shaped)
        # then they are the runs the document recorded as drawn, in the same order
        recorded = {face.index: runs for face, runs in drawn(canvas._doc)}
        assert recorded == {index: list(runs.values()) for index, runs in said.items()}


def test_a_subset_beyond_the_sets_made_once_is_the_one_made_fresh():
    # given two right-to-left invoices of other subscribers: their labels' mirrored
    # parentheses are glyphs drawn for another text than the base set gives them
    from invoicing.pdf.embed import FontUse, drawn_glyphs, invoice_font
    from invoicing.pdf.format import formatter
    from invoicing.pdf.layout import PAGE_W, lay_out
    from invoicing.pdf.translate import translator
    from tests.support.factories import invoice

    drawn = []
    for name in ("محمد العتيبي", "فاطمة الزهراني"):
        doc = invoice(locale="ar_SA", currency="SAR", name=name)
        use = FontUse()
        for page in lay_out(doc, formatter(doc), translator(doc.locale)):
            use.extend(page.runs(PAGE_W))
        drawn.append(
            next((face, drawn_glyphs(runs)) for face, runs in use if face is fonts.base(fonts.REGULAR))
        )
    (face, first), (_, second) = drawn
    # when the second invoice's subset is asked for after the first's
    kept, record = invoice_font(face, first)
    objects, _ = invoice_font(face, second)
    # then it is the one made for the first: the same glyphs beyond the sets ...
    assert record and objects is kept
    # ... and what they make without the cache
    embed._beyond.clear()
    fresh, _ = invoice_font(face, second)
    assert fresh is not kept and fresh == kept


def _stream(body: bytes) -> bytes:
    head, _, rest = body.partition(b"stream\n")
    return rest[: int(head.rsplit(b"/Length ", 1)[1].split(b" ")[0])]


_COLD = """
import hashlib, sys
from concurrent.futures import ThreadPoolExecutor
from tests.support.factories import synthetic_documents
from tests.support.glyphs import with_components
from invoicing.pdf import render_invoice
docs = synthetic_documents(120)[:60]
with ThreadPoolExecutor(max_workers=8) as pool:
    threaded = list(pool.map(render_invoice, docs))
sys.stdout.write(str(threaded == [render_invoice(d) for d in docs]))
"""


def test_threads_that_start_on_cold_caches_render_what_one_thread_does():
    # given a fresh process whose first renders run in eight threads (every face's base set
    # and script sets made while others read them)
    out = subprocess.run([sys.executable, "-c", _COLD], cwd=ROOT, capture_output=True, text=True)
    # then they are the bytes a sequential render gives
    assert out.returncode == 0, out.stderr
    assert out.stdout == "True"


def test_content_streams_do_not_depend_on_the_subset():
    # given two invoices of the same language for different subscribers
    docs = synthetic_documents(60, ["FR"])
    streams = [
        PdfReader(io.BytesIO(render_invoice(doc))).pages[0].get_contents().get_data() for doc in docs[:2]
    ]
    # then the same word is the same glyph ids in both, whatever else each subset holds
    face = fonts.base(fonts.BOLD)
    title = struct.pack(">7H", *(face.cmap[ord(ch)] for ch in "FACTURE"))
    for raw, escaped in ((b"\\", b"\\\\"), (b"(", b"\\("), (b")", b"\\)"), (b"\r", b"\\r")):
        title = title.replace(raw, escaped)  # as a PDF literal string holds them
    assert all(b"(" + title + b")" in stream for stream in streams)


def test_subset_glyphs_are_the_faces_glyphs():
    # given an invoice with accented Latin (composite glyphs), Cyrillic, Arabic and CJK
    doc = synthetic_documents(1, ["DE"])[0]
    from dataclasses import replace

    doc = replace(doc, name="Ölçü Müller Щука محمد 山田", address=("Ἀθῆναι ẞ Ǆ",))
    reader = PdfReader(io.BytesIO(render_invoice(doc)))
    for base_font, _, cid_font in type0_fonts(reader):
        face = fonts.face_by_name(base_font.split("+")[1])
        assert face is not None
        program = cid_font["/FontDescriptor"]["/FontFile2"].get_object().get_data()
        cid_map = cid_font["/CIDToGIDMap"].get_object().get_data()
        subset = hb.Font(hb.Face(hb.Blob(program)))
        full = face.hb_font
        widths = cid_font["/W"]
        for cid in cids_of(cid_font):
            (gid,) = struct.unpack_from(">H", cid_map, 2 * cid)
            # then each glyph is the face's: its outline's extents and its advance
            a, b = full.get_glyph_extents(cid), subset.get_glyph_extents(gid)
            assert (a.x_bearing, a.y_bearing, a.width, a.height) == (
                b.x_bearing,
                b.y_bearing,
                b.width,
                b.height,
            )
            assert full.get_glyph_h_advance(cid) == subset.get_glyph_h_advance(gid)
        first = int(widths[0])
        assert int(widths[1][0]) == face.widths[first]  # /W is the face's advance in 1/1000 em


_FRESH = """
import hashlib, sys
from tests.support.factories import synthetic_documents
from tests.support.glyphs import with_components
from invoicing.pdf import render_invoice
docs = [d for d in synthetic_documents(400) if d.country in ("SA", "IN", "TH", "JP", "IL")]
sys.stdout.write(" ".join(hashlib.sha256(render_invoice(d)).hexdigest() for d in docs[:10]))
"""


def test_shaped_invoices_are_the_same_bytes_in_a_fresh_process():
    # given invoices in shaped scripts, rendered here and in a process with another hash seed
    docs = [d for d in synthetic_documents(400) if d.country in ("SA", "IN", "TH", "JP", "IL")]
    here = " ".join(hashlib.sha256(render_invoice(d)).hexdigest() for d in docs[:10])
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", _FRESH], cwd=ROOT, env=env, capture_output=True, text=True)
    # then they are byte for byte the same
    assert out.returncode == 0, out.stderr
    assert out.stdout == here


_ONE_PLAIN = """
import hashlib, sys
from tests.support.factories import synthetic_documents
from invoicing.pdf import fonts, render_invoice
doc = synthetic_documents(1, ["JP"])[0]
pdf = render_invoice(doc)
assert not any(fonts.face(i).preprocessed for i in range(fonts.face_count())), "preprocessed"
sys.stdout.write(hashlib.sha256(pdf).hexdigest())
"""


def test_a_process_that_renders_one_invoice_embeds_what_a_warmed_worker_does():
    # given a Japanese invoice rendered by a process that subsets each face as it is read
    out = subprocess.run([sys.executable, "-c", _ONE_PLAIN], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # when it is rendered here, after every face was preprocessed for HarfBuzz's subsetter
    embed.prepare()
    embed._base.clear()
    embed._programs.clear()
    embed._beyond.clear()
    here = render_invoice(synthetic_documents(1, ["JP"])[0])
    # then the two files are byte for byte the same
    assert out.stdout == hashlib.sha256(here).hexdigest()


# ------------------------------------------------------------------ merged files


@pytest.mark.parametrize("countries", [["JP"], ["SA"], None], ids=["japanese", "arabic", "mix"])
def test_merged_files_are_small_per_invoice(countries, tmp_path: Path):
    # given 300 subscribers of a script (or the generated mix, with every script), one page each
    docs = synthetic_documents(300, countries)
    parts = write(tmp_path, docs)
    # when their invoices are merged
    merged = merge_pdfs(parts, tmp_path / "merged.pdf")
    # then the file costs at most 2.5 KB per invoice
    assert merged.pages == 300
    assert merged.size / 300 <= MERGED_PER_INVOICE, merged.size / 300
    # with one subset per face, of the union of the invoices' glyphs
    reader = PdfReader(merged.path)
    union = {name.split("+")[1]: cids_of(cid) for name, _, cid in type0_fonts(reader)}
    assert len(union) == len(type0_fonts(reader))
    for part in parts[:50]:
        for name, _, cid in type0_fonts(PdfReader(part.path)):
            assert cids_of(cid) <= union[name.split("+")[1]]


def test_merging_shaped_scripts_from_fragments_gives_the_same_bytes(tmp_path: Path):
    docs = [
        d for d in synthetic_documents(400) if d.country in ("SA", "IL", "IN", "BD", "TH", "LK", "JP", "DE")
    ]
    parts = write(tmp_path, docs[:40])
    plain = merge_pdfs(parts, tmp_path / "plain" / "merged.pdf")  # the title is the file's name
    batches = []
    for start in range(0, len(parts), 16):
        batch = parts[start : start + 16]
        path = tmp_path / f"batch-{start}.frag"
        write_fragments([p.path.read_bytes() for p in batch], path, [p.sha256 or "" for p in batch])
        batches.append(path)
    linked = merge_pdfs(parts, tmp_path / "linked" / "merged.pdf", batches)
    assert linked.prelinked == len(parts)
    assert linked.path.read_bytes() == plain.path.read_bytes()
    pdftotext = require_tool("pdftotext", "poppler-utils", "another reader's text of the linked merge")
    text = subprocess.run([pdftotext, str(linked.path), "-"], capture_output=True, text=True).stdout
    for doc in docs[:40]:
        if doc.country in ("IN", "BD", "TH", "LK", "JP", "DE"):  # left-to-right names read as written
            assert doc.name in text, doc.name


def font_pdf(path: Path, name: str, program: bytes) -> Part:
    """A one-page PDF with a TrueType font `name` whose program is `program` (as another
    producer, or an older version of this one, would have embedded it)."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    stream = DecodedStreamObject()
    stream.set_data(program)
    descriptor = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): NameObject(f"/{name}"),
            NameObject("/Flags"): NumberObject(4),
            NameObject("/FontFile2"): writer._add_object(stream),
        }
    )
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/TrueType"),
            NameObject("/BaseFont"): NameObject(f"/{name}"),
            NameObject("/FontDescriptor"): writer._add_object(descriptor),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    with open(path, "wb") as handle:
        writer.write(handle)
    return Part(path, path.stem, path.stem)


def test_a_merged_file_never_holds_two_font_programs_under_one_name(tmp_path: Path):
    # given files whose fonts all carry the name AAAAAA+DroidSansFallback, with two programs
    parts = [
        font_pdf(tmp_path / "a.pdf", "AAAAAA+DroidSansFallback", b"program one"),
        font_pdf(tmp_path / "b.pdf", "AAAAAA+DroidSansFallback", b"program two"),
        font_pdf(tmp_path / "c.pdf", "AAAAAA+DroidSansFallback", b"program one"),
    ]
    # when they are merged
    merged = merge_pdfs(parts, tmp_path / "merged.pdf")
    # then each program is there once, and under a name of its own
    reader = PdfReader(merged.path)
    programs: dict[str, set[bytes]] = defaultdict(set)
    for num in reader.xref[0]:
        obj = reader.get_object(num)
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/FontDescriptor":
            programs[str(obj["/FontName"])].add(obj["/FontFile2"].get_object().get_data())
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/Font":
            assert obj["/BaseFont"] == obj["/FontDescriptor"]["/FontName"]  # renamed together
    assert sorted(len(p) for p in programs.values()) == [1, 1]
    assert "/AAAAAA+DroidSansFallback" in programs  # the first keeps its name
    assert all(name.endswith("+DroidSansFallback") for name in programs)


def test_a_prefork_worker_warms_the_renderer_up_before_it_forks():
    """Celery's worker_init (the pool's parent, before forking) makes every face's sets
    and the fixed texts of every language, so the children share them rather than each
    spending a second on them; and freezes them, so the children's garbage collections
    never walk them."""
    code = (
        "import gc, invoicing.celery; from celery.signals import worker_init; "
        "from invoicing.pdf import fonts, glyphsets, text, translate; "
        "before = len(glyphsets._sets), len(text._texts), gc.get_freeze_count(); "
        "worker_init.send(sender=None); "
        "label = translate.translator('ja').gettext('BILL TO'); "
        "kept = next(t for k, t in text._texts.items() if k[0] == label); "
        "print(*before, len(glyphsets._sets), fonts.face_count(), "
        "gc.get_freeze_count(), not any(o is kept for o in gc.get_objects()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    sets_before, texts_before, frozen_before, sets_after, faces, frozen, label_frozen = out.stdout.split()
    assert (sets_before, texts_before, frozen_before) == ("0", "0", "0")
    assert int(sets_after) == int(faces) > 0
    assert int(frozen) > 10_000
    assert label_frozen == "True"  # the Japanese label's Text is made, and out of the collector's reach


def test_a_pool_process_collects_its_youngest_generation_less_often():
    """Celery's worker_process_init (each pool process, after the fork) raises the
    youngest generation's threshold, so that a render's short-lived containers do not
    bring on collections of the renderer's caches; the older generations keep theirs."""
    code = (
        "import gc, invoicing.celery; from celery.signals import worker_process_init; "
        "before = gc.get_threshold(); worker_process_init.send(sender=None); "
        "print(*before, *gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    young, middle, oldest, young_after, middle_after, oldest_after = map(int, out.stdout.split())
    from invoicing.celery import POOL_GC_THRESHOLD

    assert young == 700 and young_after == POOL_GC_THRESHOLD > young
    assert (middle_after, oldest_after) == (middle, oldest)


@pytest.mark.parametrize("text", ["Гусев", "ЖУКОВ", "Źródło", "ΑΘΗΝΑ"])
def test_a_name_in_capitals_of_the_catalogs_letters_embeds_only_the_shipped_sets(text):
    """A script set holds its letters in both cases: a Russian, Polish or Greek name
    whose capitals the catalogs print only in lower case (and the other way round)
    draws nothing beyond the sets, so the invoice takes the subset made once per
    process instead of one made for it."""
    face = fonts.base(fonts.REGULAR)
    drawn = {face.cmap[ord(ch)]: ch for ch in text}
    found = embed._base(face)
    assert {gid: found.texts.get(gid) for gid in drawn} == drawn
    objects, _ = embed.invoice_font(face, drawn)
    assert (
        objects
        is found.stable(face, frozenset(found.group_of[gid] for gid in drawn if gid in found.group_of))[1]
    )


@pytest.mark.parametrize("installation", ["this", "another"])
def test_shipped_glyph_sets_are_used_only_by_the_installation_they_were_derived_for(
    installation, tmp_path, monkeypatch
):
    """A glyphsets.json whose digest of the catalogs and Babel is not this installation's
    (a catalog edited, Babel upgraded) is ignored and the sets derived again; one that
    matches is read as it is. The shipped file is copied with one face's base set cut to
    a single glyph, so that which of the two a process used shows."""
    from invoicing.pdf import fonts, glyphsets

    face = fonts.base(fonts.REGULAR)
    data = json.loads(glyphsets.SHIPPED.read_text(encoding="utf-8"))
    data["faces"][face.key]["core"] = data["faces"][face.key]["core"][:1]
    if installation == "another":
        data["inputs"] = "0" * 64
    copy = tmp_path / "glyphsets.json"
    copy.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(glyphsets, "SHIPPED", copy)
    monkeypatch.setattr(glyphsets, "_sets", {})
    glyphsets._shipped.cache_clear()
    try:
        made = glyphsets.glyph_sets(face)
    finally:
        glyphsets._shipped.cache_clear()
    if installation == "this":
        assert len(made.core) == 1
    else:
        assert made == glyphsets._derive(face) and len(made.core) > 100


def test_a_worker_whose_seller_cannot_render_still_starts(tmp_path):
    """The warm-up is only a head start: a seller logo that cannot be read is a warning,
    and worker_init returns (its invoices will fail naming the logo)."""
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.WARNING); "
        "import invoicing.celery; from celery.signals import worker_init; "
        "worker_init.send(sender=None); print('started')"
    )
    from tests.support.einvoices import seller_settings

    env = {**os.environ, **seller_settings(), "INVOICING_SELLER_LOGO": str(tmp_path / "no-such-logo.png")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "could not warm the renderer up" in out.stdout and "no-such-logo.png" in out.stdout
    assert out.stdout.rstrip().endswith("started")


def test_the_shipped_glyph_sets_are_the_derived_ones():
    """fonts/glyphsets.json spares every process that renders half a second; it must be
    what deriving the sets from the faces, the catalogs and Babel gives now (after a
    change to any of them: `python -c "from invoicing.pdf import glyphsets; glyphsets.main()"`)."""
    from invoicing.pdf import fonts, glyphsets

    shipped = json.loads(glyphsets.SHIPPED.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(glyphsets.derived())) == shipped
    # and a renderer uses them: every face's entry is read, none derived
    assert set(glyphsets._shipped()) == {fonts.face(i).key for i in range(fonts.face_count())}
