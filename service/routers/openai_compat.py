"""OpenAI-compatible chat completions, so tools built on OpenAI client libraries call Văn Kiện unchanged.

The last user message is the question; earlier user/assistant messages are the conversation; system messages
are ignored (the answer comes from the documents, not from instructions). The citations travel in an extra
top-level field `citations` (the ask JSON citations) and `vankien` carries the rest of the answer. Streaming
sends `chat.completion.chunk` lines ending with `data: [DONE]`; the last chunk carries the citations and, in
`vankien.answer`, the verified answer text (which replaces the streamed draft if they differ).
Filters may be passed as an extra body field `filters` (same shape as in /api/v1/ask). `model` must be the one
`GET /v1/models` lists (404 otherwise); `max_tokens` / `max_completion_tokens` cut the answer after that many words
(`finish_reason` "length", citations of the cut text only); `stop` ends it before a stop sequence; `user` is
written to the audit log; sampling fields are checked and have no effect on an answer extracted from the documents
(`ChatCompletionRequest`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from rag import Answer, Filters, Principal, StreamEvent, VanKienError, answer_to_dict, check_query, validate_filters
from service.audit import AuditLog
from service.deps import AuditDep, CallerDep, ClientDep, PipelinesDep, StateDep
from service.errors import ApiError
from service.gate import Gate
from service.limits import check_text_length
from service.routers.ask import GENERIC_STREAM_ERROR, returned_ids
from service.schemas import ChatCompletion, ChatCompletionRequest, ChatMessage, ErrorOut, FiltersIn
from service.streaming import SSE_HEADERS, guarded, sse

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["tương thích OpenAI"])

MODEL_ID = "vankien"
ENDPOINT = "POST /v1/chat/completions"


def conversation(messages: Sequence[ChatMessage], max_turns: int) -> tuple[str, list[dict[str, Any]]]:
    """(question, history): the last user message and the user/assistant turns before it."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise ApiError(400, "invalid_request", "Cần ít nhất một tin nhắn của người dùng (role 'user').")
    turns: list[dict[str, Any]] = []
    for m in messages[:last]:
        if m.role == "user":
            turns.append({"question": m.text()})
        elif m.role == "assistant" and turns and "answer" not in turns[-1]:
            turns[-1]["answer"] = m.text()
    turns = [t for t in turns if t["question"].strip()]
    return messages[last].text(), (turns[-max_turns:] if max_turns else [])


def _filters(body: ChatCompletionRequest) -> Filters | None:
    raw = (body.model_extra or {}).get("filters")
    if raw is None:
        return None
    try:
        return validate_filters(FiltersIn.model_validate(raw).to_filters())
    except ValidationError:
        raise ApiError(422, "validation_error", "Trường 'filters' không hợp lệ.") from None


def _words(text: str) -> int:
    return len(text.split())


def cut_words(text: str, limit: int) -> str:
    """The first `limit` words of `text` (whitespace kept between them, none after the last)."""
    words = re.findall(r"\s*\S+", text)
    return "".join(words[:limit]) if len(words) > limit else text


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to (not including) the earliest stop sequence, and whether one was found."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)


