"""Repairing text that a converter broke: lines split mid-sentence, bare list markers.

`merge_lines` turns parser blocks (often one per physical line) into logical paragraphs.
"""

from __future__ import annotations

import re

from rag.types import Block

# A line that opens a structural unit: it must not be glued onto the previous line.
MARKER_RE = re.compile(
    r"^(?:"
    r"(?:phần|chương|mục|điều|phụ lục)\s+(?:thứ\s+)?[\dIVXLCivxlc]+"
    r"|[IVXL]{1,6}\s*[.\-–—:/)]"
    r"|\d{1,3}(?:\.\d{1,3})*\s*[.)](?:\s|$)"
    r"|[a-zđ]\s*\)"
    r"|[-–—•+]"
    r")",
    re.IGNORECASE,
)
_BARE_MARKER_RE = re.compile(
    r"^(?:[IVXL]{1,6}\s*[.\-–—:/)]|\d{1,3}(?:\.\d{1,3})*\s*[.)]|[a-zđ]\s*\)|[-–—•+])$", re.IGNORECASE
)
_SENTENCE_END = tuple('.!?:;…"”’»)')


def is_upper_line(text: str) -> bool:
    """True when nearly all letters of the line are capitals (headings, header lines)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and sum(c.isupper() for c in letters) / len(letters) > 0.85


def is_bare_marker(text: str) -> bool:
    """True for a line that is nothing but a list marker ("-", "1.", "a)", "II-")."""
    return bool(_BARE_MARKER_RE.match(text.strip()))


def _continues(prev: Block, cur: Block) -> bool:
    """Whether `cur` is the rest of a sentence that `prev` left unfinished."""
    if prev.style == "table" or cur.style == "table":
        return False
    if prev.style == "heading" or cur.style == "heading":
        return False
    if is_bare_marker(prev.text):
        return True
    if is_upper_line(prev.text):
        # Header and heading lines stand alone ("NGHỊ QUYẾT" / "về đột phá ...").
        return False
    if MARKER_RE.match(cur.text):
        return False
    if prev.text.endswith(_SENTENCE_END):
        return False
    first = cur.text[0]
    # A lower-case start, or a continuation after a comma, means the sentence goes on.
    return first.islower() or (prev.text.endswith(",") and not first.isupper()) or first in ",;)"


def merge_lines(blocks: list[Block]) -> list[Block]:
    """Join blocks that continue the previous line's sentence; keep page and style of the first."""
    merged: list[Block] = []
    for block in blocks:
        if merged and _continues(merged[-1], block):
            prev = merged[-1]
            style = prev.style if prev.style == block.style else ""
            if is_bare_marker(prev.text) and block.style:
                style = block.style
            merged[-1] = Block(f"{prev.text} {block.text}", prev.page, style)
        else:
            merged.append(block)
    return merged
