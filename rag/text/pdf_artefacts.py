"""Removing what page layout adds to the text of a paged document (PDF, OCR of a scan).

A PDF's text layer carries, besides the body, lines that belong to the page rather than to the
document: running headers and footers (the document's short title on every page, "Trang 3/12"),
page-number lines ("3", "- 3 -") and words hyphenated at a line end. `clean_pages` removes them
from a list of pages, each a list of lines, and returns the same shape.

Detection works on the edges of pages only (the first and last `EDGE_LINES` lines), because
extraction order puts headers and footers there, though not always on the expected side: a
footer drawn before the body comes out at the top of the page text.

* A running line is a line that appears at the edge of at least `RUNNING_MIN_SHARE` of the pages
  (and of two pages at least). Lines are compared on a key that ignores case, spacing and digits,
  and nearly equal keys (OCR noise) fall in the same group. When the digits of a group differ from
  page to page ("Nghị quyết 57-NQ/TW - Trang 3"), the group is running only if one of its numbers
  follows the page index: that is what tells a page number from "Điều 3." / "Điều 4." that
  happen to open two pages (lines that open with a structural marker are never running when their
  numbers vary).
* A page-number line ("3", "- 3 -", "Trang 3", "tr. 3", "3/12", "Page 3 of 12") is removed at a
  page edge. A bare number is removed only when it follows the page index (with a constant
  offset for unnumbered cover pages), so a table cell "3" at the foot of one page stays.
* A word split by a hyphen or a soft hyphen at a line end is joined onto the first line.

All comparisons expect NFC text (callers normalise first).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from math import ceil

from rag.text.structure import find_marker

logger = logging.getLogger(__name__)

#: How many lines at the top and at the bottom of a page may be headers, footers or page numbers.
EDGE_LINES = 3
#: A line is running when it sits at the edge of at least this share of the pages.
RUNNING_MIN_SHARE = 0.4
#: Two keys at least this similar (difflib ratio) are the same running line with noise.
SIMILARITY = 0.85
#: Keys shorter than this are only grouped when exactly equal (short lines are too easily "similar").
FUZZY_MIN_CHARS = 8
#: Fuzzy grouping compares a key with at most this many earlier groups (bounds the cost on long files).
FUZZY_MAX_GROUPS = 200

_DIGITS_RE = re.compile(r"\d+")
_SPACES_RE = re.compile(r"\s+")
_EXPLICIT_PAGE_RES = (
    re.compile(r"^[-–—]\s*(\d{1,4})\s*[-–—]$"),
    re.compile(r"^(?:trang|tr\.|page|p\.)\s*(\d{1,4})(?:\s*(?:/|trên|of)\s*\d{1,4})?$", re.IGNORECASE),
    re.compile(r"^(\d{1,4})\s*/\s*\d{1,4}$"),
    re.compile(r"^[(\[]\s*(\d{1,4})\s*[)\]]$"),
)
_BARE_PAGE_RE = re.compile(r"^(\d{1,4})$")
_HYPHENS = ("-", "\u00ad", "\u2010")
_HYPHEN_END_RE = re.compile(r"([^\W\d_])([-\u00ad\u2010])$")


def line_key(line: str) -> str:
    """The comparison key of a line: case-folded, single-spaced, every digit run read as "#"."""
    return _DIGITS_RE.sub("#", _SPACES_RE.sub(" ", line.strip()).casefold())


def page_number_in(line: str) -> tuple[int, bool] | None:
    """The page number a page-number line shows, and whether its form is explicit.

    Returns:
        `(number, True)` for "- 3 -", "Trang 3", "3/12", "(3)"; `(number, False)` for a bare "3";
        None when the line is anything else.
    """
    text = line.strip()
    for regex in _EXPLICIT_PAGE_RES:
        m = regex.match(text)
        if m:
            return int(m.group(1)), True
    m = _BARE_PAGE_RE.match(text)
    if m:
        return int(m.group(1)), False
    return None


def _dominant_offset(pairs: Sequence[tuple[int, Sequence[int]]]) -> tuple[int | None, int]:
    """The most common `number - page` among (page, numbers) pairs, and on how many pairs it holds."""
    counts: Counter[int] = Counter()
    for page, numbers in pairs:
        counts.update({n - page for n in numbers})
    if not counts:
        return None, 0
    offset, count = counts.most_common(1)[0]
    return offset, count


@dataclass(slots=True)
class _Group:
    """Edge lines that read the same on several pages."""

    key: str
    pages: set[int] = field(default_factory=set)
    members: list[tuple[int, str]] = field(default_factory=list)


def _edge_indexes(n_lines: int) -> list[int]:
    top = list(range(min(EDGE_LINES, n_lines)))
    bottom = [i for i in range(max(0, n_lines - EDGE_LINES), n_lines) if i >= len(top)]
    return top + bottom


def _similar_group(key: str, groups: list[_Group]) -> _Group | None:
    if len(key) < FUZZY_MIN_CHARS:
        return None
    for group in groups[-FUZZY_MAX_GROUPS:]:
        other = group.key
        if len(other) < FUZZY_MIN_CHARS or abs(len(other) - len(key)) > 0.2 * max(len(key), len(other)):
            continue
        matcher = SequenceMatcher(None, key, other, autojunk=False)
        # The quick ratios are upper bounds of the ratio: cheap rejections first.
        if (
            matcher.real_quick_ratio() >= SIMILARITY
            and matcher.quick_ratio() >= SIMILARITY
            and matcher.ratio() >= SIMILARITY
        ):
            return group
    return None


_ANY_PAGE = "any"


def _group_is_running(group: _Group, threshold: int) -> int | str | None:
    """`_ANY_PAGE` for a running group, the page offset its numbers follow when they vary, else None."""
    if len(group.pages) < threshold:
        return None
    digit_runs = {tuple(_DIGITS_RE.findall(text)) for _, text in group.members}
    if len(digit_runs) <= 1:
        return _ANY_PAGE
    # The numbers vary: running only if they count pages (a page number inside a header or footer),
    # and never for structural lines ("Điều 3." / "Điều 4." opening consecutive pages).
    if sum(find_marker(text) is not None for _, text in group.members) * 2 > len(group.members):
        return None
    pairs = [(page, _numbers(text)) for page, text in group.members]
    offset, count = _dominant_offset(pairs)
    return offset if count >= max(threshold, ceil(0.6 * len(pairs))) else None


def _numbers(text: str) -> list[int]:
    return [int(d) for d in _DIGITS_RE.findall(text)[:6]]


def running_lines(pages: Sequence[Sequence[str]]) -> dict[str, int | None]:
    """The lines that repeat at the edges of many pages (running headers and footers).

    Args:
        pages: the lines of each page, in order.

    Returns:
        For the key (see `line_key`) of every edge line that belongs to a running header or footer:
        None when the line runs as it is, or the offset `number - page index` (0-based) that one of
        its numbers must show when its numbers vary (a page number inside a header or footer).
        Empty for documents of fewer than two pages.
    """
    n_pages = len(pages)
    if n_pages < 2:
        return {}
    threshold = max(2, ceil(RUNNING_MIN_SHARE * n_pages))
    by_key: dict[str, _Group] = {}
    groups: list[_Group] = []
    for index, lines in enumerate(pages):
        for i in _edge_indexes(len(lines)):
            key = line_key(lines[i])
            if not key:
                continue
            group = by_key.get(key)
            if group is None:
                group = _similar_group(key, groups)
                if group is None:
                    group = _Group(key)
                    groups.append(group)
                by_key[key] = group
            if index not in group.pages:
                group.pages.add(index)
                group.members.append((index, lines[i]))
    verdicts = {id(g): _group_is_running(g, threshold) for g in groups}
    running: dict[str, int | None] = {}
    for key, group in by_key.items():
        verdict = verdicts[id(group)]
        if verdict is not None:
            running[key] = None if verdict == _ANY_PAGE else int(verdict)
    return running


def _page_offset(pages: Sequence[Sequence[str]]) -> int | None:
    """The constant `printed number - page index` of the bare page numbers at page edges, if any."""
    pairs: list[tuple[int, list[int]]] = []
    for index, lines in enumerate(pages):
        numbers = []
        for i in _edge_indexes(len(lines)):
            found = page_number_in(lines[i])
            if found is not None:
                numbers.append(found[0])
        if numbers:
            pairs.append((index, numbers))
    offset, count = _dominant_offset(pairs)
    if offset is None:
        return None
    if len(pages) == 1:
        # One page: a lone "1" (or "- 1 -") at its edge is its number.
        return offset if offset in (0, 1) else None
    return offset if count >= 2 else None


def remove_edge_artefacts(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Drop running headers/footers and page-number lines from the edges of every page.

    Lines are peeled from the top and from the bottom of each page while they are artefacts, at most
    `EDGE_LINES` from each side; a body line stops the peeling, so nothing inside the page is touched.
    """
    running = running_lines(pages)
    offset = _page_offset(pages)

    def is_artefact(line: str, index: int) -> bool:
        key = line_key(line)
        if key in running:
            required = running[key]
            return required is None or any(n - index == required for n in _numbers(line))
        found = page_number_in(line)
        if found is None:
            return False
        number, explicit = found
        # `offset` compares with the 0-based page index.
        return explicit or (offset is not None and number - index == offset)

    cleaned: list[list[str]] = []
    removed = 0
    for index, lines in enumerate(pages):
        start, end = 0, len(lines)
        while start < end and start < EDGE_LINES and is_artefact(lines[start], index):
            start += 1
        peeled_bottom = 0
        while end > start and peeled_bottom < EDGE_LINES and is_artefact(lines[end - 1], index):
            end -= 1
            peeled_bottom += 1
        removed += len(lines) - (end - start)
        cleaned.append(list(lines[start:end]))
    if removed:
        logger.debug("removed %d header/footer/page-number lines from %d pages", removed, len(pages))
    return cleaned


