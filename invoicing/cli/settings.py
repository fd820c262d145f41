"""`invoicing config`: the settings in effect, as every command reads them.

Each INVOICING_* setting with its value (from the environment, a .env file or the
default), URLs with their credentials masked (`config.redact`), and which values are the
sample seller's: printed only when no INVOICING_SELLER_* is given, and then every page
says SAMPLE. Seller settings that lack a required one are shown too, then refused as
every other command refuses them (exit 2), so that this is where to see what to add.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from invoicing.cli.common import EXIT_USAGE, handle_errors, main, out, say_error


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def config_command(as_json: bool) -> None:
    """Show the settings in effect (secrets masked) and which are the sample seller's.

    With no INVOICING_SELLER_* setting the sample seller (Northwind Telecom) is used and
    every page it is on says SAMPLE; once any is given, every seller field comes from the
    settings, and a missing required one (name, address, IBAN, tax number or VAT id) is
    named here and refuses every command (exit 2).

    Example: invoicing config

    Example: invoicing config --json
    """
    from invoicing.config import MASK, SAMPLE_SELLER, ConfigError, read_settings

    settings = read_settings()
    shown = {
        _variable(name): MASK
        if "secret" in name and getattr(settings, name)
        else _shown(getattr(settings, name))
        for name in type(settings).model_fields
    }
    sample = sorted(_variable(name) for name in SAMPLE_SELLER) if settings.seller_is_sample else []
    missing = settings.seller_missing()
    if as_json:
        data = {
            "settings": shown,
            "seller": "sample" if settings.seller_is_sample else "settings",
            "sample": sample,
            "missing": missing,
        }
        out.print(json.dumps(data, ensure_ascii=False), markup=False)
    else:
        width = max(map(len, shown))
        for variable, value in shown.items():
            text = "|".join(value) if isinstance(value, list) else _text(value)
            note = "  (sample)" if variable in sample else ""
            out.print(f"{variable:<{width}}  {text}{note}", markup=False)
        if settings.seller_is_sample:
            out.print(
                "seller: the SAMPLE seller (no INVOICING_SELLER_* given); every page it is on says "
                "SAMPLE: set INVOICING_SELLER_NAME, _ADDRESS, _TAX_ID or _VAT_ID and _IBAN for real invoices",
                markup=False,
            )
        else:
            out.print("seller: from the settings", markup=False)
    try:
        settings.check_seller()
    except ConfigError as exc:  # shown above, refused as every other command refuses it
        say_error(str(exc))
        sys.exit(EXIT_USAGE)


def _variable(name: str) -> str:
    return f"INVOICING_{name.upper()}"


def _shown(value: Any) -> Any:
    """A setting as JSON holds it, a URL's credentials masked."""
    from pydantic import SecretStr

    from invoicing.config import MASK, redact

    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [redact(str(item)) if "://" in str(item) else str(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return redact(value)
    return value


def _text(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
