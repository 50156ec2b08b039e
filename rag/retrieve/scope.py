"""Paragraphs a question needs beyond its best matches: a whole list section, or a document's outline.

Retrieval returns the paragraphs most like the question. Some questions need paragraphs that are not like it:
"Nghị quyết 72 đặt những mục tiêu nào đến năm 2030?" needs every item of the list (a search finds three of
six), "Nghị quyết 79 về vấn đề gì?" needs the document's header and the section that states its purpose, and
"Tóm tắt Nghị quyết 80" needs the first statement of each main section. These functions fetch them from the
index in document order, under the same filters and clearance as the search (a paragraph the caller may not
see is never fetched).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.index.catalog import Int64Array
from rag.index.store import IndexStore
from rag.text.layout import is_signature
from rag.text.normalize import fold
from rag.types import Filters, Hit, Principal

#: Most paragraphs of one list section added to an answer's evidence.
MAX_SECTION_ITEMS = 16
#: Most main sections a summary covers.
MAX_SUMMARY_SECTIONS = 8
#: Heading words (folded) of the section that states a document's purpose, best first.
PURPOSE_HEADINGS = ("muc dich", "muc tieu tong quat", "muc tieu chung", "muc tieu")
#: Headings of a signature block that some readers mark as headings ("T/M BỘ CHÍNH TRỊ"): not sections.
_NOT_SECTIONS = ("t/m ", "t/l ", "k/t ", "tm. ", "tl. ", "noi nhan", "tong bi thu", "bi thu", "chanh van phong")


def document_hits(
    store: IndexStore, doc_id: str, filters: Filters | None = None, principal: Principal | None = None
) -> list[Hit]:
    """Every paragraph of a document the caller may see, in document order (score 0)."""
    with store.reading():
        return _visible(store, store.pids_of([doc_id]), filters, principal)


def around(
    store: IndexStore,
    hit: Hit,
    before: int,
    after: int,
    filters: Filters | None = None,
    principal: Principal | None = None,
) -> list[Hit]:
    """The paragraphs of a hit's document from `before` paragraphs before it to `after` after it, itself included,
    in document order, those the caller may see (paragraph n of a document has its n-th pid)."""
    with store.reading():
        pids = np.sort(store.pids_of([hit.doc_id]))
        n = hit.paragraph.n
        if n >= len(pids):
            return [hit]
        return _visible(store, pids[max(0, n - before) : n + after + 1], filters, principal)


def _visible(store: IndexStore, pids: Int64Array, filters: Filters | None, principal: Principal | None) -> list[Hit]:
    """The paragraphs of `pids` the caller may see, in pid order (score 0); under the store's read lock."""
    allowed = store.allowed(filters, principal)
    if allowed is not None:
        pids = pids[np.isin(pids, allowed)]
    return store.hits([(int(pid), 0.0) for pid in np.sort(pids)])


#: A quiz page's answer option: one short line that does not end a sentence ("Cơ chế cho phép mọi cá nhân khai thác
#: dữ liệu tự do"), in a run of at least `QUIZ_OPTIONS_MIN` right after a numbered question ("Câu hỏi 8. Chọn đáp
#: án đúng" / "... dựa trên cơ chế nào?"). Most options are false: they are not statements to quote.
QUIZ_OPTION_MAX_CHARS = 200
QUIZ_OPTIONS_MIN = 3
_QUIZ_NUMBER_RE = re.compile(r"^\W*c[aâ]u(?:\s+h[oỏ]i)?\s*\d+\b", re.IGNORECASE)


def looks_like_option(text: str) -> bool:
    """Whether a paragraph has the form of a quiz option: one short line that does not end a sentence."""
    line = text.strip()
    return 0 < len(line) <= QUIZ_OPTION_MAX_CHARS and "\n" not in line and line[-1] not in ".?!:;…"


