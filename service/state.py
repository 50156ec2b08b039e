"""What the application holds while it runs: one library, one pipeline per k, keys, logs, limits, jobs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rag import (
    ENV_STORE,
    Library,
    PipelineConfig,
    Principal,
    QAPipeline,
    Retriever,
    VanKienError,
    build_pipeline,
    build_retriever,
    classification_rank,
    release_free_memory,
)
from service.audit import AuditLog, JsonLines
from service.conversations import ConversationStore
from service.gate import Gate
from service.jobs import Job, JobManager, JobOutcome
from service.keys import KeyStore
from service.limits import RateLimiter
from service.sessions import SessionStore
from service.settings import Settings

logger = logging.getLogger(__name__)

#: The folder `service` and `rag` are imported from (the ingest child must import the same code).
_ROOT = str(Path(__file__).resolve().parents[1])
INGEST_CRASH_MESSAGE = (
    "Tiến trình nạp tài liệu dừng bất thường; tệp chưa được nạp. Hãy kiểm tra tệp hoặc báo quản trị viên."
)
INGEST_TIMEOUT_MESSAGE = (
    "Nạp tệp quá {s:g} giây nên đã dừng; hãy chia nhỏ tệp hoặc nhờ quản trị viên nạp bằng dòng lệnh."
)


class ServiceConfigError(VanKienError):
    """The service may not start as configured (for instance: a public address without API keys)."""

    default_user_message = "Cấu hình dịch vụ không hợp lệ."


def check_startup(settings: Settings, keys: KeyStore) -> None:
    """Refuse a configuration that would expose documents without keys.

    Raises:
        ServiceConfigError: the host is not loopback and no API key is configured.
    """
    if not settings.is_loopback and keys.is_empty():
        raise ServiceConfigError(
            f"refusing to listen on {settings.host} without API keys",
            f"Không khởi động: dịch vụ lắng nghe trên địa chỉ {settings.host} (không phải 127.0.0.1) nhưng chưa có "
            "khóa API nào. Hãy tạo khóa trước: vankien keys create --role reader --clearance cong-khai "
            f"--index {settings.index_dir}",
        )


def can_see(principal: Principal, classification: str) -> bool:
    """Whether the caller's clearance covers a document's classification."""
    try:
        return classification_rank(classification) <= classification_rank(principal.clearance)
    except ValueError:
        return False


@dataclass
class ServiceState:
    """The objects one running application shares between requests."""

    settings: Settings
    config: PipelineConfig
    library: Library
    keys: KeyStore
    audit: AuditLog
    feedback: JsonLines
    limiter: RateLimiter
    auth_failures: RateLimiter = field(default_factory=lambda: RateLimiter(10))
    gate: Gate = field(default_factory=Gate)
    jobs: JobManager | None = None
    sessions: SessionStore | None = None
    conversations: ConversationStore | None = None
    ready: bool = False
    _pipelines: dict[int, QAPipeline] = field(default_factory=dict)
    _retrievers: dict[str, Retriever] = field(default_factory=dict)
    _pipelines_lock: threading.Lock = field(default_factory=threading.Lock)

    def pipeline(self, k: int | None = None) -> QAPipeline:
        """The configured question-answering pipeline, giving `k` paragraphs to the generator (default: the
        configuration's)."""
        key = k or self.config.k
        with self._pipelines_lock:
            found = self._pipelines.get(key)
            if found is None:
                found = build_pipeline(dataclasses.replace(self.config, k=key), self.library)
                self._pipelines[key] = found
            return found

    def retriever(self, mode: str | None = None) -> Retriever:
        """The configured retriever, or the configuration's with another mode ("hybrid", "lexical", "dense")."""
        if mode is None or mode == self.config.mode:
            return self.pipeline().retriever
        with self._pipelines_lock:
            found = self._retrievers.get(mode)
            if found is None:
                found = build_retriever(dataclasses.replace(self.config, mode=mode), self.library.store)
                self._retrievers[mode] = found
            return found

    def catch_up(self) -> None:
        """Apply catalog changes made by another process (`vankien ingest` beside the service).

        The store prepares the changes in a background thread while searches go on, and applies them in one
        brief exclusive step (`IndexStore.catch_up`); the request reads the last applied state at once.
        """
        store = self.library.store
        store.catch_up()  # in a background thread: a request never does an ingest's work
        if store.vectors is not None and store.catalog.last_change() != store.vectors_applied:
            store.start_vector_worker()  # returns at once; one worker at a time

    def run_job(self, job: Job) -> JobOutcome:
        """Ingest one uploaded file, or its next work unit (the `JobManager`'s runner).

        Parsing, analysis and the catalog commit run in a child process (`service.ingest_worker`), so they cost
        this process neither memory nor the CPU time its searches need; a .jsonl is taken `ingest_unit_records`
        records at a time, and the job goes back to the queue between units, so other uploads are not starved.
        Here the store then applies the new catalog changes: prepared beside the searches, applied in one brief
        exclusive step; vectors follow in the background.
        """
        unit = self.settings.ingest_unit_records
        is_records = job.path.suffix.lower() == ".jsonl"
        command = [
            sys.executable,
            "-m",
            "service.ingest_worker",
            str(job.path),
            "--index",
            str(self.settings.index_dir),
            "--classification",
            job.classification,
            "--ingested-by",
            job.uploader or job.owner,
        ]
        if is_records:
            command += ["--start", str(job.resume_at), "--limit", str(unit)]
        if job.force:
            command.append("--force")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_ROOT, os.environ.get("PYTHONPATH"))))}
        if self.settings.store:  # the child commits to the shared database (its primary), as this process reads
            env[ENV_STORE] = self.settings.store
        try:
            done = subprocess.run(
                command, capture_output=True, env=env, timeout=self.settings.ingest_timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return [], INGEST_TIMEOUT_MESSAGE.format(s=self.settings.ingest_timeout_s), None
        if done.returncode != 0:
            logger.error("ingest child for job %s ended with %s: %s", job.job_id, done.returncode, done.stderr[-2000:])
            return [], INGEST_CRASH_MESSAGE, None
        result = json.loads(done.stdout)
        files = [{**f, "path": job.filename} for f in result["files"]]
        self.library.refresh()  # the serving process applies what the child committed
        release_free_memory()  # and gives back what applying it freed
        next_start = job.resume_at + unit
        if is_records and next_start < int(result["documents"]):
            return files, None, next_start
        all_files = job.files + files
        rejected = [f for f in all_files if f["status"] == "rejected"]
        if all_files and len(rejected) == len(all_files):
            # only the service's own upload is removed: a re-ingest reads the operator's file where it lies
            if self.is_upload(str(job.path)) and (
                self.jobs is None or not self.jobs.uses(job.path, other_than=job.job_id)
            ):
                with contextlib.suppress(OSError):
                    job.path.unlink()
            return files, str(rejected[0]["reason"]) or "Tệp bị từ chối.", None
        return files, None, None

    def is_upload(self, path: str) -> bool:
        """Whether a document's source file is one of the service's uploads."""
        try:
            return Path(path).resolve().is_relative_to(self.settings.uploads_path.resolve())
        except (OSError, ValueError):
            return False
