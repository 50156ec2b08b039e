"""The CPU-heavy part of indexing (tokenising, embedding) in a helper process beside a serving process.

A serving process that tokenised or embedded new paragraphs itself made its own searches wait: the work held the
interpreter lock and both cores, and a query's embedding queued behind a batch of documents in the same engine
(search p95 went from 13 ms to 1.3 s while an upload was embedded, docs/reliability.md). With `IndexStore.offload`
the store sends that work to helper processes instead, one per kind of work so that a long embedding never delays
a lexical update. A helper runs under `SCHED_IDLE` (or `nice 19` where that is refused): it uses the CPUs only
when the searches leave them idle. It exits when its parent does (`die_with_parent`).

The wire format is length-prefixed JSON for requests and a JSON header plus raw array bytes for replies: no pickle
crosses the pipe. A helper that dies is started again once for the request that found it dead; an error inside
it is raised here as a `StoreError`.

    python -m rag.index.offload --embedder e5      # started by `IndexingHelper`, not by hand
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from rag.errors import StoreError

logger = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("<Q")
#: No request or reply is larger than this (a batch of 20,000 paragraphs' postings is ~100 MB).
MAX_MESSAGE: Final = 1 << 31
_USER_MESSAGE: Final = "Tiến trình phụ lập chỉ mục gặp lỗi; tài liệu mới chưa được đưa vào tìm kiếm, hãy thử lại sau."


@functools.cache
def _spawner() -> concurrent.futures.ThreadPoolExecutor:
    """One thread, kept for the life of the process, that starts the helpers (`IndexingHelper._start`)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vankien-helper-spawn")


_ROOT: Final = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write_message(out: IO[bytes], header: dict[str, Any], arrays: Sequence[npt.NDArray[Any]] = ()) -> None:
    specs = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    head = json.dumps({**header, "arrays": specs}, ensure_ascii=False).encode("utf-8")
    out.write(_HEADER.pack(len(head)))
    out.write(head)
    for a in arrays:
        out.write(np.ascontiguousarray(a).tobytes())
    out.flush()


def _read_exact(src: IO[bytes], n: int) -> bytes:
    data = src.read(n)
    if data is None or len(data) != n:
        raise EOFError("the other side closed the pipe")
    return data


