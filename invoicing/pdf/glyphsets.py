"""Which glyphs of a face an invoice embeds besides those it draws (embed.py): the face's
base set, in every invoice, and its script sets, each embedded whole by an invoice that
draws one of its glyphs. Both depend only on the bundled face and catalogs, so that what
an invoice embeds depends only on the glyphs it draws.

The base set: printable ASCII and Latin-1's letters for DejaVu Sans, ASCII and the
digits for a shaped face, and the signs, spaces and digits the face draws for the fixed
texts. The fixed texts are what any invoice may print besides its own data: every
translation of the catalogs, the English messages, and in each bundled language the
dates of a year, a quantity, a rate, an amount in the currency of its likely territory
and a part-month line. The script sets: the fixed texts' letters (and their shaped forms)
of one script that the same languages draw, with DejaVu Sans's letters in both cases:
Cyrillic, Greek and Latin beyond Latin-1 for DejaVu Sans (the Cyrillic letters of
Russian and Ukrainian, those of Russian only, ...); kanji, kana and hangul for Droid
Sans Fallback (a Japanese invoice does not embed the kanji only the Chinese catalogs
use); a shaped face's letters.

Deriving the sets takes half a second (every catalog, shaped in both weights), and every
process that renders needs them: CLI commands too. So they ship in fonts/glyphsets.json
(made by `python -c "from invoicing.pdf import glyphsets; glyphsets.main()"`), each
under its face's key (a digest of the font file), with a digest of the catalogs and
Babel's version: sets whose digests are not this installation's are not used, and are
derived again. A test checks that the
shipped sets are the derived ones.

Each glyph has the text it stands for when an invoice embeds it without drawing it
(or draws it for the same text): a glyph of a face drawn without shaping stands for its
cmap character (the lowest code point: U+0020, not U+00A0, for the space), whatever a
fixed text drew it for (a parenthesis mirrored on a right-to-left page); a glyph of a
shaped face for what the fixed texts drew it for (a contextual form, a split vowel sign).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import babel
from babel import Locale
from babel.core import get_global
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import get_territory_currencies

from invoicing.pdf import fonts
from invoicing.pdf.bidi import MIRROR
from invoicing.pdf.fonts import Face
from invoicing.pdf.format import Formatter
from invoicing.pdf.text import Style, Text
from invoicing.pdf.translate import DOMAIN, LOCALE_DIR, languages, pro_rata, translator

__all__ = ["GlyphSets", "glyph_sets"]

# DejaVu Sans's base set besides the fixed texts' signs: printable ASCII and the letters
# of Latin-1 (names and addresses). Not Latin-1's other signs (1.7 KB of each face's
# program in every invoice; the fixed texts bring those the bundled locales print),
# nor Latin Extended-A and -B, general punctuation or currency signs whole: each would
# add 3 to 13 KB to every invoice, and none of the 1,000 synthetic invoices draws from
# Extended-B. The catalogs' letters of Extended-A are a script set.
_BASE_RANGES = ((0x20, 0x7E), (0xA0, 0xFF))
_ASCII = ((0x20, 0x7E),)  # a shaped face's: spaces, digits, punctuation after its letters
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class GlyphSets:
    """A face's base set and script sets: glyph id -> text, and glyph ids in id order."""

    core: dict[int, str]  # the base set, in glyph order
    groups: tuple[tuple[int, ...], ...]  # the script sets, by script name
    texts: dict[int, str]  # every glyph of them: the text it stands for


_sets: dict[int, GlyphSets] = {}
_lock = threading.Lock()


SHIPPED = LOCALE_DIR.parent / "fonts" / "glyphsets.json"


def glyph_sets(face: Face) -> GlyphSets:
    """The face's sets; read or made once per process."""
    found = _sets.get(face.index)
    if found is None:
        made = _shipped().get(face.key) or _derive(face)
        with _lock:
            found = _sets.setdefault(face.index, made)
    return found


