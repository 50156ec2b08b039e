"""Finding the structure of a document body and the section path of each paragraph.

Two layouts are recognised and may mix:

* legal layout: Phần > Chương > Mục > Điều > khoản (1.) > điểm (a));
* resolution layout: I. / II. (or "I-") > 1. / 2. > 1.1. > a) / b) > dash items ("-", "+").

A section path is written with " > " between levels, e.g. "III > 2 > b)" or "Chương II > Điều 5 > 1".
Dash items are leaves: they do not add a level to the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text.cleanup import is_upper_line
from rag.text.roman import roman_value
from rag.types import Block

# Rank of each kind of marker: a marker closes every open level of equal or deeper rank.
RANK_PART, RANK_CHAPTER, RANK_SECTION, RANK_ARTICLE = 0, 1, 2, 3
RANK_ROMAN, RANK_ARABIC, RANK_DOTTED, RANK_LETTER = 4, 5, 6, 7

_PART_RE = re.compile(r"^(phần)\s+(thứ\s+[^\W\d_]+|[IVXLC]+|\d+)\b\s*[.:\-–—]?\s*(.*)$", re.IGNORECASE)
_CHAPTER_RE = re.compile(r"^(chương)\s+([IVXLC]+|\d+)\b\s*[.:\-–—]?\s*(.*)$", re.IGNORECASE)
_SECTION_RE = re.compile(r"^(mục)\s+([IVXLC]+|\d+)\b\s*[.:\-–—]?\s*(.*)$", re.IGNORECASE)
_ARTICLE_RE = re.compile(r"^(điều)\s+(\d+[a-zđ]?)\s*[.:\-–—]?\s*(.*)$", re.IGNORECASE)
_ROMAN_RE = re.compile(r"^([IVXL]{1,6})\s*[.\-–—:/)]\s*(.*)$")
_DOTTED_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,3})+)\.?(?:\s+(.*)|$)")
_ARABIC_RE = re.compile(r"^(\d{1,3})\s*[.)](?:\s+(.*)|$)")
_LETTER_RE = re.compile(r"^([a-zđ])\s*\)\s*(.*)$")
_DASH_RE = re.compile(r"^[-–—•+*]\s*")


@dataclass(frozen=True, slots=True)
class Marker:
    """A structural marker at the start of a line."""

    rank: int
    label: str  # as shown in a section path: "III", "2", "b)", "Điều 5", "Chương II"
    rest: str  # the text after the marker


def find_marker(text: str) -> Marker | None:
    """The structural marker that opens `text`, if any (dash items return None)."""
    for regex, rank, word in (
        (_PART_RE, RANK_PART, "Phần"),
        (_CHAPTER_RE, RANK_CHAPTER, "Chương"),
        (_SECTION_RE, RANK_SECTION, "Mục"),
        (_ARTICLE_RE, RANK_ARTICLE, "Điều"),
    ):
        m = regex.match(text)
        if m:
            number = m.group(2)
            if rank in (RANK_CHAPTER, RANK_SECTION) and not number.isdigit() and roman_value(number.upper()) is None:
                continue
            return Marker(rank, f"{word} {number}", m.group(3).strip())
    m = _ROMAN_RE.match(text)
    if m and roman_value(m.group(1)) is not None:
        # "I." opening an English sentence or a name initial ("V.I. Lênin") is not a heading.
        rest = m.group(2).strip()
        if not re.match(r"^[A-Z]\.", rest):
            return Marker(RANK_ROMAN, m.group(1), rest)
    m = _DOTTED_RE.match(text)
    if m:
        return Marker(RANK_DOTTED, m.group(1), (m.group(2) or "").strip())
    m = _ARABIC_RE.match(text)
    if m:
        return Marker(RANK_ARABIC, m.group(1), (m.group(2) or "").strip())
    m = _LETTER_RE.match(text)
    if m:
        return Marker(RANK_LETTER, f"{m.group(1)})", m.group(2).strip())
    return None


def is_dash_item(text: str) -> bool:
    return bool(_DASH_RE.match(text)) and not text.startswith("--")


def _looks_like_heading(block: Block, marker: Marker | None) -> bool:
    text = block.text
    if block.style == "heading":
        return len(text) <= 300
    upper = is_upper_line(text)
    if marker is None:
        return upper and 3 <= len(text) <= 200 and block.style in ("bold", "heading")
    if marker.rank <= RANK_ARTICLE:
        return len(marker.rest) <= 250
    if upper and len(text) <= 250:
        return True
    if block.style == "bold" and len(text) <= 300:
        return True
    # "1. Đến năm 2030": a short title, not a sentence.
    return 0 < len(marker.rest) <= 120 and not marker.rest.endswith((".", ";", ":")) and marker.rank <= RANK_DOTTED


@dataclass(frozen=True, slots=True)
class StructuredBlock:
    """A body block with its place in the document structure."""

    block: Block
    section: str
    kind: str  # "heading" or "body"


class SectionTracker:
    """Keeps the stack of open sections while reading a document from top to bottom."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def path(self) -> str:
        return " > ".join(label for _, label in self._stack)

    def open(self, marker: Marker) -> None:
        while self._stack and self._stack[-1][0] >= marker.rank:
            self._stack.pop()
        self._stack.append((marker.rank, marker.label))


def structure(blocks: list[Block]) -> list[StructuredBlock]:
    """Assign a section path and a kind to every block of a document body."""
    tracker = SectionTracker()
    out: list[StructuredBlock] = []
    for block in blocks:
        marker = None if block.style == "table" else find_marker(block.text)
        if marker is not None:
            tracker.open(marker)
        kind = "heading" if _looks_like_heading(block, marker) else "body"
        out.append(StructuredBlock(block, tracker.path(), kind))
    return out