def _read_message(src: IO[bytes]) -> tuple[dict[str, Any], list[npt.NDArray[Any]]]:
    (size,) = _HEADER.unpack(_read_exact(src, _HEADER.size))
    if size > MAX_MESSAGE:
        raise StoreError(f"offload message of {size} bytes", _USER_MESSAGE)
    header: dict[str, Any] = json.loads(_read_exact(src, size))
    arrays = []
    for spec in header.pop("arrays", []):
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(d) for d in spec["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(_read_exact(src, count * dtype.itemsize), dtype=dtype).reshape(shape))
    return header, arrays


class IndexingHelper:
    """A helper process that tokenises or embeds paragraphs for this one; thread-safe (one request at a time).

    Args:
        embedder: the embedder spec the helper builds ("e5", "hash:384", "st:/path"); None for a helper that only
            tokenises.
        name: for logs.
    """

    def __init__(self, embedder: str | None = None, *, name: str = "helper") -> None:
        self.embedder = embedder
        self.name = name
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The helper's process id while one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "rag.index.offload", "--parent", str(os.getpid())]
        if self.embedder is not None:
            command += ["--embedder", self.embedder]
        paths = [_ROOT, os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        # A process group of its own in this session: if this process dies while the helper is paused (SIGSTOP,
        # `ForegroundGate`), the group is orphaned with a stopped member and the kernel sends it SIGHUP, which ends
        # it; a running helper notices the death itself (`die_with_parent`).
        # Started from a thread that lives as long as this process: the helper's parent-death signal
        # (`killed_with_parent`) follows the thread that started it, and requests come from short-lived threads.
        proc = (
            _spawner()
            .submit(subprocess.Popen, command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, process_group=0)
            .result()
        )
        logger.info("started indexing helper %s (pid %d)", self.name, proc.pid)
        return proc

    def call(self, op: str, header: dict[str, Any]) -> tuple[dict[str, Any], list[npt.NDArray[Any]]]:
        """Send one request and return the reply (header, arrays); a dead helper is replaced once."""
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                proc = self._proc
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    _write_message(proc.stdin, {**header, "op": op})
                    reply, arrays = _read_message(proc.stdout)
                except (EOFError, BrokenPipeError, OSError) as exc:
                    self._stop(proc)
                    self._proc = None
                    if attempt == 2:
                        raise StoreError(f"indexing helper {self.name} died twice: {exc}", _USER_MESSAGE) from exc
                    logger.warning("indexing helper %s died (%s); starting it again", self.name, exc)
                    continue
                if "error" in reply:
                    raise StoreError(f"indexing helper {self.name}: {reply['error']}", _USER_MESSAGE)
                return reply, arrays
        raise AssertionError("unreachable")

    def tokenize(self, texts: Sequence[str], titles: Sequence[str] | None) -> Any:
        """`LexicalIndex.tokenize(texts, titles)`, computed in the helper."""
        from rag.index.lexical import TokenizedBatch

        _, arrays = self.call("tokenize", {"texts": list(texts), "titles": None if titles is None else list(titles)})
        ids, id_hashes, id_bigram, docs, tf, lengths = arrays
        return TokenizedBatch(ids=ids, id_hashes=id_hashes, id_bigram=id_bigram, docs=docs, tf=tf, lengths=lengths)

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The embedder's `embed_documents(texts)`, computed in the helper."""
        _, arrays = self.call("embed", {"texts": list(texts)})
        return arrays[0]

    def pause(self) -> None:
        """Stop the helper where it is (SIGSTOP) until `resume`; nothing happens when none runs."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused helper go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a paused helper could not read the end of its input
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the helper (it exits when its input closes)."""
        with self._lock:
            if self._proc is not None:
                self._stop(self._proc)
                self._proc = None


class ForegroundGate:
    """Pauses the helper processes while requests are answered, so that a search never shares the CPUs with an
    ingest's tokenising or embedding; within a budget, so that the helpers still progress under constant load.

    `SCHED_IDLE` alone left searches at about 1.6-2.2x their idle p95 while an upload was embedded (the helper's
    threads lose the CPU only when a search thread wakes, and caches are shared). Paused by SIGSTOP, a helper costs
    a search nothing; a request only pays for two signals.

    Args:
        helpers: the helpers to pause (called at each pause: helpers start lazily).
        window_s, max_paused_share: the helpers are paused for at most this share of each window of this length;
            past it they run even while requests are in progress.
    """

    def __init__(
        self, helpers: Callable[[], list[IndexingHelper]], *, window_s: float = 10.0, max_paused_share: float = 0.9
    ) -> None:
        self._helpers = helpers
        self.window_s = window_s
        self.max_paused_share = max_paused_share
        self._lock = threading.Lock()
        self._active = 0
        self._paused: list[IndexingHelper] = []
        self._paused_at = 0.0
        self._window_start = time.monotonic()
        self._window_paused = 0.0

    @property
    def paused(self) -> bool:
        """Whether the helpers are paused now."""
        return bool(self._paused)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold while answering a request."""
        self._enter()
        try:
            yield
        finally:
            self._leave()

    def _budget_left(self, now: float) -> bool:
        if now - self._window_start >= self.window_s:
            self._window_start, self._window_paused = now, 0.0
        running = now - self._paused_at if self._paused else 0.0
        return self._window_paused + running < self.max_paused_share * self.window_s

    def _resume_locked(self, now: float) -> None:
        for helper in self._paused:
            helper.resume()
        self._window_paused += now - self._paused_at
        self._paused = []

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            now = time.monotonic()
            if self._paused:
                if not self._budget_left(now):
                    self._resume_locked(now)
                return
            if self._budget_left(now):
                self._paused = [h for h in self._helpers() if h.pid is not None]
                for helper in self._paused:
                    helper.pause()
                self._paused_at = now

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0 and self._paused:
                self._resume_locked(time.monotonic())


def _serve(src: IO[bytes], out: IO[bytes], embedder_spec: str | None) -> None:
    from rag.index.lexical import LexicalIndex

    embedder = None
    while True:
        try:
            request, _ = _read_message(src)
        except EOFError:
            return
        op = request.get("op")
        try:
            if op == "tokenize":
                b = LexicalIndex.tokenize(request["texts"], request["titles"])
                _write_message(out, {}, [b.ids, b.id_hashes, b.id_bigram, b.docs, b.tf, b.lengths])
            elif op == "embed":
                if embedder_spec is None:
                    raise ValueError("this helper was started without an embedder")
                if embedder is None:
                    from rag.index.embedders import make_embedder

                    embedder = make_embedder(embedder_spec)
                vectors = np.asarray(embedder.embed_documents(request["texts"]), dtype=np.float32)
                _write_message(out, {}, [vectors])
            else:
                raise ValueError(f"unknown operation {op!r}")
        except Exception as exc:  # the parent raises it; this helper goes on with the next request
            logger.exception("indexing helper request failed")
            _write_message(out, {"error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.index.offload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", help="embedder spec for embedding requests (none: tokenising only)")
    parser.add_argument("--parent", type=int, help="exit when this process is gone")
    args = parser.parse_args(argv)
    from rag.ingest.lifetime import die_with_parent, killed_with_parent, yield_cpu

    if args.parent is not None:
        killed_with_parent(args.parent)
    die_with_parent(args.parent)
    # Tokenising makes new paragraphs searchable: it goes ahead of embedding, which runs at idle priority.
    yield_cpu(before_idle=args.embedder is None)
    # The replies own the real stdout; anything a library prints goes to stderr instead of into a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _serve(sys.stdin.buffer, replies, args.embedder)
    # The parent closed the pipe or is gone: leave at once. The interpreter's shutdown (modules, ONNX Runtime)
    # costs this idle-priority process CPU time that a busy machine does not give it: a helper took over 5 s
    # to exit while two other processes kept both cores busy.
    replies.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