def _derive(face: Face) -> GlyphSets:
    lowest = _lowest_codes(face)
    ranges: tuple[tuple[int, int], ...] = _ASCII if face.shaped else ()
    if face in (fonts.base(fonts.REGULAR), fonts.base(fonts.BOLD)):
        ranges = _BASE_RANGES
    codes = [code for first, last in ranges for code in range(first, last + 1)]
    codes = [code for code in codes if code < 0x80 or unicodedata.category(chr(code))[0] == "L"]
    if face.shaped:  # its script's digits too (a Bengali date), drawn after its letters
        codes += sorted(code for code in face.cmap if unicodedata.category(chr(code)) == "Nd")
    core: dict[int, str] = {}
    for code in codes:
        gid = face.cmap.get(code)
        if gid is not None:
            core.setdefault(gid, chr(lowest[gid]))
    # a glyph's text: see the module's docstring
    scripts: dict[tuple[str, tuple[str, ...]], dict[int, str]] = {}
    for gid, (drawn, used) in _fixed_glyphs(face).items():
        if gid in core:
            continue
        text = chr(lowest[gid]) if gid in lowest and not face.shaped else drawn
        script = _script(text)
        if script:  # one set per script and languages that use the glyph
            scripts.setdefault((script, tuple(sorted(used))), {})[gid] = text
        else:
            core[gid] = text  # a sign, a space, a digit
    if not face.shaped:
        _other_cases(face, lowest, core, scripts)
    groups = tuple(tuple(sorted(scripts[key])) for key in sorted(scripts))
    texts = dict(core)
    for group in scripts.values():
        texts.update(group)
    return GlyphSets(dict(sorted(core.items())), groups, texts)


def _other_cases(
    face: Face,
    lowest: dict[int, int],
    core: dict[int, str],
    scripts: dict[tuple[str, tuple[str, ...]], dict[int, str]],
) -> None:
    """Each script set's letters in their other case too ("Г" beside "г", "Ł" beside
    "ł"), in the same set: names and addresses capitalise letters that the fixed texts
    draw only in lower case. Without them every Russian invoice of the synthetic mix (a
    "Г" in its address) and a third of the Ukrainian and Greek ones drew a glyph beyond
    the sets, and had a subset made for it; with them 370 of 1,500 invoices of the mix
    do instead of 514, and rendering takes 9.93 M instructions per invoice instead of
    10.37 M (callgrind, 200 invoices in a warmed process). The sets' letters cost a
    Russian file 0.2 KB, a Ukrainian one 0.4 KB, a Greek one 0.7 KB."""
    taken = set(core).union(*(group.keys() for group in scripts.values()))
    for group in scripts.values():
        for text in list(group.values()):
            for other in {text.upper(), text.lower()}:
                gid = face.cmap.get(ord(other)) if len(other) == 1 else None
                if gid is not None and gid not in taken:
                    group[gid] = chr(lowest[gid])
                    taken.add(gid)


def _script(text: str) -> str:
    """The script of the first letter or mark of `text`, from its Unicode name ("CYRILLIC",
    "CJK", "HIRAGANA", "DEVANAGARI"); "" if it has none."""
    for ch in text:
        if unicodedata.category(ch)[0] in "LM":
            return unicodedata.name(ch, "").split(" ")[0]
    return ""


def _lowest_codes(face: Face) -> dict[int, int]:
    """Glyph id -> the lowest code point the cmap maps to it."""
    lowest: dict[int, int] = {}
    for code in sorted(face.cmap):
        lowest.setdefault(face.cmap[code], code)
    return lowest


_SAMPLE_DATES = tuple(date(2026, month, 28) for month in range(1, 13))
_SAMPLE_AMOUNT = Decimal("-1234567890.25")


@lru_cache(maxsize=1)
def _fixed_texts() -> tuple[tuple[str, bool, str], ...]:
    """What every invoice in a bundled language may print besides its own data, and its
    direction: each translation of the catalogs (placeholders cut out), or the English
    messages; and, in each language's locale, the dates of a year, a quantity, a rate,
    an amount in the currency of its likely territory, and a part-month line."""
    likely = get_global("likely_subtags")
    catalogs = languages()
    found: list[tuple[str, bool, str]] = []

    def add(texts: str | tuple[str, ...] | list[str], rtl: bool, language: str) -> None:
        for text in (texts,) if isinstance(texts, str) else texts:
            found.extend((piece, rtl, language) for piece in _PLACEHOLDER.split(text) if piece.strip())

    with open(LOCALE_DIR / f"{DOMAIN}.pot", "rb") as handle:
        for message in read_po(handle):
            add(message.id or "", False, "")  # the header's id is empty
    for language in catalogs:
        with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
            catalog = read_mo(handle)
        rtl = translator(language).rtl
        for message in catalog:
            if message.id:  # not the header
                add(message.string or "", rtl, language)
        fmt = Formatter(Locale.parse(language), "XXX")
        samples = [fmt.date(day) for day in _SAMPLE_DATES]
        samples += [fmt.qty(_SAMPLE_AMOUNT), fmt.percent(Decimal("19.5"))]
        territory = Locale.parse(likely.get(language, language)).territory or "ZZ"
        samples += [
            Formatter(fmt.locale, c).money(_SAMPLE_AMOUNT) for c in get_territory_currencies(territory)[:1]
        ]
        words = translator(language)
        samples.append(pro_rata(words, "", _SAMPLE_DATES[8], _SAMPLE_DATES[9], 17, 31))  # "–" of a period
        add(samples, rtl, language)
    return tuple(found)


