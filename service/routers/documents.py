"""Documents: list, get, upload (ingested in the background), delete. Hidden documents answer 404."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from rag import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    NotFound,
    SourceDoc,
    document_to_dict,
    paragraph_to_dict,
    supported_extensions,
)
from service.deps import AdminDep, AuditDep, CallerDep, ClientDep, EditorDep, StateDep
from service.errors import ApiError, not_found
from service.jobs import Job, new_job_id, owner_of
from service.schemas import DocumentDetail, DocumentList, DocumentText, ErrorOut, UploadAccepted
from service.state import ServiceState, can_see
from service.uploads import display_name, extension, save_upload

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/documents", tags=["tài liệu"])

_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}}

#: Most paragraphs one page of `GET /documents/{id}/paragraphs` returns.
MAX_TEXT_PARAGRAPHS = 2000


@router.get("", response_model=DocumentList, responses=_ERRORS, summary="Danh sách tài liệu được phép xem")
def list_documents(state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    docs = [document_to_dict(d, d.paragraphs) for d in state.library.documents() if can_see(caller, d.classification)]
    audit.record(caller, "GET /api/v1/documents", client=client, count=len(docs))
    return {"documents": docs}


def visible_document(state: StateDep, caller: CallerDep, doc_id: str) -> SourceDoc:
    """The document, or the same 404 whether it is missing or above the caller's clearance."""
    try:
        doc = state.library.document(doc_id)
    except NotFound:
        raise not_found("tài liệu", doc_id) from None
    if not can_see(caller, doc.classification):
        raise not_found("tài liệu", doc_id)
    return doc


@router.get("/{doc_id}", response_model=DocumentDetail, responses=_ERRORS, summary="Thông tin một tài liệu")
def get_document(doc_id: str, state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    doc = visible_document(state, caller, doc_id)
    paragraphs = state.library.paragraphs(doc_id)
    audit.record(caller, "GET /api/v1/documents/{doc_id}", doc_ids=[doc_id], client=client)
    return {
        **document_to_dict(doc, len(paragraphs), detail=True, conflicts=state.library.number_conflicts(doc, caller)),
        "paragraph_ids": [p.paragraph_id for p in paragraphs[: state.settings.paragraph_ids_shown]],
    }


@router.get(
    "/{doc_id}/paragraphs",
    response_model=DocumentText,
    responses=_ERRORS,
    summary="Toàn văn một tài liệu, theo từng đoạn",
)
def document_text(
    doc_id: str,
    state: StateDep,
    caller: CallerDep,
    audit: AuditDep,
    client: ClientDep,
    offset: Annotated[int, Query(ge=0, description="bỏ qua bao nhiêu đoạn đầu")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TEXT_PARAGRAPHS, description="tối đa bao nhiêu đoạn")] = 500,
) -> dict[str, Any]:
    """The document's paragraphs in order (headings included, with their section path), for the full-document
    viewer. Paged, so a very long document never has to come in one response."""
    visible_document(state, caller, doc_id)
    paragraphs = state.library.paragraphs(doc_id)
    shown = paragraphs[offset : offset + limit]
    audit.record(
        caller,
        "GET /api/v1/documents/{doc_id}/paragraphs",
        doc_ids=[doc_id],
        client=client,
        offset=offset,
        count=len(shown),
    )
    return {
        "doc_id": doc_id,
        "total": len(paragraphs),
        "offset": offset,
        "paragraphs": [paragraph_to_dict(p) for p in shown],
    }


def check_records(path: Path, limit: int) -> None:
    """Refuse (413) a JSON-lines upload of more than `limit` records: one file must not hold the single ingest
    worker for an hour while every other upload waits. Larger collections are for `vankien ingest`."""
    records = 0
    with path.open("rb") as fh:
        for line in fh:
            records += bool(line.strip())
            if records > limit:
                n = f"{limit:,}".replace(",", ".")  # Vietnamese thousands separator
                raise ApiError(
                    413,
                    "too_many_records",
                    f"Tệp JSONL có hơn {n} bản ghi; mỗi lần tải lên được tối đa {n} bản ghi. Hãy chia nhỏ tệp, "
                    "hoặc nhờ quản trị viên nạp bằng dòng lệnh (vankien ingest).",
                )


def check_queue(state: ServiceState, owner: str, size: int) -> None:
    """Refuse an upload the queue has no room for: 429 when the caller (or everyone) has too many uploads waiting,
    507 when their bytes would pass the caller's (or the overall) quota. `size`: the new upload's bytes (0 before
    it is saved)."""
    assert state.jobs is not None
    settings = state.settings
    backlog = state.jobs.backlog(owner)
    if backlog.owner_jobs >= settings.max_queued_jobs_per_key or backlog.total_jobs >= settings.max_queued_jobs:
        mine = backlog.owner_jobs >= settings.max_queued_jobs_per_key
        raise ApiError(
            429,
            "queue_full",
            f"Bạn đang có {backlog.owner_jobs} tệp chờ nạp (tối đa {settings.max_queued_jobs_per_key}); hãy chờ các "
            "tệp này nạp xong rồi tải tiếp."
            if mine
            else "Hàng đợi nạp tài liệu của dịch vụ đang đầy; hãy thử lại sau ít phút.",
            headers={"Retry-After": "60"},
        )
    mb = 1024 * 1024
    if size and (
        backlog.owner_bytes + size > settings.queue_quota_mb_per_key * mb
        or backlog.total_bytes + size > settings.queue_quota_mb * mb
    ):
        mine = backlog.owner_bytes + size > settings.queue_quota_mb_per_key * mb
        raise ApiError(
            507,
            "quota_exceeded",
            f"Các tệp chờ nạp của bạn đã dùng hết hạn mức {settings.queue_quota_mb_per_key:g} MB; hãy chờ chúng nạp "
            "xong rồi tải tiếp."
            if mine
            else f"Dung lượng chờ nạp của dịch vụ đã hết (tối đa {settings.queue_quota_mb:g} MB); hãy thử lại sau.",
        )


