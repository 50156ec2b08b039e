"""Limits that keep one caller from exhausting the service: request rate, body size, question length."""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ApiError, error_body
from service.state_db import StateDb

#: Callers whose buckets are remembered (least recently seen are forgotten first).
MAX_TRACKED_CALLERS = 10_000


class RateLimiter:
    """A token bucket per caller: `per_minute` requests a minute on average, `burst` at once.

    Args:
        per_minute: sustained rate; 0 disables the limiter.
        burst: bucket size (0: equal to `per_minute`).
        clock: monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, per_minute: int, burst: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.capacity = float(burst or per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _tokens(self, caller: str, now: float) -> float:
        """`caller`'s tokens at `now` (call with the lock held)."""
        tokens, last = self._buckets.get(caller, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self._rate)

    def _wait(self, tokens: float) -> float:
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def hit(self, caller: str) -> float:
        """Take one token for `caller`; returns 0 when allowed, else the seconds to wait before retrying."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(caller, now)
            wait = self._wait(tokens)
            self._buckets.pop(caller, None)  # re-inserted last: the most recently seen
            self._buckets[caller] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > MAX_TRACKED_CALLERS:
                self._buckets.popitem(last=False)
        return wait

    def waiting(self, caller: str) -> float:
        """Seconds `caller` must wait before a token is free (0 when one is), without taking it."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            return self._wait(self._tokens(caller, now))

    def check(self, caller: str) -> None:
        """Raise a 429 `ApiError` (with Retry-After) when `caller` is over the limit."""
        refuse_while(self.hit(caller), "rate_limited", f"Bạn đã gửi quá {self.per_minute} yêu cầu mỗi phút")


#: The buckets of `SharedRateLimiter`, one row per limiter and caller.
BUCKETS_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_buckets (
    limiter TEXT NOT NULL,
    caller TEXT NOT NULL,
    tokens REAL NOT NULL,
    at REAL NOT NULL,
    allowed INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (limiter, caller)
);
"""
#: A shared limiter forgets buckets that have been full this long (one in this many hits looks for them).
_PRUNE_EVERY = 1000


class SharedRateLimiter(RateLimiter):
    """The same token buckets kept in the PostgreSQL database that API replicas share (`service.state_db`), so a
    caller's requests are counted once, whichever replica they reach: N replicas do not give a caller N times the
    rate. One statement per request takes the token atomically (`INSERT ... ON CONFLICT DO UPDATE`); the clock is
    the wall clock, common to the replicas' machines.

    Args:
        db: the shared database (its `rate_buckets` table is created when missing).
        name: this limiter's name ("requests", "auth_failures"): several share the table.
        per_minute, burst: as `RateLimiter`.
    """

    def __init__(
        self, db: StateDb, name: str, per_minute: int, burst: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(per_minute, burst, clock)
        self.db = db
        self.name = name
        self._hits = 0

    def hit(self, caller: str) -> float:
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        refill = "least(?, b.tokens + (? - b.at) * ?)"
        row = self.db.execute(
            "INSERT INTO rate_buckets AS b (limiter, caller, tokens, at, allowed) VALUES (?, ?, ?, ?, 1) "
            f"ON CONFLICT (limiter, caller) DO UPDATE SET "
            f"tokens = CASE WHEN {refill} >= 1 THEN {refill} - 1 ELSE {refill} END, at = ?, "
            f"allowed = CASE WHEN {refill} >= 1 THEN 1 ELSE 0 END "
            "RETURNING tokens, allowed",
            (
                self.name,
                caller,
                self.capacity - 1.0,
                now,
                *(self.capacity, now, self._rate) * 3,
                now,
                *(self.capacity, now, self._rate),
            ),
        ).fetchone()
        self._hits += 1
        if self._hits % _PRUNE_EVERY == 0:
            self.db.execute(
                "DELETE FROM rate_buckets WHERE limiter = ? AND at < ?",
                (self.name, now - self.capacity / max(self._rate, 1e-9)),
            )
        return 0.0 if row[1] else self._wait(float(row[0]))

    def waiting(self, caller: str) -> float:
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        row = self.db.execute(
            "SELECT tokens, at FROM rate_buckets WHERE limiter = ? AND caller = ?", (self.name, caller)
        ).fetchone()
        if row is None:
            return 0.0
        return self._wait(min(self.capacity, float(row[0]) + (now - float(row[1])) * self._rate))


def refuse_while(wait: float, code: str, why: str) -> None:
    """Raise a 429 `ApiError` with Retry-After when `wait` seconds remain: "<why>; hãy thử lại sau N giây."."""
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, code, f"{why}; hãy thử lại sau {seconds} giây.", headers={"Retry-After": str(seconds)})


def check_text_length(text: str, limit: int, what: str = "Câu hỏi") -> None:
    """Raise a 400 when a question or query is longer than `limit` characters (as sent, like the OpenAPI
    document's `maxLength`)."""
    n = len(text)
    if n > limit:
        raise ApiError(400, "question_too_long", f"{what} quá dài ({n} ký tự; tối đa {limit} ký tự).")


def too_large_message(limit_bytes: int) -> str:
    return f"Nội dung gửi lên quá lớn (tối đa {limit_bytes / (1024 * 1024):.3g} MB)."


class BodyLimitMiddleware:
    """Reject request bodies over a size limit with 413, before they are read in full; and JSON bodies nested
    deeper than `MAX_JSON_DEPTH` with 400, before any parser recurses into them.

    The declared Content-Length is checked first; a body sent without one (chunked) is counted as it arrives
    and cut off at the limit.

    Args:
        app: the wrapped application.
        limit_for: the limit in bytes for a request path and method.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"], scope["method"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        depth = JsonDepth() if b"json" in content_type else None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    raise ApiError(413, "payload_too_large", too_large_message(limit))
                if depth is not None and depth.feed(body) > MAX_JSON_DEPTH:
                    raise ApiError(400, "json_too_deep", JSON_TOO_DEEP_MESSAGE)
            return message

        await self.app(scope, counting_receive, send)


#: Deepest nesting of arrays and objects accepted in a JSON body. The service's own requests need 4 levels; a
#: limit far below the JSON parser's recursion limit means a hostile body never reaches it.
MAX_JSON_DEPTH = 32
JSON_TOO_DEEP_MESSAGE = f"Nội dung JSON lồng nhau quá sâu (tối đa {MAX_JSON_DEPTH} cấp)."


class JsonDepth:
    """Tracks the nesting depth of a JSON text fed in pieces (strings and escapes understood), without parsing it."""

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0
        self._in_string = False
        self._offset = 0  # bytes consumed before the current piece
        self._escaped_at = -1  # absolute offset of the byte a backslash escapes

    def feed(self, chunk: bytes) -> int:
        """Consume the next piece; returns the deepest nesting seen so far."""
        for match in _JSON_SYNTAX.finditer(chunk):  # only brackets, quotes and backslashes matter
            at = self._offset + match.start()
            byte = match.group()
            if self._in_string:
                if at == self._escaped_at:
                    continue
                if byte == b"\\":
                    self._escaped_at = at + 1
                elif byte == b'"':
                    self._in_string = False
            elif byte == b'"':
                self._in_string = True
            elif byte in (b"[", b"{"):
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
            elif byte in (b"]", b"}"):
                self.depth -= 1
        self._offset += len(chunk)
        return self.deepest


_JSON_SYNTAX = re.compile(rb'[\[\]{}"\\]')


async def _send_413(send: Send, limit: int) -> None:
    import json

    body = json.dumps(error_body("payload_too_large", too_large_message(limit)), ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
