"""Labels in an answer: section headings and document names that head list items, never claims.

The line classifiers (letterhead, dateline, signature, column names, header roles) are in `rag.text.layout`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answer.sentences import Span, trim_marker
from rag.text.normalize import fold
from rag.types import Hit


def heading_label(heading: str) -> str:
    """A heading as a label in an answer: its marker dropped, capitals turned to sentence case
    ("III. MỤC TIÊU" -> "Mục tiêu", "2. Đến năm 2030" -> "Đến năm 2030")."""
    text = trim_marker(Span(0, len(heading), heading)).text.strip()
    letters = [c for c in text if c.isalpha()]
    if letters and all(c.isupper() for c in letters):
        text = text[0] + text[1:].lower()
    return text


LABEL_SECTION = "section"
LABEL_DOCUMENT = "document"


def label_kind(line: str, hits: Sequence[Hit]) -> str | None:
    """What an answer line labels, if it is a label: a section heading above one of `hits` ("Đến năm 2030:",
    `LABEL_SECTION`) or a document among them ("Nghị quyết số 80-NQ/TW về phát triển văn hóa Việt Nam:",
    `LABEL_DOCUMENT`); None when it is not a label."""
    text = line.strip()
    if not text.endswith(":"):
        return None
    wanted = " ".join(fold(text[:-1]).lower().split())
    words = set(re.sub(r"[^\w\s/-]", " ", wanted).split())
    for hit in hits:
        for heading in hit.headings.split(" > ") if hit.headings else ():
            if " ".join(fold(heading_label(heading)).lower().split()) == wanted:
                return LABEL_SECTION
        # A label naming a document the answer cites ("Nghị quyết số 80-NQ/TW về phát triển văn hóa Việt Nam:").
        if hit.paragraph.kind == "header":
            known = set(
                re.sub(
                    r"[^\w\s/-]", " ", fold(f"{hit.title} {hit.number or ''} so {hit.paragraph.text}").lower()
                ).split()
            )
            if words and words <= known:
                return LABEL_DOCUMENT
    return None
