"""GET /api/v1/paragraphs/{paragraph_id}: a cited paragraph with its neighbours, to show it in context."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from rag import NotFound, document_to_dict, paragraph_to_dict
from service.deps import AuditDep, CallerDep, ClientDep, StateDep
from service.errors import not_found
from service.schemas import ErrorOut, ParagraphContext
from service.state import can_see

router = APIRouter(prefix="/paragraphs", tags=["tài liệu"])


@router.get(
    "/{paragraph_id:path}",
    response_model=ParagraphContext,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    summary="Một đoạn và các đoạn xung quanh",
)
def get_paragraph(
    paragraph_id: str,
    state: StateDep,
    caller: CallerDep,
    audit: AuditDep,
    client: ClientDep,
    before: Annotated[int, Query(ge=0, le=50)] = 2,
    after: Annotated[int, Query(ge=0, le=50)] = 2,
) -> dict[str, Any]:
    library = state.library
    try:
        paragraph = library.paragraph(paragraph_id)
        doc = library.document(paragraph.doc_id)
    except NotFound:
        raise not_found("đoạn", paragraph_id) from None
    if not can_see(caller, doc.classification):
        raise not_found("đoạn", paragraph_id)
    paragraphs = library.paragraphs(doc.doc_id)
    i = next((j for j, p in enumerate(paragraphs) if p.paragraph_id == paragraph.paragraph_id), paragraph.n)
    shown_before = paragraphs[max(0, i - before) : i]
    shown_after = paragraphs[i + 1 : i + 1 + after]
    ids = [p.paragraph_id for p in (*shown_before, paragraph, *shown_after)]
    audit.record(caller, "GET /api/v1/paragraphs/{paragraph_id}", paragraph_ids=ids, client=client)
    return {
        "paragraph": paragraph_to_dict(paragraph),
        "document": document_to_dict(
            doc, len(paragraphs), detail=True, conflicts=library.number_conflicts(doc, caller)
        ),
        "before": [paragraph_to_dict(p) for p in shown_before],
        "after": [paragraph_to_dict(p) for p in shown_after],
    }
