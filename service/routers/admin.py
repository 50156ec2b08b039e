"""Administration: API keys (list without secrets, create, revoke) and the review of answer ratings (list with
the cited paragraphs, mark reviewed with the expected answer, export as an eval QA file). Admins only."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from rag import CLASSIFICATIONS, InvalidRequest, NotFound, Principal
from service.deps import AdminDep, AuditDep, ClientDep, StateDep
from service.errors import ApiError, not_found
from service.feedback import Reviews, qa_items, read_jsonl, visible_to
from service.keys import ApiKey, key_id
from service.schemas import (
    ErrorOut,
    FeedbackList,
    KeyCreated,
    KeyIn,
    KeyList,
    ReviewIn,
    ReviewOut,
)
from service.state import ServiceState, can_see

router = APIRouter(tags=["quản trị"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    429: {"model": ErrorOut},
}


def _key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key_id(key),
        "name": key.name,
        "role": key.role,
        "clearance": key.clearance,
        "prefix": key.prefix,
        "created": key.created,
        "revoked": key.revoked,
    }


def _above(caller_clearance: str, level: str) -> bool:
    return CLASSIFICATIONS.index(level) > CLASSIFICATIONS.index(caller_clearance)


@router.get("/keys", response_model=KeyList, responses=_ERRORS, summary="Các khóa truy cập (không kèm bí mật)")
def list_keys(state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    keys = state.keys.all()
    audit.record(caller, "GET /api/v1/keys", client=client, count=len(keys))
    return {"keys": [_key_out(k) for k in reversed(keys)]}


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={400: {"model": ErrorOut}, **_ERRORS},
    summary="Tạo khóa truy cập (bí mật chỉ trả về một lần)",
)
def create_key(body: KeyIn, state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    if _above(caller.clearance, body.clearance):
        raise ApiError(403, "forbidden", "Không thể cấp khóa được xem mức cao hơn mức của chính bạn.")
    try:
        key, secret = state.keys.create(body.role, body.clearance, body.name or None)
    except InvalidRequest as exc:
        raise ApiError(400, "invalid_request", exc.user_message) from None
    audit.record(
        caller, "POST /api/v1/keys", status=201, client=client, key_name=key.name, role=key.role, level=key.clearance
    )
    return {**_key_out(key), "key": secret}


@router.delete(
    "/keys/{ident}",
    status_code=204,
    response_class=Response,
    responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, **_ERRORS},
    summary="Thu hồi một khóa truy cập",
)
def revoke_key(ident: str, state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep) -> Response:
    key = state.keys.find(ident)
    if key is None:
        raise not_found("khóa đang hoạt động", ident)
    if caller.key_id and caller.key_id == key_id(key):
        raise ApiError(
            400, "invalid_request", "Không thể thu hồi chính khóa bạn đang dùng; hãy dùng khóa quản trị khác."
        )
    if _above(caller.clearance, key.clearance):
        raise ApiError(403, "forbidden", "Không thể thu hồi khóa được xem mức cao hơn mức của chính bạn.")
    try:
        state.keys.revoke(key.name)
    except NotFound:
        raise not_found("khóa đang hoạt động", ident) from None
    audit.record(caller, "DELETE /api/v1/keys/{ident}", status=204, client=client, key_name=key.name)
    return Response(status_code=204)


def _cited(state: ServiceState, caller: Principal, ids: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pid in ids[:20]:
        try:
            paragraph = state.library.paragraph(str(pid))
            doc = state.library.document(paragraph.doc_id)
        except NotFound:
            out.append({"paragraph_id": str(pid), "missing": True})
            continue
        if not can_see(caller, doc.classification):
            out.append({"paragraph_id": str(pid), "missing": True})  # the same as a paragraph that is gone
            continue
        out.append(
            {
                "paragraph_id": paragraph.paragraph_id,
                "doc_id": doc.doc_id,
                "title": doc.title,
                "number": doc.number,
                "section": paragraph.section,
                "text": paragraph.text,
            }
        )
    return out


def _visible_feedback(state: ServiceState, clearance: str) -> tuple[list[dict[str, Any]], int]:
    records, bad = read_jsonl(state.settings.feedback_path)
    return [r for r in records if isinstance(r.get("id"), str) and visible_to(r, clearance)], bad


@router.get("/feedback", response_model=FeedbackList, responses=_ERRORS, summary="Các đánh giá câu trả lời, để xem xét")
def list_feedback(
    state: StateDep,
    caller: AdminDep,
    audit: AuditDep,
    client: ClientDep,
    rating: Annotated[Literal["up", "down"] | None, Query(description="chỉ loại đánh giá này")] = None,
    reviewed: Annotated[
        bool | None, Query(description="chỉ những đánh giá đã (true) hoặc chưa (false) xem xét")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    records, bad = _visible_feedback(state, caller.clearance)
    reviews = Reviews(state.settings.feedback_path).latest()
    shown = []
    for record in reversed(records):
        review = reviews.get(record["id"])
        if rating is not None and record.get("rating") != rating:
            continue
        if reviewed is not None and bool(review and review.get("reviewed")) != reviewed:
            continue
        shown.append({**record, "paragraphs": _cited(state, caller, list(record.get("paragraph_ids") or [])),
                      "review": review})  # fmt: skip
        if len(shown) >= limit:
            break
    audit.record(caller, "GET /api/v1/feedback", client=client, count=len(shown))
    return {"feedback": shown, "unreadable_lines": bad}


@router.post(
    "/feedback/{feedback_id}/review",
    response_model=ReviewOut,
    responses={404: {"model": ErrorOut}, **_ERRORS},
    summary="Đánh dấu đã xem xét một đánh giá, kèm câu trả lời đúng",
)
def review_feedback(
    feedback_id: str, body: ReviewIn, state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep
) -> dict[str, Any]:
    records, _ = _visible_feedback(state, caller.clearance)
    if not any(r["id"] == feedback_id for r in records):
        raise not_found("đánh giá", feedback_id)
    review = Reviews(state.settings.feedback_path).add(
        feedback_id,
        caller.name,
        expected=body.expected.strip(),
        answerable=body.answerable,
        note=body.note.strip(),
        reviewed=body.reviewed,
    )
    audit.record(caller, "POST /api/v1/feedback/{feedback_id}/review", client=client, feedback_id=feedback_id)
    return review


@router.get(
    "/feedback/export",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "tệp câu hỏi đánh giá (QA)"}, **_ERRORS},
    summary="Xuất các đánh giá đã xem xét thành tệp câu hỏi đánh giá (vankien eval qa)",
)
def export_feedback(state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep) -> Response:
    records, _ = _visible_feedback(state, caller.clearance)
    items = qa_items(records, Reviews(state.settings.feedback_path).latest())
    audit.record(caller, "GET /api/v1/feedback/export", client=client, count=len(items))
    body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    return Response(
        body.encode("utf-8"),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="gop-y-thanh-cau-hoi-danh-gia.jsonl"',
            "Cache-Control": "no-store",
        },
    )
