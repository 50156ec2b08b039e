"""Handing memory back to the system after a burst of indexing work.

A serving process that applied a large upload held on to ~150 MB more than the same index opened afresh
(docs/reliability.md): glibc's allocator keeps freed blocks in per-thread arenas, and the tokenised batches,
catalog rows and temporary arrays of a sync are freed in many threads. `malloc_trim` returns the free pages of
every arena. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> bool:
    """Return the allocator's free memory to the system (glibc `malloc_trim(0)`). Returns whether it could."""
    libc = _libc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - a libc without it
        return False
    return True
