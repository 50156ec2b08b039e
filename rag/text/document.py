"""From a parsed `RawDocument` to a titled, structured document with paragraph spans.

This is the text layer's entry point: line repair, header reading, structure, paragraph splitting.
Ids are assigned by the caller (the catalog decides whether a base id is free).
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.errors import ParseError
from rag.text.cleanup import merge_lines
from rag.text.doctypes import label as type_label
from rag.text.header import read_header
from rag.text.ids import base_doc_id
from rag.text.structure import structure
from rag.types import NEWS_DOC_TYPE, OTHER_DOC_TYPE, DocHeader, RawDocument

PARAGRAPH_SEPARATOR = "\n\n"
MAX_TITLE_CHARS = 300


@dataclass(frozen=True, slots=True)
class ParagraphSpan:
    """A paragraph before it has an id: where it lies in the document text and in the structure."""

    start: int
    end: int
    section: str
    page: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class AnalysedDoc:
    """The text layer's result for one document."""

    header: DocHeader
    title: str
    doc_type: str
    text: str
    spans: tuple[ParagraphSpan, ...]
    base_id: str


def _shorten(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def analyse(raw: RawDocument) -> AnalysedDoc:
    """Analyse a parsed document.

    Raises:
        ParseError: when the document holds no text.
    """
    blocks = merge_lines(list(raw.blocks))
    if not blocks:
        raise ParseError(f"{raw.path}: no text found", "Tệp không có nội dung văn bản.")
    found = read_header(blocks, raw.title_hint)
    header = found.header

    pieces: list[tuple[str, str, int | None, str]] = []  # text, section, page, kind
    if found.end > 0:
        head_blocks = blocks[: found.end]
        pieces.append(("\n".join(b.text for b in head_blocks), "", head_blocks[0].page, "header"))
    for item in structure(blocks[found.end :]):
        pieces.append((item.block.text, item.section, item.block.page, item.kind))

    parts: list[str] = []
    spans: list[ParagraphSpan] = []
    offset = 0
    for text, section, page, kind in pieces:
        if parts:
            offset += len(PARAGRAPH_SEPARATOR)
        spans.append(ParagraphSpan(offset, offset + len(text), section, page, kind))
        parts.append(text)
        offset += len(text)
    full_text = PARAGRAPH_SEPARATOR.join(parts)

    official = header.headline is None
    if official and header.doc_type:
        doc_type = header.doc_type
        label = type_label(doc_type)
        if header.summary:
            title = f"{label} {header.summary}"
        elif header.number:
            title = f"{label} số {header.number}"
        else:
            title = raw.title_hint or label
    else:
        doc_type = header.doc_type or (NEWS_DOC_TYPE if header.issued or raw.fmt == "jsonl" else OTHER_DOC_TYPE)
        title = header.headline or raw.title_hint or blocks[0].text
    title = _shorten(" ".join(title.split()))
    return AnalysedDoc(
        header=header,
        title=title,
        doc_type=doc_type,
        text=full_text,
        spans=tuple(spans),
        base_id=base_doc_id(doc_type, header.number, header.issued, title),
    )
