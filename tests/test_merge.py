"""invoicing.pdf.merge: streamed merge of real rendered invoices, read back with pypdf and poppler."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
)

from invoicing.files import file_sha256
from invoicing.pdf import (
    InvoiceDocument,
    MergeError,
    Part,
    fragments,
    merge,
    merge_pdfs,
    render_invoice,
    volumes,
    write_fragments,
)
from tests.support.factories import SELLER, invoice, line
from tests.support.paths import ROOT
from tests.support.tools import require_tool

# Names DejaVu Sans draws (Latin with diacritics, Cyrillic, Greek) ...
SEEDED_NAMES = [
    "Jürgen Müller-Lüdenscheidt",
    "Zoë Ångström",
    "Иван Петров",
    "Γιώργος Παπαδόπουλος",
    "François Lefèvre",
    "Łukasz Żółć",
    "Ольга Смирнова",
    "Άννα Κωνσταντίνου",
    "Søren Kierkegaard",
    "José Núñez",
]
# ... and names that need the CJK fallback font.
CJK_NAMES = ["山田太郎", "李小龍"]


def document(number: int, name: str, lines: int = 3) -> InvoiceDocument:
    """Invoice `number` of the run, with `lines` monthly fees (a hundred or more fill further pages)."""
    return invoice(
        number=f"INV-2026-10-{number:06d}",
        account=f"ACC-{number:06d}",
        name=name,
        lines=tuple(line(f"Service {k} — monthly fee", "1", "9.90", "9.90") for k in range(lines)),
    )


@dataclass(frozen=True)
class Sample:
    part: Part
    number: str
    pages: int


def render_to(folder: Path, number: int, name: str, lines: int = 3) -> Sample:
    doc = document(number, name, lines)
    path = folder / f"{doc.number}.pdf"
    path.write_bytes(render_invoice(doc))
    pages = len(PdfReader(path).pages)
    return Sample(Part(path, f"{doc.number} — {name}", doc.number), doc.number, pages)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Sample]]:
    folder = tmp_path_factory.mktemp("invoices")
    seeded = [render_to(folder, i, SEEDED_NAMES[i % len(SEEDED_NAMES)]) for i in range(1, 41)]
    mixed = list(seeded[:20])
    mixed.append(render_to(folder, 41, "Mia Löwe", lines=130))  # multi-page
    mixed += [render_to(folder, 42 + i, CJK_NAMES[i % 2]) for i in range(6)]
    mixed += seeded[20:30]
    mixed.append(render_to(folder, 48, "Дмитрий Ёлкин", lines=125))  # multi-page
    mixed += seeded[30:]
    return {"seeded": seeded, "mixed": mixed}


def fontfile_programs(path: Path) -> list[bytes]:
    """The data of every distinct /FontFile2 stream object in the file."""
    reader = PdfReader(path)
    found: dict[int, bytes] = {}
    for num in reader.xref[0]:
        obj = reader.get_object(num)
        if isinstance(obj, DictionaryObject) and "/FontFile2" in obj:
            ref = obj.raw_get("/FontFile2")
            found[ref.idnum] = ref.get_object().get_data()
    return list(found.values())


# ------------------------------------------------------------------- structure


def test_order_pages_bookmarks_labels_and_text(samples, tmp_path: Path) -> None:
    mixed = samples["mixed"]
    assert any(s.pages >= 2 for s in mixed)
    out = tmp_path / "run-2026-10.pdf"
    merged = merge_pdfs([s.part for s in mixed], out)

    reader = PdfReader(out)
    assert merged.path == out
    assert merged.pages == len(reader.pages) == sum(s.pages for s in mixed)
    assert (merged.sha256, merged.size) == file_sha256(out)
    assert reader.metadata.title == "run-2026-10"
    assert reader.metadata.producer == "invoicing"
    assert reader.page_mode == "/UseOutlines"

    outline = reader.outline
    assert [item.title for item in outline] == [s.part.title for s in mixed]
    assert any("山田太郎" in item.title for item in outline) and all("—" in item.title for item in outline)
    labels = reader.page_labels
    first = 0
    for sample, item in zip(mixed, outline, strict=True):
        assert reader.get_destination_page_number(item) == first
        assert labels[first : first + sample.pages] == [
            f"{sample.number} p.{n}" for n in range(1, sample.pages + 1)
        ]
        assert sample.number in reader.pages[first].extract_text()
        first += sample.pages
    assert "山田太郎" in reader.pages[labels.index(f"{mixed[21].number} p.1")].extract_text()


def font_widths(path: Path) -> dict[str, set[int]]:
    """Face name (without the subset tag) -> the glyph ids its /W array lists, per font in the file."""
    reader = PdfReader(path)
    found: dict[str, set[int]] = {}
    for num in reader.xref[0]:
        obj = reader.get_object(num)
        if isinstance(obj, DictionaryObject) and obj.get("/Subtype") == "/CIDFontType2":
            widths = obj["/W"]
            gids = {int(widths[i]) + k for i in range(0, len(widths), 2) for k in range(len(widths[i + 1]))}
            name = str(obj["/BaseFont"]).split("+", 1)[1]
            assert name not in found, f"two subsets of {name}"
            found[name] = gids
    return found


def test_one_subset_per_face_and_small_output(samples, tmp_path: Path) -> None:
    # given invoices that each embed their own subsets of the faces they use
    seeded = samples["seeded"]
    singles = [font_widths(s.part.path) for s in seeded]
    # when they are merged
    merged = merge_pdfs([s.part for s in seeded], tmp_path / "seeded.pdf")
    # then the file holds one subset per face, of the union of the glyphs they draw
    union = font_widths(merged.path)
    assert set(union) == {"DejaVuSans", "DejaVuSans-Bold"} == set(singles[0])
    for face, gids in union.items():
        assert gids == set().union(*(single[face] for single in singles))
    assert len(fontfile_programs(merged.path)) == 2
    # and each further invoice adds its page, content stream, bookmark and label only
    assert (merged.size - seeded[0].part.path.stat().st_size) / (len(seeded) - 1) <= 2048

    # With CJK names and multi-page invoices: still one subset per face.
    mixed = samples["mixed"]
    merged = merge_pdfs([s.part for s in mixed], tmp_path / "mixed.pdf")
    assert set(font_widths(merged.path)) == {"DejaVuSans", "DejaVuSans-Bold", "DroidSansFallback"}
    assert len(fontfile_programs(merged.path)) == 3


def test_deterministic(samples, tmp_path: Path) -> None:
    parts = [s.part for s in samples["mixed"]]
    a = merge_pdfs(parts, tmp_path / "a" / "merged.pdf")
    b = merge_pdfs(parts, tmp_path / "b" / "merged.pdf")
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256


def test_titles_and_labels_read_back_in_any_block_size_give_the_same_file(
    samples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool reads titles and page-label entries back in blocks: blocks smaller than
    a title, or that end inside one, give the file the default block size gives."""
    parts = [s.part for s in samples["mixed"]]
    expected = merge_pdfs(parts, tmp_path / "default" / "merged.pdf").sha256
    for size in (1, 7, 50):
        monkeypatch.setattr(volumes, "_BLOCK", size)
        assert merge_pdfs(parts, tmp_path / f"block-{size}" / "merged.pdf").sha256 == expected, size


