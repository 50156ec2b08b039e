"""Legacy Vietnamese font encodings (TCVN3/ABC, VNI) found in old documents, converted to Unicode.

Old Party documents were typed with 8-bit "font encodings": the bytes are ordinary Windows text, and
only the font (.VnTime, VNI-Times ...) draws them as Vietnamese letters. Read today, such a file is
decoded as Windows-1252, Latin-1 or Windows-1258 and shows as mojibake ("NghÞ quyÕt", "Nghò quyeát").
This module recognises that mojibake and converts it back.

Interface used by the parsers: `detect_legacy(text)` names the encoding a whole document's text is
in (or None), `convert_legacy(text, encoding)` converts it (the parsers call it line by line).
`to_tcvn3` and `to_vni` go the other way, to make test data and samples.

Encodings:

* ``tcvn3``: TCVN 5712:1993 VN3, the "ABC" fonts. One byte per letter. Bytes 0x80-0xFF follow the
  standard's table: precomposed lower-case letters, Ă Â Ê Ô Ơ Ư Đ at 0xA1-0xA7, and the upper-case
  toned letters in the remaining places (0x80-0x9F and gaps of the lower-case rows). VN3 has no
  code for 12 capitals (Ú Ụ and the toned Ư and Y capitals), and the ".VnTimeH" capitals fonts draw
  the lower-case codes as capitals, so upper case is often lost in the bytes; see `convert_legacy`
  for how it is restored. Bytes 0xB0-0xB4, combining tone marks in the full VN1 set, are left as
  Latin-1 reads them (° ± ² ³ ´): keyboard drivers for the ABC fonts typed precomposed letters, and
  a degree sign is common in documents.
* ``vni``: VNI-Windows. A base letter followed by a separate diacritic character ("quyeát" = quyết);
  ơ ư đ and the i/ỵ forms are single characters. Upper case uses the upper-case diacritic characters
  ("QUYEÁT"); a mark's case is ignored and the base letter decides.

Each byte may reach us in three "views": decoded as Windows-1252, as Latin-1 (when a byte undefined
in cp1252 forced that fallback) or as Windows-1258 (which `rag.ingest.decode` picks for such files,
since TCVN3 bytes are full of cp1258's Vietnamese letters). Every view is accepted, as long as the
text has not been NFC-normalised after decoding: cp1258 turns five bytes into combining marks,
which NFC would fuse with the letter before them.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

LEGACY_ENCODINGS: tuple[str, ...] = ("tcvn3", "vni")

# --------------------------------------------------------------------------------------------------
# Byte views
# --------------------------------------------------------------------------------------------------


def _views_of(byte: int) -> set[str]:
    """The characters a byte can become when a legacy file is decoded with a Western codec."""
    found = {chr(byte)}  # Latin-1
    for codec in ("cp1252", "cp1258"):
        found.add(bytes([byte]).decode(codec, errors="ignore") or chr(byte))
    return found


# --------------------------------------------------------------------------------------------------
# TCVN3 (TCVN 5712:1993, VN3)
# --------------------------------------------------------------------------------------------------

# Bytes 0x80-0xFF, one row of 16 per line; 0xB0-0xB4 are not letters here (see the module docstring).
_TCVN3_HIGH = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "°±²³´àảãáạẲằẳẵắẴ"  # 0xB0
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
assert len(_TCVN3_HIGH) == 128

#: Byte -> Unicode for the TCVN3 letters (bytes not listed mean what Latin-1 says).
TCVN3_TABLE: dict[int, str] = {0x80 + i: ch for i, ch in enumerate(_TCVN3_HIGH) if not 0xB0 <= 0x80 + i <= 0xB4}

# Capitals VN3 has no code for. Like the .VnTimeH fonts, `to_tcvn3` writes them with the lower-case
# code; `convert_legacy` brings the capital back where the surrounding word is in capitals.
TCVN3_MISSING_CAPITALS = "ÚỤỪỨỬỮỰỲÝỶỸỴ"

# --------------------------------------------------------------------------------------------------
# VNI (VNI-Windows)
# --------------------------------------------------------------------------------------------------

_GRAVE, _ACUTE, _TILDE, _HOOK, _DOT = "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"
_CIRCUMFLEX, _BREVE = "\u0302", "\u0306"
_TONES = (_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT)  # sắc, huyền, hỏi, ngã, nặng
_TONE_SET = frozenset(_TONES)

# Letters VNI writes as one byte (lower, upper).
_VNI_SINGLES: dict[str, tuple[str, str]] = {
    "ơ": ("ô", "Ô"),
    "ư": ("ö", "Ö"),
    "đ": ("ñ", "Ñ"),
    "í": ("í", "Í"),
    "ì": ("ì", "Ì"),
    "ỉ": ("æ", "Æ"),
    "ĩ": ("ó", "Ó"),
    "ị": ("ò", "Ò"),
    "ỵ": ("î", "Î"),
}
# Diacritic characters written after a base letter, by tone in the order of `_TONES` ("" = no tone).
_VNI_TONE_MARKS = dict(zip(_TONES, "ùøûõï", strict=True))
_VNI_CIRCUMFLEX_MARKS = {"": "â", **dict(zip(_TONES, "áàåãä", strict=True))}
_VNI_BREVE_MARKS = {"": "ê", **dict(zip(_TONES, "éèúüë", strict=True))}
_VNI_TONE_BASES = "aeouyơư"
_VNI_CIRCUMFLEX_BASES = "aeo"
_VNI_BREVE_BASES = "a"


def _vni_pairs() -> dict[str, str]:
    """Every valid "base letter + VNI diacritic character" pair (either case) -> Unicode letter."""
    pairs: dict[str, str] = {}
    groups: Iterable[tuple[str, str, dict[str, str]]] = (
        (_VNI_TONE_BASES, "", _VNI_TONE_MARKS),
        (_VNI_CIRCUMFLEX_BASES, _CIRCUMFLEX, _VNI_CIRCUMFLEX_MARKS),
        (_VNI_BREVE_BASES, _BREVE, _VNI_BREVE_MARKS),
    )
    for bases, shape, marks in groups:
        for base in bases:
            for tone, mark in marks.items():
                if not shape and not tone:
                    continue
                letter = unicodedata.normalize("NFC", unicodedata.normalize("NFD", base) + shape + tone)
                for b in (base, base.upper()):
                    for m in (mark, mark.upper()):
                        pairs[b + m] = letter if b.islower() else letter.upper()
    return pairs


_VNI_PAIRS = _vni_pairs()


def _vni_byte_table() -> dict[int, str]:
    """Byte -> character after the first pass: singles become letters, marks stay Latin-1 characters."""
    table: dict[int, str] = {}
    for letter, (low, up) in _VNI_SINGLES.items():
        table[ord(low)] = letter
        table[ord(up)] = letter.upper()
    for marks in (_VNI_TONE_MARKS, _VNI_CIRCUMFLEX_MARKS, _VNI_BREVE_MARKS):
        for mark in marks.values():
            table[ord(mark)] = mark
            table[ord(mark.upper())] = mark.upper()
    return table


#: Byte -> character for the one-byte VNI letters and the diacritic characters (kept for pairing).
VNI_TABLE: dict[int, str] = _vni_byte_table()

_VNI_PAIR_RE = re.compile(
    "[" + re.escape(_VNI_TONE_BASES + _VNI_TONE_BASES.upper()) + "]"
    "[" + re.escape("".join(sorted({k[1] for k in _VNI_PAIRS}))) + "]"
)

# --------------------------------------------------------------------------------------------------
# Translation tables: any view of a byte -> what the byte means in the encoding
# --------------------------------------------------------------------------------------------------


def _view_table(byte_table: dict[int, str]) -> dict[int, str]:
    """A `str.translate` table taking every view of every byte to its meaning in one encoding.

    Bytes the encoding leaves alone are still mapped when a view garbles them: a cp1258-only character
    goes back to its Latin-1/cp1252 form, and a C1 control (the Latin-1 view of 0x80-0x9F) to the
    cp1252 punctuation it stands for, so "“" survives a Latin-1 fallback.
    """
    table: dict[int, str] = {}
    for byte in range(0x80, 0x100):
        plain = bytes([byte]).decode("cp1252", errors="ignore") or chr(byte)
        meaning = byte_table.get(byte, plain)
        for view in _views_of(byte):
            if view != meaning:
                previous = table.setdefault(ord(view), meaning)
                assert previous == meaning, f"view {view!r} of byte {byte:#x} is ambiguous"
    return table


_TCVN3_TRANSLATE = _view_table(TCVN3_TABLE)
_VNI_TRANSLATE = _view_table(VNI_TABLE)

# Characters that no byte view produces but Unicode Vietnamese uses: a line holding one is Unicode
# already (a document mixing legacy and Unicode fonts) and is left alone.
_UNICODE_ONLY_RE = re.compile("[\u0128\u0129\u0168\u0169\u1ea0-\u1ef9]")

# --------------------------------------------------------------------------------------------------
# Upper case lost by TCVN3
# --------------------------------------------------------------------------------------------------

_LOWER_TONED = "".join(
    unicodedata.normalize("NFC", unicodedata.normalize("NFD", v) + t) for v in "aăâeêioôơuưy" for t in _TONES
)
_LOWER_TONED_SET = frozenset(_LOWER_TONED)
_UPPER = "A-ZĂÂÊÔƠƯĐ" + _LOWER_TONED.upper()
_WORD_RE = re.compile(r"[^\W\d_]+")
_UPPER_VI = "ĂÂÊÔƠƯĐ" + _LOWER_TONED.upper()
# What every word needing a fix, and every line in capitals, contains: a toned lower-case letter before
# a capital ("ảN", "ủY"), after two capitals ("CHỉ"), or two capitals one of them Vietnamese ("CỦ").
# Ordinary text, abbreviations such as "CT/TU" included, has none: a cheap scan spares it the word check.
_CAPS_GATE_RE = re.compile(
    f"[{_LOWER_TONED}][{_UPPER}]|[{_UPPER}][{_UPPER}][{_LOWER_TONED}]|[{_UPPER_VI}][{_UPPER}]|[{_UPPER}][{_UPPER_VI}]"
)


def _capsish(word: str) -> bool:
    """Every lower-case letter of the word is a toned one, which TCVN3 may have had to write in lower case."""
    return all(not c.islower() or c in _LOWER_TONED_SET for c in word)


def _restore_line_caps(line: str) -> str:
    """Upper-case the toned letters of words (or a whole line) written in capitals."""
    words = list(_WORD_RE.finditer(line))
    # Words plainly in capitals yet holding a lower-case toned letter: "ĐảNG", "CHỉ", "NộI", "ủY".
    fix = {
        m.start() for m in words if _capsish(m.group()) and not m.group().isupper() and _CAPS_GATE_RE.search(m.group())
    }
    # A line with no plain lower-case letter, with a word in capitals that is Vietnamese rather than an
    # abbreviation ("CỦA", "THÀNH", not "CT/TU"), is a line in capitals: "Vụ", "Hà", "ở" are capitals too.
    if all(_capsish(m.group()) for m in words) and any(
        m.start() in fix or (len(m.group()) > 1 and m.group().isupper() and not m.group().isascii()) for m in words
    ):
        fix.update(m.start() for m in words)
    if not fix:
        return line
    out: list[str] = []
    last = 0
    for m in words:
        if m.start() in fix:
            out.append(line[last : m.start()])
            out.append(m.group().upper())
            last = m.end()
    out.append(line[last:])
    return "".join(out)


def _restore_caps(text: str) -> str:
    if not _CAPS_GATE_RE.search(text):
        return text
    return "\n".join(_restore_line_caps(line) if _CAPS_GATE_RE.search(line) else line for line in text.split("\n"))


# --------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------


def _charmap(translate: dict[int, str]) -> str:
    """The 256-character decoding table (byte -> meaning) equivalent to a view table."""
    chars = []
    for byte in range(256):
        plain = bytes([byte]).decode("cp1252", errors="ignore") or chr(byte)
        chars.append(translate.get(ord(plain), plain))
    return "".join(chars)


_TCVN3_CHARMAP = _charmap(_TCVN3_TRANSLATE)
_VNI_CHARMAP = _charmap(_VNI_TRANSLATE)


def _tcvn3_caps_classes() -> bytes:
    """TCVN3 bytes classed for the capitals gate: l = toned lower case, U = capital, x = other."""
    classes = bytearray(b"x" * 256)
    for byte in range(256):
        ch = _TCVN3_CHARMAP[byte]
        if ch in _LOWER_TONED_SET:
            classes[byte] = ord("l")
        elif ch.isupper():
            classes[byte] = ord("U" if byte < 0x80 else "V")
    return bytes(classes)


_TCVN3_CAPS_CLASSES = _tcvn3_caps_classes()
# The byte-level twin of `_CAPS_GATE_RE` (V = a Vietnamese capital): a few substring searches on
# classed bytes run much faster than the regex over the text.
_TCVN3_CAPS_PATTERNS = (b"lU", b"lV", b"UUl", b"UV", b"VU", b"VV")


def _as_bytes(text: str) -> bytes | None:
    """The legacy bytes behind a text decoded with one codec, or None for a mixture of views."""
    # A text decoded with one codec encodes back to the very bytes with it, and any codec that
    # succeeds gives the same bytes: the views agree wherever two of them can write a character.
    for codec in ("latin-1", "cp1252", "cp1258"):
        try:
            return text.encode(codec)
        except UnicodeEncodeError:
            continue
    return None


def _vni_pair(match: re.Match[str]) -> str:
    pair = match.group()
    # A diacritic character on a letter that does not take it stays as it is.
    return _VNI_PAIRS.get(pair, pair)


def _convert_raw(text: str, encoding: str, data: bytes | None = None) -> str:
    """Convert without the Unicode-line guard, case restoration or NFC (used by detection too)."""
    if data is None:
        data = _as_bytes(text)
    # charmap_decode on the bytes runs some 20 times faster than str.translate on the text.
    if data is not None:
        text = codecs.charmap_decode(data, "strict", _TCVN3_CHARMAP if encoding == "tcvn3" else _VNI_CHARMAP)[0]
    else:
        text = text.translate(_TCVN3_TRANSLATE if encoding == "tcvn3" else _VNI_TRANSLATE)
    return text if encoding == "tcvn3" else _VNI_PAIR_RE.sub(_vni_pair, text)


def _convert_clean(text: str, encoding: str) -> str:
    data = _as_bytes(text)
    out = _convert_raw(text, encoding, data)
    if encoding != "tcvn3":
        return out
    if data is not None:
        classes = data.translate(_TCVN3_CAPS_CLASSES)
        if not any(pattern in classes for pattern in _TCVN3_CAPS_PATTERNS):
            return out
    return _restore_caps(out)


def convert_legacy(text: str, encoding: str, *, capitals: bool = False) -> str:
    """Convert legacy-font text to Unicode (NFC).

    TCVN3 often stores capitals with lower-case codes (VN3 lacks 12 capitals; the ".VnTimeH" fonts
    draw every lower-case code as a capital). A word written in capitals keeps its unmistakable capitals
    ("NGHÞ" -> "NGHị"), so such words, and lines wholly in capitals, are upper-cased ("NGHỊ"). A lone
    capital ("Ủy ban" typed as "ñy ban") cannot be told apart and stays lower case.

    Lines holding letters that no legacy byte can produce (ạ, ế, ũ ...) are already Unicode and are
    returned unchanged.

    Args:
        text: the text as decoded with Windows-1252, Latin-1 or Windows-1258 (not NFC-normalised).
        encoding: one of `LEGACY_ENCODINGS`.
        capitals: the text was typed in a TCVN3 capitals font (.VnTimeH, .VnArialH ...): every letter
            is a capital. Parsers that see font names (DOCX) can pass it.

    Returns:
        The Unicode text, NFC.

    Raises:
        ValueError: if the encoding is not one of `LEGACY_ENCODINGS`.
    """
    if encoding not in LEGACY_ENCODINGS:
        raise ValueError(f"unknown legacy encoding {encoding!r}; expected one of {LEGACY_ENCODINGS}")
    if _UNICODE_ONLY_RE.search(text) is None:
        out = _convert_clean(text, encoding)
    else:
        out = "".join(
            line if _UNICODE_ONLY_RE.search(line) else _convert_clean(line, encoding)
            for line in text.splitlines(keepends=True)
        )
    if capitals:
        out = out.upper()
    if not unicodedata.is_normalized("NFC", out):
        out = unicodedata.normalize("NFC", out)
    return out


# --------------------------------------------------------------------------------------------------
# Vietnamese syllables (what detection counts)
# --------------------------------------------------------------------------------------------------

_ONSETS = (
    "",
    "b",
    "c",
    "ch",
    "d",
    "đ",
    "g",
    "gh",
    "gi",
    "h",
    "k",
    "kh",
    "l",
    "m",
    "n",
    "ng",
    "ngh",
    "nh",
    "p",
    "ph",
    "qu",
    "r",
    "s",
    "t",
    "th",
    "tr",
    "v",
    "x",
)
# Vowel nucleus -> the endings it takes ("-" = none; i/y/o/u/a endings are the off-glides).
_NUCLEI: dict[str, str] = {
    "a": "- c ch m n ng nh p t i o u y",
    "ă": "c m n ng p t",
    "â": "c m n ng p t u y",
    "e": "- c m n ng p t o",
    "ê": "- ch m n nh p t u",
    "i": "- a ch m n nh p t u",
    "iê": "c m n ng p t u",
    "yê": "m n ng p t u",
    "o": "- c m n ng p t i",
    "oo": "c ng",
    "ô": "- c m n ng p t i",
    "ơ": "- m n p t i",
    "u": "- a c m n ng p t i",
    "uô": "c m n ng t i",
    "ư": "- a c m n ng t i u",
    "ươ": "c m n ng p t i u",
    "y": "-",
    "oa": "- c ch m n ng nh p t i y",
    "oă": "c m n ng t",
    "oe": "- n t o",
    "uâ": "n ng t y",
    "uê": "- ch n nh t",
    "uơ": "-",
    "uy": "- a ch n nh p t u",
    "uyê": "n t",
}
_STOPS = ("c", "ch", "p", "t")


def _onset_allows(onset: str, rhyme: str) -> bool:
    """Spelling rules tying the first consonant to the vowel after it."""
    first = rhyme[0]
    front = first in "ieêy"
    if onset in ("k", "gh", "ngh"):
        return first in "ieê" or (onset == "k" and first == "y")
    if onset in ("c", "ng"):
        return not front
    if onset == "g":
        return first not in "eêy"  # "gì", "giếng" are g + i...
    if onset == "qu":
        return first in "aăâeêiyơô"
    if onset == "":
        return not rhyme.startswith("iê")  # written "yê" at the start of a word
    return not rhyme.startswith("yê") and not (first == "y" and rhyme != "y")


def _syllables() -> dict[str, frozenset[int]]:
    """Toneless syllable -> positions its tone mark may take (the vowels of the nucleus)."""
    places: dict[str, set[int]] = {}

    def add(onset: str, nucleus: str, end: str) -> None:
        start = len(onset)
        places.setdefault(onset + nucleus + end, set()).update(range(start, start + len(nucleus)))

    for nucleus, ends in _NUCLEI.items():
        for end in ends.split():
            end = "" if end == "-" else end
            for onset in _ONSETS:
                if _onset_allows(onset, nucleus + end):
                    add(onset, nucleus, end)
    # After "qu" the medial u is in the onset: "quy", "quýt", "quyết", "quỳnh".
    for nucleus, end in (("y", "ch"), ("y", "n"), ("y", "nh"), ("y", "p"), ("y", "t"), ("yê", "n"), ("yê", "t")):
        add("qu", nucleus, end)
    for end in ("", "n", "nh", "ch", "t", "p", "m", "u"):  # "gì", "gìn": gi + in, one i written
        places.setdefault("gi" + end, set()).add(1)
    return {syllable: frozenset(at) for syllable, at in places.items()}


_SYLLABLES = _syllables()


@lru_cache(maxsize=65536)
def _is_syllable(word: str) -> bool:
    """True when `word` (letters only, any case) is spelled like a Vietnamese syllable.

    Checks the letters, the spelling of onset and rhyme, that the one tone mark sits on a vowel of the
    nucleus (old or new placement, never on a final glide: "giaù" is no word) and that a syllable
    closed by c/ch/p/t has the sắc or nặng tone.
    """
    word = unicodedata.normalize("NFC", word.lower())
    base: list[str] = []
    tone = ""
    at = -1
    for i, ch in enumerate(word):
        if unicodedata.combining(ch):
            return False  # a mark no precomposed letter holds
        decomposed = unicodedata.normalize("NFD", ch)
        marks = [c for c in decomposed if c in _TONE_SET]
        if marks:
            if tone or len(marks) > 1:
                return False
            tone, at = marks[0], i
            ch = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_SET))
        base.append(ch)
    places = _SYLLABLES.get("".join(base))
    if places is None or (tone and at not in places):
        return False
    return not word.endswith(_STOPS) or tone in (_ACUTE, _DOT)


# --------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------

_VIEW_CHARS = "".join(sorted({v for b in range(0x80, 0x100) for v in _views_of(b)}))
_VIEW_RE = re.compile("[" + re.escape(_VIEW_CHARS) + "]")
# Only ASCII whitespace separates tokens: str.split() would also split on U+0085 and U+00A0, which
# are letters (Ặ) or meaningful in the legacy views, and conversion never touches ASCII whitespace.
_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
# Letters an encoding writes as the very character Latin-1 shows: TCVN3 "ý", VNI "í", "ì".
_FIXED_LETTERS = {
    "tcvn3": frozenset(ch for byte, ch in TCVN3_TABLE.items() if ch == chr(byte) and ch.isalpha()),
    "vni": frozenset(ch for pair in _VNI_SINGLES.values() for ch in pair if _VNI_CHARMAP[ord(ch)] == ch),
}
_UNICODE_WORD_RE = re.compile(r"[^\W\d_]*" + _UNICODE_ONLY_RE.pattern + r"[^\W\d_]*")

#: Characters per window of a long text; detection reads three windows (start, middle, end).
SAMPLE_CHARS = 20_000
# Candidate tokens scored at most: far more than a decision needs, and it bounds the work.
_MAX_TOKENS = 4000
#: Least support an encoding needs (see `detect_legacy`): two legacy words ("NghÞ quyÕt") are enough.
MIN_SUPPORT = 2
#: Share of the evidence that must favour the encoding.
MIN_SHARE = 0.7


def _sample(text: str) -> str:
    """A bounded sample: the whole text, or three windows of `SAMPLE_CHARS` at its start, middle and end."""
    if len(text) <= 3 * SAMPLE_CHARS:
        return text
    parts = []
    for start in (0, (len(text) - SAMPLE_CHARS) // 2, len(text) - SAMPLE_CHARS):
        parts.append(text[start : start + SAMPLE_CHARS])
    # Cut pieces may begin or end inside a word; the whitespace added keeps them apart.
    return "\n".join(parts)


def _word_state(token: str) -> tuple[bool, bool]:
    """(has a non-ASCII letter, every non-ASCII word in it is a Vietnamese syllable)."""
    words = [w for w in _WORD_RE.findall(token) if not w.isascii()]
    if not words:
        return False, False
    return True, all(_is_syllable(w) for w in words)


def _score(tokens: list[str], before: list[tuple[bool, bool]], encoding: str) -> tuple[int, int, int, int]:
    """(gained, kept, distinct, against) token counts for reading `tokens` in `encoding`.

    gained: non-words that become Vietnamese words; kept: Vietnamese words that become other Vietnamese
    words ("thò" -> "thị" in VNI, but also "Công" -> "Cụng" when Unicode is misread); distinct: different
    tokens among those; against: tokens that become non-words, and non-ASCII words left unconverted.
    """
    converted = _convert_raw("\n".join(tokens), encoding).split("\n")
    if len(converted) != len(tokens):  # conversion never touches "\n"; be safe anyway
        return 0, 0, 0, len(tokens)
    gained = kept = against = 0
    fixed = _FIXED_LETTERS[encoding]
    seen: set[str] = set()
    for token, after, (had_letters, was_valid) in zip(tokens, converted, before, strict=True):
        if after == token:
            # A non-ASCII word the encoding leaves alone: Unicode Vietnamese, French, German ... unless
            # its letters are ones the encoding writes as themselves ("chính" in VNI).
            if had_letters and not all(c.isascii() or c in fixed for c in token):
                against += 1
            continue
        has_letters, valid = _word_state(unicodedata.normalize("NFC", after))
        if valid:
            # One letter out of a symbol ("–" -> "ọ" in TCVN3) proves as little as a word kept.
            strong = not was_valid and len(after) > 1
            gained += strong
            kept += not strong
            seen.add(after.lower())
        elif has_letters:
            against += 1
    return gained, kept, len(seen), against


def detect_legacy(text: str) -> str | None:
    """Name the legacy font encoding of a text read as Windows-1252/Latin-1/Windows-1258, if any.

    The decision is statistical over a bounded sample (`SAMPLE_CHARS` from the start, middle and end):
    each whitespace-separated token carrying a legacy-view character is converted with every
    encoding. Tokens that turn from non-words into Vietnamese syllables count fully for it, Vietnamese
    words that turn into other Vietnamese words count half (they prove little: "thò" is a word in both
    readings), tokens that turn into non-words and non-ASCII words left unconverted count against it.
    An encoding wins with at least one real gain, two distinct supporting tokens, a support of at least
    `MIN_SUPPORT` and at least `MIN_SHARE` of all the evidence. Unicode Vietnamese, English, French or
    German text and a few stray symbols (©, ®, é) do not pass; two legacy words ("NghÞ quyÕt") do.

    Args:
        text: a whole document's text, as decoded (not NFC-normalised).

    Returns:
        "tcvn3", "vni", or None when the text does not look like either.
    """
    sample = _sample(text)
    if _VIEW_RE.search(sample) is None:
        return None
    tokens = [t for t in _SPACE_RE.split(sample) if _VIEW_RE.search(t)][:_MAX_TOKENS]
    if not tokens:
        return None
    before = [_word_state(unicodedata.normalize("NFC", t)) for t in tokens]
    # Words with letters no legacy byte gives (ạ, ế ...) are Unicode already and speak against both.
    unicode_words = len(_UNICODE_WORD_RE.findall(sample))
    best: str | None = None
    best_margin = 0.0
    for encoding in LEGACY_ENCODINGS:
        gained, kept, distinct, against = _score(tokens, before, encoding)
        against += unicode_words
        support = gained + 0.5 * kept
        if gained < 1 or distinct < 2 or support < MIN_SUPPORT or support < MIN_SHARE * (support + against):
            continue
        if best is None or support - against > best_margin:
            best, best_margin = encoding, support - against
    return best


def fix_legacy(text: str) -> tuple[str, str | None]:
    """Detect and convert in one step; returns the text and the encoding found (or None)."""
    encoding = detect_legacy(text)
    return (convert_legacy(text, encoding), encoding) if encoding else (text, None)


# --------------------------------------------------------------------------------------------------
# Unicode -> legacy bytes
# --------------------------------------------------------------------------------------------------

# Punctuation the 8-bit fonts cannot draw (their 0x80-0x9F bytes are letters), as typists wrote it.
_ASCII_PUNCTUATION = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00d0": "\u0110",  # Ð (eth) is a common stand-in for Đ
}


def _encoder(mapping: dict[str, str], keep: str) -> tuple[dict[int, str], re.Pattern[str]]:
    """A translate table to Latin-1 characters (= bytes) and a regex for the unencodable characters."""
    table = {ord(k): v for k, v in mapping.items()}
    allowed = "".join(mapping) + keep
    return table, re.compile("[^\x00-\x7f" + re.escape(allowed) + "]")


def _tcvn3_encoder() -> tuple[dict[int, str], re.Pattern[str]]:
    mapping = {ch: chr(byte) for byte, ch in TCVN3_TABLE.items()}
    for capital in TCVN3_MISSING_CAPITALS:
        mapping[capital] = mapping[capital.lower()]
    for ch, sub in _ASCII_PUNCTUATION.items():
        mapping[ch] = mapping.get(sub, sub)
    # Bytes TCVN3 leaves alone encode the Latin-1 character they are.
    keep = "".join(chr(b) for b in range(0xA0, 0x100) if b not in TCVN3_TABLE)
    return _encoder(mapping, keep)


def _vni_encoder() -> tuple[dict[int, str], re.Pattern[str]]:
    mapping: dict[str, str] = {}
    for letter, (low, up) in _VNI_SINGLES.items():
        mapping[letter], mapping[letter.upper()] = low, up
    to_byte = {letter: low for letter, (low, _) in _VNI_SINGLES.items()}
    to_byte.update({letter.upper(): up for letter, (_, up) in _VNI_SINGLES.items()})
    for pair, letter in _VNI_PAIRS.items():
        if pair.islower() or pair.isupper():
            # Pairs are keyed by the base after the first pass (ơ, ư); VNI writes that base as ô, ö.
            mapping.setdefault(letter, to_byte.get(pair[0], pair[0]) + pair[1])
    mapping["\u00d0"] = mapping["Đ"]  # Ð (eth) standing in for Đ
    used = set(VNI_TABLE)
    # Latin-1 characters VNI does not use keep their byte; cp1252 punctuation keeps its byte too.
    keep = "".join(chr(b) for b in range(0xA0, 0x100) if b not in used and chr(b) not in mapping)
    for byte in range(0x80, 0xA0):
        ch = bytes([byte]).decode("cp1252", errors="ignore")
        if ch:
            mapping[ch] = chr(byte)
    return _encoder(mapping, keep)


_TCVN3_ENCODE, _TCVN3_BAD_RE = _tcvn3_encoder()
_VNI_ENCODE, _VNI_BAD_RE = _vni_encoder()


def _encode(text: str, encoding: str, table: dict[int, str], bad: re.Pattern[str], errors: str) -> bytes:
    text = unicodedata.normalize("NFC", text)
    if errors == "strict":
        m = bad.search(text)
        if m:
            raise UnicodeEncodeError(encoding, text, m.start(), m.end(), f"{m.group()!r} has no {encoding} code")
    elif errors in ("replace", "ignore"):
        text = bad.sub("?" if errors == "replace" else "", text)
    else:
        raise ValueError(f"unsupported errors mode {errors!r}; expected 'strict', 'replace' or 'ignore'")
    return text.translate(table).encode("latin-1")


def to_tcvn3(text: str, errors: str = "strict") -> bytes:
    """Encode Unicode text as TCVN3 (VN3) bytes, as the ABC fonts would store it.

    The 12 capitals VN3 lacks (`TCVN3_MISSING_CAPITALS`) get the lower-case code, as in the .VnTimeH
    fonts; typographic quotes and dashes become their ASCII forms ('"', "'", "-", "...").

    Args:
        text: Unicode text (any normalisation form).
        errors: "strict" (raise), "replace" (write "?") or "ignore" (drop) for characters without code.

    Returns:
        The bytes.

    Raises:
        UnicodeEncodeError: in strict mode, for a character TCVN3 cannot write (e.g. "ç", "€").
    """
    return _encode(text, "tcvn3", _TCVN3_ENCODE, _TCVN3_BAD_RE, errors)


def to_vni(text: str, errors: str = "strict") -> bytes:
    """Encode Unicode text as VNI-Windows bytes (base letter + diacritic character).

    Args:
        text: Unicode text (any normalisation form).
        errors: "strict" (raise), "replace" (write "?") or "ignore" (drop) for characters without code.

    Returns:
        The bytes.

    Raises:
        UnicodeEncodeError: in strict mode, for a character VNI cannot write (e.g. "ç" is fine, "ü" is not:
            VNI uses its byte as a diacritic).
    """
    return _encode(text, "vni", _VNI_ENCODE, _VNI_BAD_RE, errors)