@router.post(
    "",
    status_code=202,
    response_model=UploadAccepted,
    responses={
        400: {"model": ErrorOut},
        403: {"model": ErrorOut},
        413: {"model": ErrorOut},
        429: {"model": ErrorOut},
        507: {"model": ErrorOut},
        **_ERRORS,
    },
    summary="Tải lên một tài liệu (biên tập viên); nạp chạy nền",
)
async def upload_document(
    state: StateDep,
    caller: EditorDep,
    audit: AuditDep,
    client: ClientDep,
    file: Annotated[UploadFile, File(description="tệp .pdf .docx .html .md .txt .jsonl")],
    classification: Annotated[str, Form(description=f"một trong: {', '.join(CLASSIFICATIONS)}")] = (
        DEFAULT_CLASSIFICATION
    ),
) -> dict[str, Any]:
    if classification not in CLASSIFICATIONS:
        raise ApiError(
            400,
            "invalid_request",
            f"Mức phân loại '{classification[:40]}' không hợp lệ; chọn một trong: {', '.join(CLASSIFICATIONS)}.",
        )
    if not can_see(caller, classification):
        raise ApiError(403, "forbidden", "Bạn không được tải lên tài liệu có mức phân loại cao hơn mức được phép xem.")
    name = display_name(file.filename)
    suffix = extension(name, supported_extensions())
    job_id = new_job_id()
    settings = state.settings
    assert state.jobs is not None
    owner = owner_of(caller)
    check_queue(state, owner, 0)
    path = await run_in_threadpool(
        save_upload, file.file, settings.uploads_path, suffix, classification, settings.max_upload_bytes, job_id
    )
    size = path.stat().st_size
    try:
        if suffix == ".jsonl":
            await run_in_threadpool(check_records, path, settings.max_upload_records)
        check_queue(state, owner, size)
    except ApiError:
        if not state.jobs.uses(path):  # the same content may be queued already (content-addressed name)
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    # Committed before the 202: an accepted upload survives a crash (the file is fsynced by save_upload).
    job = Job(job_id, owner, name, path, classification, uploader=f"{owner} ({caller.name})", size=size)
    await run_in_threadpool(state.jobs.submit, job)
    audit.record(
        caller,
        "POST /api/v1/documents",
        status=202,
        client=client,
        job_id=job_id,
        filename=name,
        classification=classification,
    )
    return {"job_id": job_id, "status": "queued", "filename": name}


@router.post(
    "/{doc_id}/reingest",
    status_code=202,
    response_model=UploadAccepted,
    responses={403: {"model": ErrorOut}, 409: {"model": ErrorOut}, 429: {"model": ErrorOut}, **_ERRORS},
    summary="Nạp lại một tài liệu từ tệp nguồn (quản trị viên); chạy nền",
)
def reingest_document(
    doc_id: str, state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep
) -> dict[str, Any]:
    """Parse and analyse the document's source file again (after the parser or the analysis changed), even if the
    file itself did not change; the new version replaces the old one under the same id. The provenance stays the
    original ingester's; the audit log records the admin who asked."""
    doc = visible_document(state, caller, doc_id)
    source = Path(doc.path)
    if not source.is_file():
        raise ApiError(
            409,
            "source_missing",
            "Tệp nguồn của tài liệu này không còn trên máy chủ nên không nạp lại được; hãy tải tệp lên lại.",
        )
    assert state.jobs is not None
    owner = owner_of(caller)
    check_queue(state, owner, 0)
    job = Job(
        new_job_id(),
        owner,
        display_name(source.name),
        source,
        doc.classification,
        uploader=doc.ingested_by,
        size=source.stat().st_size,
        force=True,
    )
    state.jobs.submit(job)
    audit.record(
        caller,
        "POST /api/v1/documents/{doc_id}/reingest",
        status=202,
        client=client,
        doc_ids=[doc_id],
        job_id=job.job_id,
    )
    return {"job_id": job.job_id, "status": "queued", "filename": job.filename}


@router.delete(
    "/{doc_id}",
    status_code=204,
    response_class=Response,
    responses={403: {"model": ErrorOut}, **_ERRORS},
    summary="Xóa một tài liệu (quản trị viên)",
)
def delete_document(doc_id: str, state: StateDep, caller: AdminDep, audit: AuditDep, client: ClientDep) -> Response:
    doc = visible_document(state, caller, doc_id)
    with state.gate.write():
        try:
            state.library.remove(doc_id)
        except NotFound:
            raise not_found("tài liệu", doc_id) from None
    if state.is_upload(doc.path) and not (state.jobs is not None and state.jobs.uses(Path(doc.path))):
        # an identical upload still waiting in the queue shares this file: it stays until that job has run
        with contextlib.suppress(OSError):
            Path(doc.path).unlink()
    audit.record(caller, "DELETE /api/v1/documents/{doc_id}", status=204, doc_ids=[doc_id], client=client)
    return Response(status_code=204)