def test_repeated_part_and_deep_trees(samples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small fan-out: multi-level /Pages tree and /PageLabels number tree."""
    monkeypatch.setattr(merge, "_FANOUT", 3)
    mixed = samples["mixed"][:15] + [samples["mixed"][0], samples["mixed"][20]]
    out = tmp_path / "deep.pdf"
    merged = merge_pdfs([s.part for s in mixed], out)
    reader = PdfReader(out)
    assert len(reader.pages) == merged.pages == sum(s.pages for s in mixed)
    expected = [f"{s.number} p.{n}" for s in mixed for n in range(1, s.pages + 1)]
    assert reader.page_labels == expected
    starts = [i for i, label in enumerate(expected) if label.endswith(" p.1")]
    assert [reader.get_destination_page_number(o) for o in reader.outline] == starts
    for sample, start in zip(mixed, starts, strict=True):
        assert sample.number in reader.pages[start].extract_text()
    check_with_poppler(out, merged.pages)


def check_with_poppler(path: Path, pages: int) -> None:
    """poppler, another reader than pypdf, reads the file, its page count and its text
    (the test is skipped, after its pypdf checks passed, if poppler is not installed)."""
    check_with_poppler_pages_only(path, pages)
    pdftotext = require_tool("pdftotext", "poppler-utils", "another reader's text of the merged file")
    text = subprocess.run([pdftotext, "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True)
    assert text.returncode == 0 and text.stderr == "" and "RECHNUNG" in text.stdout  # de_DE invoices


def test_poppler_reads_merged_file(samples, tmp_path: Path) -> None:
    merged = merge_pdfs([s.part for s in samples["mixed"]], tmp_path / "poppler.pdf")
    check_with_poppler(merged.path, merged.pages)


def test_qpdf_finds_no_damage_in_the_merged_file(samples, tmp_path: Path) -> None:
    qpdf = require_tool("qpdf", "qpdf", "the merged file's structure")
    merged = merge_pdfs([s.part for s in samples["mixed"]], tmp_path / "qpdf.pdf")
    check = subprocess.run([qpdf, "--check", str(merged.path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# -------------------------------------------------------------- object graphs


def cyclic_pdf(path: Path, text: str) -> None:
    """A page whose resources hold reference cycles and nested references."""
    writer = PdfWriter()
    page = writer.add_blank_page(300, 200)
    form = DecodedStreamObject()
    form.set_data(b"")
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject(
                [NumberObject(0), NumberObject(0), FloatObject(1), FloatObject(1)]
            ),
        }
    )
    form_ref = writer._add_object(form)
    form[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Me"): form_ref})}
    )
    a, b = DictionaryObject(), DictionaryObject()
    a_ref, b_ref = writer._add_object(a), writer._add_object(b)
    a[NameObject("/Next")] = b_ref
    b[NameObject("/Next")] = a_ref
    b[NameObject("/Items")] = ArrayObject([a_ref, NumberObject(7), ArrayObject([b_ref])])
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)}),
            NameObject("/XObject"): DictionaryObject({NameObject("/X1"): form_ref}),
            NameObject("/Properties"): DictionaryObject({NameObject("/Loop"): a_ref}),
        }
    )
    contents = DecodedStreamObject()
    contents.set_data(f"BT /F1 14 Tf 20 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(contents)
    with open(path, "wb") as handle:
        writer.write(handle)


def test_reference_cycles_and_nested_references(samples, tmp_path: Path) -> None:
    cyclic_pdf(tmp_path / "c1.pdf", "First cyclic")
    cyclic_pdf(tmp_path / "c2.pdf", "Second cyclic")
    parts = [
        Part(tmp_path / "c1.pdf", "c1", "C1"),
        samples["seeded"][0].part,
        Part(tmp_path / "c2.pdf", "c2", "C2"),
    ]
    merged = merge_pdfs(parts, tmp_path / "cyclic.pdf")
    reader = PdfReader(merged.path)
    assert "First cyclic" in reader.pages[0].extract_text()
    assert "Second cyclic" in reader.pages[2].extract_text()
    for index in (0, 2):
        resources = reader.pages[index]["/Resources"]
        a = resources["/Properties"].raw_get("/Loop")
        b = a.get_object().raw_get("/Next")
        assert b.get_object().raw_get("/Next") == a
        assert b.get_object()["/Items"][0] == a and b.get_object()["/Items"][2][0] == b
        form = resources["/XObject"].raw_get("/X1")
        assert form.get_object()["/Resources"]["/XObject"].raw_get("/Me") == form
        assert resources["/Font"]["/F1"]["/BaseFont"] == "/Helvetica"
    # The direct font dict of both parts is the same object in the output.
    fonts = [reader.pages[i]["/Resources"]["/Font"].raw_get("/F1") for i in (0, 2)]
    assert isinstance(fonts[0], IndirectObject) and fonts[0] == fonts[1]
    check_with_poppler_pages_only(merged.path, 3)


def check_with_poppler_pages_only(path: Path, pages: int) -> None:
    """poppler's pdfinfo opens the file without a complaint and counts its pages."""
    pdfinfo = require_tool("pdfinfo", "poppler-utils", "another reader's page count of the merged file")
    info = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, check=True)
    assert info.stderr == "" and f"Pages:           {pages}\n" in info.stdout


