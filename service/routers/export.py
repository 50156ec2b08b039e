"""POST /api/v1/export: an answer or a whole conversation as a DOCX or PDF file.

Every citation is looked up again in the library with the caller's clearance: the footnotes (document title,
number, date, section, paragraph id) and the classification marking come from the documents, never from the
request, and a paragraph the caller may not see answers 404 like a missing one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from rag import CLASSIFICATIONS, NotFound, Principal
from service.deps import AuditDep, CallerDep, ClientDep, StateDep
from service.errors import ApiError, not_found
from service.export import (
    ExportTurn,
    ExportUnavailable,
    Note,
    Report,
    export_name,
    find_font,
    highest,
    printable,
    renumber,
    to_docx,
    to_pdf,
)
from service.routers.conversations import clearance_of, owner_of, store_of
from service.schemas import ErrorOut, ExportRequest
from service.state import ServiceState, can_see

router = APIRouter(tags=["hội thoại"])

MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def _turns_of(state: ServiceState, caller: Principal, body: ExportRequest) -> tuple[list[dict[str, Any]], str]:
    """The turns to export as {question, answer, citations: [{marker, paragraph_id, ...}]}, and the floor of the
    marking (a saved turn's level counts even when its paragraphs are gone from the library)."""
    if (body.conversation_id is None) == (not body.turns):
        raise ApiError(
            400,
            "invalid_request",
            "Hãy gửi hoặc conversation_id (một cuộc hội thoại đã lưu) hoặc turns (các lượt hỏi đáp), một trong hai.",
        )
    if body.conversation_id is None:
        if body.turn is not None:
            raise ApiError(400, "invalid_request", "turn chỉ dùng kèm conversation_id.")
        return [t.model_dump() for t in body.turns], CLASSIFICATIONS[0]
    try:
        _, saved, _ = store_of(state).get(owner_of(caller), body.conversation_id, clearance_of(caller))
    except NotFound:
        raise not_found("cuộc hội thoại", body.conversation_id) from None
    if body.turn is not None:
        if body.turn > len(saved):
            raise not_found("lượt hỏi đáp", str(body.turn))
        saved = [saved[body.turn - 1]]
    turns = [
        {
            "question": t["question"],
            "answer": t["answer"].get("answer", ""),
            "citations": t["answer"].get("citations", []),
        }
        for t in saved
    ]
    return turns, highest(t.get("classification", CLASSIFICATIONS[0]) for t in saved)


def _note(state: ServiceState, caller: Principal, number: int, cited: dict[str, Any]) -> Note:
    paragraph_id = str(cited["paragraph_id"])
    library = state.library
    try:
        paragraph = library.paragraph(paragraph_id)
        doc = library.document(paragraph.doc_id)
    except NotFound:
        # re-ingested or deleted since the answer: keep what the answer itself said, if anything
        title = str(cited.get("title") or "Đoạn không còn trong thư viện")
        return Note(number, title, cited.get("number"), cited.get("issued"), str(cited.get("section") or ""),
                    paragraph_id, CLASSIFICATIONS[0])  # fmt: skip
    if not can_see(caller, doc.classification):
        raise not_found("đoạn", paragraph_id)
    return Note(number, doc.title, doc.number, doc.issued, paragraph.section, paragraph_id, doc.classification)


def build_report(
    state: ServiceState, caller: Principal, turns: Sequence[dict[str, Any]], title: str, floor: str
) -> Report:
    """The report: answers renumbered so that footnotes run through the whole file, notes from the library."""
    out: list[ExportTurn] = []
    number = 0
    for turn in turns:
        numbers: dict[int, int] = {}
        notes: list[Note] = []
        for cited in turn.get("citations") or []:
            marker = int(cited["marker"])
            if marker in numbers:
                continue
            number += 1
            numbers[marker] = number
            notes.append(_note(state, caller, number, cited))
        question, answer = printable(str(turn["question"])).strip(), printable(str(turn["answer"]))
        out.append(ExportTurn(question, renumber(answer, numbers), tuple(notes)))
    levels = [n.classification for t in out for n in t.notes]
    return Report(
        title=printable(title) or "Hỏi đáp văn kiện có trích dẫn",
        marking=highest([floor, *levels]),
        exported_at=time.strftime("%d/%m/%Y %H:%M"),
        exported_by="" if caller.name in {"", "anonymous", "local"} else caller.name,
        turns=tuple(out),
    )


@router.post(
    "/export",
    response_class=Response,
    responses={
        200: {"content": {MEDIA_TYPES["docx"]: {}, MEDIA_TYPES["pdf"]: {}}, "description": "Tệp DOCX hoặc PDF"},
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        404: {"model": ErrorOut},
        429: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="Xuất câu trả lời hoặc cả cuộc hội thoại ra DOCX/PDF (trích dẫn thành chú thích)",
)
async def export(
    body: ExportRequest, state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep
) -> Response:
    turns, floor = _turns_of(state, caller, body)
    report = build_report(state, caller, turns, body.title.strip(), floor)
    try:
        fonts = find_font(state.settings.export_font)
    except ExportUnavailable as exc:
        if body.format == "pdf":
            raise ApiError(503, "export_unavailable", str(exc)) from None
        fonts = None  # DOCX then names a font every Word has, without embedding one
    if body.format == "pdf":
        assert fonts is not None
        content = await run_in_threadpool(to_pdf, report, fonts)
    else:
        content = await run_in_threadpool(to_docx, report, fonts)
    name = export_name(report, body.format)
    audit.record(
        caller,
        "POST /api/v1/export",
        client=client,
        format=body.format,
        turns=len(report.turns),
        paragraph_ids=[n.paragraph_id for t in report.turns for n in t.notes],
        marking=report.marking,
    )
    return Response(
        content,
        media_type=MEDIA_TYPES[body.format],
        headers={
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )
