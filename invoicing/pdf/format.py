"""Amounts, quantities, rates and dates as the invoice's locale writes them (Babel).

Money arrives rounded to the currency's minor unit (`billing` does that); here it is
only formatted. Unit prices and quantities keep every digit they have
(``decimal_quantization=False``): a call may cost 0.0025 a minute.

Everything is cached per process: the parsed locale by its identifier, and each
formatted string by (kind, value, currency, locale). Formatting is a pure function of
those, and a nightly batch prints the same plan fees, unit prices, tax rates and dates
on thousands of invoices.

Amounts differ on every invoice, though, and Babel's `NumberPattern.apply` looks the
locale's symbols up again for each (0.1 ms, a tenth of a render). So each (kind,
currency, locale) is compiled once into a `_Pattern`: Babel's own pattern, symbols and
currency precision, applied by Babel's algorithm for plain patterns. It is used only if
it gives exactly Babel's text for a set of probe values; a pattern it cannot follow
(significant digits, exponents, currency names, quoted text) stays with Babel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
    parse_pattern,
)

from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.errors import RenderError

__all__ = ["Formatter", "formatter", "iban"]


@lru_cache(maxsize=8192)
def _format(kind: str, value: str, currency: str, locale: Locale) -> str:
    # Keyed by str(value): Decimal("1.0") == Decimal("1.00") would share a cache slot.
    number = Decimal(value)
    if kind == "percent":
        number = number / 100
    pattern = _compiled(kind, currency, locale)
    return pattern.apply(number) if pattern is not None else _babel(kind, number, currency, locale)


def _babel(kind: str, number: Decimal, currency: str, locale: Locale) -> str:
    if kind == "money":
        return format_currency(number, currency, locale=locale)
    if kind == "price":  # unit prices may be finer than the currency (0.0025 per call)
        return format_currency(number, currency, locale=locale, decimal_quantization=False)
    if kind == "qty":
        return format_decimal(number, locale=locale, decimal_quantization=False)
    return format_percent(number, locale=locale, decimal_quantization=False)


class _Pattern:
    """One kind of number in one locale (and currency), as Babel writes it."""

    __slots__ = ("decimal", "frac", "group", "grouping", "min_int", "prefix", "quantize", "scale", "suffix")

    def __init__(self, pattern: NumberPattern, kind: str, currency: str, locale: Locale) -> None:
        self.scale = pattern.scale
        self.min_int = pattern.int_prec[0]
        self.grouping = pattern.grouping
        money = kind in ("money", "price")
        self.frac = (get_currency_precision(currency),) * 2 if money else pattern.frac_prec
        self.quantize = kind == "money"  # the others keep every digit they have
        self.decimal = get_decimal_symbol(locale)
        self.group = get_group_symbol(locale)
        symbol = get_currency_symbol(currency, locale) if money else ""
        self.prefix = tuple(p.replace("¤", symbol) for p in pattern.prefix)
        self.suffix = tuple(p.replace("¤", symbol) for p in pattern.suffix)

    def apply(self, value: Decimal) -> str:
        """NumberPattern.apply for a plain pattern."""
        value = value.scaleb(self.scale)
        negative = int(value.is_signed())
        value = abs(value).normalize()
        low, high = self.frac
        if not self.quantize:
            exponent = value.as_tuple().exponent
            high = max(high, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
        whole, _, fraction = f"{value.quantize(Decimal(10) ** -high):f}".partition(".")
        if len(whole) < self.min_int:
            whole = "0" * (self.min_int - len(whole)) + whole
        size, grouped = self.grouping[0], ""
        while len(whole) > size:
            grouped = self.group + whole[-size:] + grouped
            whole = whole[:-size]
            size = self.grouping[1]
        number = whole + grouped
        fraction = (fraction or "0").ljust(low, "0")
        if high and (low or int(fraction)):
            number += self.decimal + (fraction.rstrip("0").ljust(low, "0"))
        return self.prefix[negative] + number + self.suffix[negative]


# Probes: signs, zero, rounding, grouping of 4 to 9 digits, and more digits than the currency has.
_PROBES = tuple(
    Decimal(v)
    for v in ("0", "-0", "0.5", "1", "-1", "7.25", "12.345", "-999.995", "1000", "-1234.5", "12345.678",
              "123456.7", "1234567.89", "-98765432.1", "0.0025", "3.10", "100.00", "19")
)  # fmt: skip


@lru_cache(maxsize=256)
def _compiled(kind: str, currency: str, locale: Locale) -> _Pattern | None:
    if kind in ("money", "price"):
        pattern = locale.currency_formats["standard"]
    elif kind == "qty":
        pattern = parse_pattern(locale.decimal_formats[None])
    else:
        pattern = parse_pattern(locale.percent_formats[None])
    if pattern.exp_prec or "@" in pattern.pattern or "'" in pattern.pattern or "¤¤" in pattern.pattern:
        return None
    compiled = _Pattern(pattern, kind, currency, locale)
    if any(compiled.apply(v) != _babel(kind, v, currency, locale) for v in _PROBES):
        return None
    return compiled


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
    """An IBAN in groups of four, as printed: "DE89 3704 0044 0532 0130 00" (python-stdnum's
    print format; the settings checked it, a document built otherwise is printed as given)."""
    from stdnum import iban as stdnum_iban

    return str(stdnum_iban.format(value))
