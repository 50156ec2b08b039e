"""Crash-safe file writes and the crash-test hook, shared by every index file writer.

The lexical index, the vector index and the store all write snapshots the same way: a temp file beside the
target, fsync, rename over it, fsync the directory. This module sits below all of them, so none imports another
to reach these helpers.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: Test hook for the crash-safety harness (tools/kill_ingest.py): "point" or "point@n" makes the process announce
#: the n-th arrival (default 1st) at that named point on stderr and sleep there, so it can be killed mid-write.
#: Unset in production: each point then costs one environment lookup.
PAUSE_ENV = "VANKIEN_PAUSE_AT"
_pause_hits: dict[str, int] = {}


def pause_point(name: str) -> None:
    """Announce and sleep at a named point when `PAUSE_ENV` asks for it (see there); otherwise do nothing."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _pause_hits[name] = _pause_hits.get(name, 0) + 1
    if _pause_hits[name] == (int(nth) if nth.isdigit() else 1):
        sys.stderr.write(f"VANKIEN_PAUSED {name}\n")
        sys.stderr.flush()
        time.sleep(120.0)


def write_atomic(path: Path, data: bytes | npt.NDArray[Any], *, pause: str | None = None) -> None:
    """Write `data` (bytes, or an array saved as .npy without pickle) to `path` crash-safely.

    The data goes to a temp file beside `path`, is fsynced, and renamed over `path`: a reader sees the old file
    or the new one, never a part. `pause` names a crash-test point between the fsync and the rename.
    """
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    # Private to the service's user (0600): index files hold restricted text and its statistics.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # an older temp file left by a crash keeps its mode otherwise
    with os.fdopen(fd, "wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            np.save(fh, data, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    if pause:
        pause_point(pause)
    os.replace(tmp, path)


#: Modes of the files and folders an index is made of: readable by the service's user only.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(directory: Path) -> Path:
    """Create `directory` (and missing parents) as 0700 and make an existing one 0700; returns it."""
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != PRIVATE_DIR:
        os.chmod(directory, PRIVATE_DIR)
    return directory


def fsync_dir(directory: Path) -> None:
    """Make the renames inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
