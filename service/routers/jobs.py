"""GET /api/v1/jobs/{job_id}: the state of a background ingestion (its uploader and admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import AuditDep, ClientDep, EditorDep, StateDep
from service.errors import not_found
from service.jobs import owner_of
from service.schemas import ErrorOut, JobOut
from service.state import can_see

router = APIRouter(prefix="/jobs", tags=["tài liệu"])


@router.get(
    "/{job_id}",
    response_model=JobOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    summary="Trạng thái nạp một tệp đã tải lên",
)
def get_job(job_id: str, state: StateDep, caller: EditorDep, audit: AuditDep, client: ClientDep) -> dict[str, Any]:
    job = state.jobs.get(job_id) if state.jobs is not None else None
    mine = job is not None and job.owner == owner_of(caller)
    if job is None or not (mine or (caller.role == "admin" and can_see(caller, job.classification))):
        raise not_found("tác vụ", job_id)
    audit.record(caller, "GET /api/v1/jobs/{job_id}", client=client, job_id=job_id, job_status=job.status)
    return {
        "job_id": job.job_id,
        "status": job.status,
        "files": job.files,
        "error": job.error,
        "filename": job.filename,
        "classification": job.classification,
        "created": job.created,
        "finished": job.finished,
    }
