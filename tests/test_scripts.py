"""Every script renders: shaped and bidirectional text, rendered to PNG and read back with
OCR (tesseract), extracted with pypdf and poppler, and whatever the input, an invoice.

The PNGs are kept under pytest's temporary folder (`script-pngs`) for a person to look
at; the OCR test needs Debian's tesseract-ocr and its ara, heb, hin, tha, ben, tam, jpn,
kor, chi-sim, rus and ell language packs (.ci/run installs them) and says so when they
are missing.
"""

from __future__ import annotations

import difflib
import io
import random
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from invoicing.pdf import InvoiceDocument, bidi, fonts, render_invoice
from invoicing.pdf.shaping import shape
from invoicing.pdf.text import Style, Text, clean_text
from invoicing.pdf.translate import translator
from tests.support.factories import invoice, line
from tests.support.tools import require_tool

# (tesseract language, locale, currency, name, first address line, second address line)
SCRIPTS = {
    "arabic": ("ara", "ar_SA", "SAR", "محمد عبد الله", "شارع الملك فهد 12", "الرياض 12211"),
    "hebrew": ("heb", "he_IL", "ILS", "דוד כהן", "רחוב הרצל 15", "תל אביב 6578901"),
    "hindi": ("hin", "hi_IN", "INR", "राहुल शर्मा", "महात्मा गांधी मार्ग 12", "नई दिल्ली 110001"),
    "bengali": ("ben", "bn_BD", "BDT", "রহিম উদ্দিন", "মিরপুর রোড ১২", "ঢাকা ১২০৫"),
    "thai": ("tha", "th_TH", "THB", "สมชาย ใจดี", "ถนนสุขุมวิท 123", "กรุงเทพมหานคร 10110"),
    "japanese": ("jpn", "ja_JP", "JPY", "佐藤 花子", "東京都渋谷区神南1丁目", "パークサイド渋谷305号室"),
    "korean": ("kor", "ko_KR", "KRW", "김민준", "서울특별시 강남구 테헤란로 152", "101동 1203호"),
    "chinese": ("chi_sim", "zh_CN", "CNY", "王芳", "上海市浦东新区世纪大道", "2号楼1203室"),
    "russian": ("rus", "ru_RU", "RUB", "Алексей Смирнов", "ул. Малышева, д. 15", "г. Екатеринбург"),
    "greek": ("ell", "el_GR", "EUR", "Γιώργος Παπαδόπουλος", "Ερμού 25", "105 63 Αθήνα"),
    "tamil": ("tam", "ta_LK", "LKR", "முருகன் சுப்பிரமணியம்", "கஸ்தூரியார் வீதி 12", "யாழ்ப்பாணம் 40000"),
}
_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def document(
    locale: str, currency: str, name: str, address: tuple[str, ...], **extra: object
) -> InvoiceDocument:
    fee = "990" if currency in ("JPY", "KRW") else "9.90"
    fields = {"lines": (line(f"Basic 5 GB — {name}", "1", fee, fee),), **extra}
    return invoice(
        account="S-000042",
        name=name,
        address=address,
        locale=locale,
        currency=currency,
        tax_rate="10",
        country="XX",
        **fields,
    )


def script_invoice(script: str) -> bytes:
    _, locale, currency, name, first, second = SCRIPTS[script]
    return render_invoice(document(locale, currency, name, (first, second)))


