"""Amounts, quantities, rates and dates as the invoice's locale writes them (Babel).

Money arrives rounded to the currency's minor unit (`billing` does that); here it is
only formatted. Unit prices and quantities keep every digit they have
(``decimal_quantization=False``): a call may cost 0.0025 a minute.

Everything is cached per process: the parsed locale by its identifier, and each
formatted string by (kind, value, currency, locale). Formatting is a pure function of
those, and a nightly batch prints the same plan fees, unit prices, tax rates and dates
on thousands of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    list_currencies,
)

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.errors import RenderError

__all__ = ["Formatter", "formatter", "iban"]


@lru_cache(maxsize=8192)
def _format(kind: str, value: str, currency: str, locale: Locale) -> str:
    # Keyed by str(value): Decimal("1.0") == Decimal("1.00") would share a cache slot.
    number = Decimal(value)
    if kind == "money":
        return format_currency(number, currency, locale=locale)
    if kind == "price":  # unit prices may be finer than the currency (0.0025 per call)
        return format_currency(number, currency, locale=locale, decimal_quantization=False)
    if kind == "qty":
        return format_decimal(number, locale=locale, decimal_quantization=False)
    return format_percent(number / 100, locale=locale, decimal_quantization=False)


@lru_cache(maxsize=1024)
def _format_date(value: date, locale: Locale) -> str:
    return format_date(value, format="medium", locale=locale)


@lru_cache(maxsize=256)
def _locale(identifier: str) -> Locale:
    # Raises for a bad identifier; lru_cache does not cache exceptions.
    return Locale.parse(identifier)


@dataclass(frozen=True)
class Formatter:
    locale: Locale
    currency: str

    def money(self, amount: Decimal) -> str:
        return _format("money", str(amount), self.currency, self.locale)

    def price(self, amount: Decimal) -> str:
        return _format("price", str(amount), self.currency, self.locale)

    def qty(self, value: Decimal) -> str:
        return _format("qty", str(value), self.currency, self.locale)

    def percent(self, rate: Decimal) -> str:
        return _format("percent", str(rate), self.currency, self.locale)

    def date(self, value: date) -> str:
        return _format_date(value, self.locale)


_CURRENCIES = frozenset(list_currencies())


def formatter(doc: InvoiceDocument) -> Formatter:
    """The formatter for the document's locale and currency; RenderError if either is unknown."""
    try:
        locale = _locale(doc.locale)
    except (UnknownLocaleError, ValueError, TypeError):  # TypeError: also an unhashable value
        raise RenderError(f"unknown locale {doc.locale!r}") from None
    if doc.currency not in _CURRENCIES:
        raise RenderError(f"unknown currency {doc.currency!r}")
    return Formatter(locale, doc.currency)


def iban(value: str) -> str:
    """An IBAN in groups of four, as printed: "DE89 3704 0044 0532 0130 00"."""
    compact = "".join(value.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
