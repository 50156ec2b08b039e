"""Background ingestion of uploaded files: a job table and one worker thread.

An upload is saved under a name the service chooses (never the client's), queued, and ingested by the worker;
callers follow it with `GET /api/v1/jobs/{job_id}`. One worker is enough: one ingestion at a time keeps memory
bounded, and searches go on while it parses (the index is locked only to apply a parsed document, briefly).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag import Principal

logger = logging.getLogger(__name__)

#: Finished jobs remembered for status queries (oldest forgotten first).
MAX_JOBS = 1000
JOB_STATUSES = ("queued", "running", "done", "failed")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_job_id() -> str:
    """An unguessable job id (also the stem of the saved upload)."""
    return secrets.token_hex(8)


def owner_of(principal: Principal) -> str:
    """Who owns a job: the uploader's permanent key id (a name can be given to a new key after a revocation; a key
    id never is), or the name for callers without a key (the local demo)."""
    return f"key:{principal.key_id}" if principal.key_id else f"name:{principal.name}"


@dataclass(slots=True)
class Job:
    """One upload being ingested.

    Attributes:
        job_id: the job's id.
        owner: `owner_of` the caller who uploaded (only that key and admins see the job).
        filename: the client's file name, cleaned, for display only.
        path: where the upload was saved (inside the uploads folder).
        classification: the classification the document gets.
        status: "queued", "running", "done" or "failed".
        files: ingest results, shaped like `vankien ingest --json` files (path = `filename`).
        error: why the job failed (Vietnamese), or None.
        uploader: the provenance recorded with the documents ("key:<key id> (<key name>)").
    """

    job_id: str
    owner: str
    filename: str
    path: Path
    classification: str
    status: str = "queued"
    files: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    created: str = field(default_factory=_now)
    finished: str | None = None
    uploader: str = ""


#: Runs one job: returns the ingest results, or raises (the job then fails with a generic message).
Runner = Callable[[Job], tuple[list[dict[str, Any]], str | None]]


class JobManager:
    """The job table and its worker thread.

    Args:
        runner: ingests one job's file; returns (files, error message or None).
    """

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vankien-ingest", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the job in progress, then stop (queued jobs stay queued)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].status in {"queued", "running"}:
                    break
                del self._jobs[oldest]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                job.status = "running"
            try:
                files, error = self._runner(job)
            except Exception:
                logger.exception("ingest job %s failed", job.job_id)
                files, error = [], "Lỗi không mong đợi khi nạp tài liệu."
            with self._lock:
                job.files = files
                job.error = error
                job.status = "failed" if error else "done"
                job.finished = _now()
            logger.info("ingest job %s %s", job.job_id, job.status)
