"""invoicing.pdf.render: real PDFs, opened and read back with pypdf."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from invoicing.pdf import RenderError, render_invoice
from tests.support.factories import MIXED, SELLER, credit_note_of, invoice, line, mixed
from tests.support.paths import ROOT

# ---------------------------------------------------------------- helpers

_SPACES = re.compile("[\u00a0\u202f\u2009 ]+")


def norm(text: str) -> str:
    """Collapse babel's (narrow) no-break spaces and runs of spaces to one space."""
    return _SPACES.sub(" ", text)


def reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    return [norm(page.extract_text()) for page in reader(pdf).pages]


def all_text(pdf: bytes) -> str:
    return "\n".join(page_texts(pdf))


def font_files(pdf: bytes) -> dict[str, bytes]:
    """BaseFont -> decoded /FontFile2 data, for every (Type0) font on every page."""
    out: dict[str, bytes] = {}
    for page in reader(pdf).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            out[font["/BaseFont"]] = descendant["/FontDescriptor"]["/FontFile2"].get_data()
    return out


# ---------------------------------------------------------------- content


def test_every_field_is_in_the_text():
    # de_DE: the invoice is in German; the seller's DE123456789 is its VAT id (USt-IdNr.)
    doc = invoice(seller=replace(SELLER, tax_id="", vat_id="DE123456789"))
    text = all_text(render_invoice(doc))
    for needle in [
        "RECHNUNG",
        doc.number,
        doc.account,
        doc.name,
        *doc.address,
        SELLER.name,
        *SELLER.address[:-1],
        "Deutschland",  # the seller's "Germany", as CLDR names it in German
        "USt-IdNr. DE123456789",
        "billing@nordlicht.example",
        "01.11.2026",  # issue date, de_DE medium format
        "15.11.2026",  # due date
        "01.10.2026 – 31.10.2026",  # billing period
        *(item.description for item in doc.lines),
        "Zwischensumme 54,41 €",
        "USt. (19 %) 10,34 €",
        "Gesamtbetrag (EUR) 64,75 €",
        "Commerzbank Hamburg",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
        f"Verwendungszweck {doc.number}",
        "Bitte überweisen Sie 64,75 € bis zum 15.11.2026",
        "Seite 1 von 1",
    ]:
        assert norm(needle) in text, needle


def test_line_items_are_formatted():
    text = all_text(render_invoice(invoice()))
    # quantity without trailing-zero noise; unit price keeps its sub-cent precision
    assert "Outbound calls to mobile networks 137 0,025 € 3,43 €" in text
    assert "SMS to foreign networks 12 0,09 € 1,08 €" in text
    assert "Business Fibre 500 — monthly fee 1 49,90 € 49,90 €" in text


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström-Łukasiewicz",  # Latin with diacritics
        "Şükrü Çağlayan",
        "Nguyễn Văn Ánh",  # Vietnamese: outside the seeded subsets
        "Иван Петрович Сидоров",  # Cyrillic
        "Γιώργος Παπαδόπουλος",  # Greek
        "山田 太郎",  # Japanese (kanji)
        "やまだ たろう カタカナ",  # Japanese (kana)
        "王小明",  # Chinese
        "김민준",  # Korean
    ],
)
def test_names_and_descriptions_verbatim_in_every_script(name):
    doc = invoice(
        name=name,
        address=(f"{name} Straße 1",),
        lines=(line("Plan fee", "1", "10.00", "10.00"), line(f"Usage {name}", "1", "1.00", "1.00")),
    )
    text = all_text(render_invoice(doc))
    assert name in text
    assert f"{name} Straße 1" in text
    assert f"Usage {name}" in text


def test_cjk_runs_use_the_cjk_font():
    pdf = render_invoice(invoice(name="山田 太郎 김민준 王小明"))
    fonts = font_files(pdf)
    assert any("DroidSansFallback" in name for name in fonts)
    assert any("DejaVuSans" in name for name in fonts)


def test_latin_only_invoice_does_not_embed_the_cjk_font():
    fonts = font_files(render_invoice(invoice()))
    assert fonts and all("DejaVuSans" in name for name in fonts)


# ---------------------------------------------------------------- locales


def test_de_de_format():
    doc = invoice(lines=(line("Plan", "1", "1234.56", "1234.56"),))
    text = all_text(render_invoice(doc))
    assert norm(format_currency(Decimal("1234.56"), "EUR", locale="de_DE")) == "1.234,56 €"
    assert "1.234,56 €" in text


