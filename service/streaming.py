"""Helpers for streamed answers: server-sent event framing and taking the read lock for retrieval only."""

from __future__ import annotations

import json
from collections.abc import Iterator

from rag import StreamEvent
from service.gate import Gate

#: `no-store`, not `no-cache`: a streamed answer may carry restricted text, which no browser or proxy may keep
#: (`no-store` also implies revalidation, so nothing is served stale either).
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def sse(event: str | None, data: object) -> str:
    """One server-sent event; `data` is JSON on a single line (or the literal string for OpenAI's [DONE])."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"


def guarded(events: Iterator[StreamEvent], gate: Gate) -> Iterator[StreamEvent]:
    """The pipeline's events, with the first one produced under the index read lock.

    `QAPipeline.ask_stream` retrieves before its first event and never touches the index afterwards, so the
    lock is held only while retrieving, not while the answer trickles out to a slow client.
    """
    with gate.read():
        first = next(events, None)
    if first is None:
        return
    yield first
    yield from events
