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

A credit note's labels are messages of their own (msgctxt "credit note"): the same
English words, but a term such as the German "Rechnungsdatum" names the invoice.

What CLDR already translates is not in the catalogs: a country's name (an address's last
line that names a country is printed in the page's language, `address`) and a month
(`month`, in the language's own pattern: "Sept. 2026", "2026年9月").

Pure: no reportlab, no layout, so that billing can import it.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_interval, format_skeleton
from babel.numbers import format_decimal

__all__ = [
    "CREDIT_NOTE",
    "DOMAIN",
    "LOCALE_DIR",
    "Words",
    "address",
    "languages",
    "month",
    "plan_fee",
    "pro_rata",
    "translator",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "invoicing"
CREDIT_NOTE = "credit note"  # the msgctxt of a credit note's own labels
_ENGLISH = Locale("en")


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
        return _number(value, self.locale) if self.locale is not None else str(value)


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
    dates = _interval(first, last, words.locale or Locale.parse("en"))
    message = words.ngettext(
        "{plan}, {dates} ({active} of {days} day)", "{plan}, {dates} ({active} of {days} days)", days
    )
    return message.format(plan=plan, dates=dates, active=words.number(active), days=words.number(days))


@lru_cache(maxsize=4096)
def _interval(first: date, last: date, locale: Locale) -> str:
    # A run's part months share few (first, last, language) triples: issuing 100,000
    # subscribers asked Babel 3,600 times, 0.06 ms each.
    return format_interval(first, last, "yMMMd", locale=locale)


@lru_cache(maxsize=4096)
def _number(value: int, locale: Locale) -> str:
    # The day counts of part months: issuing 100,000 subscribers formatted 7,130 of them
    # (0.19 s under cProfile), a few dozen distinct (value, language) pairs.
    return format_decimal(value, locale=locale)


def month(locale: str, day: date) -> str:
    """The month of `day` as a reader of `locale` writes it short, in the language's own
    pattern (CLDR's yMMM skeleton): "Okt. 2026", "2026年10月", "окт. 2026 г."; English's
    for a locale Babel does not know."""
    try:
        return format_skeleton("yMMM", day, locale=Locale.parse(locale))
    except (UnknownLocaleError, ValueError, TypeError):
        return format_skeleton("yMMM", day, locale=_ENGLISH)


def address(words: Words, lines: tuple[str, ...] | list[str], country: str = "") -> tuple[str, ...]:
    """Address lines as printed on a page in `words`' language: a last line that names a
    country (in English, a bundled language, or the country's own) becomes CLDR's name
    in that language ("Germany" on a Japanese page: "ドイツ"). Any other line is printed
    as it was given."""
    lines = tuple(lines)
    if not lines:
        return lines
    named = lines[-1].strip().casefold()
    code = _country_codes().get(named)
    if code is None and country and named in _own_names(country):
        code = country
    if code is None:
        return lines
    return (*lines[:-1], _country_names(words.catalog).get(code, lines[-1]))


@lru_cache(maxsize=64)
def _country_names(catalog: str | None) -> dict[str, str]:
    """CLDR's country names in a catalog's language (English for the English messages)."""
    return dict((Locale.parse(catalog) if catalog else _ENGLISH).territories)


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, str]:
    """A country's CLDR name in English and every bundled language (casefolded) -> its
    ISO code; a name two countries share in different languages is left out."""
    found: dict[str, str | None] = {}
    for language in ["en", *languages()]:
        for code, name in Locale.parse(language).territories.items():
            if len(code) == 2 and code.isalpha():
                key = name.casefold()
                found[key] = code if found.get(key, code) == code else None
    return {name: code for name, code in found.items() if code is not None}


@lru_cache(maxsize=256)
def _own_names(country: str) -> frozenset[str]:
    """The country's name in its own language(s), as CLDR has it ("Suomi" for FI)."""
    try:
        name = Locale.parse(f"und_{country}").territories.get(country)
    except (UnknownLocaleError, ValueError, TypeError):
        return frozenset()
    return frozenset({name.casefold()} if name else ())