def test_ru_ru_format():
    doc = invoice(
        locale="ru_RU",
        currency="RUB",
        lines=(line("Тариф «Бизнес»", "1", "1234.56", "1234.56"),),
        tax_rate="20",
    )
    text = all_text(render_invoice(doc))
    assert "Тариф «Бизнес» 1 1 234,56 ₽ 1 234,56 ₽" in text
    assert norm(format_date(doc.issue_date, "medium", locale="ru_RU")) in text
    assert "Итого (RUB) 1 481,47 ₽" in text


def test_jpy_has_no_decimals():
    doc = invoice(
        locale="ja_JP",
        currency="JPY",
        lines=(line("ビジネス光 月額料金", "1", "1500", "1500"),),
        tax_rate="10",
    )
    text = all_text(render_invoice(doc))
    assert "￥1,500" in text
    assert "合計（JPY） ￥1,650" in text
    assert "￥1,650." not in text and "1,650.00" not in text
    assert "2026/11/01" in text


def test_unknown_locale_raises_render_error():
    with pytest.raises(RenderError) as err:
        render_invoice(invoice(locale="xx_YY"))
    assert str(err.value) == "unknown locale 'xx_YY'"
    for bad in ["", "de-DE!", "not a locale"]:
        with pytest.raises(RenderError):
            render_invoice(invoice(locale=bad))


def test_unknown_currency_raises_render_error():
    with pytest.raises(RenderError, match="unknown currency 'XXQ'"):
        render_invoice(invoice(currency="XXQ"))


def test_non_finite_amount_raises_render_error():
    doc = replace(invoice(), total=Decimal("NaN"))
    with pytest.raises(RenderError, match="total"):
        render_invoice(doc)


# ---------------------------------------------------------------- logo


def test_missing_logo_raises_render_error(tmp_path):
    missing = tmp_path / "nope.png"
    doc = invoice(seller=replace(SELLER, logo_path=str(missing)))
    with pytest.raises(RenderError) as err:
        render_invoice(doc)
    message = str(err.value)
    assert "\n" not in message
    assert "logo" in message and "nope.png" in message


def test_unreadable_logo_raises_render_error(tmp_path):
    junk = tmp_path / "logo.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(RenderError, match="not a PNG/JPEG image"):
        render_invoice(invoice(seller=replace(SELLER, logo_path=str(junk))))


@pytest.mark.parametrize(
    "filename, mode, options",
    [
        ("logo.png", "RGB", {}),
        ("logo.png", "RGBA", {}),  # alpha -> soft mask
        ("logo.png", "P", {"transparency": 0}),
        ("logo.jpg", "RGB", {"quality": 90}),
        ("big.png", "RGB", {}),  # scaled down when loaded
    ],
)
def test_logo_is_drawn(tmp_path, filename, mode, options):
    from PIL import Image

    path = tmp_path / filename
    size = (3000, 900) if filename == "big.png" else (240, 60)
    image = Image.new("RGBA", size, (29, 78, 137, 255))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 4, size[1]))
    image.convert(mode).save(path, **options)
    doc = invoice(seller=replace(SELLER, logo_path=str(path)))
    pdf = render_invoice(doc)
    assert pdf == render_invoice(doc)
    page = reader(pdf).pages[0]
    (xobject,) = page["/Resources"]["/XObject"].values()
    xobject = xobject.get_object()
    assert xobject["/Subtype"] == "/Image"
    assert max(xobject["/Width"], xobject["/Height"]) <= 1200
    assert ("/SMask" in xobject) == (mode in ("RGBA", "P"))
    assert SELLER.name in norm(page.extract_text())


# ---------------------------------------------------------------- pagination


def test_300_lines_flow_over_pages_with_header_and_page_numbers():
    lines = (line("Business Fibre 500 — monthly fee", "1", "49.90", "49.90"),) + tuple(
        line(f"Call detail {i:03d}", "3", "0.10", "0.30") for i in range(299)
    )
    texts = page_texts(render_invoice(invoice(lines=lines)))
    total = len(texts)
    assert total >= 3
    for number, text in enumerate(texts, 1):
        assert f"Seite {number} von {total}" in text
        if number < total or "Call detail" in text:
            assert "BESCHREIBUNG MENGE EINZELPREIS BETRAG" in text
    joined = "\n".join(texts)
    for i in range(299):
        assert f"Call detail {i:03d} 3 0,10 € 0,30 €" in joined
    assert "Gesamtbetrag (EUR)" in texts[-1]
    assert "Seite 1 von 3" in texts[0] or total != 3


def test_invoice_with_only_the_plan_fee_is_one_page():
    pdf = render_invoice(invoice(lines=(line("Business Fibre 500 — monthly fee", "1", "49.90", "49.90"),)))
    assert len(reader(pdf).pages) == 1
    assert "Seite 1 von 1" in page_texts(pdf)[0]


