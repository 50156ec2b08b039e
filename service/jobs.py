"""Background ingestion of uploaded files: a durable job table and one worker thread.

An upload is saved under a name the service chooses (never the client's) and fsynced, its job row is committed to
`jobs.sqlite` in the index directory, and only then does the caller get 202: an accepted upload survives a crash
or a kill of the service. The worker takes queued jobs oldest first; callers follow them with
`GET /api/v1/jobs/{job_id}`.

On start, jobs a previous process left "running" were interrupted by its end: they are queued again, unless they
have already been started `MAX_ATTEMPTS` times (a file that keeps killing the service), in which case they fail
with a reason. Queued jobs are taken up again in order.

SQLite (the standard library's, the catalog's engine) rather than a queue library: the table is small, the
service already depends on SQLite's durability for the catalog, and a job's state is one row
(docs/decisions.md, "Durable ingestion").
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag import Principal
from service.state_db import StateDb

logger = logging.getLogger(__name__)

#: Finished jobs remembered for status queries (oldest forgotten first).
MAX_JOBS = 10_000
JOB_STATUSES = ("queued", "running", "done", "failed")
#: Times a job may be started before it is given up: a file that kills the service each time is not retried
#: forever.
MAX_ATTEMPTS = 3
INTERRUPTED_MESSAGE = (
    "Dịch vụ dừng đột ngột {n} lần khi đang nạp tệp này; đã ngừng thử. Hãy kiểm tra tệp hoặc báo quản trị viên."
)
UNEXPECTED_MESSAGE = "Lỗi không mong đợi khi nạp tài liệu."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    uploader TEXT NOT NULL,
    filename TEXT NOT NULL,
    path TEXT NOT NULL,
    classification TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    files TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    resume_at INTEGER NOT NULL DEFAULT 0,
    turn INTEGER NOT NULL DEFAULT 0,
    force INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    finished TEXT,
    node TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, turn, seq);
"""


#: The job table's file in the index directory.
JOBS_FILE = "jobs.sqlite"
#: The states of a job, in the order they come.
JOB_STATUSES = ("queued", "running", "done", "failed")


def _select(db: Any, owner: str | None, status: str | None, limit: int) -> list[Job]:
    where: list[str] = []
    params: list[str | int] = []
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT ?"
    return [_row_to_job(row) for row in db.execute(sql, (*params, max(0, limit))).fetchall()]


