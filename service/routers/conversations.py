"""/api/v1/conversations: the caller's saved conversations (list, create, read, rename, delete).

Turns are recorded by the ask endpoints when a request names its `conversation_id` (`service.conversations`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response

from rag import Answer, Principal, classification_rank
from service.conversations import Conversation, ConversationStore
from service.deps import CallerDep, StateDep
from service.errors import ApiError
from service.schemas import (
    ConversationDetail,
    ConversationIn,
    ConversationList,
    ConversationOut,
    ConversationRename,
    ErrorOut,
)
from service.state import ServiceState

router = APIRouter(tags=["hội thoại"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    404: {"model": ErrorOut},
    429: {"model": ErrorOut},
}


def owner_of(caller: Principal) -> str:
    """Whose conversations these are: the caller's key, or the local demo's anonymous user."""
    return f"key:{caller.key_id}" if caller.key_id else "anonymous"


def clearance_of(caller: Principal) -> int:
    return classification_rank(caller.clearance)


def answer_level(answer: Answer) -> int:
    """The highest classification rank among the paragraphs an answer shows (0 when it shows none)."""
    levels = [classification_rank(c.hit.classification) for c in answer.citations]
    levels += [classification_rank(h.classification) for h in answer.nearest]
    return max(levels, default=0)


def store_of(state: ServiceState) -> ConversationStore:
    if state.conversations is None:  # pragma: no cover - open_state always sets it
        raise ApiError(503, "unavailable", "Chưa mở được kho lưu cuộc hội thoại.")
    return state.conversations


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def summary(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "created_at": _iso(c.created),
        "updated_at": _iso(c.updated),
        "turns": c.turns,
    }


@router.get("/conversations", response_model=ConversationList, responses=_ERRORS, summary="Các cuộc hội thoại đã lưu")
def list_conversations(state: StateDep, caller: CallerDep) -> dict[str, Any]:
    found = store_of(state).listing(owner_of(caller), clearance_of(caller))
    return {"conversations": [summary(c) for c in found]}


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationOut,
    responses={**_ERRORS, 400: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    summary="Tạo cuộc hội thoại mới",
)
def create_conversation(body: ConversationIn, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    return summary(store_of(state).create(owner_of(caller), " ".join(body.title.split())))


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses=_ERRORS,
    summary="Mở một cuộc hội thoại đã lưu",
)
def get_conversation(conversation_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    found, turns, hidden = store_of(state).get(owner_of(caller), conversation_id, clearance_of(caller))
    messages = [{**t, "asked_at": _iso(t["asked_at"])} for t in turns]
    return {**summary(found), "messages": messages, "hidden": hidden}


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    responses={**_ERRORS, 422: {"model": ErrorOut}},
    summary="Đổi tên cuộc hội thoại",
)
def rename_conversation(
    conversation_id: str, body: ConversationRename, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    title = " ".join(body.title.split())
    if not title:
        raise ApiError(422, "validation_error", "Tên cuộc hội thoại không được để trống.")
    store = store_of(state)
    store.rename(owner_of(caller), conversation_id, title)
    found, _, _ = store.get(owner_of(caller), conversation_id, clearance_of(caller))
    return summary(found)


@router.delete("/conversations/{conversation_id}", status_code=204, responses=_ERRORS, summary="Xóa cuộc hội thoại")
def delete_conversation(conversation_id: str, state: StateDep, caller: CallerDep) -> Response:
    store_of(state).delete(owner_of(caller), conversation_id)
    return Response(status_code=204)
