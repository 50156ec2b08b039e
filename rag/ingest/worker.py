"""The parsing child process: `python -m rag.ingest.worker FD`, started and driven by `rag.ingest.isolate`.

It reads files with `rag.ingest.parse_file` under limits set on itself (address space for its lifetime, CPU time
per file) and sends the results back over the connection on file descriptor FD. The parent owns the catalog:
whether a source is already stored is asked of it over the same connection.

Protocol (every message a tuple in the typed JSON of `rag.ingest.wire`, both ways; never pickle: the parent must
not run code a subverted child sends it):

* parent -> child, once: an `Init` record; then a `Task` per file, or `("quit",)`.
* child -> parent, per file: any number of `("log", logger, level, message)` and `("known", source_key,
  sha256)` (answered with a bool), then `("entry", doc)` per document or `("fail", failure)` for the whole file,
  then `("end", recycle)`. A child asking to be recycled exits after "end".

A child that has waited `idle_s` for work exits with `IDLE_EXIT`; one whose connection closes exits quietly.
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import os
import resource
import sys
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.errors import ParseError
from rag.ingest import wire
from rag.ingest.lifetime import die_with_parent
from rag.ingest.wire import Failure, Init, Task

#: Exit status of a child that stopped because it had no work for `idle_s` seconds.
IDLE_EXIT = 75
#: Environment variable naming extra parsers, "ext=module:function;..." (a test hook: registered in the child
#: only, for an extension the parent accepts too).
EXTRA_PARSERS_ENV = "VANKIEN_ISOLATE_EXTRA_PARSERS"
#: Most log records forwarded to the parent per file (a malformed PDF can make pypdf warn thousands of times).
MAX_LOG_RECORDS = 100
#: Longest forwarded log message (characters).
MAX_LOG_CHARS = 2000

MEMORY_MESSAGE = "Tệp cần quá nhiều bộ nhớ để đọc."
TOO_MUCH_TEXT_MESSAGE = "Tệp có quá nhiều chữ để xử lý."
TOO_MANY_LINES_MESSAGE = "Tệp có quá nhiều dòng để xử lý."


def _caused_by_memory(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def to_failure(exc: BaseException) -> Failure:
    """The transportable form of an error met while parsing."""
    from rag.errors import UnsupportedFormat
    from rag.ingest.jsonl import RecordError

    if _caused_by_memory(exc):
        return Failure("parse", f"out of memory: {exc!r}"[:MAX_LOG_CHARS], MEMORY_MESSAGE, memory=True)
    if isinstance(exc, ParseError):
        kind = (
            "record"
            if isinstance(exc, RecordError)
            else "unsupported"
            if isinstance(exc, UnsupportedFormat)
            else "parse"
        )
        return Failure(kind, str(exc)[:MAX_LOG_CHARS], exc.user_message)
    if isinstance(exc, RecursionError):
        return Failure("parse", f"{exc!r}", "Tệp quá phức tạp để đọc.")
    return Failure("parse", f"unexpected {exc!r}"[:MAX_LOG_CHARS], "Tệp bị hỏng hoặc không đọc được.")


class _Forward(logging.Handler):
    """Sends log records to the parent, which logs them with its own configuration."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn
        self.sent = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.sent >= MAX_LOG_RECORDS:
            return
        self.sent += 1
        try:
            message = record.getMessage()[:MAX_LOG_CHARS]
            self.conn.send_bytes(wire.dumps(("log", record.name, record.levelno, message)))
        except Exception:  # logging must never break parsing
            self.sent = MAX_LOG_RECORDS


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _resident_bytes() -> int:
    """Resident memory now (Linux /proc; elsewhere 0, and the peak test alone applies)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _limit_memory(memory_bytes: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A child killed by SIGXCPU or SIGABRT must not leave a core file of its whole address space behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_cpu(seconds: float | None) -> None:
    """Set the soft CPU limit `seconds` from now (SIGXCPU ends the process); None lifts it.

    The hard limit stays where it was, so that a reused child can move its soft limit for every file.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if seconds is None:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        return
    soft = int(_cpu_used() + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _install_extra_parsers() -> None:
    spec = os.environ.get(EXTRA_PARSERS_ENV, "")
    if not spec:
        return
    from rag import ingest

    for item in spec.split(";"):
        ext, _, target = item.partition("=")
        if ext and target:
            ingest._PARSERS[ext.strip().lower()] = target.strip()


def _text_chars(doc: Any) -> int:
    return sum(len(b.text) for b in doc.blocks) + len(doc.title_hint or "")


class _Session:
    """One child: reads tasks until told to quit, idle too long, or recycled."""

    def __init__(self, conn: Connection, init: Init) -> None:
        self.conn = conn
        self.init = init
        self.tasks = 0
        # The peak this process inherited: a child started with vfork/exec reports its parent's peak RSS as its own
        # `ru_maxrss` from the start, so only a peak above this one is the child's doing.
        self.inherited_peak = _peak_bytes()
        self.forward = _Forward(conn)

    def send(self, message: tuple[Any, ...]) -> None:
        self.conn.send_bytes(wire.dumps(message))

    def known(self, source_key: str, sha256: str) -> bool:
        self.send(("known", source_key, sha256))
        return wire.loads(self.conn.recv_bytes())[1] is True

    def run(self) -> int:
        while True:
            if not self.conn.poll(self.init.idle_s):
                return IDLE_EXIT
            try:
                message = wire.loads(self.conn.recv_bytes())
            except (EOFError, OSError, wire.WireError):
                return 0
            task = message[1] if message[0] == "task" and len(message) == 2 else None
            if not isinstance(task, Task):
                return 0
            self.tasks += 1
            if self.parse(task):
                return 0

    def parse(self, task: Task) -> bool:
        """Parse one file and send its results; returns whether this child should be replaced."""
        self.forward.sent = 0
        path = Path(task.path)
        _limit_cpu(task.cpu_s)
        try:
            return self._parse(path, task)
        except MemoryError:
            self.send(("fail", Failure("parse", f"{path}: out of memory", MEMORY_MESSAGE, memory=True)))
            return self.end(True)
        finally:
            _limit_cpu(None)

    def _parse(self, path: Path, task: Task) -> bool:
        from rag.ingest import parse_file
        from rag.ingest.common import Unchanged

        try:
            entries: list[Any] = list(parse_file(path, self.known if task.ask_known else None, task.records))
        except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError, EOFError):
            raise
        except BaseException as exc:  # every failure of a parser becomes a value, SystemExit included
            failure = to_failure(exc)
            self.send(("fail", failure))
            return self.end(failure.memory)
        multi = path.suffix.lower() == ".jsonl"
        total = 0
        for i, entry in enumerate(entries):
            if isinstance(entry, ParseError | Unchanged):
                continue
            chars = _text_chars(entry)
            over = None
            if chars > task.max_doc_chars:
                over = f"{chars} characters", TOO_MUCH_TEXT_MESSAGE
            elif len(entry.blocks) > task.max_doc_blocks:
                over = f"{len(entry.blocks)} blocks", TOO_MANY_LINES_MESSAGE
            if over is not None and multi:  # one record too big: that record is refused, not the file
                record = entry.metadata.get("record", "?")
                entries[i] = Failure("record", f"{path}#{record}: {over[0]}", f"Bản ghi {record}: {over[1]}")
                continue
            total += chars
            if over is None and total > task.max_total_chars:
                over = f"{total} characters in all", TOO_MUCH_TEXT_MESSAGE
            if over is not None:
                self.send(("fail", Failure("parse", f"{path}: {over[0]}", over[1])))
                return self.end(True)
        # Entries go one message each; a "fail" after some of them voids the file's results.
        entries.reverse()
        while entries:
            entry = entries.pop()
            if isinstance(entry, ParseError):
                item: Any = to_failure(entry)
            elif isinstance(entry, Unchanged | Failure):
                item = entry
            else:
                item = replace(entry, metadata=dict(entry.metadata))
            payload = wire.dumps(("entry", item))
            if len(payload) > task.max_message_bytes:
                self.send(("fail", Failure("parse", f"{path}: result of {len(payload)} bytes", TOO_MUCH_TEXT_MESSAGE)))
                return self.end(True)
            self.conn.send_bytes(payload)
        return self.end(False)

    def end(self, recycle: bool) -> bool:
        # A child that once held much memory keeps it (fragmentation, the peak never falls): replace it.
        limit = self.init.memory_bytes // 2
        peak = _peak_bytes()
        grown = peak > self.inherited_peak and peak > limit
        recycle = recycle or grown or _resident_bytes() > limit or self.tasks >= self.init.max_tasks
        self.send(("end", recycle))
        return recycle


