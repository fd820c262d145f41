"""invoicing.merge: streamed merge of real rendered invoices, read back with pypdf and poppler."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
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

from invoicing import merge
from invoicing.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.merge import MergeError, Part, file_sha256, merge_pdfs
from invoicing.render import render_invoice

ROOT = Path(__file__).resolve().parent.parent

SELLER = Seller(
    name="Nordlicht Telecom GmbH",
    address=("Hafenstraße 12", "20457 Hamburg", "Germany"),
    tax_id="DE123456789",
    email="billing@nordlicht.example",
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
    bank="Commerzbank Hamburg",
)
# Seeded characters only (Latin with diacritics, Cyrillic, Greek) ...
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
# ... and names that need the CJK fallback font (a per-invoice subset each).
CJK_NAMES = ["山田太郎", "李小龍"]


def document(number: int, name: str, lines: int = 3) -> InvoiceDocument:
    items = tuple(
        InvoiceLine(f"Service {k} — monthly fee", Decimal("1"), Decimal("9.90"), Decimal("9.90"))
        for k in range(lines)
    )
    subtotal = sum((item.amount for item in items), Decimal("0"))
    tax = (subtotal * Decimal("19") / 100).quantize(Decimal("0.01"))
    return InvoiceDocument(
        number=f"INV-2026-10-{number:06d}",
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 11, 15),
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        account=f"ACC-{number:06d}",
        name=name,
        address=("Lindenallee 5", "10115 Berlin"),
        country="DE",
        locale="de_DE",
        currency="EUR",
        lines=items,
        subtotal=subtotal,
        tax_rate=Decimal("19"),
        tax=tax,
        total=subtotal + tax,
        seller=SELLER,
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


def test_shared_font_objects_written_once_and_small_output(samples, tmp_path: Path) -> None:
    seeded = samples["seeded"]
    single = fontfile_programs(seeded[0].part.path)
    assert len(single) >= 2
    merged = merge_pdfs([s.part for s in seeded], tmp_path / "seeded.pdf")
    programs = fontfile_programs(merged.path)
    assert len(programs) == len(single)  # not times 40
    assert sorted(programs) == sorted(single)
    # Each further invoice adds its page, content stream, bookmark and label only. (The
    # one copy of the fonts, ~130 KB, is 3.3 KB an invoice at 40; 1,500 in the memory test.)
    assert (merged.size - seeded[0].part.path.stat().st_size) / (len(seeded) - 1) <= 2048

    # With CJK names: one copy of each distinct font program among the inputs.
    mixed = samples["mixed"]
    distinct = {hashlib.sha256(p).digest() for s in mixed for p in fontfile_programs(s.part.path)}
    merged = merge_pdfs([s.part for s in mixed], tmp_path / "mixed.pdf")
    assert sorted(hashlib.sha256(p).digest() for p in fontfile_programs(merged.path)) == sorted(distinct)


def test_deterministic(samples, tmp_path: Path) -> None:
    parts = [s.part for s in samples["mixed"]]
    a = merge_pdfs(parts, tmp_path / "a" / "merged.pdf")
    b = merge_pdfs(parts, tmp_path / "b" / "merged.pdf")
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256


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
    if shutil.which("pdfinfo") is None:
        return
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert info.stderr == ""
    assert f"Pages:           {pages}\n" in info.stdout
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True)
    assert text.returncode == 0 and text.stderr == "" and "INVOICE" in text.stdout


def test_poppler_reads_merged_file(samples, tmp_path: Path) -> None:
    merged = merge_pdfs([s.part for s in samples["mixed"]], tmp_path / "poppler.pdf")
    check_with_poppler(merged.path, merged.pages)
    if shutil.which("qpdf"):
        check = subprocess.run(["qpdf", "--check", str(merged.path)], capture_output=True, text=True)
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
    if shutil.which("pdfinfo") is None:
        return
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
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

_PEAK_RSS = """
import json, resource, sys
from pathlib import Path
from invoicing.merge import Part, merge_pdfs
files, count, out = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
parts = [Part(Path(files[i % len(files)]), f"INV {i} — ü", f"INV-{i}") for i in range(count)]
merged = merge_pdfs(parts, out)
print(json.dumps([merged.pages, merged.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))
"""


def test_memory_does_not_grow_with_invoice_count(samples, tmp_path: Path) -> None:
    files = json.dumps([str(s.part.path) for s in samples["mixed"][:12]])

    def peak_kb(count: int) -> int:
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, files, str(count), str(tmp_path / f"m{count}.pdf")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        pages, size, peak = json.loads(proc.stdout)
        assert pages == count
        assert size / count <= 4096  # bytes per one-page invoice at a batch's scale
        return peak

    small, large = peak_kb(300), peak_kb(1500)
    # pypdf's PdfWriter needed ~120 KB per invoice here: +140 MB for the 1,200 more.
    assert large - small < 20 * 1024, (small, large)


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
