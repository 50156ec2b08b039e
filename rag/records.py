"""The JSON record shapes of the public contracts, one function per shape.

The CLI (`--json`), the HTTP API and the evaluation toolkit all build their records here, so a field added to
a shape appears everywhere at once and none is spelled twice. Fields may be added, never renamed (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.types import Answer, Citation, DocumentInfo, Hit, Paragraph, SourceDoc


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """A search hit (`vankien search --json`, `GET /api/v1/search`)."""
    return {
        "rank": hit.rank,
        "score": round(hit.score, 6),
        "doc_id": hit.doc_id,
        "paragraph_id": hit.paragraph_id,
        "title": hit.title,
        "section": hit.paragraph.section,
        "text": hit.paragraph.text,
        "number": hit.number,
        "issued": hit.issued,
        "type": hit.doc_type,
        "page": hit.paragraph.page,
    }


def hits_to_dicts(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """`hit_to_dict` of each hit, in order."""
    return [hit_to_dict(h) for h in hits]


def citation_to_dict(citation: Citation) -> dict[str, Any]:
    """One citation of an answer: the paragraph, its document, and the quoted span."""
    hit = citation.hit
    return {
        "marker": citation.marker,
        "doc_id": hit.doc_id,
        "paragraph_id": hit.paragraph_id,
        "title": hit.title,
        "number": hit.number,
        "issued": hit.issued,
        "section": hit.paragraph.section,
        "quote": citation.quote,
        "text": hit.paragraph.text,
        "quote_start": citation.quote_start,
        "page": hit.paragraph.page,
        "type": hit.doc_type,
        "issuer": hit.issuer,
    }


def nearest_to_dict(hit: Hit) -> dict[str, Any]:
    """A document named in an abstention as the nearest there is."""
    return {
        "doc_id": hit.doc_id,
        "title": hit.title,
        "number": hit.number,
        "issued": hit.issued,
        "paragraph_id": hit.paragraph_id,
    }


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """An answer (`vankien ask --json`, `POST /api/v1/ask`, the stream's "answer" event, eval reports)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "rewritten_question": answer.rewritten_question,
        "nearest": [nearest_to_dict(h) for h in answer.nearest],
    }


def document_to_dict(
    doc: DocumentInfo | SourceDoc,
    paragraphs: int,
    *,
    detail: bool = False,
    conflicts: Sequence[SourceDoc] = (),
) -> dict[str, Any]:
    """A document (`vankien docs --json`, `GET /api/v1/documents`); `detail` adds place, summary, provenance (who
    ingested it, when, from which file hash) and warnings, e.g. earlier documents with the same số/ký hiệu from
    another issuer or ingester (`conflicts`; one document's view: `vankien show`, `GET /api/v1/documents/{id}`,
    a paragraph's context)."""
    data: dict[str, Any] = {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "number": doc.number,
        "type": doc.doc_type,
        "issuer": doc.issuer,
        "issued": doc.issued,
        "classification": doc.classification,
        "paragraphs": paragraphs,
    }
    if detail and isinstance(doc, SourceDoc):
        data["place"] = doc.place
        data["summary"] = doc.summary
        data["provenance"] = {"ingested_by": doc.ingested_by, "ingested_at": doc.added_at, "sha256": doc.sha256}
        data["warnings"] = [number_warning(doc, other) for other in conflicts]
    return data


def number_warning(doc: SourceDoc, other: SourceDoc) -> str:
    """The warning shown on a document that claims the số/ký hiệu of an earlier one."""
    issuer = f" của {other.issuer}" if other.issuer else ""
    who = "người vận hành (dòng lệnh)" if doc.ingested_by == "cli" else f"khóa {doc.ingested_by}"
    return (
        f"Cảnh báo: văn bản này mang số {doc.number}, trùng với văn bản {other.doc_id}{issuer} đã có từ trước; "
        f"văn bản này do {who} nạp lúc {doc.added_at or 'không rõ'}. Hãy đối chiếu nguồn trước khi sử dụng."
    )


def paragraph_to_dict(paragraph: Paragraph) -> dict[str, Any]:
    """A paragraph with its position (`vankien show --json`, `GET /api/v1/paragraphs/{id}`)."""
    return {
        "paragraph_id": paragraph.paragraph_id,
        "doc_id": paragraph.doc_id,
        "section": paragraph.section,
        "page": paragraph.page,
        "kind": paragraph.kind,
        "text": paragraph.text,
        "start": paragraph.start,
        "end": paragraph.end,
    }
