"""Vietnamese text normalisation.

Three forms of the same text are used:

* display form (`clean`): NFC, invisible and control characters removed, odd spaces made plain.
  This is what is stored, shown and quoted; tone-mark placement is left as the source wrote it.
* matching form (`match_form`): lower case, one canonical tone-mark placement ("hoà" and "hòa"
  both become "hòa", "uỷ" and "ủy" both "ủy"), "Ð" (U+00D0) read as "Đ". Indexes and queries use it.
* folded form (`fold`): the matching form without any diacritics ("nghị quyết" -> "nghi quyet"),
  so a query typed without accents still matches.

Tone placement follows the "new" convention (tone on the first vowel of an open oa/oe/uy, on the
vowel carrying a circumflex, breve or horn when there is one, on the main vowel otherwise); which
convention is chosen does not matter for matching, only that both sides use the same one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Combining tone marks (dấu thanh). U+0340/U+0341 are deprecated aliases of grave/acute.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_TONE_ALIASES = {"\u0340": "\u0300", "\u0341": "\u0301"}
_VOWELS = set("aăâeêioôơuưy")
_MARKED_VOWELS = set("ăâêôơư")

_INVISIBLE = dict.fromkeys(
    [
        *range(0x0000, 0x0009),
        0x000B,
        *range(0x000E, 0x0020),
        0x007F,
        *range(0x0080, 0x00A0),
        0x00AD,  # soft hyphen
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        *range(0x200B, 0x2010),  # zero-width spaces/joiners, LRM/RLM
        *range(0x202A, 0x202F),  # bidi embedding controls
        *range(0x2060, 0x2070),  # word joiner, invisible operators, bidi isolates
        0xFEFF,
        0xFFFC,
    ]
)
_SPACES = dict.fromkeys([0x0009, 0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000, 0x1680], " ")
_NEWLINES = {0x000C: "\n", 0x2028: "\n", 0x2029: "\n", 0x0085: "\n"}
_CLEAN_TABLE: dict[int, str | None] = {**_INVISIBLE, **_SPACES, **_NEWLINES}

# A word: letters, each with the combining marks that follow it (NFC leaves a mark uncomposed when no precomposed
# letter exists, "À\u0302"; outside the word it would be left behind when the tone moves, and land elsewhere).
_WORD_RE = re.compile(r"(?:[^\W\d_][\u0300-\u036f]*)+")


def clean(text: str) -> str:
    """Return the display form: NFC, line breaks unified, invisible characters dropped.

    Idempotent. Keeps line structure ("\\n") and the source's tone-mark placement.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_CLEAN_TABLE)
    # Translating can expose sequences that compose further (a mark after a removed ZWJ).
    return unicodedata.normalize("NFC", text)


def _placement(base: str) -> int | None:
    """Index in `base` (a toneless lower-case syllable) where the tone mark belongs, or None."""
    n = len(base)
    i = 0
    if n > 2 and base[:2] in ("qu", "gi") and base[2] in _VOWELS:
        i = 2
    else:
        while i < n and base[i] not in _VOWELS:
            i += 1
    j = i
    while j < n and base[j] in _VOWELS:
        j += 1
    cluster = base[i:j]
    final = base[j:]
    if not cluster or any(c in _VOWELS for c in final) or len(cluster) > 3:
        if not cluster and base in ("gi",):
            return 1
        return None
    marked = [k for k, c in enumerate(cluster) if c in _MARKED_VOWELS]
    if marked:
        return i + marked[-1]
    if len(cluster) == 1:
        return i
    if final:
        return i + len(cluster) - 1
    if len(cluster) == 3:
        return i + 1
    return i


@lru_cache(maxsize=200_000)
def _canonical_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tones = [c for c in decomposed if c in _TONES or c in _TONE_ALIASES]
    if len(tones) != 1:
        return word
    tone = _TONE_ALIASES.get(tones[0], tones[0])
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES and c not in _TONE_ALIASES))
    pos = _placement(base.lower())
    if pos is None:
        return word
    placed = unicodedata.normalize("NFC", unicodedata.normalize("NFD", base[pos]) + tone)
    return base[:pos] + placed + base[pos + 1 :]


_HAS_TONE_RE = re.compile("[\u0300\u0301\u0303\u0309\u0323\u0340\u0341\u00c0-\u1ef9]")


def canonical_tones(text: str) -> str:
    """Move every syllable's tone mark to the canonical vowel ("hoà" -> "hòa", "uỷ" -> "ủy").

    Case is preserved; words that are not Vietnamese syllables are left as they are. Input should be
    NFC; output is NFC.
    """
    if not _HAS_TONE_RE.search(text):
        return text
    moved = _WORD_RE.sub(lambda m: _canonical_word(m.group(0)), text)
    # A second, stacked tone mark stays behind a moved one ("oà\u0300" -> "òa\u0300"); NFC composes it.
    return moved if moved.isascii() else unicodedata.normalize("NFC", moved)


def _build_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x00C0, 0x1EFA):
        ch = chr(code)
        if not ch.isalpha():
            continue
        stripped = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if stripped != ch and len(stripped) == 1 and stripped.isascii():
            table[code] = stripped
    table.update({ord("đ"): "d", ord("Đ"): "D", ord("Ð"): "D", ord("ð"): "d"})
    return table


_FOLD_TABLE = _build_fold_table()


def fold(text: str) -> str:
    """Remove all Vietnamese diacritics and read đ as d ("Nghị quyết" -> "Nghi quyet").

    Case is preserved. Input should be NFC.
    """
    folded = text.translate(_FOLD_TABLE)
    if folded.isascii():
        return folded
    # Rare: combining marks not precomposed in NFC (stacked marks, non-Vietnamese letters).
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))


_PUNCTUATION_RE = re.compile(r"[^\w\s]")


def folded_words(text: str) -> str:
    """The words of `text` folded and in lower case, punctuation dropped, one space apart ("Nhiệm vụ, giải
    pháp:" -> "nhiem vu giai phap"): for matching cue phrases and comparing short texts."""
    return " ".join(_PUNCTUATION_RE.sub(" ", fold(text).lower()).split())


def match_form(text: str) -> str:
    """Return the matching form: clean, lower case, canonical tone placement, Ð read as Đ."""
    text = clean(text).replace("Ð", "Đ").replace("ð", "đ").lower()
    return canonical_tones(text)


def has_diacritics(text: str) -> bool:
    """True when the text carries any Vietnamese diacritic (used to tell folded queries apart)."""
    return fold(text) != text
