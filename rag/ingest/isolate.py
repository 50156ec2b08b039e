"""Parsing in a child process, under limits on time, memory and output size.

`parse_file_isolated` has the contract of `rag.ingest.parse_file` but runs the parser in a worker process
(`python -m rag.ingest.worker`), so that a file which makes a parser hang, exhaust memory or crash in C code
costs one rejected file, never the ingest command or the service:

* wall time: the parent waits at most `ParseLimits.time_for(path)` seconds, then kills the worker's process
  group (a tesseract started for OCR goes with it);
* CPU time: the worker sets its soft RLIMIT_CPU before each file (SIGXCPU ends it);
* memory: the worker limits its own address space (RLIMIT_AS) when it starts; Python then raises
  `MemoryError`, which becomes a rejection, and the worker is replaced;
* output: a document over `max_doc_chars` characters or `max_doc_blocks` blocks, or a result message over
  `max_message_bytes`, is refused by the worker, and the parent reads no longer message than that. The block
  limit also bounds the work left to this process (line merging, structure, indexing) for one document.

Workers are reused across files (a pool, one worker per concurrent caller, `max_idle` kept waiting), because
starting one costs about 0.2 s and a batch of small text files would pay it every time. A worker is replaced
after any failure of its own (killed, crashed, out of memory, high peak memory), after
`PARSE_WORKER_MAX_TASKS` files, and exits by itself after `PARSE_WORKER_IDLE_S` seconds without work.

Every format is isolated, the pure-Python ones included: the cost per file is one round trip over a pipe
(well under a millisecond for a small text file, see docs/reliability.md), while a .jsonl line of a hundred
megabytes or a markdown line that makes a regular expression backtrack can hurt as much as a broken PDF.

The catalog stays in the parent: a source's fingerprint is computed and looked up here before any worker is
involved, so an unchanged file costs no parsing; a .jsonl file's records are looked up one by one, the
worker asking the parent over the connection (`known` keeps its exact meaning, including the classification).

Start method: a new interpreter (`subprocess` with `start_new_session`), never `fork` of a possibly threaded
server, and no re-import of the caller's `__main__` as multiprocessing's "spawn" would do.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from rag.config import (
    MAX_TEXT_CHARS,
    PARSE_MAX_BLOCKS,
    PARSE_MEMORY_BYTES,
    PARSE_PDF_TIME_LIMIT_S,
    PARSE_TIME_LIMIT_S,
    PARSE_WORKER_IDLE_S,
    PARSE_WORKER_MAX_TASKS,
)
from rag.errors import ParseError, UnsupportedFormat
from rag.ingest import check_size, parser_for, wire
from rag.ingest.common import KnownSource, Unchanged, source_key_for
from rag.ingest.wire import Failure, Init, Task
from rag.ingest.worker import IDLE_EXIT, MEMORY_MESSAGE, TOO_MANY_LINES_MESSAGE, TOO_MUCH_TEXT_MESSAGE
from rag.types import RawDocument

logger = logging.getLogger(__name__)

CRASH_MESSAGE = "Trình đọc tệp gặp lỗi nghiêm trọng."
START_MESSAGE = "Không khởi động được trình đọc tệp."
#: Seconds a worker has to exit after being told to, before it is killed.
_EXIT_GRACE_S = 2.0


def timeout_message(seconds: float) -> str:
    return f"Tệp xử lý quá thời gian cho phép ({seconds:.0f} giây)."


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Limits applied to the parsing of one file.

    Attributes:
        time_s: wall-clock limit (seconds) for every format but PDF.
        pdf_time_s: wall-clock limit for a PDF, whose reader has its own, larger budgets (OCR of scans).
        cpu_s: CPU-time limit (seconds); None: the file's wall-clock limit.
        memory_bytes: address space of the worker process (RLIMIT_AS).
        max_doc_chars: most characters of text one document may have.
        max_doc_blocks: most blocks (lines, paragraphs, table rows) one document may have.
        max_message_bytes: largest result message for one document (its encoded form, `rag.ingest.wire`).
    """

    time_s: float = PARSE_TIME_LIMIT_S
    pdf_time_s: float = PARSE_PDF_TIME_LIMIT_S
    cpu_s: float | None = None
    memory_bytes: int = PARSE_MEMORY_BYTES
    max_doc_chars: int = MAX_TEXT_CHARS
    max_doc_blocks: int = PARSE_MAX_BLOCKS
    max_message_bytes: int = 4 * MAX_TEXT_CHARS + 64 * 1024 * 1024

    def time_for(self, path: Path) -> float:
        return self.pdf_time_s if path.suffix.lower() == ".pdf" else self.time_s

    def cpu_for(self, path: Path) -> float:
        return self.cpu_s if self.cpu_s is not None else self.time_for(path)


