"""GET /api/v1/jobs and /api/v1/jobs/{job_id}: background ingestions, queued / running / done / failed with the
reason (an editor sees their own key's jobs; an admin every job at or below their clearance)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from service.deps import AuditDep, ClientDep, EditorDep, StateDep
from service.errors import not_found
from service.jobs import Job, owner_of
from service.schemas import ErrorOut, JobList, JobOut
from service.state import can_see

router = APIRouter(prefix="/jobs", tags=["tài liệu"])

JobStatus = Literal["queued", "running", "done", "failed"]
#: Most jobs one listing returns.
MAX_LISTED = 500


def job_to_dict(job: Job) -> dict[str, Any]:
    """A job as the API shows it (never its path on the server, its owner or its uploader's key id)."""
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


@router.get(
    "",
    response_model=JobList,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    summary="Các tệp đã tải lên và trạng thái nạp",
)
def list_jobs(
    state: StateDep,
    caller: EditorDep,
    audit: AuditDep,
    client: ClientDep,
    status: Annotated[
        Literal["queued", "running", "done", "failed"] | None, Query(description="chỉ trạng thái này")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="số tác vụ mới nhất")] = 50,
) -> dict[str, Any]:
    """The caller's newest jobs (an admin: everyone's, at or below the admin's clearance)."""
    if state.jobs is None:
        return {"jobs": []}
    if caller.role == "admin":
        jobs = [j for j in state.jobs.list(None, status, MAX_LISTED) if can_see(caller, j.classification)][:limit]
    else:
        jobs = state.jobs.list(owner_of(caller), status, limit)
    audit.record(caller, "GET /api/v1/jobs", client=client, jobs=len(jobs))
    return {"jobs": [job_to_dict(j) for j in jobs]}


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
    return job_to_dict(job)
