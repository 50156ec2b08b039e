"""GET /api/v1/search: the paragraphs that best match a query, within the caller's clearance."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from rag import Filters, hits_to_dicts
from service.deps import AuditDep, CallerDep, ClientDep, StateDep
from service.limits import check_text_length
from service.schemas import MAX_TEXT, ErrorOut, SearchResponse

router = APIRouter(tags=["tìm kiếm"])


@router.get(
    "/search",
    response_model=SearchResponse,
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    summary="Tìm các đoạn văn bản phù hợp",
)
def search(
    state: StateDep,
    caller: CallerDep,
    audit: AuditDep,
    client: ClientDep,
    q: Annotated[str, Query(max_length=MAX_TEXT, description="nội dung cần tìm")],
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    types: Annotated[list[str] | None, Query(alias="type", description="loại văn bản (lặp lại được)")] = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=10, description="NNNN-TT-NN")] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=10, description="NNNN-TT-NN")] = None,
    docs: Annotated[list[str] | None, Query(alias="doc", max_length=100, description="mã tài liệu")] = None,
    mode: Annotated[
        Literal["hybrid", "lexical", "dense"] | None,
        Query(description="cách tìm; mặc định: theo cấu hình của dịch vụ (thường là hybrid)"),
    ] = None,
) -> dict[str, Any]:
    check_text_length(q, state.settings.max_question_chars, "Truy vấn")
    filters = Filters(
        doc_types=tuple(types or ()),
        issued_from=date_from,  # "" is not a date: refused with 400, as the schema says
        issued_to=date_to,
        doc_ids=tuple(docs or ()),
    )
    state.catch_up()
    with state.gate.read():
        hits = state.retriever(mode).retrieve(q, k, filters, caller)
    audit.record(caller, "GET /api/v1/search", question=q, paragraph_ids=[h.paragraph_id for h in hits], client=client)
    return {"query": q, "hits": hits_to_dicts(hits)}
