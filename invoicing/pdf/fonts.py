"""The bundled faces, and which of them draws which character.

Faces (all in ``invoicing/pdf/fonts``, licences and sources in the README there)
    DejaVu Sans (regular, bold): Latin, Cyrillic, Greek, most signs; the base face.
    Droid Sans Fallback: Japanese, Chinese, Korean, fullwidth forms; no bold (page.py
    fakes it with a thin stroke).
    Noto Sans Arabic, Hebrew, Devanagari, Bengali, Tamil, Thai (regular, bold): the
    scripts that need shaping (joined forms, reordered vowel signs, stacked marks).

Fallback is per character (`choose`): a letter of a script that has a Noto face goes to
that face; other letters and signs to DejaVu Sans, else to Droid Sans Fallback;
spaces, punctuation, digits and combining marks stay with the face of the letter they
follow when it has them, so that a run of Arabic words is shaped as one piece. A
character no face has is drawn as U+FFFD, a visible replacement that extracts as "�".

Each face has a fixed number (`Face.index`), which is also its resource name in every
page (/F1, /F2, ...): a page's font resources then depend only on which faces it uses,
and the merged file keeps one copy of them (prelink.py). Faces load lazily, once per
process, under a lock; renders may run in threads.

HarfBuzz reads every face: its cmap, advances, names and metrics (`Face`), and embed.py
subsets it with HarfBuzz's subsetter (`Face.subset_face`).
"""

from __future__ import annotations

import hashlib
import struct
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Generic, TypeVar

import uharfbuzz as hb

__all__ = [
    "BOLD",
    "CJK",
    "FONT_DIR",
    "FaceMetrics",
    "FontError",
    "PerFace",
    "REGULAR",
    "REPLACEMENT",
    "SKIP",
    "Face",
    "base",
    "choose",
    "face",
    "face_by_key",
    "face_count",
    "face_by_name",
]

FONT_DIR = Path(__file__).resolve().parent / "fonts"
REGULAR = "regular"
BOLD = "bold"
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class _Spec:
    file: str
    script: str  # OpenType script tag for HarfBuzz; "" for faces drawn without shaping
    fake_bold: bool = False


# The order is part of the output: a face's index is its resource name on every page.
_SPECS = (
    _Spec("DejaVuSans.ttf", ""),
    _Spec("DejaVuSans-Bold.ttf", ""),
    _Spec("DroidSansFallback.ttf", "", fake_bold=True),
    _Spec("NotoSansArabic-Regular.ttf", "arab"),
    _Spec("NotoSansArabic-Bold.ttf", "arab"),
    _Spec("NotoSansHebrew-Regular.ttf", "hebr"),
    _Spec("NotoSansHebrew-Bold.ttf", "hebr"),
    _Spec("NotoSansDevanagari-Regular.ttf", "deva"),
    _Spec("NotoSansDevanagari-Bold.ttf", "deva"),
    _Spec("NotoSansBengali-Regular.ttf", "beng"),
    _Spec("NotoSansBengali-Bold.ttf", "beng"),
    _Spec("NotoSansTamil-Regular.ttf", "taml"),
    _Spec("NotoSansTamil-Bold.ttf", "taml"),
    _Spec("NotoSansThai-Regular.ttf", "thai"),
    _Spec("NotoSansThai-Bold.ttf", "thai"),
)
_BASE = (0, 1)  # regular, bold
_CJK = CJK = 2  # Droid Sans Fallback
# Code point ranges of the scripts with a face of their own: (first, last, regular face).
# The bold face is the next one.
_SCRIPT_RANGES = (
    (0x0590, 0x05FF, 5),  # Hebrew
    (0x0600, 0x06FF, 3),  # Arabic
    (0x0750, 0x077F, 3),  # Arabic Supplement
    (0x0870, 0x08FF, 3),  # Arabic Extended-A/B
    (0x0900, 0x097F, 7),  # Devanagari
    (0x0980, 0x09FF, 9),  # Bengali
    (0x0B80, 0x0BFF, 11),  # Tamil
    (0x0E00, 0x0E7F, 13),  # Thai
    (0x1CD0, 0x1CFF, 7),  # Vedic extensions (Devanagari)
    (0xA8E0, 0xA8FF, 7),  # Devanagari Extended
    (0xFB1D, 0xFB4F, 5),  # Hebrew presentation forms
    (0xFB50, 0xFDFF, 3),  # Arabic presentation forms A
    (0xFE70, 0xFEFF, 3),  # Arabic presentation forms B
    (0x11FC0, 0x11FFF, 11),  # Tamil supplement
)


class FontError(ValueError):
    """A bundled font file HarfBuzz cannot read as a TrueType face."""


