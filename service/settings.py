"""Service settings (pydantic-settings, environment prefix `VANKIEN_`).

The index directory reads `VANKIEN_INDEX`, like every `vankien` command; the other files of the service (API
keys, audit log, feedback, uploads) live inside it unless configured otherwise.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag import PipelineConfig, load_config

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class Settings(BaseSettings):
    """Everything the service can be told from outside.

    Attributes:
        index_dir: the index directory (env `VANKIEN_INDEX`).
        host, port: where `vankien serve` listens. On a non-loopback host the service refuses to start
            without API keys.
        config: a pipeline configuration file (TOML, the format of eval/configs/; env `VANKIEN_CONFIG`); None:
            the defaults.
        embedder: embedder spec to open the index with (None: the configuration's, else the one it was built
            with).
        store: a PostgreSQL database holding the documents, shared by several API replicas (env `VANKIEN_STORE`,
            a postgresql:// URI; docs/scale.md); None: the catalog inside `index_dir`. With a store, `index_dir`
            holds this replica's search indexes (rebuilt from the database when missing) and its own files.
        store_read: a streaming replica of that database for this replica's reads (env `VANKIEN_STORE_READ`).
        node: this replica's name among those sharing `store` (env `VANKIEN_NODE`; default: host name and index
            folder).
        llm_url, llm_model: an OpenAI-compatible LLM server and model to answer with (env `VANKIEN_LLM_URL`,
            `VANKIEN_LLM_MODEL`); they override the configuration file, and a URL selects the LLM generator.
        llm_api_key: that server's key (env `VANKIEN_LLM_API_KEY`); never logged.
        rate_limit_per_minute: requests per minute per API key (per client address for anonymous callers);
            0 disables the limit.
        rate_limit_burst: requests a caller may make at once before the per-minute rate applies (0: the
            per-minute figure).
        max_question_chars: longest question or search query accepted.
        max_history_turns: earlier turns of a conversation taken into account.
        max_upload_mb: largest uploaded file.
        max_body_kb: largest request body other than an upload.
        keys_file, audit_log, feedback_log, uploads_dir: default to files inside `index_dir`.
        paragraph_ids_shown: how many paragraph ids `GET /documents/{id}` lists.
        max_upload_records: most records (non-empty lines) of an uploaded .jsonl file (413 beyond).
        ingest_unit_records: records of a .jsonl ingested per turn (the job then waits its turn again).
        ingest_timeout_s: longest one ingest child (a file, or a work unit) may run.
        small_upload_mb: uploads up to this size also have an ingest worker of their own, so they never wait
            behind a large one (0: one worker).
        offload_indexing: tokenise and embed new paragraphs in helper processes at idle CPU priority, so that
            searches never wait for that work (False: in the serving process).
        max_queued_jobs_per_key, max_queued_jobs: uploads waiting or being ingested, per key and overall; beyond
            them an upload gets 429.
        queue_quota_mb_per_key, queue_quota_mb: bytes of those uploads, per key and overall; beyond them 507.
        header_timeout_s: seconds a connection has to send complete request headers (slowloris defence).
        body_timeout_s: seconds a request body may pause before the connection is closed.
        max_connections: open connections at most; beyond it the one waiting longest for its headers is closed.
        trusted_proxies: addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
            (env `VANKIEN_TRUSTED_PROXIES`, a JSON list). Empty by default: the client address is the socket's,
            whatever headers say.
        auth_failures_per_minute: wrong keys allowed per client address and minute (burst the same);
            beyond it the address gets 429 before any key is checked.
        session_hours: how long a chat-page sign-in lasts (the HttpOnly session cookie, `service.sessions`).
        export_font: a TrueType font with Vietnamese letters for PDF export (its bold face beside it, named
            "...-Bold"); None: the first usable of the usual system fonts (`service.export.FONT_CANDIDATES`).
        cors_origins: web origins ("https://cong-cu.noi-bo.vn") whose pages may call the API from a browser
            (env `VANKIEN_CORS_ORIGINS`, a JSON list). Empty by default: only the service's own pages can, and a
            wildcard is refused (docs/security.md).
    """

    model_config = SettingsConfigDict(env_prefix="VANKIEN_", extra="ignore", populate_by_name=True)

    index_dir: Path = Field(default=Path("index"), validation_alias=AliasChoices("VANKIEN_INDEX", "index_dir"))
    host: str = "127.0.0.1"
    port: int = 8000
    config: Path | None = None
    embedder: str | None = None
    store: str | None = None
    store_read: str | None = None
    node: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    rate_limit_per_minute: int = Field(default=120, ge=0)
    rate_limit_burst: int = Field(default=0, ge=0)
    max_question_chars: int = Field(default=1000, ge=10)
    max_history_turns: int = Field(default=10, ge=0)
    max_upload_mb: float = Field(default=20.0, gt=0)
    max_body_kb: int = Field(default=256, ge=1)
    keys_file: Path | None = None
    audit_log: Path | None = None
    feedback_log: Path | None = None
    uploads_dir: Path | None = None
    paragraph_ids_shown: int = Field(default=200, ge=0)
    max_upload_records: int = Field(default=100_000, ge=1)
    ingest_unit_records: int = Field(default=2000, ge=1)
    ingest_timeout_s: float = Field(default=3600.0, gt=0)
    small_upload_mb: float = Field(default=1.0, ge=0)
    offload_indexing: bool = True
    max_queued_jobs_per_key: int = Field(default=20, ge=1)
    max_queued_jobs: int = Field(default=200, ge=1)
    queue_quota_mb_per_key: float = Field(default=200.0, gt=0)
    queue_quota_mb: float = Field(default=2000.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=500, ge=1)
    trusted_proxies: list[str] = Field(default_factory=list)
    auth_failures_per_minute: int = Field(default=10, ge=0)
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    export_font: Path | None = None
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if (
                "*" in origin
                or parts.scheme not in {"http", "https"}
                or not parts.hostname
                or parts.path not in {"", "/"}
                or parts.query
                or parts.fragment
            ):
                raise ValueError(f"CORS origin {origin!r} must be an exact scheme://host[:port], never a wildcard")
        return [o.rstrip("/") for o in origins]

    def pipeline_config(self) -> PipelineConfig:
        """The pipeline this service answers with: the configuration file, then these settings over it.

        Raises:
            ConfigError: the file or a value is invalid (the message names which).
        """
        return load_config(
            self.config,
            embedder=self.embedder,
            generator="llm" if self.llm_url else None,
            llm_url=self.llm_url,
            llm_model=self.llm_model,
            llm_api_key=self.llm_api_key.get_secret_value() if self.llm_api_key else None,
        )

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.index_dir / "keys.json"

    @property
    def sessions_path(self) -> Path:
        """Chat-page sign-in sessions, beside the key file they refer to."""
        return self.keys_path.with_name("sessions.sqlite")

    @property
    def conversations_path(self) -> Path:
        """Saved chat-page conversations (`service.conversations`), beside the key file."""
        return self.keys_path.with_name("conversations.sqlite")

    @property
    def audit_path(self) -> Path:
        return self.audit_log or self.index_dir / "audit.jsonl"

    @property
    def feedback_path(self) -> Path:
        return self.feedback_log or self.index_dir / "feedback.jsonl"

    @property
    def node_name(self) -> str:
        """This replica's name among the API replicas sharing `store` (the jobs of its uploads, whose files are on
        its disk, are its own): `node`, else host name and index folder; "" without a shared store."""
        if not self.store:
            return ""
        import socket

        return self.node or f"{socket.gethostname()}:{self.index_dir.resolve()}"

    @property
    def jobs_path(self) -> Path:
        """The durable job table (`service.jobs`)."""
        from service.jobs import JOBS_FILE

        return self.index_dir / JOBS_FILE

    @property
    def uploads_path(self) -> Path:
        return self.uploads_dir or self.index_dir / "uploads"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_loopback(self) -> bool:
        return self.host.strip().lower() in LOOPBACK_HOSTS
