"""Limits that keep one caller from exhausting the service: request rate, body size, question length."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ApiError, error_body

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

    def hit(self, caller: str) -> float:
        """Take one token for `caller`; returns 0 when allowed, else the seconds to wait before retrying."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
            while len(self._buckets) > MAX_TRACKED_CALLERS:
                self._buckets.popitem(last=False)
        return wait

    def check(self, caller: str) -> None:
        """Raise a 429 `ApiError` (with Retry-After) when `caller` is over the limit."""
        wait = self.hit(caller)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"Bạn đã gửi quá {self.per_minute} yêu cầu mỗi phút; hãy thử lại sau {seconds} giây.",
                headers={"Retry-After": str(seconds)},
            )


def check_text_length(text: str, limit: int, what: str = "Câu hỏi") -> None:
    """Raise a 400 when a question or query is longer than `limit` characters."""
    n = len(text.strip())
    if n > limit:
        raise ApiError(400, "question_too_long", f"{what} quá dài ({n} ký tự; tối đa {limit} ký tự).")


def too_large_message(limit_bytes: int) -> str:
    return f"Nội dung gửi lên quá lớn (tối đa {limit_bytes / (1024 * 1024):.3g} MB)."


class BodyLimitMiddleware:
    """Reject request bodies over a size limit with 413, before they are read in full.

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

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiError(413, "payload_too_large", too_large_message(limit))
            return message

        await self.app(scope, counting_receive, send)


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