def is_quiz_option(hit: Hit, window: Sequence[Hit]) -> bool:
    """Whether a paragraph is an answer option of a quiz question, read from the paragraphs around it (`around`:
    the question and its number line before the options, the options after it)."""
    if not looks_like_option(hit.paragraph.text):
        return False
    at = next((i for i, h in enumerate(window) if h.paragraph.n == hit.paragraph.n), None)
    if at is None:
        return False
    start, end = _run_end(window, at, -1), _run_end(window, at, 1)
    if end - start + 1 < QUIZ_OPTIONS_MIN or start == 0:
        return False
    question = window[start - 1].paragraph.text.strip()
    if not question.endswith("?"):
        return False
    numbered = window[start - 2].paragraph.text if start >= 2 else ""
    return bool(_QUIZ_NUMBER_RE.match(question) or _QUIZ_NUMBER_RE.match(numbered))


def _run_end(window: Sequence[Hit], at: int, step: int) -> int:
    """The last index, going from `at` by `step` (-1 or 1), of the run of adjacent option-like paragraphs."""
    i = at
    while 0 <= i + step < len(window):
        following = window[i + step].paragraph
        if following.n != window[i].paragraph.n + step or not looks_like_option(following.text):
            break
        i += step
    return i


def _heading_sections(doc: Sequence[Hit]) -> dict[str, str]:
    return {h.paragraph.section: h.paragraph.text for h in doc if h.paragraph.kind == "heading" and h.paragraph.section}


def group_of(hit: Hit, headings: dict[str, str]) -> str:
    """The section a list item belongs to: the deepest part of its section path that has a heading
    ("III > 2 > a)" -> "III > 2", the "2. Đến năm 2030" heading)."""
    parts = hit.paragraph.section.split(" > ") if hit.paragraph.section else []
    for i in range(len(parts), 0, -1):
        key = " > ".join(parts[:i])
        if key in headings:
            return key
    return ""


def _under(section: str, group: str) -> bool:
    return section == group or section.startswith(group + " > ")


def list_section(doc: Sequence[Hit], anchor: Hit, question_terms: Sequence[str]) -> list[Hit]:
    """The items of the list section `anchor` belongs to, in document order (headings excluded).

    When the question names none of the words of the anchor's own heading ("2. Đến năm 2030") but the section
    above has sub-sections ("III. MỤC TIÊU" with "Đến năm 2026", "Đến năm 2030", "Tầm nhìn đến năm 2045"),
    the whole parent section is taken: the question asks for all of it.
    """
    headings = _heading_sections(doc)
    group = group_of(anchor, headings)
    if not group:
        return []
    own = {fold(w).lower().strip(".,:;()") for w in headings[group].split()}
    asked = {fold(t).lower() for t in question_terms}
    parent = " > ".join(group.split(" > ")[:-1])
    if parent and parent in headings and not (own & asked - {"nam", "den", "muc", "tieu"}):
        group = parent
    items = [h for h in doc if h.paragraph.kind == "body" and _under(h.paragraph.section, group)]
    return items[:MAX_SECTION_ITEMS]


#: Cues of a section heading that assigns tasks ("IV. NHIỆM VỤ, GIẢI PHÁP ĐỘT PHÁ"), folded.
_TASK_CUES = ("nhiem vu", "giai phap")


def task_groups(doc: Sequence[Hit], items: Sequence[Hit]) -> list[Hit]:
    """The sub-headings of the task section that `items` (a `list_section`) belong to, in document order, when the
    items span at least two of them: "Nêu các nhiệm vụ, giải pháp của Nghị quyết 57" asks for the groups of tasks
    ("1. Nâng cao nhận thức, đổi mới tư duy", "2. Hoàn thiện thể chế", ...), which the document states as those
    headings. Empty for any other section ("III. MỤC TIÊU" with "2. Đến năm 2030": its items are the targets)."""
    headings = _heading_sections(doc)
    groups = list(dict.fromkeys(group_of(h, headings) for h in items))
    parents = {" > ".join(g.split(" > ")[:-1]) for g in groups if " > " in g}
    if len(parents) != 1:
        return []
    parent = parents.pop()
    subs = [g for g in groups if g != parent and g.startswith(parent + " > ")]
    if len(subs) < 2 or parent not in headings or not any(c in fold(headings[parent]).lower() for c in _TASK_CUES):
        return []
    # Every group of the section, also those whose items fall beyond `MAX_SECTION_ITEMS`.
    depth = parent.count(" > ") + 1
    return [
        h
        for h in doc
        if h.paragraph.kind == "heading"
        and h.paragraph.section.startswith(parent + " > ")
        and h.paragraph.section.count(" > ") == depth
    ]


