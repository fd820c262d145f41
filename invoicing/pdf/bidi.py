"""The Unicode bidirectional algorithm (UAX #9) for one line of invoice text: embedding
levels, and the visual order of runs.

What an invoice needs of it, and no more: one paragraph per text (a name, an address
line, a formatted amount) with a known base direction, and no explicit embeddings,
overrides or isolates, because clean_text removes those control characters from
untrusted text (a name must not reorder what is printed around it). What remains is the
implicit algorithm: rules W1-W7, the bracket pairs of N0, N1-N2, I1-I2 and L1 for
trailing whitespace; the strong marks LRM, RLM and ALM that Babel puts into formatted
numbers take part as the strong characters they are. Boundary neutrals (BN) take the
level of what precedes them (X9). The tests check the result against python-bidi's
full implementation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["MIRROR", "has_rtl", "levels", "visual_order"]

# Characters whose presence can give a level above 0 in a left-to-right paragraph:
# strong right-to-left letters, Arabic letters and digits (R, AL, AN), and the RLM/ALM
# marks. Without one of them every level is 0 and the algorithm can be skipped.
_RTL = re.compile(
    "[\u0590-\u08ff\u200f\u061c\ufb1d-\ufdff\ufe70-\ufefe\U00010800-\U00010fff\U0001e800-\U0001efff]"
)
_STRONG = {"L": 0, "R": 1, "AL": 1}
_NEUTRAL = frozenset({"B", "S", "WS", "ON"})
# Paired brackets (Bidi_Paired_Bracket), opening -> closing; NFC has already replaced
# U+2329/U+232A by U+3008/U+3009.
_PAIRS = dict(
    zip(
        "([{༺༼᚛⁅⁽₍⌈⌊〈❨❪❬❮❰❲❴⟅⟦⟨⟪⟬⟮⦃⦅⦇⦉⦋⦍⦏⦑⦓⦕⦗⧘⧚⧼《「『【〔〖〘〚﹙﹛﹝（［｛｟｢",
        ")]}༻༽᚜⁆⁾₎⌉⌋〉❩❫❭❯❱❳❵⟆⟧⟩⟫⟭⟯⦄⦆⦈⦊⦌⦎⦐⦒⦔⦖⦘⧙⧛⧽》」』】〕〗〙〛﹚﹜﹞）］｝｠｣",
        strict=True,
    )
)
_CLOSING = {close: open_ for open_, close in _PAIRS.items()}
# Bidi_Mirroring_Glyph for the characters a face without shaping may draw at an odd
# level (HarfBuzz mirrors what it shapes itself).
MIRROR = {
    **_PAIRS,
    **_CLOSING,
    "<": ">",
    ">": "<",
    "«": "»",
    "»": "«",
    "‹": "›",
    "›": "‹",
    "≤": "≥",
    "≥": "≤",
}
_DEFAULT_R = re.compile("[\u0590-\u05ff\u07c0-\u085f\ufb1d-\ufb4f\U00010800-\U00010fff\U0001e800-\U0001efff]")


def has_rtl(text: str) -> bool:
    """Whether `text` has a character that can take it off level 0 in an LTR paragraph."""
    return _RTL.search(text) is not None


def _types(text: str) -> list[str]:
    out = []
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if not kind:  # unassigned: the default of its block
            kind = ("R" if _DEFAULT_R.match(ch) else "AL") if _RTL.match(ch) else "L"
        elif kind in ("LRE", "RLE", "LRO", "RLO", "PDF"):
            kind = "BN"  # clean_text removed these; any left are ignored (X9)
        elif kind in ("LRI", "RLI", "FSI", "PDI"):
            kind = "ON"
        out.append(kind)
    return out


def base_level(text: str, default: int = 0) -> int:
    """P2/P3: 1 if the first strong character is right-to-left, 0 if it is left-to-right,
    `default` if there is none."""
    for kind in _types(text):
        if kind in _STRONG:
            return _STRONG[kind]
    return default


_PLAIN_RTL = frozenset({"R", "AL", "NSM", "WS", "BN"})


def levels(text: str, base: int) -> list[int]:
    """The embedding level of each character of `text`, a paragraph of level `base`."""
    all_types = _types(text)
    if base == 1 and _PLAIN_RTL.issuperset(all_types):
        return [1] * len(text)  # right-to-left letters, marks and spaces only: a name, a street
    index = [i for i, kind in enumerate(all_types) if kind != "BN"]
    t = [all_types[i] for i in index]
    n = len(t)
    sos = "R" if base % 2 else "L"
    e = sos
    # W1: NSM takes the type of what precedes it.
    prev = sos
    for i in range(n):
        if t[i] == "NSM":
            t[i] = prev
        prev = t[i]
    # W2, W3
    last = sos
    for i in range(n):
        kind = t[i]
        if kind in ("L", "R", "AL"):
            last = kind
        elif kind == "EN" and last == "AL":
            t[i] = "AN"
    for i in range(n):
        if t[i] == "AL":
            t[i] = "R"
    # W4
    for i in range(1, n - 1):
        if t[i] == "ES" and t[i - 1] == "EN" and t[i + 1] == "EN":
            t[i] = "EN"
        elif t[i] == "CS" and t[i - 1] == t[i + 1] and t[i - 1] in ("EN", "AN"):
            t[i] = t[i - 1]
    # W5: ET next to EN becomes EN.
    i = 0
    while i < n:
        if t[i] == "ET":
            j = i
            while j < n and t[j] == "ET":
                j += 1
            if (i > 0 and t[i - 1] == "EN") or (j < n and t[j] == "EN"):
                t[i:j] = ["EN"] * (j - i)
            i = j
        else:
            i += 1
    # W6
    for i in range(n):
        if t[i] in ("ES", "ET", "CS"):
            t[i] = "ON"
    # W7
    last = sos
    for i in range(n):
        if t[i] in ("L", "R"):
            last = t[i]
        elif t[i] == "EN" and last == "L":
            t[i] = "L"
    _brackets(text, index, t, sos, e)
    # N1, N2: a run of neutrals between two strong types of one direction takes it,
    # else the embedding direction. EN and AN count as R.
    i = 0
    while i < n:
        if t[i] in _NEUTRAL:
            j = i
            while j < n and t[j] in _NEUTRAL:
                j += 1
            before = sos if i == 0 else ("R" if t[i - 1] in ("EN", "AN") else t[i - 1])
            after = sos if j == n else ("R" if t[j] in ("EN", "AN") else t[j])
            t[i:j] = [before if before == after else e] * (j - i)
            i = j
        else:
            i += 1
    # I1, I2
    out = [base] * len(all_types)
    for k, i in enumerate(index):
        kind = t[k]
        if base % 2 == 0:
            out[i] = base + (1 if kind == "R" else 2 if kind in ("AN", "EN") else 0)
        else:
            out[i] = base + (1 if kind in ("L", "EN", "AN") else 0)
    # X9: boundary neutrals take the level of what precedes them.
    level = base
    positions = set(index)
    for i in range(len(all_types)):
        if i in positions:
            level = out[i]
        else:
            out[i] = level
    # L1: trailing whitespace (and the boundary neutrals among it) is at the base level.
    for i in range(len(all_types) - 1, -1, -1):
        if all_types[i] in ("WS", "BN", "S", "B"):
            out[i] = base
        else:
            break
    return out


def _brackets(text: str, index: list[int], t: list[str], sos: str, e: str) -> None:
    """N0: paired brackets take the direction of what they enclose, or of their context."""
    stack: list[tuple[str, int]] = []
    pairs: list[tuple[int, int]] = []
    for k, i in enumerate(index):
        if t[k] != "ON":
            continue
        ch = text[i]
        if ch in _PAIRS:
            if len(stack) == 63:
                break
            stack.append((_PAIRS[ch], k))
        elif ch in _CLOSING:
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == ch:
                    pairs.append((stack[depth][1], k))
                    del stack[depth:]
                    break
    if not pairs:
        return
    pairs.sort()
    opposite = "L" if e == "R" else "R"

    def strong(kind: str) -> str | None:
        return "R" if kind in ("R", "EN", "AN") else "L" if kind == "L" else None

    for open_k, close_k in pairs:
        inside = {strong(t[k]) for k in range(open_k + 1, close_k)} - {None}
        if e in inside:
            new = e
        elif opposite in inside:
            context = sos
            for k in range(open_k - 1, -1, -1):
                found = strong(t[k])
                if found:
                    context = found
                    break
            new = opposite if context == opposite else e
        else:
            continue
        for k in (open_k, close_k):
            t[k] = new
            # NSMs after a bracket that changed take its type (they were ON by W1).
            j = k + 1
            while j < len(t) and unicodedata.bidirectional(text[index[j]]) == "NSM":
                t[j] = new
                j += 1


def visual_order(run_levels: Sequence[int]) -> list[int]:
    """L2: the order in which runs (or characters) of these levels appear left to right."""
    order = list(range(len(run_levels)))
    if not order:
        return order
    highest = max(run_levels)
    lowest_odd = min(level for level in run_levels) | 1
    for level in range(highest, lowest_odd - 1, -1):
        i = 0
        n = len(order)
        while i < n:
            if run_levels[order[i]] >= level:
                j = i
                while j < n and run_levels[order[j]] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return order