def _fixed_glyphs(face: Face) -> dict[int, tuple[str, set[str]]]:
    """The glyphs `face` draws for the fixed texts, in either weight, each with the first
    text it is drawn for (shaped forms and ligatures too) and the languages ("" for
    English) whose fixed texts draw it."""
    glyphs: dict[int, str] = {}
    used: dict[int, set[str]] = {}

    def add(gid: int, text: str, language: str) -> None:
        if text and not glyphs.get(gid):
            glyphs[gid] = text
        else:
            glyphs.setdefault(gid, text)
        used.setdefault(gid, set()).add(language)

    for message, rtl, language in _fixed_texts():
        for weight in (fonts.REGULAR, fonts.BOLD):
            chars, picks = fonts.choose(message, weight)
            if face.index not in picks:
                continue
            if not face.shaped:  # each character's cmap glyph (shaping.py), or its mirror's
                for ch, pick in zip(chars, picks, strict=True):
                    if pick == face.index:
                        for code in {ord(ch), ord(MIRROR.get(ch, ch)) if rtl else ord(ch)}:
                            if code in face.cmap:
                                add(face.cmap[code], chr(code), language)
                continue
            for run in Text(message, Style(font=weight), rtl=rtl).para.runs:
                if run.face == face.index:
                    for gid, text in run.shaped.glyphs.items():
                        add(gid, text, language)
    return {gid: (text, used[gid]) for gid, text in glyphs.items()}


# ------------------------------------------------------------------ shipped sets


def _inputs_digest() -> str:
    """What the sets are derived from besides the faces (whose keys, digests of their
    files, name their entries): the catalogs and Babel's version."""
    digest = hashlib.sha256(babel.__version__.encode())
    for path in sorted(LOCALE_DIR.glob(f"**/{DOMAIN}.*o*")):  # the .pot and the .mo files
        digest.update(path.relative_to(LOCALE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _to_json(sets: GlyphSets) -> dict[str, object]:
    extra = {gid: text for gid, text in sets.texts.items() if gid not in sets.core}
    return {"core": list(sets.core.items()), "groups": sets.groups, "texts": sorted(extra.items())}


def _from_json(data: dict) -> GlyphSets:
    core = {int(gid): str(text) for gid, text in data["core"]}
    texts = dict(core)
    texts.update((int(gid), str(text)) for gid, text in data["texts"])
    return GlyphSets(core, tuple(tuple(int(g) for g in group) for group in data["groups"]), texts)


def derived() -> dict[str, object]:
    """Every face's sets, derived now, as fonts/glyphsets.json holds them."""
    faces = {fonts.face(i).key: _to_json(_derive(fonts.face(i))) for i in range(fonts.face_count())}
    return {"inputs": _inputs_digest(), "faces": faces}


@lru_cache(maxsize=1)
def _shipped() -> dict[str, GlyphSets]:
    """The shipped sets by face key, if they were derived from this installation's
    faces, catalogs and Babel; otherwise none."""
    try:
        data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("inputs") != _inputs_digest():
        return {}
    return {key: _from_json(value) for key, value in data["faces"].items()}


def main() -> int:
    """Write fonts/glyphsets.json (after a change to a face, a catalog or Babel)."""
    text = json.dumps(derived(), ensure_ascii=False, separators=(",", ":"))
    SHIPPED.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {SHIPPED}", file=sys.stderr)
    return 0
