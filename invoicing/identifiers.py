"""VAT identifiers and Leitweg-IDs, checked once for the seller's setting, the import and
the e-invoice builder, with python-stdnum.

A VAT identifier is written with its country prefix (ISO 3166-1 alpha-2; Greece EL,
Northern Ireland XI), as EN 16931 wants it (BR-CO-9). Spaces, dots and dashes are
dropped and letters upper-cased (`compact_vat`). The check digits are verified where the
country defines them and python-stdnum knows them: every EU member state (VIES
formats), and the other countries it has a VAT number for (GB, CH, NO, ...). A prefix
without such a module (US, UA, ...) gets the format check only.

A Leitweg-ID (the routing id of German public buyers, BT-10 of an XRechnung) has a
coarse address, optional fine address and two check digits (ISO 7064 mod 97-10).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import stdnum
from babel import Locale
from stdnum.de import leitweg
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.util import clean

__all__ = ["compact_vat", "leitweg_problem", "vat_id_problem"]

_EU_PREFIXES = frozenset(c.upper() for c in eu_vat.MEMBER_STATES) | {"EL", "XI"}
_FORMAT = re.compile(r"[A-Z]{2}[0-9A-Z+*]{2,14}")


def compact_vat(value: str) -> str:
    """``"de 123.456-788"`` -> ``"DE123456788"``: python-stdnum's clean (which also reads
    a typographic dash as a dash), with any whitespace dropped."""
    return "".join(clean(value, ".-").split()).upper()


@lru_cache(maxsize=1)
def _prefixes() -> frozenset[str]:
    territories = (str(code) for code in Locale("en").territories)
    return frozenset(code for code in territories if re.fullmatch(r"[A-Z]{2}", code)) | {"EL", "XI"}


@lru_cache(maxsize=64)
def _module(prefix: str) -> Any:
    """The python-stdnum module with `validate` for the prefix's VAT numbers, or None."""
    if prefix in _EU_PREFIXES:
        return eu_vat
    try:
        return stdnum.get_cc_module(prefix.lower(), "vat")
    except ImportError:
        return None


def vat_id_problem(value: str) -> str | None:
    """What is wrong with a VAT identifier, as a phrase for a message; None when it is good."""
    compact = compact_vat(value)
    if not _FORMAT.fullmatch(compact):
        return f"{value!r} is not a VAT identifier (a country prefix such as DE, then 2-14 letters or digits)"
    prefix = compact[:2]
    if prefix not in _prefixes():
        return f"{value!r} does not start with an ISO 3166 country code (Greece: EL)"
    module = _module(prefix)
    if module is None:
        return None
    # Modules outside the EU differ in whether they expect the prefix: try with, then without.
    error: ValidationError | None = None
    for candidate in (compact, compact[2:]) if module is not eu_vat else (compact,):
        try:
            module.validate(candidate)
            return None
        except ValidationError as exc:
            error = error if isinstance(error, InvalidChecksum) else exc
    if isinstance(error, InvalidChecksum):
        return f"{value!r} has wrong check digits for a {prefix} VAT number"
    return f"{value!r} is not a valid {prefix} VAT number ({_reason(error)})"


def leitweg_problem(value: str) -> str | None:
    """What is wrong with a Leitweg-ID, or None (``"04011000-1234512345-06"``)."""
    try:
        leitweg.validate(value)
    except InvalidChecksum:
        return f"{value!r} is a Leitweg-ID with wrong check digits"
    except ValidationError as exc:
        return (
            f"{value!r} is not a Leitweg-ID ({_reason(exc)}; "
            "like 04011000-1234512345-06: coarse address, fine address, check digits)"
        )
    return None


def _reason(exc: ValidationError | None) -> str:
    text = str(exc or "").strip().rstrip(".")
    return (text[:1].lower() + text[1:]).replace("the number has an ", "").replace(
        "the number's ", ""
    ) or "format"