def pdftotext(pdf: bytes) -> str:
    pdftotext = require_tool("pdftotext", "poppler-utils", "the text of the rendered scripts")
    out = subprocess.run([pdftotext, "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return _MARKS.sub("", out)


def png(pdf: bytes, path: Path, dpi: int = 300) -> Path:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed: cannot render to PNG")
    pdf_path = path.with_suffix(".pdf")
    pdf_path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", "-singlefile", pdf_path, path], check=True)
    return path.with_suffix(".png")


def ocr_languages() -> set[str]:
    if shutil.which("tesseract") is None:
        return set()
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
    return set(out.stdout.split()[1:])


def similarity(expected: str, text: str) -> float:
    """How well the best stretch of `text` matches `expected`, 0..1: case and spaces
    ignored (OCR puts spaces between CJK and Thai characters, drops some, and mixes up
    Greek capitals and small letters)."""
    want = "".join(unicodedata.normalize("NFC", expected).casefold().split())
    n = len(want)
    best = 0.0
    for printed in text.splitlines():
        have = "".join(unicodedata.normalize("NFC", printed).casefold().split())
        for size in (n - 1, n, n + 1):
            for start in range(max(len(have) - size, 0) + 1):
                ratio = difflib.SequenceMatcher(
                    None, want, have[start : start + size], autojunk=False
                ).ratio()
                best = max(best, ratio)
    return best


def ocr(image: Path, language: str) -> str:
    """What tesseract reads, with the script's language and English (the seller, the
    numbers), and with the script's language alone (which reads a Cyrillic or Greek
    title in capitals better): both, one after the other."""
    from PIL import Image

    top = image.with_name(f"{image.stem}-top.png")
    with Image.open(image) as page:  # the header and the parties: the title, the name, the address
        page.crop((0, 0, page.width, page.height * 3 // 10)).save(top)
    outputs = []
    for languages in (f"{language}+eng", language):
        out = subprocess.run(
            ["tesseract", str(top), "-", "-l", languages, "--psm", "4"],
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(out.stdout)
    return "\n".join(outputs)


# ---------------------------------------------------------------------- bidi


def test_bidi_levels_agree_with_python_bidi():
    from bidi import get_display  # the Rust implementation of the whole UAX #9

    alphabet = [
        *"abc XY12 .,-+%$€()[]",
        *"אבגד",
        *"مبت",
        "٣",
        "٤",
        "\u200f",
        "\u200e",
        "\u064e",
        "\u0301",
        "  ",
    ]
    rng = random.Random(12)
    samples = ["شركة النور LLC", "רחוב הרצל 15, תל אביב", "abc (שלום) def", "\u200f49.90 \u200f₪"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))) for _ in range(5000)]
    for text in samples:
        for base in (0, 1):
            levels = bidi.levels(text, base)
            mine = "".join(text[i] for i in bidi.visual_order(levels))
            assert mine == get_display(text, base_dir="R" if base else "L"), (text, base)


def test_mixed_directions_follow_the_bidi_algorithm():
    # given an Arabic company name with a Latin suffix, and digits inside Hebrew
    arabic = Text("شركة النور LLC", Style()).lines(500)[0][0]
    hebrew = Text("רחוב הרצל 15", Style()).lines(500)[0][0]
    # then both are right-to-left paragraphs: the Latin word and the number at the left
    assert [shaped.text for shaped, _ in sorted(arabic, key=lambda piece: piece[1])][0] == "LLC"
    order = [shaped.text for shaped, _ in sorted(hebrew, key=lambda piece: piece[1])]
    assert order[0] == "15" and "רחוב" in order[-1]
    # and a Latin text keeps its direction on a right-to-left page
    latin = Text("Jürgen Müller", Style(), rtl=True).lines(500)[0][0]
    assert [shaped.text for shaped, _ in latin] == ["Jürgen Müller"]


# ------------------------------------------------------------------- shaping


def test_arabic_letters_join():
    face = fonts.face(3)  # Noto Sans Arabic
    word = "محمد"
    shaped = shape(face, word, True)
    isolated = [face.cmap[ord(ch)] for ch in reversed(word)]
    assert len(shaped.gids) == 4 and shaped.gids != tuple(isolated)  # initial, medial, final forms
    assert "".join(shaped.texts)[::-1] == word  # ToUnicode still names each letter


def test_devanagari_vowel_sign_goes_before_its_consonant():
    face = fonts.face(7)  # Noto Sans Devanagari
    shaped = shape(face, "कि", False)
    assert shaped.gids[1] == face.cmap[0x0915] and shaped.gids[0] != face.cmap[0x0915]  # ि, then क
    assert shaped.text == "कि" and "".join(shaped.texts) == "िक"  # hence ActualText (page.py)


def test_every_script_has_its_face():
    for script, (_, _, _, name, _, _) in SCRIPTS.items():
        _, picks = fonts.choose(name.replace(" ", ""), fonts.REGULAR)
        assert fonts.REPLACEMENT not in name and all(p >= 0 for p in picks), script
        faces = {fonts.face(p).name for p in picks}
        expected = {
            "arabic": "NotoSansArabic-Regular",
            "hebrew": "NotoSansHebrew-Regular",
            "hindi": "NotoSansDevanagari-Regular",
            "bengali": "NotoSansBengali-Regular",
            "thai": "NotoSansThai-Regular",
            "tamil": "NotoSansTamil-Regular",
            "japanese": "DroidSansFallback",
            "korean": "DroidSansFallback",
            "chinese": "DroidSansFallback",
            "russian": "DejaVuSans",
            "greek": "DejaVuSans",
        }[script]
        assert faces == {expected}, script


# ----------------------------------------------------------------- looked at


@pytest.fixture(scope="module")
def pngs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every script's invoice as a PNG, for people (and for OCR)."""
    folder = tmp_path_factory.mktemp("script-pngs")
    for script in SCRIPTS:
        png(script_invoice(script), folder / script)
    return folder


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_names_addresses_and_titles_read_back_with_ocr(script, pngs):
    language, locale, _, name, first, _ = SCRIPTS[script]
    available = ocr_languages()
    if not available:
        pytest.skip("tesseract not installed: apt-get install tesseract-ocr (.ci/run does)")
    if language not in available:
        pytest.skip(f"tesseract has no {language} language pack: apt-get install tesseract-ocr-{language}")
    # given the invoice of a subscriber writing in this script, rendered at 300 dpi
    image = pngs / f"{script}.png"
    # when tesseract reads it
    out = ocr(image, language)
    # then it finds the name, the first address line and the invoice's title in its language
    title = translator(locale).gettext("INVOICE")
    for expected in (name, first, title):
        assert similarity(expected, out) >= 0.8, (expected, out)


def test_ocr_tells_broken_text_from_good(pngs):
    """The measure above fails text drawn as isolated letters left to right (the old renderer)."""
    assert similarity("محمد عبد الله", "هللا دبع دمحم") < 0.5
    assert similarity("דוד כהן", "ןהכ דוד") < 0.8


def test_pngs_are_not_blank_where_the_names_are(pngs):
    from PIL import Image

    for script in SCRIPTS:
        with Image.open(pngs / f"{script}.png") as image:
            # the bill-to block: below the header, in the left or (right to left) right half
            box = image.crop((0, int(image.height * 0.15), image.width, int(image.height * 0.3)))
            dark = sum(box.convert("L").histogram()[:128])  # pixels darker than mid grey
            assert dark > 2000, script


# ---------------------------------------------------------------- extraction


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_poppler_extracts_every_script_in_reading_order(script):
    _, locale, _, name, first, second = SCRIPTS[script]
    text = pdftotext(script_invoice(script))
    if script in ("arabic", "hebrew"):  # poppler orders a right-to-left line with digits its own way
        for word in (*name.split(), *first.split(), *second.split()):
            assert word in text, word
    else:
        for expected in (name, first, second):
            assert expected in text, expected


@pytest.mark.parametrize(
    "script", ["arabic", "hebrew", "thai", "japanese", "korean", "chinese", "russian", "greek"]
)
def test_pypdf_extracts_names_verbatim(script):
    """pypdf follows ToUnicode in drawing order and puts right-to-left letters back into
    reading order itself. (In Devanagari, Bengali and Tamil a vowel sign drawn before its
    consonant comes before it: see the README.)"""
    _, _, _, name, _, _ = SCRIPTS[script]
    text = PdfReader(io.BytesIO(script_invoice(script))).pages[0].extract_text()
    assert name in text


def test_indic_extraction_keeps_every_character():
    for script in ("hindi", "bengali", "tamil"):
        _, _, _, name, _, _ = SCRIPTS[script]
        text = PdfReader(io.BytesIO(script_invoice(script))).pages[0].extract_text()
        assert any(
            sorted(line.replace(" ", "")) == sorted(name.replace(" ", "")) for line in text.splitlines()
        )


# ----------------------------------------------------------------- bad input


def test_a_character_no_face_has_is_a_visible_replacement():
    # given names with a code point no bundled face draws (an Egyptian hieroglyph, an
    # unassigned one) and with emoji
    pdf = render_invoice(document("en_US", "USD", "Ra \U00013000 \u0378 🙂 Neferet", ("1 Nile Street",)))
    # then the invoice renders, with U+FFFD in their place
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Ra � � � Neferet" in text or "Ra � � 🙂 Neferet" in text


def test_bidi_controls_cannot_reorder_the_invoice():
    # a name with an override (the "Trojan source" trick) prints as its letters, in order
    assert clean_text("abc\u202edef\u202c ghi\u2067x\u2069") == "abcdef ghix"
    pdf = render_invoice(document("en_US", "USD", "Evil\u202e 0001 \u202cCorp", ("1 Main Street",)))
    assert "Evil 0001 Corp" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_joiners_and_combining_marks_render():
    names = [
        "क्‍ष कॢ",  # ZWJ inside a Devanagari conjunct; a rare vowel sign
        "لا‌ اله",  # ZWNJ between Arabic letters
        "e\u0301\u0302\u0323 Ắ ḟ\u0307",  # stacked combining marks, not all precomposable
        "שָׁלוֹם",  # Hebrew with points
        "👩‍👩‍👧 family",  # an emoji ZWJ sequence: no face has it
    ]
    for name in names:
        pdf = render_invoice(document("en_US", "USD", name, (name,)))
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


SCRIPT_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0590, max_codepoint=0x06FF),  # Hebrew, Arabic
        st.characters(min_codepoint=0x0900, max_codepoint=0x09FF),  # Devanagari, Bengali
        st.characters(min_codepoint=0x0B80, max_codepoint=0x0BFF),  # Tamil
        st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F),  # Thai
        st.sampled_from(
            ["\u200c", "\u200d", "\u200e", "\u200f", "\u202e", "\u2067", "\ufeff", "\u0301", " "]
        ),
        st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji
        st.sampled_from(["\u0378", "\U000e0001", "\U0010fffd", "(", ")", "1", "a", "Ω", "日"]),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=SCRIPT_TEXT, address=st.lists(SCRIPT_TEXT, max_size=3), description=SCRIPT_TEXT, rtl=st.booleans()
)
def test_any_mix_of_scripts_always_renders(name, address, description, rtl):
    # given any mix of the shaped scripts, joiners, bidi controls, emoji and unassigned
    # code points, on a right-to-left (Arabic) or a left-to-right (Hindi) invoice
    doc = document(
        "ar_SA" if rtl else "hi_IN",
        "SAR" if rtl else "INR",
        name,
        tuple(address),
        lines=(line(description, "1", "1.00", "1.00"),),
    )
    # then it renders, the same way twice, and reads back
    pdf = render_invoice(doc)
    assert pdf == render_invoice(doc)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    reader.pages[0].extract_text()
