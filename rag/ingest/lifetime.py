"""Child processes that end with their parent and give way to it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time

#: How often a child checks that the process that started it is still there.
PARENT_CHECK_S = 0.5


def die_with_parent(parent: int | None = None) -> None:
    """Exit this process as soon as its parent is gone, even in the middle of work.

    A child blocked on a pipe from its parent sees it close, but one busy in a parser or an analysis would not
    notice (after a server was killed, its workers kept parsing for 1-3 minutes). A daemon thread watches the
    parent id: a dead parent's children are re-parented, so the id changes. Linux's parent-death signal is not
    used: it fires when the *thread* that started the child ends, and the service starts children from
    short-lived threads.

    Args:
        parent: the parent's pid as the caller knows it (default: `os.getppid()` now).
    """
    expected = os.getppid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(PARENT_CHECK_S)
        os._exit(3)

    threading.Thread(target=watch, name="vankien-parent-watch", daemon=True).start()


def killed_with_parent(parent: int) -> bool:
    """Have the kernel SIGKILL this process when its parent dies (Linux's parent-death signal); exit at once if
    the parent is gone already. Returns whether the signal could be set.

    For a child its parent may stop (SIGSTOP, `rag.index.offload.ForegroundGate`): a stopped process runs no
    watcher thread, and the kernel's SIGHUP to an orphaned process group with stopped members comes only when
    every thread of the child has stopped, which a loaded machine can delay past the parent's death (seen as a
    helper left stopped for good, once in a dozen runs with both cores busy). SIGKILL needs neither.

    The signal follows the parent *thread* that started this process: the parent must start it from a thread
    that lives as long as it does (`rag.index.offload` starts helpers from one such thread)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ok = bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        ok = False
    if os.getppid() != parent:  # it died before the signal was set
        os._exit(3)
    return ok


_PR_SET_PDEATHSIG = 1


def yield_cpu(*, before_idle: bool = False) -> str:
    """Let this process run only on CPU time nothing else wants: `SCHED_IDLE`, else `nice 19`. Returns which.

    With `before_idle`: `nice 19` under `SCHED_BATCH` ("batch"), still far below the serving process (a weight of
    15 against 1024, and a waking search is not preempted by it) but ahead of the `SCHED_IDLE` processes (weight 3).
    For the work that makes an upload searchable (parsing, committing, tokenising): embedding, which follows at its
    own pace at idle priority, then does not halve its speed."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH if before_idle else os.SCHED_IDLE, os.sched_param(0))
        policy = "batch" if before_idle else "idle"
    except (AttributeError, OSError):
        policy = "nice"
    if policy == "idle":
        return policy  # the idle class has no nice levels
    try:
        os.nice(19 - os.nice(0))
    except OSError:
        return "normal" if policy == "nice" else policy
    return policy
