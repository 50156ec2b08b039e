"""A readers-writer lock between requests that read the index and a deletion.

The search indexes guard themselves (`rag.index.store.IndexStore.reading`: a search sees a document wholly before
or after a change), so uploads do not take this gate: their parsing and indexing run beside searches. A deletion
still takes it, so that no answer being composed from the deleted document is still running when the deletion
returns. Many readers run at once (FastAPI's thread pool); a writer waits for them and keeps new ones out until
it is done (writers are preferred, so a steady stream of questions cannot starve it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    """Shared access for searches, exclusive access for index changes."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
