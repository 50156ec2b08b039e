"""A readers-writer lock between requests that read the index and a deletion.

The search indexes guard themselves (`rag.index.store.IndexStore.reading`: a search sees a document wholly before
or after a change), so uploads do not take this gate: their parsing and indexing run beside searches. A deletion
still takes it, so that no answer being composed from the deleted document is still running when the deletion
returns. Many readers run at once (FastAPI's thread pool); a writer waits for them and keeps new ones out until
it is done (writers are preferred, so a steady stream of questions cannot starve it). The lock itself is the
library's `SharedLock`, the one the index store uses.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from rag import SharedLock


class Gate:
    """Shared access for searches, exclusive access for index changes."""

    def __init__(self) -> None:
        self._lock = SharedLock()

    def read(self) -> AbstractContextManager[None]:
        return self._lock.shared()

    def write(self) -> AbstractContextManager[None]:
        return self._lock.exclusive()