def _cited_in(citations: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The citations whose marker ("[n]") is still in `text`."""
    return [c for c in citations if f"[{c.get('marker')}]" in text]


def _check_model(model: str) -> None:
    if model != MODEL_ID:
        raise ApiError(
            404,
            "model_not_found",
            f"Không có mô hình '{model[:60]}'; dịch vụ này có một mô hình: '{MODEL_ID}' (xem GET /v1/models).",
        )


def _extra(answer: Answer, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "question": data["question"],
        "answer": data["answer"],
        "abstained": answer.abstained,
        "rewritten_question": data["rewritten_question"],
        "nearest": data["nearest"],
    }


@router.get("/models", summary="Danh sách mô hình (tương thích OpenAI)")
def list_models(caller: CallerDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    audit.record(caller, "GET /v1/models", client=client)
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "vankien"}]}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}},
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        404: {"model": ErrorOut, "description": "mô hình không có (xem GET /v1/models)"},
        429: {"model": ErrorOut},
    },
    summary="Chat completions (tương thích OpenAI), kèm trích dẫn",
)
def chat_completions(
    body: ChatCompletionRequest,
    state: StateDep,
    caller: CallerDep,
    audit: AuditDep,
    client: ClientDep,
    pipelines: PipelinesDep,
) -> Any:
    _check_model(body.model)
    question, history = conversation(body.messages, state.settings.max_history_turns)
    check_text_length(question, state.settings.max_question_chars)
    check_query(question)  # refused with 400 before a stream starts
    filters = _filters(body)
    state.catch_up()
    pipeline = pipelines(None)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    end_user: dict[str, Any] = {"end_user": body.user} if body.user else {}
    if body.stream:
        events = pipeline.ask_stream(question, history, filters, caller)
        chunks = _chunks(
            events,
            state.gate,
            audit,
            caller,
            client,
            question,
            completion_id,
            created,
            body.model,
            body.token_limit(),
            body.stops(),
            end_user,
        )
        return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)
    with state.gate.read():
        answer = pipeline.ask(question, history, filters, caller)
    data = answer_to_dict(answer)
    audit.record(
        caller,
        ENDPOINT,
        question=question,
        paragraph_ids=returned_ids(answer),
        client=client,
        abstained=answer.abstained,
        **end_user,
    )
    prompt_tokens = _words(question) + sum(_words(t["question"]) + _words(t.get("answer", "")) for t in history)
    limit = body.token_limit()
    stopped, _ = cut_at_stop(answer.text, body.stops())
    content = cut_words(stopped, limit) if limit else stopped
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "length" if content != stopped else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _words(content),
            "total_tokens": prompt_tokens + _words(content),
        },
        "citations": _cited_in(data["citations"], content),
        "vankien": _extra(answer, data),
    }


def _chunks(
    events: Iterator[StreamEvent],
    gate: Gate,
    audit: AuditLog,
    caller: Principal,
    client: str | None,
    question: str,
    completion_id: str,
    created: int,
    model: str,
    limit: int | None = None,
    stops: Sequence[str] = (),
    end_user: dict[str, Any] | None = None,
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }
        return sse(None, body)

    def shown(text: str, final: bool) -> str:
        """What of the answer so far may be sent: up to a stop sequence, within the word limit, and (until the
        end) without a tail that could be the start of a stop sequence split across chunks."""
        cut, hit = cut_at_stop(text, stops)
        if not hit and not final and hold:
            cut = cut[:-hold]
        return cut_words(cut, limit) if limit is not None else cut

    hold = max((len(s) for s in stops), default=1) - 1
    yield chunk({"role": "assistant", "content": ""})
    drafted = ""  # the streamed text so far
    sent = ""  # what the client has received (`limit` counts its words)
    try:
        for event in guarded(events, gate):
            if event.kind == "delta" and event.text:
                drafted += event.text
                piece = shown(drafted, final=False)[len(sent) :]
                sent += piece
                if piece:
                    yield chunk({"content": piece})
            elif event.kind == "answer" and event.answer is not None:
                answer = event.answer
                data = answer_to_dict(answer)
                audit.record(
                    caller,
                    ENDPOINT,
                    question=question,
                    paragraph_ids=returned_ids(answer),
                    client=client,
                    abstained=answer.abstained,
                    stream=True,
                    **(end_user or {}),
                )
                final = shown(drafted, final=True)
                if final.startswith(sent) and len(final) > len(sent):  # the tail held back for a stop sequence
                    yield chunk({"content": final[len(sent) :]})
                    sent = final
                stopped, _ = cut_at_stop(answer.text, stops)
                cut = limit is not None and cut_words(stopped, limit) != stopped
                shortened = cut or stopped != answer.text
                citations = _cited_in(data["citations"], sent) if shortened else data["citations"]
                yield chunk({}, "length" if cut else "stop", citations=citations, vankien=_extra(answer, data))
            elif event.kind == "done":
                break
    except VanKienError as exc:
        audit.record(caller, ENDPOINT, status=400, question=question, client=client, error=type(exc).__name__)
        yield sse(None, {"error": {"code": "invalid_request", "message": exc.user_message, "type": "invalid_request"}})
    except Exception:
        logger.exception("streamed chat completion failed")
        audit.record(caller, ENDPOINT, status=500, question=question, client=client, error="internal_error")
        yield sse(
            None, {"error": {"code": "internal_error", "message": GENERIC_STREAM_ERROR, "type": "internal_error"}}
        )
    yield sse(None, "[DONE]")
