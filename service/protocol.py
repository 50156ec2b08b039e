"""uvicorn's HTTP/1.1 protocol with the limits it lacks: a deadline for request headers, an idle timeout for request
bodies, and a cap on open connections that drops the slowest first.

uvicorn closes idle keep-alive connections, but a connection that sends its headers one byte at a time is held
forever; 1,100 of them exhausted the process's file descriptors and every normal request timed out (a
slowloris attack, docs/security.md). Here:

* a connection must deliver complete request headers within `header_timeout` seconds of opening (or of the
  previous response), else it is closed;
* while a request body is arriving, `body_timeout` seconds without a byte close the connection;
* at most `max_connections` connections are open: a new one beyond the cap first closes the connection that has
  waited longest without completing its headers (a request being served is never dropped for this); if every
  connection is busy serving, the new one is closed at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    """`H11Protocol` with header and body deadlines and a connection cap (class attributes, see `guarded`)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # when this connection started waiting for request headers

    # -- deadlines ---------------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._awaiting_headers() or self.conn.their_state is h11.SEND_BODY:
            self.transport.close()

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    # -- protocol interface --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        if len(self.connections) > self.max_connections and not self._evict_slowest():
            logger.warning("connection limit %d reached; refusing a connection", self.max_connections)
            transport.close()
            return
        self._arm(self.header_timeout)

    def _evict_slowest(self) -> bool:
        """Close the connection that has waited longest for its request headers; False when none is waiting."""
        waiting = [
            c
            for c in self.connections
            if c is not self and isinstance(c, GuardedH11Protocol) and c._awaiting_headers()
            and not c.transport.is_closing()
        ]  # fmt: skip
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since)
        oldest.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            if self.conn.their_state is h11.SEND_BODY:
                self._arm(self.body_timeout)  # idle timeout: any byte of the body re-arms it
            else:
                self._disarm()  # the whole request is in; the app answers in its own time
        # else: still waiting for headers; the deadline set when waiting began stands

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()
            self._arm(self.header_timeout)  # the next request's headers (beside uvicorn's keep-alive timeout)


def guarded(header_timeout: float, body_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A `GuardedH11Protocol` class with these limits (uvicorn instantiates the class it is given)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "max_connections": max_connections},
    )