@dataclass
class IsolationStats:
    """What the pool has seen since the process started (for reports and tests)."""

    files: int = 0
    started: int = 0
    timeouts: int = 0
    memory: int = 0
    crashes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "files": self.files,
            "started": self.started,
            "timeouts": self.timeouts,
            "memory": self.memory,
            "crashes": self.crashes,
        }


class _WorkerGone(Exception):
    """The worker closed its connection or died."""


#: The shape of each message a child may send: its length and the types of the items after the kind.
_SHAPES: dict[str, tuple[type | tuple[type, ...], ...]] = {
    "log": (str, int, str),
    "known": (str, str),
    "entry": ((RawDocument, Unchanged, Failure),),
    "fail": (Failure,),
    "end": (bool,),
}


def _well_formed(message: tuple[object, ...]) -> bool:
    """Whether a decoded child message has the items its kind needs (the wire format checked the records)."""
    shape = _SHAPES.get(str(message[0]))
    if shape is None or len(message) != len(shape) + 1:
        return False
    return all(
        isinstance(item, kind) and not (kind is int and isinstance(item, bool))
        for item, kind in zip(message[1:], shape, strict=True)
    )


def _rebuild(failure: Failure) -> ParseError:
    if failure.kind == "record":
        from rag.ingest.jsonl import RecordError

        return RecordError(failure.message, failure.user_message)
    if failure.kind == "unsupported":
        return UnsupportedFormat(failure.message, failure.user_message)
    return ParseError(failure.message, failure.user_message)


def _import_root() -> str:
    """The folder `rag` is imported from (the worker must import the same code)."""
    return str(Path(__file__).resolve().parents[2])


