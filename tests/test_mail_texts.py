"""The e-mail's words: a mail catalog for every language the invoices speak, every
message translated with the same placeholders, the compiled catalogs those of the .po
files, and a message in each language that reads as that language's."""

from __future__ import annotations

import gettext
import re
from datetime import date
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from invoicing.delivery.message import Sender, compose
from invoicing.delivery.state import Claimed
from invoicing.delivery.texts import DOMAIN, LOCALE_DIR, languages
from invoicing.pdf.translate import languages as invoice_languages

ROOT = Path(__file__).resolve().parent.parent
_FIELD = re.compile(r"\{(\w+)\}")
SENDER = Sender("Northwind Billing", "billing@northwind.example", "")
# A locale of each catalog, as a subscriber's would be.
LOCALES = {
    "ar": "ar_EG", "bn": "bn_BD", "de": "de_DE", "de_CH": "de_CH", "el": "el_GR", "en_GB": "en_GB",
    "es": "es_ES", "fr": "fr_FR", "he": "he_IL", "hi": "hi_IN", "it": "it_IT", "ja": "ja_JP",
    "ko": "ko_KR", "nl": "nl_NL", "pl": "pl_PL", "pt": "pt_BR", "ru": "ru_RU", "sv": "sv_SE",
    "th": "th_TH", "tr": "tr_TR", "uk": "uk_UA", "zh": "zh_CN", "zh_Hant": "zh_TW",
}  # fmt: skip


def _po(language: str) -> object:
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
        return read_po(handle)


def _template_ids() -> set[str]:
    with open(LOCALE_DIR / f"{DOMAIN}.pot", "rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def _read(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _claimed(locale: str) -> Claimed:
    return Claimed(
        invoice_id=1,
        number="INV-2026-10-000001",
        recipient="someone@example.org",
        message_id="<INV-2026-10-000001@northwind.example>",
        attempts=1,
        name="Someone",
        locale=locale,
        currency="EUR",
        total=Decimal("1234.50"),
        period="2026-10",
        due_date=date(2026, 11, 15),
        pdf_path=None,
        sha256=None,
    )


def test_every_invoice_language_has_a_mail_catalog() -> None:
    assert languages() == invoice_languages()


def test_the_template_holds_every_message_of_the_code() -> None:
    # given
    found = {
        message for _, message, _, _ in extract_from_file("python", ROOT / "invoicing/delivery/message.py")
    }
    # then
    assert found == _template_ids()


@pytest.mark.parametrize("language", invoice_languages())
def test_every_mail_message_is_translated_with_its_placeholders(language: str) -> None:
    # given
    catalog = {m.id: m for m in _po(language) if m.id}  # type: ignore[attr-defined]
    # then
    assert {
        message_id: (bool(m.string.strip()), "fuzzy" in m.flags, set(_FIELD.findall(m.string)))
        for message_id, m in catalog.items()
    } == {message_id: (True, False, set(_FIELD.findall(message_id))) for message_id in _template_ids()}


@pytest.mark.parametrize("language", invoice_languages())
def test_compiled_mail_catalogs_are_those_of_the_po_files(language: str) -> None:
    # given
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    # then
    assert {m.id: compiled.gettext(m.id) for m in _po(language) if m.id} == {  # type: ignore[attr-defined]
        m.id: m.string
        for m in _po(language)  # type: ignore[attr-defined]
        if m.id
    }


@pytest.mark.parametrize("language", [lang for lang in invoice_languages() if lang != "en_GB"])
def test_a_mail_in_each_language_is_not_english(language: str) -> None:
    # given
    english = _read(compose(_claimed("en_US"), SENDER, b"%PDF-1.4\n"))
    # when
    message = _read(compose(_claimed(LOCALES[language]), SENDER, b"%PDF-1.4\n"))
    # then
    assert (
        str(message["Subject"]) != str(english["Subject"]),
        "INV-2026-10-000001" in str(message["Subject"]),
    ) == (
        True,
        True,
    )


def test_the_mail_catalogs_are_in_the_package_data() -> None:
    assert "delivery/locales/*/LC_MESSAGES/*.mo" in (ROOT / "pyproject.toml").read_text()
