"""The invoice's words in the subscriber's language: gettext catalogs made with Babel.

Every fixed word and sentence printed on an invoice (layout.py) or stored on its lines
(billing/money.py: the plan fee and the pro-rata line) is an English message looked up
in ``locales/<language>/LC_MESSAGES/invoicing.mo``. The catalogs are managed with
Babel's own tooling (``locales/README.md``: extract, update, compile); the compiled
catalogs ship in the package, and a test checks that every message has a translation in
every language and that the .mo files are those of the .po files.

A locale is looked up as language_Script_TERRITORY, language_TERRITORY, language_Script,
language (zh_TW finds zh_Hant, de_AT finds de). A language without a catalog prints the
English messages; amounts and dates still follow the locale (format.py). A page is laid
out right to left when its words are in a right-to-left language.

Pure: no reportlab, no layout, so that billing can import it.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_interval
from babel.numbers import format_decimal

__all__ = ["DOMAIN", "LOCALE_DIR", "Words", "languages", "plan_fee", "pro_rata", "translator"]

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "invoicing"


@dataclass(frozen=True)
class Words:
    """One language's messages; `locale` is the Babel locale they are formatted for."""

    catalog: str | None  # the catalog found, e.g. "de", or None (English messages)
    locale: Locale | None
    rtl: bool
    _translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        return self._translations.pgettext(context, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale) if self.locale is not None else str(value)


def languages() -> list[str]:
    """The catalogs shipped, e.g. ["ar", "bn", "de", ...]."""
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))


@lru_cache(maxsize=256)
def translator(locale: str) -> Words:
    """The words for a locale identifier such as "de_DE"; English for an unknown one."""
    try:
        parsed: Locale | None = Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        parsed = None
    for candidate in _candidates(parsed):
        path = LOCALE_DIR / candidate / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if path.is_file():
            with open(path, "rb") as handle:
                translations = gettext.GNUTranslations(handle)
            rtl = parsed is not None and parsed.character_order == "right-to-left"
            return Words(candidate, parsed, rtl, translations)
    return Words(None, parsed, False, gettext.NullTranslations())


def _candidates(locale: Locale | None) -> list[str]:
    if locale is None:
        return []
    language, script, territory = locale.language, locale.script, locale.territory
    names = []
    if script and territory:
        names.append(f"{language}_{script}_{territory}")
    if territory:
        names.append(f"{language}_{territory}")
    if script:
        names.append(f"{language}_{script}")
    names.append(language)
    return names


def plan_fee(words: Words, plan: str) -> str:
    """The line of a whole month's fee: "Basic 5 GB, monthly fee"."""
    return words.gettext("{plan}, monthly fee").format(plan=plan)


def credit_line(words: Words, number: str) -> str:
    """The line of a partial credit: "Credit on invoice INV-2026-10-000001"."""
    return words.gettext("Credit on invoice {number}").format(number=number)


def pro_rata(words: Words, plan: str, first: date, last: date, active: int, days: int) -> str:
    """The line of a part month: "Basic 5 GB, 15–31 Oct 2026 (17 of 31 days)"."""
    locale = words.locale or Locale.parse("en")
    dates = format_interval(first, last, "yMMMd", locale=locale)
    message = words.ngettext(
        "{plan}, {dates} ({active} of {days} day)", "{plan}, {dates} ({active} of {days} days)", days
    )
    return message.format(plan=plan, dates=dates, active=words.number(active), days=words.number(days))
