"""The e-mail's words in the subscriber's language: gettext catalogs of their own.

`locales/<language>/LC_MESSAGES/mail.po` (compiled to `mail.mo`), one per language the
invoice catalogs have (pdf/translate.py), found the same way: the mail is in the
language of the invoice it carries, whichever catalog `translator` picks for the locale.
Kept apart from the invoice's catalog: a message about e-mail never changes what an
invoice prints. Managed with Babel's tools, as `locales/README.md` says.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

from invoicing.pdf.translate import translator

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "mail"


@lru_cache(maxsize=256)
def mail_words(locale: str) -> gettext.NullTranslations:
    """The mail catalog of the invoice catalog `locale` finds; English if it has none."""
    catalog = translator(locale).catalog
    if catalog is None:
        return gettext.NullTranslations()
    path = LOCALE_DIR / catalog / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not path.is_file():
        return gettext.NullTranslations()
    with open(path, "rb") as handle:
        return gettext.GNUTranslations(handle)


def languages() -> list[str]:
    """The mail catalogs shipped."""
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
