"""Vietnamese sentence splitting that keeps exact character spans.

Survives what trips naive splitters in Party documents: abbreviations ("TP. Hồ Chí Minh", "PGS.TS.",
"v.v."), document numbers ("57-NQ/TW"), dates ("25/2", "22.12.2024"), decimals ("2,5%"), and numbered
items whose marker ends in a period ("1. Phát triển ...", "II. MỤC TIÊU").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Abbreviations written with a final period that does not end a sentence (compared lower-cased).
ABBREVIATIONS = frozenset(
    {
        "tp",
        "tp.hcm",
        "ts",
        "ths",
        "pgs",
        "gs",
        "bs",
        "ks",
        "cn",
        "ncs",
        "pgs.ts",
        "gs.ts",
        "th.s",
        "v.v",
        "vv",
        "tr",
        "st",
        "no",
        "mr",
        "mrs",
        "dr",
        "ông",
        "bà",
        "đ/c",
        "đc",
        "q",
        "p",
        "h",
        "tx",
        "tt",
        "k/g",
        "v/v",
        "nxb",
        "sđd",
        "tlđd",
        "ctqg",
    }
)

_END_RE = re.compile(r"[.!?…]+[\"”’»)\]]*(?=\s)|\n+")
# A marker at the start of a sentence: "1.", "1.2.", "II.", "a.", "Điều 5.", "Chương II."
_MARKER_ONLY_RE = re.compile(
    r"^(?:[-–—•+]\s*)?(?:\d{1,3}(?:\.\d{1,3})*|[IVXLC]{1,6}|[a-zđ]|(?:điều|chương|mục|phần)\s+\w+)$", re.I
)
_LAST_TOKEN_RE = re.compile(r"(\S+)$")
_NEXT_START_RE = re.compile(r"\s*(\S)")
_CLAUSE_RE = re.compile(r";\s+")
_LEADING_MARKER_RE = re.compile(
    r"^\s*(?:[-–—•+*]\s+|\d{1,3}(?:\.\d{1,3})*[.)]\s+|[a-zđ]\)\s+|[IVXLC]{1,6}[.\-–]\s+)", re.I
)


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of a text: `text == source[start:end]`."""

    start: int
    end: int
    text: str


def _is_boundary(text: str, start: int, period_end: int, match_text: str) -> bool:
    if "\n" in match_text:
        return True
    before = text[start : period_end - len(match_text)]
    last = _LAST_TOKEN_RE.search(before)
    token = last.group(1).lower() if last else ""
    if match_text.startswith(".") and not match_text.startswith(".."):
        stripped = token.strip("(\"“'")
        if stripped in ABBREVIATIONS or (len(stripped) == 1 and stripped.isalpha() and stripped.isupper()):
            return False
        if _MARKER_ONLY_RE.match(before.strip()):
            return False
    nxt = _NEXT_START_RE.match(text, period_end)
    if nxt is None:
        return True
    first = nxt.group(1)
    # A new sentence starts with a capital, a digit, a quote, a bullet or an opening bracket.
    return first.isupper() or first.isdigit() or first in "\"“'(-–—•+["


def split_sentences(text: str) -> list[Span]:
    """Split a paragraph into sentences with exact spans; leading/trailing spaces are excluded."""
    spans: list[Span] = []
    start = 0
    for m in _END_RE.finditer(text):
        end = m.end()
        if not _is_boundary(text, start, end, m.group(0)):
            continue
        _add_span(spans, text, start, end)
        start = end
    _add_span(spans, text, start, len(text))
    return spans


def _add_span(spans: list[Span], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append(Span(start, end, text[start:end]))


def split_clauses(sentence: Span) -> list[Span]:
    """Split a sentence at semicolons (resolutions chain many targets in one sentence)."""
    parts: list[Span] = []
    start = 0
    for m in _CLAUSE_RE.finditer(sentence.text):
        _add_span(parts, sentence.text, start, m.start() + 1)
        start = m.end()
    _add_span(parts, sentence.text, start, len(sentence.text))
    return [Span(sentence.start + p.start, sentence.start + p.end, p.text) for p in parts]


def trim_marker(span: Span) -> Span:
    """Drop a leading list marker ("- ", "1. ", "a) ") and a trailing ";" or "," from a span."""
    start, end = span.start, span.end
    text = span.text
    m = _LEADING_MARKER_RE.match(text)
    if m and m.end() < len(text):
        start += m.end()
        text = text[m.end() :]
    while text and text[-1] in ";,:":
        text = text[:-1].rstrip()
        end = start + len(text)
    return Span(start, end, text)
