"""Append-only JSON-lines logs: the audit log (who asked what, which paragraphs came back) and feedback.

An audit record holds the caller's key name, role and clearance, the endpoint, the caller's own input (their
question or the id they asked for) and the ids of the paragraphs or documents returned to them. It never holds
paragraph text, so it cannot carry text above the caller's clearance. Every field is bounded (`bounded`), so a
request with a huge path or question adds at most a few KB. Each record is one `write` on a file
opened in append mode (O_APPEND), so concurrent writers never interleave within a line.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag import Principal

logger = logging.getLogger(__name__)


class JsonLines:
    """An append-only JSON-lines file (created with mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: Longest string kept in an audit field (a question is at most `max_question_chars` when accepted; a rejected
#: one, a path or a file name is cut here), and most items kept of a list.
MAX_FIELD_CHARS = 1000
MAX_ITEMS = 100


def bounded(value: Any) -> Any:
    """A field value cut to the audit log's bounds, so no request can write more than a few KB into it: strings
    to `MAX_FIELD_CHARS` (marked "…"), lists to `MAX_ITEMS`."""
    if isinstance(value, str):
        return value if len(value) <= MAX_FIELD_CHARS else value[: MAX_FIELD_CHARS - 1] + "…"
    if isinstance(value, (list, tuple)):
        return [bounded(v) for v in list(value)[:MAX_ITEMS]]
    return value


class AuditLog:
    """Who did what through the service.

    Args:
        path: the JSON-lines file.
    """

    def __init__(self, path: Path) -> None:
        self._file = JsonLines(path)

    @property
    def path(self) -> Path:
        return self._file.path

    def record(
        self,
        principal: Principal | None,
        endpoint: str,
        *,
        status: int = 200,
        question: str | None = None,
        paragraph_ids: Sequence[str] = (),
        doc_ids: Sequence[str] = (),
        client: str | None = None,
        **extra: Any,
    ) -> None:
        """Append one record; a failure to write is logged, never raised at the caller.

        Args:
            principal: the caller (None when authentication failed).
            endpoint: "METHOD /path" of the route.
            status: HTTP status returned.
            question: the caller's question or query, as they sent it.
            paragraph_ids: paragraphs returned to the caller (only ones they may see).
            doc_ids: documents returned or acted upon (only ones they may see).
            client: the client address.
            extra: small scalar fields (job id, error code, counts).
        """
        record: dict[str, Any] = {
            "ts": _now(),
            "key": principal.name if principal else None,
            "role": principal.role if principal else None,
            "clearance": principal.clearance if principal else None,
            "endpoint": endpoint,
            "status": status,
        }
        if client:
            record["client"] = client
        if question is not None:
            record["question"] = question
        if paragraph_ids:
            record["paragraph_ids"] = list(paragraph_ids)
        if doc_ids:
            record["doc_ids"] = list(doc_ids)
        record.update(extra)
        record = {name: bounded(value) for name, value in record.items()}
        try:
            self._file.append(record)
        except OSError:
            logger.exception("cannot write the audit log %s", self.path)