class Face:
    """One bundled face, read by HarfBuzz: its cmap, its advances in 1/1000 em, the
    metrics its PDF font descriptor gives, and its HarfBuzz face and font."""

    def __init__(self, index: int, spec: _Spec):
        self.index = index
        self.file = spec.file
        self.script = spec.script
        self.shaped = bool(spec.script)
        self.fake_bold = spec.fake_bold
        data = (FONT_DIR / spec.file).read_bytes()
        self.hb_face = hb.Face(hb.Blob(data))
        self.hb_font = hb.Font(self.hb_face)  # scaled in font units
        if "glyf" not in self.hb_face.table_tags:
            raise FontError(f"{spec.file}: no TrueType outlines (glyf table)")
        self.name = _postscript_name(self.hb_face)
        # Names the exact font file: the merge rebuilds subsets only from this face.
        self.key = f"{self.name}:{hashlib.sha256(data).hexdigest()[:20]}"
        self.resource = f"F{index + 1}"
        font = self.hb_font
        nominal = font.get_nominal_glyph
        self.cmap: dict[int, int] = {
            code: gid for code in sorted(self.hb_face.unicodes) if code and (gid := nominal(code))
        }
        self.upem = self.hb_face.upem
        scale = 1000 / self.upem
        self.scale = scale
        advances = map(font.get_glyph_h_advance, range(self.hb_face.glyph_count))  # font units
        # By glyph id, and as /W writes them. The faces' 69,852 glyphs have 1,328 widths:
        # each width's number and text is made once and shared (4.5 MB less in every
        # process, a prefork worker's children included, which inherit its faces).
        self.widths = [_WIDTHS.setdefault(w, w) for w in (round(a * scale) for a in advances)]
        self.width_texts = [_width_text(w) for w in self.widths]
        self._subset_lock = threading.Lock()
        self._subsets = 0
        self._preprocessed: hb.Face | None = None

    @property
    def metrics(self) -> FaceMetrics:
        """What the PDF font descriptor says of the face, in font units."""
        return _metrics(self)

    def subset_face(self) -> hb.Face:
        """The face to give HarfBuzz's subsetter. After a few subsets, HarfBuzz's
        preprocessed face: made once (60 ms for DejaVu Sans, 0.5 s for Droid Sans
        Fallback), it makes a subset in 0.05 to 0.1 ms instead of 0.3 to 2.7 ms, with the
        same bytes. A process that renders one invoice never pays for it."""
        ready = self._preprocessed
        if ready is not None:
            return ready
        with self._subset_lock:
            self._subsets += 1
            if self._subsets <= _PLAIN_SUBSETS:
                return self.hb_face
        return self.preprocess()

    @property
    def preprocessed(self) -> bool:
        """Whether subsets are made from HarfBuzz's preprocessed face (`subset_face`)."""
        return self._preprocessed is not None

    def preprocess(self) -> hb.Face:
        """HarfBuzz's preprocessed face for subsetting, made now if it is not yet."""
        with self._subset_lock:
            if self._preprocessed is None:
                self._preprocessed = hb.subset_preprocess(self.hb_face)
            return self._preprocessed

    def __repr__(self) -> str:
        return f"<Face {self.resource} {self.name}>"


_WIDTHS: dict[int, int] = {}
_WIDTH_TEXTS: dict[int, bytes] = {}


def _width_text(width: int) -> bytes:
    text = _WIDTH_TEXTS.get(width)
    return text if text is not None else _WIDTH_TEXTS.setdefault(width, b"%d" % width)


_PLAIN_SUBSETS = 8  # subsets a face makes before it is preprocessed (Face.subset_face)


@dataclass(frozen=True)
class FaceMetrics:
    """A face's font descriptor values, in font units (ISO 32000-1 §9.8)."""

    bbox: tuple[int, int, int, int]  # head's xMin, yMin, xMax, yMax
    ascent: int  # HarfBuzz's horizontal ascender and descender (hhea's, for these faces)
    descent: int
    cap_height: int  # OS/2's; the ascender when the face has none
    italic_angle: float  # post's
    weight: int  # OS/2's weight class


@lru_cache(maxsize=32)
def _metrics(face: Face) -> FaceMetrics:
    font = face.hb_font
    # HarfBuzz has no call for head's bounding box: it is four shorts at offset 36.
    bbox = struct.unpack_from(">4h", face.hb_face.reference_table("head").data, 36)
    ascent = font.get_metric_position(hb.OTMetricsTag.HORIZONTAL_ASCENDER) or 0
    descent = font.get_metric_position(hb.OTMetricsTag.HORIZONTAL_DESCENDER) or 0
    cap_height = font.get_metric_position(hb.OTMetricsTag.CAP_HEIGHT) or ascent
    return FaceMetrics(
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
        ascent=ascent,
        descent=descent,
        cap_height=cap_height,
        italic_angle=font.get_style_value(hb.StyleTag.SLANT_ANGLE),
        weight=round(font.get_style_value(hb.StyleTag.WEIGHT)),
    )


