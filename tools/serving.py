"""What the measuring scripts share: a free port, a `vankien serve` child on 127.0.0.1, its resident memory, and
latency summaries."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    """Resident memory of a process in KiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def settled_rss_kb(pid: int, quiet_s: float = 10.0) -> int:
    """The lowest RSS seen over `quiet_s` seconds (memory the allocator gives back takes a moment)."""
    lowest = rss_kb(pid)
    end = time.monotonic() + quiet_s
    while time.monotonic() < end:
        time.sleep(1)
        lowest = min(lowest, rss_kb(pid))
    return lowest


def summary(ms: list[float]) -> dict[str, float]:
    """n, p50, p95 and p99 of latencies in milliseconds (empty for none)."""
    if not ms:
        return {}
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return round(ordered[int(p * (len(ordered) - 1))], 1)

    return {"n": len(ms), "p50": round(statistics.median(ordered), 1), "p95": pct(0.95), "p99": pct(0.99)}


def start_server(index: Path, port: int, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`vankien serve` on 127.0.0.1:`port` over `index`, in its own session, output appended to `log`.

    `VANKIEN_INDEX` from this environment is dropped (the index is `index`); `env` adds or overrides variables."""
    full = {**os.environ, **(env or {})}
    full.pop("VANKIEN_INDEX", None)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port)],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(server: subprocess.Popen[bytes], client: httpx.Client, timeout_s: float = 120.0) -> None:
    """Wait until the server answers a search; RuntimeError if it exits or takes longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get("/api/v1/search", params={"q": "khởi động", "k": 1}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.3)


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`."""
    server.terminate()
    try:
        server.wait(timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