# ---------------------------------------------------------------- determinism


def test_same_document_same_bytes():
    assert render_invoice(invoice()) == render_invoice(invoice())


def test_same_bytes_in_a_fresh_process_with_another_hash_seed():
    """Workers re-render in other processes; the stored sha256 must still match."""
    code = (
        "import sys, hashlib; from tests.support.factories import invoice; "
        "from invoicing.pdf.render import render_invoice; "
        "sys.stdout.write(hashlib.sha256(render_invoice(invoice(name='Пётр 山田'))).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == hashlib.sha256(render_invoice(invoice(name="Пётр 山田"))).hexdigest()


def test_what_one_invoice_leaves_in_the_caches_never_changes_another():
    """Texts, their painted operators, shaping, amounts and subsets are shared by the
    invoices of a process: the bytes must be those of a fresh process, rendered in the
    opposite order."""
    here = [hashlib.sha256(render_invoice(mixed(i))).hexdigest() for i in range(len(MIXED))]
    code = (
        "import sys, hashlib; from tests.support.factories import mixed, MIXED; "
        "from invoicing.pdf.render import render_invoice; "
        "sys.stdout.write(' '.join(reversed([hashlib.sha256(render_invoice(mixed(i))).hexdigest() "
        "for i in reversed(range(len(MIXED)))])))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == here
    assert len(set(here)) == len(here)


def test_an_invoices_own_texts_leave_nothing_in_the_process_caches():
    """The name, the address, the number and the payment sentence are one invoice's:
    kept, they would push the shared texts out and keep the garbage collector walking
    them until they went. The labels and dates are kept, for the next invoice."""
    from invoicing.pdf import shaping, text

    name, street = "Zoë Quillfeather-Okonkwo", "Amselgrund 77b"
    number = "INV-2026-10-987654"
    pdf = render_invoice(invoice(name=name, address=(street, "99999 Nirgendwo"), number=number))
    assert name in page_texts(pdf)[0] and street in page_texts(pdf)[0]
    kept = {key[0] for key in text._texts} | {key[0] for key in text._paragraphs}
    shaped = {key[1] for key in shaping._cache}
    for own in (name, street, number):
        assert own not in kept and own not in shaped
    assert not any(number in value for value in kept | shaped)  # nor the sentence that quotes it
    assert "Rechnungsnummer" in kept and "01.11.2026" in kept


def test_different_document_different_bytes():
    assert render_invoice(invoice()) != render_invoice(invoice(name="Erika Mustermann"))
    assert render_invoice(invoice()) != render_invoice(invoice(number="INV-2026-10-000043"))


def test_concurrent_renders_match_sequential_renders():
    docs = [
        invoice(name=f"Kunde {i} {script}", number=f"INV-2026-10-{i:06d}")
        for i, script in enumerate(["Ölberg", "Пётр", "Σοφία", "山田", "김민준", "王"] * 4)
    ]
    expected = [render_invoice(doc) for doc in docs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(render_invoice, docs)) == expected


def test_the_file_is_written_by_reportlab():
    # given an invoice
    doc = invoice()
    # when it is rendered
    pdf = render_invoice(doc)
    # then the file begins as reportlab writes one and names it as its producer
    assert re.match(rb"%PDF-1\.\d\n%\x93\x8c\x8b\x9e ReportLab Generated PDF document", pdf) and str(
        reader(pdf).metadata.producer
    ).startswith("ReportLab PDF Library")


def test_metadata_and_file_id_come_from_the_invoice():
    doc = invoice()
    pdf = render_invoice(doc)
    meta = reader(pdf).metadata
    assert meta.title == doc.number
    assert meta.author == SELLER.name
    assert meta.subject == "Rechnung für 01.10.2026 – 31.10.2026"
    assert meta["/CreationDate"] == "D:20261101000000+00'00'"
    assert meta.creation_date.date() == doc.issue_date
    trailer_id = reader(pdf).trailer["/ID"]
    same = reader(render_invoice(replace(doc, name="Somebody Else"))).trailer["/ID"]
    other = reader(render_invoice(replace(doc, number="INV-2026-10-000099"))).trailer["/ID"]
    assert trailer_id == same
    assert trailer_id != other


def test_each_invoice_embeds_the_base_set_and_the_glyphs_it_draws_beyond_it():
    """Per-invoice subsets: the face's base set in every invoice, a name's letters beyond
    it in its invoice's subset and nowhere else."""
    a = font_files(render_invoice(invoice(name="Jürgen Müller", address=("Lindenallee 5",))))
    same = font_files(render_invoice(invoice(name="Anna Schmidt", address=("Lindenallee 5",))))
    b = font_files(render_invoice(invoice(name="Ωмега Ψ", address=("Lindenallee 5",))))
    assert {name.split("+")[1] for name in a} == {"DejaVuSans", "DejaVuSans-Bold"}
    assert a == same  # base glyphs only: the same subsets
    assert set(a) != set(b)  # different subsets, different tags (ISO 32000-1 §9.6.4)
    assert all(len(program) < 25_000 for program in [*a.values(), *b.values()])


# ---------------------------------------------------------------- untrusted text

ESCAPING_CORPUS = [
    "<b>bold</b>",
    '<font name="x">font</font>',
    '<img src="/etc/passwd"/>',
    "&amp; &lt; &#65; &nbsp;",
    "Tom & Jerry <tom@example.com>",
    "\"double\" and 'single' quotes",
    "back\\slash (paren) [bracket] {brace}",
    "<para><br/></para> <![CDATA[x]]> <!-- c -->",
    "%PDF-1.4 endobj stream ) Tj",
]


@pytest.mark.parametrize("text", ESCAPING_CORPUS)
def test_markup_like_text_is_printed_literally(text):
    doc = invoice(
        name=text,
        address=(text,),
        lines=(line("Plan", "1", "1.00", "1.00"), line(text, "1", "1.00", "1.00")),
    )
    extracted = all_text(render_invoice(doc)).replace("\n", " ")  # undo line wrapping
    assert extracted.count(norm(text)) >= 3  # name, address, description


def test_control_characters_and_surrogates_are_dropped():
    doc = invoice(
        name="Ann\x00a\x07 Smith\x7f",
        address=("Line\tone\nstill one", "lone \ud800surrogate \udfff here"),
        lines=(line("Plan\x1b[31m red", "1", "1.00", "1.00"),),
    )
    text = all_text(render_invoice(doc))
    assert "Anna Smith" in text
    assert "Line one still one" in text
    assert "lone surrogate here" in text
    assert "Plan[31m red" in text


def test_very_long_word_wraps_inside_the_column():
    word = "W" * 300  # the widest Latin letter
    compound = "Donaudampfschifffahrtsgesellschaftskapitänsmützen" * 6
    pdf = render_invoice(invoice(name=word, address=(compound,), lines=(line(word, "1", "1.00", "1.00"),)))
    text = all_text(pdf)
    pieces = [ln for ln in text.splitlines() if "WWW" in ln and "(continued)" not in ln]
    assert len(pieces) > 2 and all(ln.count("W") < 60 for ln in pieces)  # wrapped, not overflowing
    flat = re.sub(r"\s+", "", "\n".join(ln for ln in text.splitlines() if "(continued)" not in ln))
    assert flat.count(word) == 2  # name and description, nothing lost or cut
    assert compound in flat


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(),
    address=st.lists(st.text(), max_size=4).map(tuple),
    descriptions=st.lists(st.text(), min_size=1, max_size=5),
)
def test_arbitrary_unicode_always_renders(name, address, descriptions):
    lines = tuple(line(d, "1", "1.00", "1.00") for d in descriptions)
    pdf = render_invoice(invoice(name=name, address=address, lines=lines))
    pdf_reader = reader(pdf)
    assert len(pdf_reader.pages) >= 1
    pdf_reader.pages[0].extract_text()


def test_a_credit_note_says_what_it_credits_and_asks_for_no_payment():
    # given a credit note reversing an invoice
    original = invoice()
    note = credit_note_of(original, "CN-2026-10-000001", note="Duplicate contract")
    # when it is rendered
    text = all_text(render_invoice(note))
    # then it has its own title, names the invoice and the reason, and shows the refund
    for needle in [  # de_DE: in German
        "GUTSCHRIFT",
        "Gutschriftsnummer CN-2026-10-000001",
        "Zur Rechnung INV-2026-10-000042 vom 01.11.2026",
        "Gutschriftsdatum 01.11.2026",  # its own date, not the invoice's "Rechnungsdatum"
        "Grund Duplicate contract",
        "Gutschriftsbetrag (EUR) -64,75 €",
        "ERSTATTUNG",
        "64,75 € werden Ihrem Kundenkonto ACC-0042-7781 gutgeschrieben",
    ]:
        assert norm(needle) in text.replace("\n", " "), needle  # German values may wrap
    assert "Bitte überweisen" not in text and "IBAN" not in text and "\nRECHNUNG\n" not in text
