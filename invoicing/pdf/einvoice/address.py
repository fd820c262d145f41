"""Printed address lines as an EN 16931 postal address (BG-5 seller, BG-8 buyer).

The documents hold addresses as printed lines. The last line that starts with a postcode
("20457 Hamburg", "A-1010 Wien", "1012 AB Amsterdam", "00-950 Warszawa") gives the
postcode and city (BT-38/BT-37, buyer BT-53/BT-52); lines before it are street lines
(BT-35, 36, 162; a fourth and later line is joined onto the third); a last line naming
the country (in English, in the document's language or in the country's own) is
dropped, the country being coded in BT-40/BT-55. With no such line all lines become
street lines, which EN 16931 accepts and XRechnung does not (BR-DE-3/4, BR-DE-8/9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, UnknownLocaleError

from invoicing.pdf.einvoice.profiles import clean

__all__ = ["PostalAddress", "postal_address"]


@dataclass(frozen=True)
class PostalAddress:
    lines: tuple[str, ...]  # at most 3: BT-35, BT-36, BT-162 (buyer: BT-50, 51, 163)
    postcode: str  # BT-38 / BT-53
    city: str  # BT-37 / BT-52
    country: str  # BT-40 / BT-55


_POSTCODE_LINE = re.compile(
    r"^(?:[A-Z]{1,3}-)?"  # "D-", "A-", "CH-" country prefixes
    r"(?P<postcode>\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2}|\d{4} ?[A-Z]{2}(?= )|\d{3,6})"
    r"\s+(?P<city>\S.*)$"
)


@lru_cache(maxsize=512)
def _country_names(country: str, locale: str) -> frozenset[str]:
    names = set()
    for tag in ("en", locale, f"und_{country}"):  # English, the reader's, the country's own
        try:
            name = Locale.parse(tag).territories.get(country)
        except (UnknownLocaleError, ValueError, TypeError):
            name = None
        if name:
            names.add(name.casefold())
    return frozenset(names | {country.casefold()})


def postal_address(lines: Sequence[str], country: str, locale: str = "en") -> PostalAddress:
    """Printed address lines -> EN 16931 postal address (see the module docstring)."""
    cleaned = [c for c in (clean(line) for line in lines) if c]
    if cleaned and cleaned[-1].casefold() in _country_names(country, locale):
        cleaned.pop()
    postcode = city = ""
    for i in range(len(cleaned) - 1, -1, -1):
        match = _POSTCODE_LINE.match(cleaned[i])
        if match:
            postcode, city = match["postcode"], match["city"].strip()
            del cleaned[i]
            break
    if len(cleaned) > 3:
        cleaned[2:] = [", ".join(cleaned[2:])]
    return PostalAddress(tuple(cleaned), postcode, city, country)
