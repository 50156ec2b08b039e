"""Bounded loopback slowloris check: does a normal search still answer while many slow sockets are open?

The script builds an index from corpus/ in a temporary folder, starts `vankien serve` on a free 127.0.0.1 port
with the default limits (header deadline, connection cap; `service.protocol`), opens N sockets that send a request
line and then one header byte every few seconds (never finishing their headers, re-opening a socket whenever the
server closes one), and meanwhile times plain searches over fresh connections. Before the attack it times the same
searches on the idle server.

    .venv/bin/python -m tools.slowloris --sockets 1100 --duration 30

Prints one JSON object: idle and under-attack search latency (p50, p95, max in ms), failed searches, how many slow
sockets the server closed, the largest number open at once, and the server log's growth. Exit status 1 when a
search failed or took longer than `--max-ms` (default 1000) under attack. Never run against a server you do not
own: it binds and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tools.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
MAX_SOCKETS = 5000
MAX_DURATION_S = 600
QUERIES = ["chuyển đổi số", "Nghị quyết 57 mục tiêu", "kinh tế tư nhân", "phòng chống tham nhũng", "giáo dục"]


def _raise_files_limit(wanted: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _timed_search(url: str, query: str, timeout: float) -> float | None:
    """Milliseconds for one search over a new connection; None when it failed."""
    started = time.perf_counter()
    try:
        r = httpx.get(f"{url}/api/v1/search", params={"q": query, "k": 5}, timeout=timeout)
    except httpx.HTTPError:
        return None
    return (time.perf_counter() - started) * 1000 if r.status_code == 200 else None


def _summary(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    ordered = sorted(ms)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


class Attack:
    """N sockets that never finish their headers; a socket the server closes is replaced."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.n = n
        self.open: list[socket.socket] = []
        self.closed_by_server = 0
        self.most_open = 0
        self.refused = 0

    def _connect(self) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            s.sendall(b"GET /api/v1/search?q=a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            s.setblocking(False)
            self.open.append(s)
        except OSError:
            self.refused += 1

    def fill(self) -> None:
        while len(self.open) < self.n:
            self._connect()
        self.most_open = max(self.most_open, len(self.open))

    def trickle(self) -> None:
        """One more header byte on every socket; count and replace the ones the server closed."""
        gone = set()
        for s in self.open:
            try:
                if s.recv(1024) == b"":  # non-blocking: b"" means the server closed it
                    gone.add(s)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                gone.add(s)
                continue
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                gone.add(s)
        for s in gone:
            s.close()
        self.closed_by_server += len(gone)
        self.open = [s for s in self.open if s not in gone]
        self.fill()

    def stop(self) -> None:
        for s in self.open:
            s.close()


def run(sockets: int, duration: float, work: Path) -> dict[str, Any]:
    _raise_files_limit(sockets + 256)
    index = work / "index"
    subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(ROOT / "corpus"), "--index", str(index), "--no-progress"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VANKIEN_RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("VANKIEN_INDEX", None)
    log_path = work / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    attack = Attack(port, sockets)
    try:
        deadline = time.monotonic() + 120
        while _timed_search(url, "khởi động", 2) is None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        idle = [ms for q in QUERIES * 4 if (ms := _timed_search(url, q, 10)) is not None]
        log_before = log_path.stat().st_size
        attack.fill()
        under: list[float] = []
        failed = 0
        end = time.monotonic() + duration
        i = 0
        while time.monotonic() < end:
            attack.trickle()
            ms = _timed_search(url, QUERIES[i % len(QUERIES)], 10)
            i += 1
            if ms is None:
                failed += 1
            else:
                under.append(ms)
            time.sleep(0.5)
        log_growth = log_path.stat().st_size - log_before
    finally:
        attack.stop()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {
        "slow_sockets": sockets,
        "duration_s": duration,
        "idle_ms": _summary(idle),
        "under_attack_ms": _summary(under),
        "searches_under_attack": len(under) + failed,
        "failed_searches": failed,
        "slow_sockets_closed_by_server": attack.closed_by_server,
        "most_slow_sockets_open": attack.most_open,
        "connects_refused": attack.refused,
        "server_log_growth_bytes": log_growth,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sockets", type=int, default=1100, help=f"slow sockets (1-{MAX_SOCKETS}; default 1100)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of attack (default 30)")
    parser.add_argument("--max-ms", type=float, default=1000.0, help="slowest acceptable search under attack")
    parser.add_argument("--work", type=Path, help="folder for the index and the server log (default: a temp dir)")
    args = parser.parse_args(argv)
    if not 1 <= args.sockets <= MAX_SOCKETS or not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--sockets must be 1-{MAX_SOCKETS} and --duration 1-{MAX_DURATION_S}")
    with tempfile.TemporaryDirectory(prefix="vankien-slowloris-") as tmp:
        result = run(args.sockets, args.duration, args.work or Path(tmp))
    print(json.dumps(result, ensure_ascii=False, indent=1))
    slowest = result["under_attack_ms"].get("max", float("inf"))
    return 0 if result["failed_searches"] == 0 and slowest <= args.max_ms else 1


if __name__ == "__main__":
    sys.exit(main())