class _Worker:
    """One worker process and the parent's end of its connection."""

    def __init__(self, limits: ParseLimits, idle_s: float, max_tasks: int) -> None:
        self.limits = limits
        self.idle_s = idle_s
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        root = _import_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rag.ingest.worker", str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout may carry a command's JSON output: never the worker's
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except BaseException:
            parent_sock.close()
            raise
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.last_used = time.monotonic()
        self.busy_since: float | None = None
        init = Init(
            memory_bytes=limits.memory_bytes,
            sys_path=tuple(p for p in sys.path if p),
            log_level=logging.getLogger().getEffectiveLevel(),
            idle_s=idle_s,
            max_tasks=max_tasks,
        )
        try:
            self.conn.send_bytes(wire.dumps(("init", init)))
        except OSError:
            self.kill()
            raise

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fresh(self) -> bool:
        """Alive, and not so long idle that it may be exiting on its own right now."""
        return self.alive() and time.monotonic() - self.last_used < self.idle_s * 0.5

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.conn.close()

    def close(self) -> None:
        """Ask the worker to stop; kill it if it does not."""
        if self.alive():
            with contextlib.suppress(OSError):
                self.conn.send_bytes(wire.dumps(("quit",)))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(_EXIT_GRACE_S)
        if self.alive():
            self.kill()
        else:
            self.conn.close()

    def exit_status(self) -> int | None:
        try:
            return self.proc.wait(_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            return None

    def run(
        self,
        path: Path,
        known: KnownSource | None,
        ask_known: bool,
        limits: ParseLimits,
        records: tuple[int, int] | None = None,
    ) -> tuple[list[RawDocument | Unchanged | ParseError], bool]:
        """Parse `path` in this worker.

        Returns:
            The entries and whether the worker may be reused.

        Raises:
            ParseError: the file as a whole was refused, or the worker ran over a limit (then it is dead).
            _WorkerGone: the worker was gone before it answered anything (it may have idled out).
        """
        time_s = limits.time_for(path)
        cpu_s = limits.cpu_for(path)
        deadline = time.monotonic() + time_s
        entries: list[RawDocument | Unchanged | ParseError] = []
        failure: Failure | None = None
        answered = False
        try:
            task = Task(
                path=str(path),
                ask_known=ask_known,
                cpu_s=cpu_s,
                max_doc_chars=limits.max_doc_chars,
                max_doc_blocks=limits.max_doc_blocks,
                max_total_chars=_total_chars(path, limits),
                max_message_bytes=limits.max_message_bytes,
                records=records,
            )
            self.conn.send_bytes(wire.dumps(("task", task)))
        except OSError as exc:
            raise _WorkerGone(str(exc)) from exc
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Timeout
                if not self.conn.poll(min(left, 1.0)):
                    continue
                try:
                    data = self.conn.recv_bytes(limits.max_message_bytes + 1024)
                except (EOFError, ConnectionResetError) as exc:
                    raise _WorkerGone(str(exc)) from exc
                except OSError as exc:  # a message over the size limit
                    self.kill()
                    raise ParseError(f"{path}: oversized result ({exc})", TOO_MUCH_TEXT_MESSAGE) from exc
                try:
                    message = wire.loads(data)
                    kind = message[0]
                    if not _well_formed(message):
                        raise wire.WireError(f"malformed {kind!r} message")
                except wire.WireError as exc:  # a garbled message: the worker is not to be trusted any more
                    raise _WorkerGone(f"unreadable message: {exc!r}") from exc
                answered = True
                if kind == "log":
                    _, name, level, text = message
                    logging.getLogger(name).log(level, "%s", text)
                elif kind == "known":
                    _, source_key, sha256 = message
                    answer = bool(known(source_key, sha256)) if known is not None else False
                    self.conn.send_bytes(wire.dumps(("known", answer)))
                elif kind == "entry":
                    item = message[1]
                    entries.append(_rebuild(item) if isinstance(item, Failure) else item)
                elif kind == "fail":
                    entries, failure = [], message[1]
                elif kind == "end":
                    self.last_used = time.monotonic()
                    reusable = not message[1]
                    if failure is not None:
                        if failure.memory:
                            _STATS.memory += 1
                            logger.warning("parser worker out of memory on %s", path)
                        raise _Refused(_rebuild(failure), reusable)
                    return entries, reusable
                else:
                    raise _WorkerGone(f"unexpected message {kind!r}")
        except _WorkerGone:
            status = self.exit_status()
            if status is None:
                self.kill()
                status = self.proc.returncode
            if not answered and status == IDLE_EXIT:
                raise
            logger.warning("parser worker died on %s: %s", path, _describe(status))
            raise ParseError(f"{path}: parser worker {_describe(status)}", _status_message(status, cpu_s)) from None
        except _Timeout:
            self.kill()
            _STATS.timeouts += 1
            logger.warning("parser worker killed: %s took longer than %.0f s", path, time_s)
            raise ParseError(f"{path}: parsing took longer than {time_s:.0f} s", timeout_message(time_s)) from None
        except _Refused:
            raise
        except BaseException:
            self.kill()  # interrupted (Ctrl-C, a failing `known`): never leave a worker half-way through a file
            raise


class _Timeout(Exception):
    pass


class _Refused(Exception):
    def __init__(self, error: ParseError, reusable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.reusable = reusable


def _describe(status: int | None) -> str:
    if status is None:
        return "did not exit"
    if status < 0:
        try:
            return f"died of signal {signal.Signals(-status).name}"
        except ValueError:
            return f"died of signal {-status}"
    return f"exited with status {status}"


def _status_message(status: int | None, cpu_s: float) -> str:
    if status is not None and status == -signal.SIGXCPU:
        _STATS.timeouts += 1
        return timeout_message(cpu_s)
    _STATS.crashes += 1
    return CRASH_MESSAGE


def _total_chars(path: Path, limits: ParseLimits) -> int:
    """Most characters of text all documents of a file may have together.

    Only .jsonl files hold several documents; their text cannot be longer than the file.
    """
    if path.suffix.lower() != ".jsonl":
        return limits.max_doc_chars
    try:
        return max(limits.max_doc_chars, path.stat().st_size)
    except OSError:
        return limits.max_doc_chars


@dataclass
class WorkerPool:
    """Worker processes reused across files; thread-safe (each caller gets a worker of its own).

    Args:
        max_idle: workers kept waiting between files (more are stopped).
        idle_s: a worker unused this long exits by itself.
        max_tasks: a worker is replaced after this many files.
    """

    max_idle: int = 2
    idle_s: float = PARSE_WORKER_IDLE_S
    max_tasks: int = PARSE_WORKER_MAX_TASKS
    _idle: list[_Worker] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _pid: int = field(default_factory=os.getpid, init=False, repr=False)
    #: Workers this pool has started (the process-wide figure, over every pool, is `isolation_stats().started`).
    started: int = field(default=0, init=False)

    def _take(self, limits: ParseLimits) -> _Worker:
        stale: list[_Worker] = []
        found: _Worker | None = None
        with self._lock:
            if self._pid != os.getpid():  # a forked copy of this process: the workers belong to the parent
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                worker = self._idle.pop()
                if worker.limits == limits and worker.fresh():
                    found = worker
                    break
                stale.append(worker)
        for worker in stale:
            worker.close()
        if found is not None:
            return found
        try:
            worker = _Worker(limits, self.idle_s, self.max_tasks)
        except OSError as exc:
            logger.error("cannot start a parser worker: %r", exc)
            raise ParseError(f"cannot start a parser worker: {exc!r}", START_MESSAGE) from exc
        _STATS.started += 1
        with self._lock:
            self.started += 1
        return worker

    def _give_back(self, worker: _Worker) -> None:
        extra: _Worker | None = None
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(worker)
                if len(self._idle) > self.max_idle:
                    extra = self._idle.pop(0)
            else:
                extra = worker
        if extra is not None:
            extra.close()

    def parse(
        self,
        path: Path,
        known: KnownSource | None,
        ask_known: bool,
        limits: ParseLimits,
        records: tuple[int, int] | None = None,
    ) -> list[RawDocument | Unchanged | ParseError]:
        for attempt in range(2):
            worker = self._take(limits)
            try:
                entries, reusable = worker.run(path, known, ask_known, limits, records)
            except _WorkerGone:
                worker.kill()
                if attempt == 0:
                    continue  # it idled out just as the file was sent: once more with a new one
                raise ParseError(f"{path}: parser worker went away", CRASH_MESSAGE) from None
            except _Refused as refused:
                self._recycle(worker, refused.reusable)
                raise refused.error from None
            except ParseError:
                worker.kill()
                raise
            self._recycle(worker, reusable)
            return entries
        raise AssertionError("unreachable")

    def _recycle(self, worker: _Worker, reusable: bool) -> None:
        if reusable:
            self._give_back(worker)
            return
        # The worker exits after "end" when it asked to be replaced.
        if worker.exit_status() is None:
            worker.kill()
        else:
            worker.conn.close()

    def close(self) -> None:
        """Stop every idle worker."""
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.close()

    def idle_workers(self) -> int:
        with self._lock:
            return sum(1 for w in self._idle if w.alive())


_STATS = IsolationStats()
_DEFAULT_POOL = WorkerPool()
atexit.register(_DEFAULT_POOL.close)


def isolation_stats() -> IsolationStats:
    """Counters of this process's isolated parsing (files, workers started, timeouts, memory, crashes)."""
    return _STATS


def default_pool() -> WorkerPool:
    return _DEFAULT_POOL


def _fingerprint(path: Path) -> str:
    """SHA-256 of a file, read in chunks (the file may be large and the parent long-lived)."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise ParseError(f"{path}: {exc}", "Không đọc được tệp.") from exc


def parse_file_isolated(
    path: Path,
    known: KnownSource | None = None,
    limits: ParseLimits = ParseLimits(),  # frozen: one shared default is safe
    *,
    pool: WorkerPool | None = None,
    records: tuple[int, int] | None = None,
) -> list[RawDocument | Unchanged | ParseError]:
    """`rag.ingest.parse_file` in a worker process, under `limits`.

    Args:
        path: the file.
        known: tells whether (source_key, sha256) is stored unchanged; called in this process only.
        limits: time, CPU, memory and output limits for this file.
        pool: the workers to use (default: one pool per process).
        records: only the documents start..stop-1 of the file, as `parse_file`.

    Returns:
        As `parse_file`: one entry per document, a `ParseError` entry for a bad record of a .jsonl file.

    Raises:
        ParseError: the file cannot be read, or its parser ran over a limit or crashed (the reason says which,
            in Vietnamese).
    """
    parser_for(path)  # unsupported extensions are refused here, without a worker
    check_size(path)
    if records is not None and records[0] > 0 and path.suffix.lower() != ".jsonl":
        return []  # a file of one document has no document past the first
    ask_known = False
    if known is not None:
        if path.suffix.lower() == ".jsonl":
            ask_known = True  # record by record, the worker asks
        elif known(source_key_for(path), _fingerprint(path)):
            return [Unchanged(source_key_for(path), str(path))]
    _STATS.files += 1
    return (pool or _DEFAULT_POOL).parse(path, known, ask_known, limits, records)


__all__ = [
    "CRASH_MESSAGE",
    "MEMORY_MESSAGE",
    "TOO_MANY_LINES_MESSAGE",
    "TOO_MUCH_TEXT_MESSAGE",
    "IsolationStats",
    "ParseLimits",
    "WorkerPool",
    "default_pool",
    "isolation_stats",
    "parse_file_isolated",
    "timeout_message",
]
