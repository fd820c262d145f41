"""Text from outside is cleaned once and shown the same everywhere, drawn inside its box,
and never read as a formula; the widest amount a field may hold prints on one line.

Rendered invoices are read back with pypdf and poppler (`pdftotext`, whose warnings about
a bad ToUnicode entry go to stderr) and looked at as pixels (`pdftoppm`); the outputs of
a real run (the invoice, its e-invoice XML, the merged file's bookmarks, the print
manifest, the export's index) are read from the files the real commands wrote.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import unicodedata
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import uharfbuzz as hb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops
from pypdf import PdfReader
from sqlalchemy import select, update

from invoicing.billing.money import MAX_AMOUNT, minor_unit
from invoicing.db import session_scope
from invoicing.models import Subscriber
from invoicing.pdf import fonts
from invoicing.pdf.embed import parse_to_unicode, to_unicode
from invoicing.pdf.format import formatter
from invoicing.pdf.layout import BILL_TO_W, MARGIN_X, PAGE_H, ST_NAME
from invoicing.pdf.render import render_invoice
from invoicing.pdf.shaping import MAX_GLYPH_TEXT, ink_bounds, shape
from invoicing.untrusted import MAX_MARKS, clean, spreadsheet_cell
from tests.support.boxes import assert_laid_out_inside_boxes
from tests.support.einvoices import embedded_xml, seed_b2b, with_seller, xpath
from tests.support.envs import Env
from tests.support.factories import VALID_IMPORT, initialized, invoice, line
from tests.support.runs import invoices_of, run_json
from tests.support.tools import require_tool

CARD = "1234 5678 9012 3456"
BIDI_AND_INVISIBLE = (
    "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff\u00ad"
)


def pdftotext(pdf: bytes, *options: str) -> subprocess.CompletedProcess[bytes]:
    tool = require_tool("pdftotext", "poppler-utils", "the text poppler reads")
    return subprocess.run([tool, *options, "-", "-"], input=pdf, capture_output=True, check=True)


def runs_on_page(pdf: bytes) -> list[tuple[str, float, float]]:
    """(text, x, baseline y) of each text run pypdf reads on the first page."""
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            found.append((text, tm[4] + cm[4], tm[5] + cm[5]))

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return found


def first_page_png(pdf: bytes, dpi: int) -> Image.Image:
    tool = require_tool("pdftoppm", "poppler-utils", "the drawn page")
    png = subprocess.run(
        [tool, "-png", "-gray", "-r", str(dpi), "-f", "1", "-l", "1", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout
    return Image.open(io.BytesIO(png)).convert("L")


# --------------------------------------------------------------------- the cleaning


def test_an_rlm_cannot_reorder_the_digits_of_a_name() -> None:
    # given a name that starts with RIGHT-TO-LEFT MARK before card-like digits
    pdf = render_invoice(invoice(name="\u200f" + CARD))
    # when the invoice is read back
    pypdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    poppler_text = pdftotext(pdf, "-layout").stdout.decode()
    # then the digits are in the order they were given, in both readers
    assert CARD in pypdf_text and CARD in poppler_text, poppler_text[:600]


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("\u200f" + CARD, CARD),
        ("\u202eevil\u202c name", "evil name"),
        ("A\u200bnn\u2060a\ufeff M\u00fcller", "Anna Müller"),
        ("  Jo\u0308rg\tMayer\r\nStr. ", "Jörg Mayer Str."),  # NFC; whitespace controls become spaces, one
        ("tag\U000e0041\U000e0042s", "tags"),
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937"),  # Devanagari half form: ZWJ kept
        ("\U0001f469\u200d\U0001f4bb", "\U0001f469\u200d\U0001f4bb"),  # an emoji sequence
        ("a\u200d\u200d\u200c\u200db", "a\u200db"),  # a run of joiners is one
        ("x" + "\u0301" * 150, "x" + "\u0301" * MAX_MARKS),  # no precomposed x-acute
        ("\u0e01" + "\u0e48" * 150, "\u0e01" + "\u0e48" * MAX_MARKS),
        # joiners do not reset the count (one is left where the marks were cut)
        ("a" + "\u200d\u0301" * 20, "a" + "\u200d\u0301" * MAX_MARKS + "\u200d"),
    ],
)
def test_cleaning(given: str, cleaned: str) -> None:
    assert clean(given) == cleaned


@settings(max_examples=100)  # cheap examples: Hypothesis's own default count
@given(st.text(max_size=60))
def test_cleaning_is_idempotent_and_leaves_nothing_it_drops(text: str) -> None:
    # when
    once = clean(text)
    # then cleaning again changes nothing, and what is left is NFC, one line of single
    # spaces, no bidi control, no invisible format character, no more than MAX_MARKS
    # marks in a row
    assert clean(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert not set(once) & set(BIDI_AND_INVISIBLE + "\n\r\t")
    assert "  " not in once and once == once.strip(" ")
    run = 0
    for ch in once:
        if ch in "\u200c\u200d":
            continue
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        assert run <= MAX_MARKS


# ------------------------------------------------------------------ inside the box


def _diff_box(base: str, marks: str) -> tuple[float, float, float, float, float, float]:
    """Render the invoice with the name `base` and with `base + marks`; return the
    bounding box of the pixels that differ (left, top, right, bottom in points from the
    page's bottom-left), the name's baseline and the baseline of the label above it."""
    dpi = 144
    plain, marked = render_invoice(invoice(name=base)), render_invoice(invoice(name=base + marks))
    diff = ImageChops.difference(first_page_png(plain, dpi), first_page_png(marked, dpi))
    box = diff.point(lambda v: 255 if v > 24 else 0).getbbox()
    assert box is not None, "the marks drew nothing"
    runs = runs_on_page(marked)
    (baseline,) = [y for text, _, y in runs if text.startswith(base)]
    label = max(y for _, _, y in runs if y > baseline)  # "RECHNUNGSEMPFÄNGER", just above
    scale = 72 / dpi
    left, top, right, bottom = box
    return left * scale, PAGE_H - top * scale, right * scale, PAGE_H - bottom * scale, baseline, label


@pytest.mark.parametrize(
    ("base", "marks"),
    [
        ("k", "".join(chr(0x300 + i % 0x70) for i in range(150))),  # Latin: DejaVu, unshaped
        ("\u0e01", "\u0e48" * 150),  # Thai tone marks: HarfBuzz stacks them
        ("\u0e01", "\u0e34\u0e48\u0e49" * 50),
        ("\u0e01", "\u0e38" * 150),  # below the letter
        ("\u0915", "\u0901" * 150),  # Devanagari candrabindu
        ("\u05e9", "\u05b4\u05c1\u0596" * 50),  # Hebrew points and cantillation
    ],
)
def test_marks_stacked_on_one_letter_stay_inside_the_names_box(base: str, marks: str) -> None:
    # when a name of one letter and 150 combining marks is drawn
    left, top, right, bottom, baseline, label = _diff_box(base, marks)
    size = ST_NAME.size
    lowest, highest = ink_bounds(fonts.face(fonts.choose(base, ST_NAME.font)[1][0]))
    # then all it draws is within the name's box: from the left margin, not into the
    # invoice number's column, not above the highest and below the lowest the face's
    # marks may reach (shaping.ink_bounds), so never up to the label above
    slack = 1.0  # a pixel of antialiasing either way
    overhang = size / 4  # a mark centred on a narrow letter overhangs it, as in real text
    assert MARGIN_X - overhang <= left and right <= MARGIN_X + BILL_TO_W, (left, right)
    assert top <= baseline + size * highest / 1000 + slack < label, (top, baseline, label)
    assert bottom >= baseline + size * lowest / 1000 - slack, (bottom, baseline)


# Real words in the shaped scripts at their tallest and lowest: the ink bounds never move them.
REAL_TEXT = [
    "بِسْمِ ٱللَّٰهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ",  # the basmala, fully vowelled: Arabic at its tallest
    "أُمّ لَّأ إِبْرَاهِيمُ",
    "בְּרֵאשִׁ֖ית שָׁלוֹם",  # pointed and cantillated
    "ฝี่ ป๊ี ปั๊ม ญฺุ ฬี่ น้ำ",  # Thai at its tallest and lowest
    "र्किँ क्ष्म्यँ श्रीँ",
    "র্কেঁ ক্ষ্ম্যঁ",
    "ஸ்ரீ க்ஷ",
]


@pytest.mark.parametrize("text", REAL_TEXT)
def test_real_text_is_never_moved_by_the_ink_bounds(text: str) -> None:
    # given real words in a shaped script, as HarfBuzz places them
    _, picks = fonts.choose(text, "regular")
    face = fonts.face(next(pick for pick in picks if pick >= 3))
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(face.hb_font, buf, {})
    lowest, highest = ink_bounds(face)
    # then every glyph the shaper moves stays within the face's ink bounds as it is
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        extents = face.hb_font.get_glyph_extents(info.codepoint)
        if pos.y_offset and extents is not None and extents.height:
            top = (pos.y_offset + extents.y_bearing) * face.scale
            assert lowest <= top + extents.height * face.scale and top <= highest, (text, top)


@pytest.mark.parametrize(
    "name", ["x" + "\u0301" * 150, "\u0e01" + "\u0e48" * 150, "\u0e01" + "\u0e34\u0e48" * 75]
)
def test_poppler_reads_a_name_of_stacked_marks_without_a_warning(name: str) -> None:
    # when an invoice whose name is one letter and 150 marks is read by poppler
    out = pdftotext(render_invoice(invoice(name=name)))
    # then it reports no bad ToUnicode entry, and reads the letter and its marks (poppler
    # drops a glyph drawn exactly over the same one, so identical marks are not counted)
    assert out.stderr == b"", out.stderr.decode()
    read = [row for row in out.stdout.decode().splitlines() if row.startswith(name[0])]
    assert read and set(read[0]) == set(clean(name)), read


def test_every_glyph_text_is_a_valid_tounicode_entry_even_unclean() -> None:
    # given a run shaped as it comes, never cleaned: a letter and 150 Thai tone marks
    face = fonts.face(13)
    shaped = shape(face, "\u0e01" + "\u0e48\u0e49" * 75, False, False)
    # then no glyph stands for more than poppler reads into one entry
    assert all(len(text.encode("utf-16-be")) // 2 <= MAX_GLYPH_TEXT for text in shaped.texts)
    cmap = to_unicode(face, shaped.glyphs)
    assert parse_to_unicode(cmap) == {gid: text for gid, text in shaped.glyphs.items()}
    assert all(len(hexed) <= 4 * MAX_GLYPH_TEXT for hexed in re.findall(rb"<([0-9A-F]*)>", cmap))


def test_a_long_glyph_text_from_an_older_file_still_makes_a_valid_entry() -> None:
    # given a glyph text longer than one entry holds (as an invoice rendered before the
    # rule recorded it, which the merge reads back), with a character beyond the BMP
    face = fonts.face(13)
    text = "\u0e01" + "\u0e48" * 61 + "\U0001f600" + "\u0e48" * 100
    # when the CMap is written
    cmap = to_unicode(face, {42: text})
    # then the entry is cut to what a reader takes, never inside a surrogate pair
    assert parse_to_unicode(cmap) == {42: text[:62]}
    assert all(len(hexed) <= 4 * MAX_GLYPH_TEXT for hexed in re.findall(rb"<([0-9A-F]*)>", cmap))


# A figure, and text a subscriber supplies: any Unicode, marks heaped on letters included.
_MARKED = st.builds(
    lambda base, marks: base + marks,
    st.characters(categories=("L",)),
    st.text(st.characters(categories=("Mn", "Mc", "Me")), min_size=1, max_size=40),
)
_UNTRUSTED = st.one_of(st.text(max_size=80), _MARKED, st.lists(_MARKED, max_size=5).map(" ".join))
_AMOUNTS = st.decimals(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, places=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=_UNTRUSTED,
    company=_UNTRUSTED,
    address=st.lists(_UNTRUSTED, max_size=6).map(tuple),
    descriptions=st.lists(_UNTRUSTED, min_size=1, max_size=4),
    amount=_AMOUNTS,
    locale=st.sampled_from(["de_DE", "ar_SA", "th_TH", "ja_JP", "hi_IN", "he_IL"]),
)
def test_every_text_is_laid_out_inside_its_box(
    name: str, company: str, address: tuple[str, ...], descriptions: list[str], amount: Decimal, locale: str
) -> None:
    # given an invoice of arbitrary untrusted text and amounts up to the largest allowed
    lines = tuple(line(d, "1", str(amount), str(amount)) for d in descriptions)
    doc = replace(invoice(name=name, address=address, lines=lines, locale=locale), buyer_company=company)
    doc = replace(doc, subtotal=amount, tax=amount, total=amount)
    # when it is laid out, then every line of every text is within the page's margins and its box's width,
    # every glyph a shaper moved is within its face's ink bounds, and no figure wraps
    assert_laid_out_inside_boxes(doc)
    # and it renders, and pypdf reads it
    assert PdfReader(io.BytesIO(render_invoice(doc))).pages[0].extract_text()


# ------------------------------------------------------------------------ amounts


WIDEST_PRICE = Decimal("-9999999999.989999")  # ten integer digits, six decimals
CASES = [
    ("de_DE", "EUR"),
    ("en_GB", "GBP"),
    ("ja_JP", "JPY"),
    ("ar_SA", "KWD"),  # three decimals, a right-to-left page
    ("hi_IN", "INR"),  # grouped 9,99,99,99,999.99
    ("fr_FR", "XOF"),  # a long symbol, "F CFA"
    ("sv_SE", "CLF"),  # four decimals
    ("he_IL", "ILS"),
    ("zh_CN", "CNY"),
]


@pytest.mark.parametrize(("locale", "currency"), CASES)
def test_the_widest_amount_prints_on_one_line_in_every_column(locale: str, currency: str) -> None:
    # given an invoice whose every amount is the widest a field may hold
    amount = MAX_AMOUNT.quantize(minor_unit(currency), rounding="ROUND_DOWN")
    lines = (
        line("Roaming", "1", str(-WIDEST_PRICE), str(amount)),
        line("Credit", "-1", str(WIDEST_PRICE), str(-amount)),
    )
    doc = replace(
        invoice(locale=locale, currency=currency, lines=lines), subtotal=amount, tax=amount, total=amount
    )
    fmt = formatter(doc)
    # when it is rendered and read back by poppler, line by line
    text = pdftotext(render_invoice(doc)).stdout.decode()
    rows = [_spaced(row) for row in text.splitlines()]
    # then each figure is whole on one line: the unit prices, the line amounts, and the
    # total (the columns, the totals and the payment box's sentence)
    for figure in (fmt.price(-WIDEST_PRICE), fmt.price(WIDEST_PRICE), fmt.money(amount), fmt.money(-amount)):
        assert any(_number(figure) in row for row in rows), (figure, text)
    assert sum(_number(fmt.money(amount)) in row for row in rows) >= 4  # subtotal, tax, total, payment


_NUMBER = re.compile(r"\d(?:[,.' ]?\d)*")


def _spaced(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _number(figure: str) -> str:
    """The number in a formatted figure, its digits and separators (a right-to-left
    page's symbol and marks are placed differently by extractors)."""
    return max(_NUMBER.findall(_spaced(figure)), key=len)


# --------------------------------------------------------------------- one cleaning


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+2", "'=1+2"),
        ("\u200b=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),  # after a zero width space
        ("\uff1dcmd", "'\uff1dcmd"),  # a full-width equals sign
        ("\u3000@SUM(A1)", "'\u3000@SUM(A1)"),  # after an ideographic space
        ("+49 30 1234", "'+49 30 1234"),
        ("-2-3", "'-2-3"),
        ("\t=1", "'=1"),
        ("\u200c=1+2", "'\u200c=1+2"),  # after a joiner, which the cleaning keeps
        ("\u200d\u00a0@SUM(A1)", "'\u200d\u00a0@SUM(A1)"),  # a joiner and a no-break space
        ("\ufe66HYPERLINK()", "'\ufe66HYPERLINK()"),  # a small equals sign
        ("-12.50", "-12.50"),  # a credit note's total stays a number
        ("Anna Müller", "Anna Müller"),
    ],
)
def test_spreadsheet_guard(cell: str, written: str) -> None:
    assert spreadsheet_cell(cell) == written


def test_an_imported_name_is_stored_cleaned(env: Env) -> None:
    # given an import whose subscriber's name starts with RLM and hides a zero width space
    data = {
        **VALID_IMPORT,
        "subscribers": [{**VALID_IMPORT["subscribers"][0], "name": "\u200fAnna\u200b " + CARD}],
    }
    path = env.path / "dirty.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    initialized(env)
    # when it is imported through the real command
    proc = env.cli("import", str(path))
    # then the name is stored as every output shows it
    assert proc.returncode == 0, proc.stderr
    with session_scope() as session:
        assert session.scalar(select(Subscriber.name)) == "Anna " + CARD


def test_every_output_shows_the_same_cleaned_text(env: Env, tmp_path: Path) -> None:
    # given subscribers whose rows were stored before the cleaning rule: a business
    # customer with bidi controls and invisible characters in its name and company, names
    # and an account a spreadsheet would take for formulas
    with_seller(env)
    seed_b2b(env)
    dirty_name, name = "\u200fJana\u200b Brandt\u202e " + CARD, "Jana Brandt " + CARD
    dirty_company, company = "\u2066Brandt\u2060 Maschinenbau GmbH\u2069", "Brandt Maschinenbau GmbH"
    with session_scope() as session:
        for account, values in {
            "B-0001": {"name": dirty_name, "company": dirty_company},
            "A-0001": {"name": '\u200b=HYPERLINK("http://x.example")'},
            "A-0002": {"name": "\uff1d1+2"},
            "A-0003": {"account": "=SUM(1)"},
        }.items():
            session.execute(update(Subscriber).where(Subscriber.account == account).values(**values))
    # when the month is billed, merged and exported by the real commands
    summary = run_json(env, "--period", "2026-10")
    issued = {i.bill_name: i for i in invoices_of(summary["run_id"])}
    exported = tmp_path / "run.zip"
    env.cli("export", str(summary["run_id"]), "-o", str(exported), check=True)
    # then the invoice prints the cleaned name and its e-invoice carries the same text
    b2b = issued[dirty_name]
    pdf = Path(b2b.pdf_path).read_bytes()
    assert name in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    _, xml = embedded_xml(pdf)
    assert xpath(xml, "//ram:BuyerTradeParty/ram:DefinedTradeContact/ram:PersonName/text()") == [name]
    assert xpath(xml, "//ram:BuyerTradeParty/ram:Name/text()") == [company]
    # and so does its bookmark in the merged file
    titles = [item.title for item in PdfReader(summary["output"]).outline]
    assert f"{b2b.number} — {name}" in titles
    # and the export's index: the same name, and formulas guarded
    with zipfile.ZipFile(exported) as archive:
        index = {
            row["account"]: row for row in csv.DictReader(io.StringIO(archive.read("index.csv").decode()))
        }
    assert (index["B-0001"]["contact"], index["B-0001"]["company"]) == (name, company)
    assert index["A-0001"]["contact"] == '\'=HYPERLINK("http://x.example")'
    assert index["A-0002"]["contact"] == "'\uff1d1+2"
    assert "'=SUM(1)" in index
    # and the print manifest guards the account that starts like a formula
    manifest = Path(summary["output"]).with_name(f"billing-run-{summary['run_id']}-manifest.csv")
    with open(manifest, newline="", encoding="utf-8") as handle:
        accounts = [row["account"] for row in csv.DictReader(handle)]
    assert "'=SUM(1)" in accounts and "=SUM(1)" not in accounts
