"""Text from outside (a subscriber's name, company, address lines, a charge's
description, a plan's name, a buyer reference, an e-mail address): cleaned once, the
same way for every output, and guarded where a spreadsheet would read it.

`clean` is applied where such text enters (the import's text fields) and again where
an invoice's document is made (pdf/documents.py: rows stored before the rule, and any
document built elsewhere), so the page, the merged file's bookmarks, the e-invoice
XML, the CSV files and the mails all show the same text. Cleaning clean text changes
nothing (a property test checks it), so doing it twice costs only time, and little of
that: 0.1 µs a field of ASCII text, 0.6 µs a Latin or Arabic name, 5 µs a 40-character
Thai address line (long runs of letters are checked mark by mark); making a whole
document (its seller, lines and bill-to fields, every one cleaned, no cache hits) costs
7 µs for a German invoice and 23 µs for a Thai one, next to the 0.8-1.0 ms their
rendering takes: 1-2 % (measured on this project's machine).

What it does, and why:

- Line breaks, tabs and the other whitespace controls become spaces; every other
  control character, lone surrogate and non-character is dropped: a field is one line
  of plain text in every output (a CSV cell, an XML element, a bookmark). Runs of
  spaces are one space, and none leads or trails (the e-invoice's text has none either).
- The explicit bidi formatting characters are dropped: LRM, RLM, ALM (U+200E, U+200F,
  U+061C), the embeddings and overrides (U+202A-U+202E) and the isolates
  (U+2066-U+2069). Each field is laid out as a paragraph of its own, so a name needs
  none of them, and with them a name could reorder its own digits: RLM followed by
  "1234 5678 9012 3456" prints as "3456 9012 5678 1234".
- The other invisible format characters the page does not draw are dropped too: zero
  width space, word joiner and the invisible operators (U+200B, U+2060-U+2064), the
  byte-order mark, the soft hyphen, the Mongolian vowel separator, the deprecated format
  characters, interlinear annotations, the tag characters (U+E0000 block: they spell
  out ASCII that no viewer shows, a way to hide text in a field), and the Hangul
  fillers that print as nothing (U+3164, U+FFA0). Invisible text would otherwise reach
  the XML, the CSV and the bookmarks, and a leading zero width space would hide a
  formula from a spreadsheet guard that looked at the raw first character.
- ZWNJ and ZWJ (U+200C, U+200D) are kept: Persian and the Indic scripts need them to
  choose between joined and separate letter forms (Persian "می‌خواهم", Devanagari
  half forms), and emoji sequences are joined with ZWJ; HarfBuzz uses them and the page
  draws nothing for them. A run of them is one (two in a row mean nothing more) and
  they do not separate marks from their base (below). The prepended concatenation marks
  (U+0600-U+0605, U+06DD, U+070F, U+0890, U+0891, U+08E2, U+110BD, U+110CD) are
  format characters too, but visible signs: kept.
- NFC: one spelling of each character, so that "é" typed two ways is one name.
- At most `MAX_MARKS` combining marks (general category M: non-spacing, spacing and
  enclosing, variation selectors included) follow one base character; the rest are
  dropped. UAX #15's stream-safe format allows 30 non-starters; this is tighter, and
  counts the marks UAX #15 does not (Thai and Indic vowel signs are starters, canonical
  class 0, yet stack all the same). Real text needs far fewer: Vietnamese 2 after NFC,
  Thai 3 (a vowel above or below and a tone mark, then a sign), Devanagari 4 (nukta,
  vowel sign, candrabindu, a Vedic accent), pointed and cantillated Hebrew 4-5, Burmese
  6 (medials, vowel signs, tone marks, asat). A consonant and 150 marks drew a column
  of marks up through the seller's block and past the page's top edge.

`spreadsheet_cell` is the one guard of every CSV the project writes.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["MAX_MARKS", "clean", "spreadsheet_cell"]

MAX_MARKS = 8  # combining marks on one base character; see the module's docstring

_WHITESPACE = re.compile("[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_DROPPED = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # control characters (the whitespace ones became spaces first)
    "\ud800-\udfff"  # lone surrogates
    "\ufdd0-\ufdef"  # non-characters ...
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
    + "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # the explicit bidi formatting characters
    "\u00ad\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb"  # invisible format characters
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"  # ... of other scripts
    "\U000e0001\U000e0020-\U000e007f"  # tag characters
    "\u3164\uffa0"  # Hangul fillers
    "]"
)
_LONG_RUN = re.compile(f"[^\x00-\u02ff]{{{MAX_MARKS + 1},}}")  # combining marks start at U+0300
_SPACES = re.compile(" {2,}")
_JOINERS = re.compile("([\u200c\u200d])[\u200c\u200d]+")
_JOINER = frozenset("\u200c\u200d")


def clean(value: object) -> str:
    """Untrusted text -> the one cleaned form every output shows (see the module)."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable() and "  " not in text and text[:1] != " " != text[-1:]:
        return text  # nothing to do: the common case, checked in C
    return _clean(text)


@lru_cache(maxsize=4096)  # the seller's fields and the recurring descriptions, once per process
def _clean(text: str) -> str:
    # isprintable() is False for every control, format, surrogate, unassigned and
    # separator character but the space: most names skip both substitutions.
    if not text.isprintable() or "\u3164" in text or "\uffa0" in text:
        text = _DROPPED.sub("", _WHITESPACE.sub(" ", text))
    if "  " in text or text[:1] == " " or text[-1:] == " ":
        text = _SPACES.sub(" ", text).strip(" ")
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)
    if _LONG_RUN.search(text):  # only there can more than MAX_MARKS marks follow a letter
        text = _cap_marks(text)
    return _JOINERS.sub(r"\1", text) if "\u200c" in text or "\u200d" in text else text


def _cap_marks(text: str) -> str:
    """At most MAX_MARKS combining marks after each base character (a joiner neither
    counts nor starts a new base)."""
    category = unicodedata.category
    out: list[str] | None = None
    run = 0
    for i, ch in enumerate(text):
        if ch in _JOINER:
            if out is not None:
                out.append(ch)
            continue
        if ch >= "\u0300" and category(ch)[0] == "M":
            run += 1
            if run > MAX_MARKS:
                if out is None:
                    out = list(text[:i])
                continue
        else:
            run = 0
        if out is not None:
            out.append(ch)
    return text if out is None else "".join(out)


# OWASP's CSV injection advice: a cell that starts with one of these is taken for a
# formula (tab and carriage return as well: some spreadsheets skip them first).
_FORMULA_START = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def spreadsheet_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows and never runs: the cleaned text, with a
    leading apostrophe if it would start a formula. Checked after cleaning (a zero width
    space before "=" is gone) and on the NFKC form without leading spaces and format
    characters (a full-width "＝", a space, or a joiner `clean` keeps before "=" would
    start a formula in some spreadsheets, or hide one from a guard). A plain decimal
    number ("-12.50", a credit note's total) is left as it is: it is read as a number,
    never as a formula."""
    text = clean(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    if text.isascii():
        first = text.lstrip()[:1]
    else:
        probe = unicodedata.normalize("NFKC", text)
        first = next((ch for ch in probe if not ch.isspace() and unicodedata.category(ch) != "Cf"), "")
    if first in _FORMULA_START:
        return "'" + text
    return text
