"""Repairing text that a converter broke: lines split mid-sentence, bare list markers.

`merge_lines` turns parser blocks (often one per physical line) into logical paragraphs. Page artefacts
of PDFs (running headers, page numbers, hyphenation) are removed earlier, by `rag.text.pdf_artefacts`.
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
#: A physical line (a block with a page) at least this share of the document's usual full line length
#: ran to the right margin: when it ends without punctuation, the next line carries on its sentence
#: even if it starts with a capital ("... do" / "Bộ Chính trị ban hành").
FULL_LINE_SHARE = 0.8
#: Fewer paged lines than this say too little about the usual line length.
MIN_LINES_FOR_WIDTH = 8
#: The usual full line length is this quantile of the paged lines' lengths.
FULL_LINE_QUANTILE = 0.9


def is_upper_line(text: str) -> bool:
    """True when nearly all letters of the line are capitals (headings, header lines)."""
    if len(text) > 400:  # headings and header lines are short; skip the count on body text
        return False
    letters = sum(map(str.isalpha, text))
    return letters >= 2 and sum(map(str.isupper, text)) / letters > 0.85


def is_bare_marker(text: str) -> bool:
    """True for a line that is nothing but a list marker ("-", "1.", "a)", "II-")."""
    return bool(_BARE_MARKER_RE.match(text.strip()))


def full_line_chars(blocks: list[Block]) -> int | None:
    """Length from which a physical line of a paged document counts as full (None when unknown).

    Only plain blocks with a page number are physical lines (PDF text, OCR); blocks of other formats
    are paragraphs already and have no line length to speak of.
    """
    lengths = sorted(len(b.text) for b in blocks if b.page is not None and not b.style)
    if len(lengths) < MIN_LINES_FOR_WIDTH:
        return None
    usual = lengths[int(FULL_LINE_QUANTILE * (len(lengths) - 1))]
    return max(20, int(usual * FULL_LINE_SHARE))


def _continues(prev: Block, cur: Block, prev_line_chars: int = 0, full_line: int | None = None) -> bool:
    """Whether `cur` is the rest of a sentence that `prev` left unfinished.

    Args:
        prev: the block so far (possibly several lines already joined).
        cur: the next block.
        prev_line_chars: length of the last physical line of `prev`.
        full_line: see `full_line_chars`; None disables the full-line rule.
    """
    if prev.style == "table" or cur.style == "table":
        return False
    if prev.style == "heading" or cur.style == "heading":
        return False
    if is_bare_marker(prev.text):
        return True
    if is_upper_line(prev.text):
        # Header and heading lines stand alone ("NGHỊ QUYẾT" / "về đột phá ...").
        return False
    if MARKER_RE.match(cur.text) or not cur.text:
        return False  # an empty block (only a hand-built RawDocument has one) continues nothing
    first = cur.text[0]
    if prev.text.endswith(_SENTENCE_END):
        # A clause ending in ";" continued in lower case on the next physical line (often across a
        # page break) is the same paragraph; elsewhere ";" closes a list item.
        return prev.text.endswith(";") and first.islower() and prev.page is not None and cur.page is not None

    # A lower-case start, or a continuation after a comma, means the sentence goes on.
    if first.islower() or (prev.text.endswith(",") and not first.isupper()) or first in ",;)":
        return True
    # A full physical line without final punctuation: the sentence goes on to the next line, often
    # with a capitalised name ("Đảng", "Trung ương"). Needs both lines to be physical lines.
    return (
        full_line is not None
        and prev.page is not None
        and cur.page is not None
        and not prev.style
        and not cur.style
        and prev_line_chars >= full_line
        and not is_upper_line(cur.text)
    )


def merge_lines(blocks: list[Block]) -> list[Block]:
    """Join blocks that continue the previous line's sentence; keep page and style of the first.

    Blocks of paged formats (PDF, OCR; those with a page number and no style) are physical lines, and a
    line that runs to the right margin without final punctuation is also continued by the next one.
    """
    full_line = full_line_chars(blocks)
    merged: list[Block] = []
    last_line_chars = 0
    for block in blocks:
        if merged and _continues(merged[-1], block, last_line_chars, full_line):
            prev = merged[-1]
            style = prev.style if prev.style == block.style else ""
            if is_bare_marker(prev.text) and block.style:
                style = block.style
            merged[-1] = Block(f"{prev.text} {block.text}", prev.page, style)
        else:
            merged.append(block)
        last_line_chars = len(block.text)
    return merged