def read_jobs(
    path: Path, owner: str | None = None, status: str | None = None, limit: int = 100, store: str | None = None
) -> list[Job]:
    """The newest jobs of a service's job table, read-only (`vankien jobs`, beside a running service or not);
    empty when the service never accepted an upload. `store`: the PostgreSQL database API replicas share (their
    jobs are rows there, `service.state_db`), instead of the file at `path`.

    Raises:
        sqlite3.Error: the file is not a job table.
        StoreError: the database cannot be read.
    """
    if store:
        shared = StateDb(path, _SCHEMA, "bảng tác vụ nạp", store)
        try:
            return _select(shared, owner, status, limit)
        finally:
            shared.close()
    if not path.is_file():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return _select(db, owner, status, limit)
    finally:
        db.close()


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
        size: the upload's size in bytes (queue quotas).
        attempts: how many times a worker started it (its current work unit).
        resume_at: the first document of the file still to ingest (work units of a .jsonl).
        force: re-analyse documents whose source is unchanged (an admin's re-ingest of an existing document).
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
    size: int = 0
    attempts: int = 0
    resume_at: int = 0
    force: bool = False


#: What running a job (or its next work unit) gave: the ingest results of this run, an error message (the job
#: fails) or None, and where the next work unit starts (None: the job is finished).
JobOutcome = tuple[list[dict[str, Any]], str | None, int | None]
#: Runs one job or its next work unit; raising fails the job with a generic message.
Runner = Callable[[Job], JobOutcome]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Unfinished jobs (queued or running): how many and how many bytes, for one owner and overall."""

    owner_jobs: int
    owner_bytes: int
    total_jobs: int
    total_bytes: int


def _row_to_job(row: Any) -> Job:
    return Job(
        job_id=row["job_id"],
        owner=row["owner"],
        filename=row["filename"],
        path=Path(row["path"]),
        classification=row["classification"],
        status=row["status"],
        files=json.loads(row["files"]),
        error=row["error"],
        created=row["created"],
        finished=row["finished"],
        uploader=row["uploader"],
        size=row["size"],
        attempts=row["attempts"],
        resume_at=row["resume_at"],
        force=bool(row["force"]),
    )


class JobManager:
    """The durable job table and its worker thread.

    Jobs are taken in turns: a new job, and a job coming back for its next work unit, join the end of the line, so
    a large .jsonl alternates with the uploads that came after it. A second worker takes only small uploads
    (`small_bytes`), so one never waits behind a large document.

    With several API replicas (`store`), the table is shared: every replica sees every job's status and counts
    every job against the quotas, and each works the jobs of its own uploads (`node`), whose files are on its disk.

    Args:
        runner: ingests one job's file or next work unit (`JobOutcome`).
        path: the SQLite file (created 0600); None keeps the table in memory (tests of the worker only).
        small_bytes: uploads up to this size also have a worker of their own; 0: one worker for all.
        store: the PostgreSQL database API replicas share (`service.state_db`); None: `path`.
        node: this replica's name among those sharing the table ("" on one machine).
    """

    def __init__(
        self, runner: Runner, path: Path | None = None, small_bytes: int = 0, store: str | None = None, node: str = ""
    ) -> None:
        self._runner = runner
        self.path = path
        self.small_bytes = small_bytes
        self.node = node
        self._db = StateDb(path, _SCHEMA, "bảng tác vụ nạp", store)
        if not self._db.postgres:
            self._db.execute("PRAGMA synchronous=FULL")  # a committed job row survives power loss, not only a kill
        columns = self._db.columns("jobs")
        if "force" not in columns:  # a job table from before re-ingest
            self._db.execute("ALTER TABLE jobs ADD COLUMN force INTEGER NOT NULL DEFAULT 0")
        if "node" not in columns:  # a job table from before replicas
            self._db.execute("ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT ''")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.recovered = self._recover()

    def _transaction(self) -> contextlib.AbstractContextManager[StateDb]:
        return self._db.transaction()

    def _recover(self) -> int:
        """Queue again the jobs a previous process left running; fail those started `MAX_ATTEMPTS` times.
        Returns how many unfinished jobs there are now."""
        with self._lock, self._transaction() as db:
            rows = db.execute(
                "SELECT job_id, attempts FROM jobs WHERE status = 'running' AND node = ?", (self.node,)
            ).fetchall()
            for row in rows:
                if row["attempts"] >= MAX_ATTEMPTS:
                    db.execute(
                        "UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE job_id = ?",
                        (INTERRUPTED_MESSAGE.format(n=row["attempts"]), _now(), row["job_id"]),
                    )
                    logger.warning("ingest job %s given up after %d attempts", row["job_id"], row["attempts"])
                else:
                    db.execute("UPDATE jobs SET status = 'queued' WHERE job_id = ?", (row["job_id"],))
                    logger.info("ingest job %s interrupted; queued again", row["job_id"])
            queued: int = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND node = ?", (self.node,)
            ).fetchone()[0]
        return queued

    # -- the worker ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._threads:
            self._stopping = False
            lanes = [None] + ([self.small_bytes] if self.small_bytes > 0 else [])
            for lane in lanes:
                name = "vankien-ingest" if lane is None else "vankien-ingest-small"
                thread = threading.Thread(target=self._work, args=(lane,), name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs in progress, then stop (queued jobs stay queued, for the next start)."""
        if self._threads:
            with self._wake:
                self._stopping = True
                self._wake.notify_all()
            for thread in self._threads:
                thread.join(timeout)
            self._threads = []

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._db.close()

    def _next(self, max_size: int | None = None) -> Job | None:
        """Take the queued job whose turn it is (marking it running, one more attempt), waiting for one; None to
        stop. `max_size`: only uploads up to that many bytes."""
        with self._wake:
            while not self._stopping:
                size = "" if max_size is None else f" AND size <= {int(max_size)}"
                row = self._db.execute(
                    f"SELECT * FROM jobs WHERE status = 'queued' AND node = ?{size} ORDER BY turn, seq LIMIT 1",
                    (self.node,),
                ).fetchone()
                if row is not None:
                    with self._transaction() as db:
                        db.execute(
                            "UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE job_id = ?",
                            (row["job_id"],),
                        )
                    job = _row_to_job(row)
                    job.status, job.attempts = "running", job.attempts + 1
                    return job
                self._wake.wait(5.0)
        return None

    def _work(self, max_size: int | None = None) -> None:
        while (job := self._next(max_size)) is not None:
            try:
                files, error, resume_at = self._runner(job)
            except Exception:
                logger.exception("ingest job %s failed", job.job_id)
                files, error, resume_at = [], UNEXPECTED_MESSAGE, None
            all_files = json.dumps(job.files + files, ensure_ascii=False)
            with self._wake, self._transaction() as db:
                if resume_at is not None and error is None:  # the next work unit waits for its turn
                    db.execute(
                        "UPDATE jobs SET status = 'queued', files = ?, resume_at = ?, attempts = 0, "
                        "turn = (SELECT COALESCE(MAX(turn), 0) + 1 FROM jobs) WHERE job_id = ?",
                        (all_files, resume_at, job.job_id),
                    )
                    self._wake.notify_all()
                    continue
                status = "failed" if error else "done"
                db.execute(
                    "UPDATE jobs SET status = ?, files = ?, error = ?, finished = ? WHERE job_id = ?",
                    (status, all_files, error, _now(), job.job_id),
                )
                self._prune(db)
            logger.info("ingest job %s %s", job.job_id, status)

    @staticmethod
    def _prune(db: StateDb) -> None:
        db.execute(
            "DELETE FROM jobs WHERE status IN ('done', 'failed') AND seq <= "
            "(SELECT seq FROM jobs WHERE status IN ('done', 'failed') ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (MAX_JOBS,),
        )

    # -- the table ----------------------------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Record a job durably (committed before this returns) and wake the worker."""
        with self._wake:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO jobs (job_id, owner, uploader, filename, path, classification, size, status, "
                    "created, force, node, turn) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, "
                    "(SELECT COALESCE(MAX(turn), 0) + 1 FROM jobs))",
                    (
                        job.job_id,
                        job.owner,
                        job.uploader,
                        job.filename,
                        str(job.path),
                        job.classification,
                        job.size,
                        job.created,
                        int(job.force),
                        self.node,
                    ),
                )
            self._wake.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row is not None else None

    def list(self, owner: str | None = None, status: str | None = None, limit: int = 100) -> list[Job]:
        """The newest `limit` jobs, of `owner` and in `status` when given."""
        with self._lock:
            return _select(self._db, owner, status, limit)

    def backlog(self, owner: str) -> Backlog:
        """Unfinished jobs of `owner` and of everyone (bounds and quotas are checked against it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes, "
                "COALESCE(SUM(CASE WHEN owner = ? THEN 1 ELSE 0 END), 0) AS mine, "
                "COALESCE(SUM(CASE WHEN owner = ? THEN size END), 0) AS my_bytes "
                "FROM jobs WHERE status IN ('queued', 'running')",
                (owner, owner),
            ).fetchone()
        return Backlog(int(row["mine"]), int(row["my_bytes"]), int(row["n"]), int(row["bytes"]))

    def uses(self, path: Path, other_than: str | None = None) -> bool:
        """Whether an unfinished job (other than `other_than`) will still read the file at `path`. An upload's file
        is shared by identical uploads (content-addressed): deleting a document, or a failed job cleaning up, must
        not take it from a job that has yet to run."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM jobs WHERE path = ? AND node = ? AND status IN ('queued', 'running') AND job_id != ? "
                "LIMIT 1",
                (str(path), self.node, other_than or ""),
            ).fetchone()
        return row is not None