def _postscript_name(face: hb.Face) -> str:
    """Name ID 6, as PDF's /BaseFont wants it (spaces and PDF delimiters removed)."""
    found = face.get_name(hb.OTNameIdPredefined.POSTSCRIPT_NAME) or ""
    cleaned = "".join(c for c in found if c.isascii() and c.isalnum() or c in "-_.")
    return cleaned or "Font"


_lock = threading.Lock()
_faces: list[Face | None] = [None] * len(_SPECS)


def face(index: int) -> Face:
    """The face with this index, loaded on first use."""
    loaded = _faces[index]
    if loaded is None:
        with _lock:
            loaded = _faces[index]
            if loaded is None:
                loaded = _faces[index] = Face(index, _SPECS[index])
    return loaded


T = TypeVar("T")


class PerFace(Generic[T]):
    """What a module makes of each face once per process (embed.py's base sets,
    glyph_font.py's fonts): `make(face)` on first use, under a lock, as renders run in
    threads; `clear` forgets them."""

    def __init__(self, make: Callable[[Face], T]) -> None:
        self._make = make
        self._made: dict[int, T] = {}
        self._lock = threading.Lock()

    def __call__(self, face: Face) -> T:
        hit = self._made.get(face.index)
        if hit is None:
            with self._lock:
                hit = self._made.get(face.index)
                if hit is None:
                    hit = self._made[face.index] = self._make(face)
        return hit

    def clear(self) -> None:
        self._made.clear()


def face_count() -> int:
    """How many bundled faces there are (their indexes are 0 to this, less one)."""
    return len(_SPECS)


def base(weight: str) -> Face:
    """DejaVu Sans, regular or bold."""
    return face(_BASE[weight == BOLD])


_BY_NAME = {Path(spec.file).stem: index for index, spec in enumerate(_SPECS)}  # file stem = PostScript name


def face_by_name(name: str) -> Face | None:
    """The face with this PostScript name, or None."""
    index = _BY_NAME.get(name)
    if index is None:
        return None
    found = face(index)
    return found if found.name == name else None


def face_by_key(key: str) -> Face | None:
    """The face whose `key` this is, or None (another version of the font, or none)."""
    found = face_by_name(key.split(":", 1)[0])
    return found if found is not None and found.key == key else None


_SCRIPT_CACHE: dict[int, int] = {}


def _script_face(code: int) -> int:
    """The regular face of the code point's script, or -1."""
    hit = _SCRIPT_CACHE.get(code)
    if hit is None:
        hit = -1
        for first, last, index in _SCRIPT_RANGES:
            if first <= code <= last:
                hit = index
                break
        _SCRIPT_CACHE[code] = hit
    return hit


@lru_cache(maxsize=2)
def _plain(index: int) -> frozenset[str]:
    """The characters a base face draws itself whatever surrounds them: what it has,
    less the scripts of other faces and the invisible format characters."""
    return frozenset(
        chr(code)
        for code in face(index).cmap
        if _script_face(code) < 0 and unicodedata.category(chr(code)) not in ("Cf", "Mn", "Me")
    )


_FOLLOWERS = frozenset({"Mn", "Mc", "Me", "Zs", "Nd", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Cf"})
SKIP = -1  # the face "index" of a character that is not drawn


def choose(text: str, weight: str) -> tuple[str, list[int]]:
    """Which face draws each character of `text`, in the given weight.

    Returns the text as drawn (a character no face has becomes U+FFFD) and one face index
    per character; an invisible format character (a bidi mark, a variation selector)
    that the face it would join lacks gets SKIP: it takes part in the bidi algorithm but
    is not drawn.
    """
    base_index = _BASE[weight == BOLD]
    plain = _plain(base_index)
    if plain.issuperset(text):
        return text, [base_index] * len(text)
    base_cmap = face(base_index).cmap
    bold = weight == BOLD
    chars = list(text)
    picks = [base_index] * len(chars)
    previous = -1
    for i, ch in enumerate(chars):
        code = ord(ch)
        pick = -1
        script = _script_face(code)
        if script >= 0 and code in face(script + bold).cmap:
            pick = script + bold
        elif previous >= 3:  # after a letter of a shaped script: spaces, digits, marks, joiners
            category = unicodedata.category(ch)
            if category in _FOLLOWERS and (category == "Cf" or code in face(previous).cmap):
                pick = previous
        if pick < 0:
            if unicodedata.category(ch) == "Cf":
                picks[i] = SKIP  # invisible: a bidi mark, a joiner outside a shaped run, ...
                continue
            if code in base_cmap:
                pick = base_index
            elif code in face(_CJK).cmap:
                pick = _CJK
            elif unicodedata.category(ch) == "Mn" and not unicodedata.combining(ch):
                picks[i] = SKIP  # a variation selector or grapheme joiner
                continue
            else:
                chars[i], pick = REPLACEMENT, base_index
        picks[i] = pick
        previous = pick
    return "".join(chars), picks
