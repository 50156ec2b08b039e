"""POST /api/v1/ask and /api/v1/ask/stream: answers with checked citations, whole or as server-sent events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from rag import Answer, Filters, Principal, StreamEvent, VanKienError, answer_to_dict, check_query, validate_filters
from service.audit import AuditLog
from service.deps import AuditDep, CallerDep, ClientDep, PipelinesDep, StateDep
from service.gate import Gate
from service.limits import check_text_length
from service.routers.conversations import answer_level, clearance_of, owner_of, store_of
from service.schemas import AskRequest, AskResponse, ErrorOut
from service.state import ServiceState
from service.streaming import SSE_HEADERS, guarded, sse

logger = logging.getLogger(__name__)

router = APIRouter(tags=["hỏi đáp"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    404: {"model": ErrorOut, "description": "`conversation_id` không có trong các cuộc hội thoại của người hỏi"},
    422: {"model": ErrorOut},
    429: {"model": ErrorOut},
}
GENERIC_STREAM_ERROR = "Đã xảy ra lỗi khi soạn câu trả lời; hãy thử lại."


def returned_ids(answer: Answer) -> list[str]:
    """Ids of the paragraphs an answer shows its reader (citations, then nearest documents' paragraphs)."""
    ids = [c.hit.paragraph_id for c in answer.citations] + [h.paragraph_id for h in answer.nearest]
    return list(dict.fromkeys(ids))


def _inputs(body: AskRequest, state: ServiceState, caller: Principal) -> tuple[list[dict[str, Any]], Filters | None]:
    """The history and filters of a request, after the checks that need no index (400 when one fails; 404 for a
    conversation the caller does not have): a streamed answer is refused before its stream starts, like a plain
    one. Without `history`, a named conversation's saved turns are the history."""
    check_text_length(body.question, state.settings.max_question_chars)
    check_query(body.question)
    filters = validate_filters(body.filters.to_filters()) if body.filters else None
    limit = state.settings.max_history_turns
    if body.conversation_id is not None:
        store = store_of(state)
        store.check(owner_of(caller), body.conversation_id)
        if not body.history:
            return store.history(owner_of(caller), body.conversation_id, clearance_of(caller), limit), filters
    return body.history_dicts(limit), filters


def _record(state: ServiceState, caller: Principal, conversation_id: str | None, answer: Answer) -> None:
    """Save an answered turn into the caller's conversation (the answer as the service gave it)."""
    if conversation_id is not None:
        store_of(state).append(
            owner_of(caller), conversation_id, answer.question, answer_to_dict(answer), answer_level(answer)
        )


@router.post("/ask", response_model=AskResponse, responses=_ERRORS, summary="Hỏi, nhận câu trả lời có trích dẫn")
def ask(
    body: AskRequest, state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep, pipelines: PipelinesDep
) -> dict[str, Any]:
    history, filters = _inputs(body, state, caller)
    state.catch_up()
    pipeline = pipelines(body.k)
    with state.gate.read():
        answer = pipeline.ask(body.question, history, filters, caller)
    _record(state, caller, body.conversation_id, answer)
    audit.record(
        caller,
        "POST /api/v1/ask",
        question=body.question,
        paragraph_ids=returned_ids(answer),
        client=client,
        abstained=answer.abstained,
    )
    return answer_to_dict(answer)


def answer_events(
    events: Iterator[StreamEvent],
    gate: Gate,
    audit: AuditLog,
    caller: Principal,
    endpoint: str,
    question: str,
    client: str | None,
    on_answer: Callable[[Answer], None] | None = None,
) -> Iterator[str]:
    """The pipeline's events as SSE: delta..., answer, done; or error then done. `on_answer` gets the verified
    answer before it is sent (a saved conversation records it)."""
    try:
        for event in guarded(events, gate):
            if event.kind == "delta":
                yield sse("delta", {"text": event.text})
            elif event.kind == "answer" and event.answer is not None:
                ids = returned_ids(event.answer)
                audit.record(
                    caller,
                    endpoint,
                    question=question,
                    paragraph_ids=ids,
                    client=client,
                    abstained=event.answer.abstained,
                )
                if on_answer is not None:
                    on_answer(event.answer)
                yield sse("answer", answer_to_dict(event.answer))
            elif event.kind == "done":
                break
    except VanKienError as exc:
        audit.record(caller, endpoint, status=400, question=question, client=client, error=type(exc).__name__)
        yield sse("error", {"message": exc.user_message})
    except Exception:
        logger.exception("streamed answer failed")
        audit.record(caller, endpoint, status=500, question=question, client=client, error="internal_error")
        yield sse("error", {"message": GENERIC_STREAM_ERROR})
    yield sse("done", {})


@router.post(
    "/ask/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS},
    summary="Hỏi, nhận câu trả lời dạng luồng (server-sent events)",
    description="Sự kiện theo thứ tự: `delta` {text} (lặp lại), `answer` (câu trả lời đã kiểm tra, thay thế phần "
    "chữ đã nhận), `done` {}. Khi lỗi: `error` {message} rồi `done`.",
)
def ask_stream(
    body: AskRequest, state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep, pipelines: PipelinesDep
) -> StreamingResponse:
    history, filters = _inputs(body, state, caller)
    state.catch_up()
    events = pipelines(body.k).ask_stream(body.question, history, filters, caller)

    def record(answer: Answer) -> None:
        _record(state, caller, body.conversation_id, answer)

    stream = answer_events(
        events, state.gate, audit, caller, "POST /api/v1/ask/stream", body.question, client, on_answer=record
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