_ITEM_RE = re.compile(r"^\s*(?:[-–•+*]|\d{1,2}[.)]|[a-zđ]\))\s")


def is_intro(hit: Hit) -> bool:
    """Whether a paragraph introduces a list that follows it ("Nhiều kết quả bước đầu đã được ghi nhận:")."""
    return hit.paragraph.kind == "body" and hit.paragraph.text.rstrip().endswith(":")


def is_item(hit: Hit) -> bool:
    """Whether a paragraph reads as a list item ("- ...", "a) ...", "2. ...", or continuing in lower case)."""
    text = hit.paragraph.text.lstrip()
    return hit.paragraph.kind == "body" and bool(text) and (bool(_ITEM_RE.match(text)) or text[0].islower())


def items_after(doc: Sequence[Hit], intro: Hit) -> list[Hit]:
    """The list items that follow an introducing paragraph, in document order (at most `MAX_SECTION_ITEMS`)."""
    out: list[Hit] = []
    after = [h for h in doc if h.paragraph.n > intro.paragraph.n]
    for hit in after:
        if not is_item(hit) or len(out) >= MAX_SECTION_ITEMS:
            break
        out.append(hit)
    return out


def _is_section_heading(text: str) -> bool:
    folded = fold(text).lower().strip() + " "
    return not folded.startswith(_NOT_SECTIONS)


def outline(doc: Sequence[Hit]) -> list[Hit]:
    """A document's outline: its header, then the first body paragraph of each main section (at most
    `MAX_SUMMARY_SECTIONS`), in document order."""
    out = [h for h in doc[:1] if h.paragraph.kind == "header"]
    seen: set[str] = set()
    headings = _heading_sections(doc)
    for h in doc:
        if h.paragraph.kind != "body" or not h.paragraph.section:
            continue
        top = h.paragraph.section.split(" > ")[0]
        if top in seen or top not in headings or not _is_section_heading(headings[top]):
            continue
        seen.add(top)
        out.append(h)
        if len(seen) >= MAX_SUMMARY_SECTIONS:
            break
    return out


def purpose(doc: Sequence[Hit]) -> list[Hit]:
    """The header and the first paragraph of the section that states the document's purpose (if any)."""
    out = [h for h in doc[:1] if h.paragraph.kind == "header"]
    headings = _heading_sections(doc)
    for cue in PURPOSE_HEADINGS:
        sections = [s for s, text in headings.items() if cue in fold(text).lower()]
        if not sections:
            continue
        first = next(
            (h for h in doc if h.paragraph.kind == "body" and any(_under(h.paragraph.section, s) for s in sections)),
            None,
        )
        if first is not None:
            out.append(first)
            break
    return out


#: Paragraphs searched for the signature block, from a document's end.
SIGNATURE_TAIL = 12


def signature_block(doc: Sequence[Hit]) -> list[Hit]:
    """The signature block at the end of a document (from its "T/M ..." line to its last line in capitals), or
    nothing when the document has none."""
    tail = list(doc[-SIGNATURE_TAIL:])
    start = next((i for i, h in enumerate(tail) if is_signature(h.paragraph.text)), None)
    if start is None:
        return []
    return [h for h in tail[start:] if h.paragraph.kind in ("body", "heading") and len(h.paragraph.text) < 80]