# -------------------------------------------------------------------- failures


@pytest.mark.parametrize("damage", ["missing", "corrupt", "empty", "not a pdf"])
def test_bad_part_raises_and_leaves_nothing(samples, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "in" / "INV-BAD.pdf"
    bad.parent.mkdir()
    good = samples["seeded"][0].part.path.read_bytes()
    if damage == "corrupt":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "not a pdf":
        bad.write_text("hello, not a PDF\n")
    parts = (
        [s.part for s in samples["seeded"][:5]] + [Part(bad, "bad", "INV-BAD")] + [samples["seeded"][5].part]
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "merged.pdf"
    output.write_bytes(b"previous merge")

    with pytest.raises(MergeError) as info:
        merge_pdfs(parts, output)
    message = str(info.value)
    assert str(bad) in message and "\n" not in message
    assert ("missing" in message) == (damage == "missing")
    assert output.read_bytes() == b"previous merge"
    assert sorted(p.name for p in out_dir.iterdir()) == ["merged.pdf"]

    output.unlink()
    with pytest.raises(MergeError):
        merge_pdfs(parts, output)
    assert list(out_dir.iterdir()) == []


def test_nothing_to_merge(tmp_path: Path) -> None:
    with pytest.raises(MergeError, match="nothing to merge"):
        merge_pdfs([], tmp_path / "merged.pdf")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- memory

# The child's own peak RSS, in KiB. Not ru_maxrss: after fork and exec it still counts
# the parent's peak (pytest's, with the rendered samples), which would hide the child's.
_PEAK_KB = """
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_PEAK_RSS = (
    _PEAK_KB
    + """
import json, sys
from pathlib import Path
from invoicing.pdf import Part, merge_pdfs
files, count, out = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
parts = [Part(Path(files[i % len(files)]), f"INV {i} — ü", f"INV-{i}") for i in range(count)]
merged = merge_pdfs(parts, out)
print(json.dumps([merged.pages, merged.size, peak_kb()]))
"""
)


def run_child(script: str, *args: str) -> list:
    """Run `script` in a fresh interpreter (its own peak RSS); what it printed as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return json.loads(proc.stdout)


def test_memory_does_not_grow_with_invoice_count(samples, tmp_path: Path) -> None:
    files = json.dumps([str(s.part.path) for s in samples["mixed"][:12]])

    def peak_kb(count: int) -> int:
        pages, size, peak = run_child(_PEAK_RSS, files, str(count), str(tmp_path / f"m{count}.pdf"))
        assert pages == count
        assert size / count <= 4096  # bytes per one-page invoice at a batch's scale
        return peak

    small, large = peak_kb(300), peak_kb(1500)
    # pypdf's PdfWriter needed ~120 KB per invoice here: +140 MB for the 1,200 more.
    assert large - small < 20 * 1024, (small, large)


def test_offsets_take_four_bytes_each_until_the_file_passes_four_gib() -> None:
    """What the merge holds per object; a file past 4 GiB (some two million invoices)
    would not be reached by a test, so the sink is told it got there."""
    sink = merge._Sink(io.BytesIO(), "out.pdf")
    first = sink.alloc_many(3)
    sink.obj(first, b"<< >>")
    written = len(merge._HEADER)  # the first object follows the header
    assert sink.offsets.itemsize == 4 and sink.offsets[first] == written
    sink.pos = 2**32 + 10
    sink.obj(first + 1, b"<< >>")
    assert sink.offsets.itemsize == 8
    assert (sink.offsets[first], sink.offsets[first + 1]) == (written, 2**32 + 10)
    sink.pos = 10**10  # beyond the ten digits of an xref entry
    with pytest.raises(MergeError, match="larger than a PDF xref table can address"):
        sink.obj(first + 2, b"<< >>")


def handwritten_pdf(path: Path, objects: list[bytes]) -> None:
    """A classic-xref PDF from object bodies numbered 1..n (object 1 is the catalog)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (num, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def test_inherited_resources_and_indirect_lengths(tmp_path: Path) -> None:
    """Resources and MediaBox inherited from the page tree; streams whose /Length is an
    indirect object."""

    def make(path: Path, text: str, mark: bytes) -> None:
        content = f"BT /F1 16 Tf 20 100 Td ({text}) Tj ET /Im Do".encode()
        form = b"0 0 1 rg 0 0 " + mark + b" re f"
        handwritten_pdf(
            path,
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [ 3 0 R ] /Count 1 /MediaBox [ 0 0 300 200 ]"
                b" /Resources << /Font << /F1 4 0 R >> /XObject << /Im 7 0 R >> >> >>",
                b"<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>",
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                b"<< /Length 6 0 R >>\nstream\n" + content + b"\nendstream",
                b"%d" % len(content),
                b"<< /Type /XObject /Subtype /Form /BBox [ 0 0 300 200 ] /Length 8 0 R >>\nstream\n"
                + form
                + b"\nendstream",
                b"%d" % len(form),
            ],
        )

    make(tmp_path / "a.pdf", "Alpha page", b"10 10")
    make(tmp_path / "b.pdf", "Bravo page", b"100 9")
    parts = [Part(tmp_path / "a.pdf", "a", "A"), Part(tmp_path / "b.pdf", "b", "B")]
    merged = merge_pdfs(parts, tmp_path / "hand.pdf")
    reader = PdfReader(merged.path)
    assert [p.extract_text().strip() for p in reader.pages] == ["Alpha page", "Bravo page"]
    assert [list(map(float, p.mediabox)) for p in reader.pages] == [[0, 0, 300, 200]] * 2
    forms = [p["/Resources"]["/XObject"]["/Im"].get_data() for p in reader.pages]
    assert forms == [b"0 0 1 rg 0 0 10 10 re f", b"0 0 1 rg 0 0 100 9 re f"]
    fonts = [p["/Resources"]["/Font"].raw_get("/F1") for p in reader.pages]
    assert fonts[0] == fonts[1]
    check_with_poppler_pages_only(merged.path, 2)


# ------------------------------------------------------------------- fragments


def with_sha(part: Part) -> Part:
    return Part(part.path, part.title, part.label, file_sha256(part.path)[0])


def write_batches(parts: list[Part], folder: Path, size: int) -> list[Path]:
    """Fragment files as the render workers write them: one per batch of `size` parts."""
    paths = []
    for start in range(0, len(parts), size):
        path = folder / f"batch-{start:04d}.frag"
        batch = [p.path.read_bytes() for p in parts[start : start + size]]
        assert write_fragments(batch, path) == len(set(batch))
        paths.append(path)
    return paths


def plain_merge(parts: list[Part], folder: Path) -> bytes:
    merged = merge_pdfs([Part(p.path, p.title, p.label) for p in parts], folder / "plain" / "run.pdf")
    assert merged.prelinked == 0
    return merged.path.read_bytes()


def test_fragments_give_the_same_bytes(samples, tmp_path: Path) -> None:
    """Seeded, CJK and multi-page invoices: linked from fragments, from their files, or
    some of each, the merged file is byte-for-byte the same."""
    parts = [with_sha(s.part) for s in samples["mixed"]]
    expected = plain_merge(parts, tmp_path)
    frags = write_batches(parts, tmp_path / "frags", 7)

    merged = merge_pdfs(parts, tmp_path / "all" / "run.pdf", frags)
    assert merged.prelinked == len(parts)
    assert merged.path.read_bytes() == expected
    assert (merged.sha256, merged.size) == file_sha256(merged.path)

    # Every third part without a recorded sha256 is parsed; so are the parts whose
    # batch has no fragment file (the 3rd and 5th).
    mixed = [Part(p.path, p.title, p.label) if i % 3 == 0 else p for i, p in enumerate(parts)]
    some = frags[:2] + frags[3:4] + frags[5:]
    merged = merge_pdfs(mixed, tmp_path / "mixed" / "run.pdf", some)
    in_some = {i for i in range(len(parts)) if i // 7 in (0, 1, 3) or i // 7 >= 5}
    assert merged.prelinked == len([i for i in in_some if i % 3]) < len(parts)
    assert merged.path.read_bytes() == expected

    # The order of the fragment files does not matter, nor a part repeated.
    again = parts + parts[:3]
    merged = merge_pdfs(again, tmp_path / "rev" / "run.pdf", frags[::-1])
    assert merged.prelinked == len(again)
    assert merged.path.read_bytes() == plain_merge(again, tmp_path / "again")


# Every shape the renderer writes: scripts (bidi, ActualText marks, the CJK face's fake
# bold), several pages, logos with and without a soft mask.
OWN_CASES = [
    ("Jürgen Müller", "de_DE", 3, None),
    ("山田太郎", "ja_JP", 3, None),
    ("محمد العلي", "ar_SA", 3, None),
    ("राहुल शर्मा", "hi_IN", 3, None),
    ("สมชาย ใจดี", "th_TH", 3, "RGBA"),
    ("Mia Löwe", "de_DE", 130, "RGBA"),
    ("Дмитрий Ёлкин", "ru_RU", 125, "RGB"),
    ("דוד כהן", "he_IL", 3, "RGB"),
]


def test_renderer_made_fragments_are_the_parsed_ones(tmp_path: Path) -> None:
    """render_prelinked's fragment, made from the objects just written, is object for
    object what pre-linking the file with pypdf gives; so the merge is the same either way."""
    from PIL import Image

    from invoicing.pdf.prelink import Prelinker
    from invoicing.pdf.render import render_prelinked

    # given: invoices of every shape, their files, and the renderer's fragments of them
    pdfs, made, parts = [], [], []
    for i, (name, locale, lines, logo) in enumerate(OWN_CASES, 1):
        seller = SELLER
        if logo is not None:
            image = tmp_path / f"logo-{logo}.{'png' if logo == 'RGBA' else 'jpg'}"
            Image.new(logo, (90, 30), (29, 78, 137, 160)[: len(logo)]).save(image)
            seller = replace(SELLER, logo_path=str(image))
        doc = replace(document(i, name, lines), locale=locale, seller=seller)
        pdf, fragment = render_prelinked(doc)
        assert pdf == render_invoice(doc)
        path = tmp_path / f"{doc.number}.pdf"
        path.write_bytes(pdf)
        pdfs.append(pdf)
        made.append(fragment)
        parts.append(with_sha(Part(path, f"{doc.number} — {name}", doc.number)))

    # then: equal to the parsed fragments, down to the order of the shared records
    for pdf, fragment in zip(pdfs, made, strict=True):
        parsed = Prelinker().fragment(pdf, "test")
        assert (fragment.pages, fragment.objs) == (parsed.pages, parsed.objs)
        assert [(k, bytes(b), c, d) for k, (b, c, d) in fragment.shared.items()] == [
            (k, bytes(b), c, d) for k, (b, c, d) in parsed.shared.items()
        ]
        assert [(k, list(g.items())) for k, g in fragment.glyphs.items()] == [
            (k, list(g.items())) for k, g in parsed.glyphs.items()
        ]
    assert any(f.pages > 1 for f in made) and any(
        b"/XObject" in bytes(r[0]) for f in made for r in f.shared.values()
    )

    # when: the batch's fragment file is written from them, nothing parsed
    frag = tmp_path / "own.frag"
    assert write_fragments(pdfs, frag, [p.sha256 for p in parts], made) == len(parts)

    # then: the merge takes every part from it, byte for byte as from the files
    merged = merge_pdfs(parts, tmp_path / "own" / "run.pdf", [frag])
    assert merged.prelinked == len(parts)
    assert merged.path.read_bytes() == plain_merge(parts, tmp_path)


def test_glyph_texts_of_every_length_survive_the_fragment_file(tmp_path: Path) -> None:
    """A face's glyph texts are one string in the file, cut by code point counts: a glyph
    of no text, of one code point, a ligature's several, non-ASCII and astral ones all
    come back as they were."""
    from invoicing.pdf.render import render_prelinked

    # given a real invoice's fragment, drawing glyphs of every kind of text
    pdf, made = render_prelinked(
        invoice(name="Zoë Ünal", lines=(line("Roaming ﬃ 2 GB", "2", "3.50", "7.00"),))
    )
    assert made is not None and made.glyphs
    texts = {1: "", 2: "A", 3: "ffi", 4: "é", 5: "€", 6: "𝄞", 7: "山田", 8: " "}
    glyphs = {face: {**use, **texts} for face, use in made.glyphs.items()}
    fragment = fragments.Fragment(made.pages, made.objs, made.shared, glyphs)
    key = hashlib.sha256(pdf).digest()
    writer = fragments.FragmentWriter()
    writer.add(key, fragment)
    path = tmp_path / "glyphs.frag"
    # when
    writer.write(path)
    # then
    read = fragments.FragmentStore([path]).get(key.hex())
    assert read is not None
    assert [(k, list(g.items())) for k, g in read.glyphs.items()] == [
        (k, list(g.items())) for k, g in glyphs.items()
    ]


def test_fragments_of_odd_object_graphs(samples, tmp_path: Path) -> None:
    """Reference cycles, inherited resources and indirect /Length through fragments."""
    cyclic_pdf(tmp_path / "c1.pdf", "First cyclic")
    cyclic_pdf(tmp_path / "c2.pdf", "Second cyclic")
    content = b"BT /F1 16 Tf 20 100 Td (Hand page) Tj ET"
    handwritten_pdf(
        tmp_path / "h.pdf",
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [ 3 0 R ] /Count 1 /MediaBox [ 0 0 300 200 ]"
            b" /Resources << /Font << /F1 4 0 R >> >> >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length 6 0 R >>\nstream\n" + content + b"\nendstream",
            b"%d" % len(content),
        ],
    )
    parts = [
        with_sha(Part(tmp_path / "c1.pdf", "c1", "C1")),
        with_sha(samples["seeded"][0].part),
        with_sha(Part(tmp_path / "h.pdf", "h", "H")),
        with_sha(Part(tmp_path / "c2.pdf", "c2", "C2")),
    ]
    expected = plain_merge(parts, tmp_path)
    merged = merge_pdfs(parts, tmp_path / "f" / "run.pdf", write_batches(parts, tmp_path, 4))
    assert merged.prelinked == 4
    assert merged.path.read_bytes() == expected
    reader = PdfReader(merged.path)
    assert [reader.pages[i].extract_text().strip() for i in (0, 2, 3)] == [
        "First cyclic",
        "Hand page",
        "Second cyclic",
    ]


def test_fragment_file_stores_shared_objects_once(samples, tmp_path: Path) -> None:
    seeded = [s.part.path.read_bytes() for s in samples["seeded"][:20]]
    path = tmp_path / "batch.frag"
    assert write_fragments(seeded + seeded[:5], path) == 20  # keyed by content
    # The faces are records (the linker embeds their union), then a page and its content.
    assert path.stat().st_size <= len(seeded[0]) + 20 * 3072
    data = path.read_bytes()
    assert write_fragments(seeded + seeded[:5], tmp_path / "again.frag") == 20
    assert (tmp_path / "again.frag").read_bytes() == data  # deterministic
    # a caller that has hashed the PDFs already passes the digests: the same file
    shas = [hashlib.sha256(pdf).hexdigest() for pdf in seeded + seeded[:5]]
    assert write_fragments(seeded + seeded[:5], tmp_path / "hashed.frag", shas) == 20
    assert (tmp_path / "hashed.frag").read_bytes() == data
    (tmp_path / "hashed.frag").unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.frag", "batch.frag"]  # no temp files
    assert write_fragments([], tmp_path / "empty.frag") == 0


def entry_span(path: Path, pdf: Path) -> tuple[int, int]:
    """(start, length) in the fragment file of the entry for the PDF `pdf`."""
    data = path.read_bytes()
    header = fragments.read_header(data)
    assert header is not None
    entries, _, blob = header
    offset, length, _ = entries[hashlib.sha256(pdf.read_bytes()).digest()]
    return blob + offset, length


def face_record(path: Path, name: bytes) -> tuple[int, int]:
    """Where the record standing for a face is in a fragment file: every entry needs it."""
    data = path.read_bytes()
    header = fragments.read_header(data)
    assert header is not None
    _, shared, blob = header
    for _, offset, length in shared:
        body = data[blob + offset + fragments.OBJ_HEAD.size : blob + offset + length]
        if body.startswith(fragments.FACE_PREFIX + name + b":"):
            return blob + offset, length
    raise AssertionError(f"no record of {name!r}")


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "entry byte",
        "shared byte",
        "header byte",
        "magic",
        "old version",
        "garbage",
        "empty",
        "missing",
    ],
)
def test_damaged_fragment_files_are_skipped(samples, tmp_path: Path, damage: str) -> None:
    """A damaged file, or entry, is skipped: those parts are parsed from their files,
    with the same output and no error."""
    parts = [with_sha(s.part) for s in samples["mixed"][18:30]]  # seeded, multi-page, CJK
    expected = plain_merge(parts, tmp_path)
    good, bad = write_batches(parts, tmp_path / "frags", 6)
    data = bytearray(bad.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    elif damage == "entry byte":
        start, length = entry_span(bad, parts[8].path)
        data[start + length // 2] ^= 0x01
    elif damage == "shared byte":  # the record of the regular face, which every entry needs
        start, length = face_record(bad, b"DejaVuSans")
        data[start + length - 3] ^= 0x01
    elif damage == "header byte":
        data[len(fragments.MAGIC) + 20] ^= 0x01
    elif damage == "magic":
        data[1:10] = b"INVOICING"
    elif damage == "garbage":
        data = bytearray(b"hello, not a fragment file\n" * 100)
    elif damage == "empty":
        data = bytearray()
    elif damage == "old version":  # a sound header of another version
        count = len(fragments.MAGIC) + 4
        data[len(fragments.MAGIC) : count] = (fragments.VERSION - 1).to_bytes(4, "little")
        size = (
            fragments.PREFIX_SIZE
            + int.from_bytes(data[count : count + 4], "little") * fragments.ENTRY_INDEX.size
        )
        size += int.from_bytes(data[count + 4 : count + 8], "little") * fragments.SHARED_INDEX.size
        data[size : size + 32] = hashlib.sha256(data[:size]).digest()
    if damage == "missing":
        bad.unlink()
    else:
        bad.write_bytes(bytes(data))

    merged = merge_pdfs(parts, tmp_path / "run.pdf", [good, bad])
    assert merged.path.read_bytes() == expected
    from_bad = merged.prelinked - 6
    assert 0 <= from_bad < 6
    if damage == "entry byte":
        assert from_bad == 5  # only the damaged entry was skipped
    elif damage != "truncated":
        assert from_bad == 0


def test_fragment_entries_are_trusted_by_recorded_sha256_only(samples, tmp_path: Path) -> None:
    """An entry stands in for a part only if the part's recorded sha256 is its key."""
    first, second = samples["seeded"][0], samples["seeded"][1]
    frags = write_batches([first.part], tmp_path / "frags", 1)
    path = tmp_path / "in" / "INV.pdf"
    path.parent.mkdir()
    path.write_bytes(second.part.path.read_bytes())  # the file now holds another invoice
    recorded = file_sha256(first.part.path)[0]

    def text(sha: str | None) -> tuple[str, int]:
        merged = merge_pdfs([Part(path, "t", "T", sha)], tmp_path / "run.pdf", frags)
        return PdfReader(merged.path).pages[0].extract_text(), merged.prelinked

    page, prelinked = text(None)
    assert second.number in page and prelinked == 0
    page, prelinked = text(file_sha256(path)[0])
    assert second.number in page and prelinked == 0
    page, prelinked = text(recorded.upper())
    assert first.number in page and prelinked == 1
    page, prelinked = text("not hex")
    assert second.number in page and prelinked == 0

    # The same entry in two files (a redelivered batch) is fine.
    twice = frags + write_batches([first.part], tmp_path / "again", 1)
    merged = merge_pdfs([with_sha(first.part)] * 2, tmp_path / "twice.pdf", twice)
    assert merged.prelinked == 2


def test_write_fragments_bad_pdf(samples, tmp_path: Path) -> None:
    good = samples["seeded"][0].part.path.read_bytes()
    output = tmp_path / "batch.frag"
    output.write_bytes(b"previous")
    for bad in (good[: len(good) // 2], b"", b"hello, not a PDF\n"):
        with pytest.raises(MergeError) as info:
            write_fragments([good, bad], output)
        message = str(info.value)
        assert "PDF 2 of 2" in message and hashlib.sha256(bad).hexdigest()[:16] in message
        assert "\n" not in message
        assert output.read_bytes() == b"previous"
        assert [p.name for p in tmp_path.iterdir()] == ["batch.frag"]


_LINK_PEAK_RSS = (
    _PEAK_KB
    + """
import json, sys
from pathlib import Path
from invoicing.pdf import Part, merge_pdfs
setup, count, out = json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]), Path(sys.argv[3])
keys, frags = setup["keys"], [Path(f) for f in setup["frags"]]
# No files: every part must come from a fragment entry.
parts = [Part(Path(f"/nonexistent/{i}.pdf"), f"INV {i} — ü", f"INV-{i}", keys[i]) for i in range(count)]
merged = merge_pdfs(parts, out, frags)
print(json.dumps([merged.pages, merged.prelinked, peak_kb()]))
"""
)


def test_linking_fragments_in_flat_memory(samples, tmp_path: Path) -> None:
    """2,000 distinct entries in 40 files link in the memory that 200 take."""
    base = [s.part.path.read_bytes() for s in samples["mixed"][:12]]
    # Distinct files (so distinct keys) with the same objects: a comment after %%EOF.
    pdfs = [base[i % len(base)] + b"%% %d\n" % i for i in range(2000)]
    frags = []
    for start in range(0, len(pdfs), 50):
        frags.append(str(tmp_path / f"b{start}.frag"))
        write_fragments(pdfs[start : start + 50], Path(frags[-1]))
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"keys": [hashlib.sha256(pdf).hexdigest() for pdf in pdfs], "frags": frags}))

    def peak_kb(count: int) -> int:
        pages, prelinked, peak = run_child(_LINK_PEAK_RSS, str(setup), str(count), str(tmp_path / "m.pdf"))
        assert prelinked == count and pages >= count
        return peak

    small, large = peak_kb(200), peak_kb(2000)
    assert large - small < 10 * 1024, (small, large)