def _is_plain_word(fragment: str) -> bool:
    return fragment.isascii() and fragment.isalpha()


def join_hyphenated(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Join words split by a hyphen or soft hyphen at a line end, across pages too.

    The start of the next line moves up onto the line that ends with the hyphen. A soft hyphen is
    always dropped. A plain hyphen is dropped between two unaccented fragments ("tech-" "nology":
    words hyphenated by a typesetter, which Vietnamese syllables never are) and kept otherwise, so
    compounds stay compounds ("kinh tế-" "xã hội" -> "kinh tế-xã hội", "Ma-lai-" "xi-a").
    """
    out = [list(lines) for lines in pages]
    flat = [(p, i) for p, lines in enumerate(out) for i in range(len(lines))]
    for n, (p, i) in enumerate(flat[:-1]):
        line = out[p][i]
        m = _HYPHEN_END_RE.search(line)
        if not m:
            continue
        q, j = flat[n + 1]
        following = out[q][j]
        if not following or not following[0].isalpha():
            continue
        head, _, rest = following.partition(" ")
        hyphen = m.group(2)
        soft = hyphen == "\u00ad"
        fragment = line[:-1].rsplit(" ", 1)[-1]
        if not soft and following[0].isupper() and not fragment[:1].isupper():
            continue  # "năm-" / "Hà Nội": a dash before a new phrase, not a split word
        if soft:
            drop = True
        elif any(h in fragment or h in head for h in _HYPHENS):
            # A hyphen that already links syllables ("Ma-lai-") is part of the word.
            drop = False
        else:
            drop = _is_plain_word(fragment) and _is_plain_word(head.rstrip(".,;:!?)")) and following[0].islower()
        out[p][i] = line[:-1] + ("" if drop else hyphen) + head
        out[q][j] = rest.strip()
    return [[line for line in lines if line] for lines in out]


def clean_pages(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Remove page artefacts from the lines of a paged document.

    Args:
        pages: for each page in order, its non-empty text lines (NFC, spaces collapsed).

    Returns:
        The same pages without running headers and footers, page-number lines and line-end
        hyphenation. A page may come back empty.
    """
    stripped = [[" ".join(line.split()) for line in lines] for lines in pages]
    stripped = [[line for line in lines if line] for lines in stripped]
    return join_hyphenated(remove_edge_artefacts(stripped))
