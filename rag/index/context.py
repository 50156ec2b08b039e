"""What the lexical index indexes beside a paragraph: its document's title and number, and the headings of the
sections above it. Computed alike by the in-memory indexes (`rag.index.store`) and by the PostgreSQL store's
postings (`rag.index.pg_catalog`), so both rank with the same words."""

from __future__ import annotations

from typing import Protocol


class Titled(Protocol):
    """A document's citation fields the context names (`rag.index.store.DocRow` has them)."""

    @property
    def title(self) -> str: ...

    @property
    def number(self) -> str | None: ...


def lexical_title(row: Titled, headings: str) -> str:
    """The context indexed beside a paragraph: document title and number, and its section headings."""
    parts = [row.title]
    if row.number:
        parts.append(row.number)
    if headings:
        parts.append(headings)
    return " | ".join(parts)


class HeadingTracker:
    """Section heading texts per document while paragraphs stream by in order (for the indexed context)."""

    def __init__(self) -> None:
        self._doc = ""
        self._titles: dict[str, str] = {}

    def context(self, doc_id: str, section: str, kind: str, text: str) -> str:
        if doc_id != self._doc:
            self._doc, self._titles = doc_id, {}
        if kind == "heading" and section:
            self._titles[section] = text if len(text) <= 200 else text[:200]
            return ""
        if not section:
            return ""
        parts = section.split(" > ")
        chain = [self._titles.get(" > ".join(parts[: i + 1]), "") for i in range(len(parts))]
        return " ; ".join(t for t in chain if t)