def main(argv: list[str] | None = None) -> int:
    """Serve parse requests on the connection whose file descriptor is the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m rag.ingest.worker FD (started by rag.ingest.isolate)", file=sys.stderr)
        return 2
    die_with_parent()  # a worker busy in a parser still ends with the process that started it
    conn = Connection(int(args[0]))
    try:
        message = wire.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return 0
    except wire.WireError:
        return 2
    init = message[1] if message[0] == "init" and len(message) == 2 else None
    if not isinstance(init, Init):
        return 2
    for entry in reversed(init.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    faulthandler.enable()  # a crash in C code leaves its Python stack on stderr
    _limit_memory(init.memory_bytes)
    _install_extra_parsers()
    session = _Session(conn, init)
    root = logging.getLogger()
    root.handlers[:] = [session.forward]
    root.setLevel(init.log_level)
    # Imported here (not at start-up) so that a child that only reads text never loads pypdf or lxml.
    importlib.import_module("rag.ingest")
    try:
        return session.run()
    except (BrokenPipeError, ConnectionResetError, EOFError):
        return 0  # the parent went away


if __name__ == "__main__":
    # Run the canonical module, not this copy named __main__: the records it sends must be
    # `rag.ingest.worker.Failure`, the class the wire format knows.
    from rag.ingest.worker import main as canonical_main

    sys.exit(canonical_main())
