"""The application factory: `create_app(settings)` builds the FastAPI app; its lifespan opens the index once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag import open_library
from service import openapi
from service.audit import AuditLog, JsonLines
from service.conversations import ConversationStore
from service.errors import install_error_handlers
from service.jobs import JobManager
from service.keys import KeyStore
from service.limits import BUCKETS_SCHEMA, BodyLimitMiddleware, RateLimiter, SharedRateLimiter
from service.routers import (
    admin,
    ask,
    conversations,
    documents,
    export,
    feedback,
    health,
    jobs,
    openai_compat,
    pages,
    paragraphs,
    search,
    session,
)
from service.sessions import SessionStore
from service.settings import Settings
from service.state import ServiceState, check_startup
from service.state_db import StateDb

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
UPLOAD_PATH = f"{API_PREFIX}/documents"
#: Room for the multipart envelope around an uploaded file.
MULTIPART_OVERHEAD = 64 * 1024

DESCRIPTION = """Hỏi đáp có trích dẫn trên văn kiện, nghị quyết của Đảng. Mỗi câu trả lời dẫn đúng đoạn văn nguồn.

Xác thực: `Authorization: Bearer <khóa>` hoặc `X-API-Key: <khóa>` (tạo bằng `vankien keys create`). Khi chạy
trên 127.0.0.1 mà chưa có khóa nào, người dùng ẩn danh được đọc các tài liệu công khai.
"""


class SecurityHeaders:
    """Headers every response gets: no MIME sniffing, no referrer, no framing, no cross-origin embedding; a
    Content-Security-Policy that allows nothing unless the route set its own (the chat page and /docs do); and
    `Cache-Control: no-store` on API answers, which may carry restricted text that no browser or proxy cache
    should keep."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    )
    DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        api = path.startswith("/api/") or path.startswith("/v1/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.DEFAULT_CSP))
                if api and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def open_state(settings: Settings) -> ServiceState:
    """Open everything the app needs (blocking: run it off the event loop).

    Raises:
        ServiceConfigError: a non-loopback host without API keys.
        ConfigError: the pipeline configuration is invalid.
        StoreError: the index cannot be opened.
    """
    keys = KeyStore(settings.keys_path)
    check_startup(settings, keys)
    config = settings.pipeline_config()
    library = open_library(
        config,
        settings.index_dir,
        create=True,
        background_vectors=True,
        offload=settings.offload_indexing,
        store=settings.store,
        read_store=settings.store_read,
    )
    jobs: JobManager | None = None
    try:
        library.refresh()  # loads the search indexes, brings the lexical one up to the catalog, embeds the rest
        # in the background (a new document is searchable at once, and by meaning once its vectors are in)
        state = ServiceState(
            settings=settings,
            config=config,
            library=library,
            keys=keys,
            audit=AuditLog(settings.audit_path),
            feedback=JsonLines(settings.feedback_path),
            limiter=limiter(settings, "requests", settings.rate_limit_per_minute, settings.rate_limit_burst),
            auth_failures=limiter(settings, "auth_failures", settings.auth_failures_per_minute),
            sessions=SessionStore(settings.sessions_path, settings.session_hours * 3600, settings.store),
            conversations=ConversationStore(settings.conversations_path, settings.store),
        )
        # Accepted uploads are durable: jobs a previous process left unfinished are taken up again.
        small = int(settings.small_upload_mb * 1024 * 1024)
        state.jobs = jobs = JobManager(
            state.run_job, settings.jobs_path, small_bytes=small, store=settings.store, node=settings.node_name
        )
        if jobs.recovered:
            logger.info("%d accepted uploads still to ingest (from before the restart)", jobs.recovered)
        state.pipeline(None)
    except BaseException:
        if jobs is not None:
            jobs.close()
        library.close()
        raise
    return state


def limiter(settings: Settings, name: str, per_minute: int, burst: int = 0) -> RateLimiter:
    """A rate limiter in this process, or in the database API replicas share (`settings.store`): a caller's
    requests are then counted once across replicas."""
    if not settings.store:
        return RateLimiter(per_minute, burst)
    db = StateDb(settings.index_dir / "limits.sqlite", BUCKETS_SCHEMA, "bộ đếm giới hạn yêu cầu", settings.store)
    return SharedRateLimiter(db, name, per_minute, burst)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Văn Kiện HTTP service.

    Args:
        settings: the configuration (default: from `VANKIEN_*` environment variables).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(open_state, settings)
        app.state.vankien = state
        app.state.audit = state.audit
        assert state.jobs is not None
        state.jobs.start()
        state.ready = True
        logger.info("index %s open: %s documents", settings.index_dir, state.library.catalog.counts()["documents"])
        try:
            yield
        finally:
            state.ready = False
            await run_in_threadpool(state.jobs.close)
            if state.sessions is not None:
                state.sessions.close()
            if state.conversations is not None:
                state.conversations.close()
            state.library.close()

    app = FastAPI(
        title="Văn Kiện",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI from a CDN; /docs is served locally (routers/pages.py)
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    openapi.install(app, settings)

    def body_limit(path: str, method: str) -> int:
        if path.rstrip("/") == UPLOAD_PATH and method == "POST":
            return settings.max_upload_bytes + MULTIPART_OVERHEAD
        return settings.max_body_kb * 1024

    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    if settings.cors_origins:
        # Only the listed origins, never "*", and no cookies: keys travel in headers the browser page sets itself.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)

    app.include_router(health.router)
    for module in (ask, search, documents, paragraphs, jobs, feedback, session, conversations, export, admin):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(openai_compat.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR, check_dir=False), name="static")
    return app
