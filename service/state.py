"""What the application holds while it runs: one library, one pipeline per k, keys, logs, limits, jobs."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import (
    Library,
    PipelineConfig,
    Principal,
    QAPipeline,
    Retriever,
    VanKienError,
    build_pipeline,
    build_retriever,
    classification_rank,
)
from service.audit import AuditLog, JsonLines
from service.gate import Gate
from service.jobs import Job, JobManager
from service.keys import KeyStore
from service.limits import RateLimiter
from service.settings import Settings

logger = logging.getLogger(__name__)


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

        The store prepares the changes while searches go on and applies them in one brief exclusive step
        (`IndexStore.sync`); when an upload of this process is already syncing, this returns at once and the
        request reads the last applied state.
        """
        store = self.library.store
        last_change = store.catalog.last_change()
        if last_change != store.applied:
            store.sync(wait=False)
        if store.vectors is not None and last_change != store.vectors_applied:
            store.start_vector_worker()  # returns at once; one worker at a time

    def run_job(self, job: Job) -> tuple[list[dict[str, Any]], str | None]:
        """Ingest one uploaded file (the `JobManager`'s runner).

        No lock that searches need is held here: parsing and analysis run beside them, the catalog commits the
        document in one short transaction, and the store applies it to the search indexes in one brief exclusive
        step after preparing it (tokens, vectors) without blocking searches.
        """
        report = self.library.ingest([job.path], job.classification, ingested_by=job.uploader or job.owner)
        files = [
            {
                "path": job.filename,
                "status": r.status,
                "reason": r.reason,
                "doc_id": r.doc_id,
                "paragraphs": r.paragraphs,
            }
            for r in report.results
        ]
        rejected = [f for f in files if f["status"] == "rejected"]
        if files and len(rejected) == len(files):
            with contextlib.suppress(OSError):
                job.path.unlink()
            return files, str(rejected[0]["reason"]) or "Tệp bị từ chối."
        return files, None

    def is_upload(self, path: str) -> bool:
        """Whether a document's source file is one of the service's uploads."""
        try:
            return Path(path).resolve().is_relative_to(self.settings.uploads_path.resolve())
        except (OSError, ValueError):
            return False
