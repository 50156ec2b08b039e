"""Bounded loopback load test: mixed search / ask / upload traffic against `vankien serve`, with memory figures.

The script builds an index in a temporary folder from corpus/ (plus /work/shared/corpora/party_politics when it
exists, read in place, never copied into the repository), creates API keys, starts `vankien serve` on a free
127.0.0.1 port, and runs N clients for a duration, each repeatedly choosing:

* search (`GET /api/v1/search`, with and without filters, several clearances),
* ask (`POST /api/v1/ask`),
* upload (`POST /api/v1/documents` with an editor key, then `GET /api/v1/jobs/{id}` until done) of a document from
  a small pool written here; an uploaded document is deleted again (`DELETE`, admin key) a while later, so the
  index stays the same size on average and memory growth means a leak, not more data.

A warm-up (not counted) runs first; the server's resident memory (VmRSS) is read once traffic has settled after it,
and again after the measured phase (the lowest reading over 10 quiet seconds: a reading taken mid-traffic catches
transient peaks of index maintenance); the samples taken every 5 seconds during the phase are printed too.

    .venv/bin/python -m tools.load_mixed --duration 300 --clients 8

Prints one JSON object: requests and errors by endpoint and status, 5xx count (must be 0), latency percentiles per
endpoint, RSS at start and end and the growth in percent (must be under 10). Exit status 1 when either fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tools.serving import free_port, rss_kb

ROOT = Path(__file__).resolve().parent.parent
SHARED_CORPUS = Path("/work/shared/corpora/party_politics")
MAX_CLIENTS = 64
MAX_DURATION_S = 3600
MAX_GROWTH_PERCENT = 10.0
UPLOAD_POOL = 12
#: Seconds without traffic before a memory reading (see `_settled_rss_kb`).
SETTLE_S = 10.0

QUESTIONS = [
    "Nghị quyết 57 đặt mục tiêu gì đến năm 2030?",
    "Kinh phí chi cho nghiên cứu phát triển theo Nghị quyết 57 là bao nhiêu phần trăm GDP?",
    "Nghị quyết 68 về phát triển kinh tế tư nhân đặt mục tiêu bao nhiêu doanh nghiệp?",
    "Nghị quyết 71 về giáo dục và đào tạo có những nhiệm vụ gì?",
    "Nghị quyết 59 về hội nhập quốc tế được ban hành ngày nào?",
    "Tỉnh ủy Nghệ An có kế hoạch gì để thực hiện Nghị quyết 57?",
    "Chuyển đổi số trong cơ quan đảng được triển khai như thế nào?",
    "Phòng, chống tham nhũng, tiêu cực được đẩy mạnh ra sao?",
    "Giá vé máy bay Hà Nội đi Đà Nẵng tháng sau là bao nhiêu?",
    "kho luu tru van kien so",
]
QUERIES = [
    "chuyển đổi số",
    "kinh tế tư nhân",
    "giáo dục đào tạo",
    "hội nhập quốc tế",
    "NQ 57",
    "phong chong tham nhung",
    "đại hội đảng bộ nhiệm kỳ 2025-2030",
    "khoa học công nghệ đổi mới sáng tạo",
]
TYPES = ["nghị quyết", "kế hoạch", "chương trình", "tin bài"]


def _settled_rss_kb(pid: int, seconds: float = SETTLE_S) -> int:
    """The server's resident memory once traffic has stopped: the lowest reading over a quiet window.

    A single reading during or right after traffic catches transient peaks (an index segment merge holds the old and
    the new arrays for a moment, ~10 % of the process); memory the server keeps is what remains when it is idle.
    """
    readings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readings.append(rss_kb(pid))
        time.sleep(0.5)
    return min(readings)


def _pool_document(i: int) -> bytes:
    """A small resolution for the upload pool (written for this test, not an official text)."""
    lines = [
        "BAN CHẤP HÀNH TRUNG ƯƠNG",
        f"Số {900 + i}-NQ/TW",
        f"Hà Nội, ngày {1 + i % 27} tháng 5 năm 2025",
        "NGHỊ QUYẾT",
        "CỦA BỘ CHÍNH TRỊ",
        f"về thử tải kho dữ liệu số {i}",
        "Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.",
        "I. NHIỆM VỤ",
    ]
    lines += [
        f"{n}. Đơn vị số {n} triển khai kho dữ liệu thử tải {i} về chuyển đổi số trước năm {2026 + n % 9}."
        for n in range(1, 40 + 3 * i)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    uploaded: dict[int, str] = field(default_factory=dict)  # pool index -> doc_id
    uploading: set[int] = field(default_factory=set)

    def record(self, endpoint: str, status: int | str, ms: float) -> None:
        self.statuses[endpoint][str(status)] += 1
        if isinstance(status, int) and status < 400:
            self.latencies[endpoint].append(ms)


class Load:
    def __init__(self, url: str, keys: dict[str, str], rng: random.Random, stats: Stats, timeout: float) -> None:
        self.url = url
        self.keys = keys
        self.rng = rng
        self.stats = stats
        self.timeout = timeout

    def _headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def _timed(self, http: httpx.AsyncClient, endpoint: str, method: str, path: str, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            r = await http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.stats.record(endpoint, type(exc).__name__, 0.0)
            return None
        self.stats.record(endpoint, r.status_code, (time.perf_counter() - started) * 1000)
        return r

    async def search(self, http: httpx.AsyncClient) -> None:
        params: dict[str, Any] = {"q": self.rng.choice(QUERIES), "k": self.rng.choice([5, 10, 20])}
        if self.rng.random() < 0.3:
            params["type"] = self.rng.choice(TYPES)
        if self.rng.random() < 0.2:
            params["from"] = "2024-01-01"
        who = self.rng.choice(["reader", "editor", "admin"])
        await self._timed(
            http, "GET /api/v1/search", "GET", "/api/v1/search", params=params, headers=self._headers(who)
        )

    async def ask(self, http: httpx.AsyncClient) -> None:
        who = self.rng.choice(["reader", "editor"])
        body = {"question": self.rng.choice(QUESTIONS)}
        await self._timed(http, "POST /api/v1/ask", "POST", "/api/v1/ask", json=body, headers=self._headers(who))

    async def upload(self, http: httpx.AsyncClient) -> None:
        free = [i for i in range(UPLOAD_POOL) if i not in self.stats.uploaded and i not in self.stats.uploading]
        present = [i for i in self.stats.uploaded if i not in self.stats.uploading]
        if present and (not free or self.rng.random() < 0.5):
            i = self.rng.choice(present)
            self.stats.uploading.add(i)
            try:
                doc_id = self.stats.uploaded[i]
                r = await self._timed(
                    http,
                    "DELETE /api/v1/documents/{id}",
                    "DELETE",
                    f"/api/v1/documents/{doc_id}",
                    headers=self._headers("admin"),
                )
                if r is not None and r.status_code in (204, 404):
                    del self.stats.uploaded[i]
            finally:
                self.stats.uploading.discard(i)
            return
        if not free:
            return
        i = self.rng.choice(free)
        self.stats.uploading.add(i)
        try:
            files = {"file": (f"thu-tai-{i}.txt", _pool_document(i), "text/plain")}
            r = await self._timed(
                http,
                "POST /api/v1/documents",
                "POST",
                "/api/v1/documents",
                files=files,
                data={"classification": "noi-bo"},
                headers=self._headers("editor"),
            )
            if r is None or r.status_code != 202:
                return
            job_id = r.json()["job_id"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                j = await self._timed(
                    http, "GET /api/v1/jobs/{id}", "GET", f"/api/v1/jobs/{job_id}", headers=self._headers("editor")
                )
                if j is None or j.status_code != 200:
                    return
                job = j.json()
                if job["status"] in {"done", "failed"}:
                    if job["status"] == "done" and job["files"] and job["files"][0].get("doc_id"):
                        self.stats.uploaded[i] = job["files"][0]["doc_id"]
                    else:
                        self.stats.record("job outcome", f"failed: {job.get('error')}", 0.0)
                    return
            self.stats.record("job outcome", "timeout", 0.0)
        finally:
            self.stats.uploading.discard(i)

    async def client(self, http: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            roll = self.rng.random()
            if roll < 0.5:
                await self.search(http)
            elif roll < 0.85:
                await self.ask(http)
            else:
                await self.upload(http)


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


async def _phase(url: str, keys: dict[str, str], clients: int, seconds: float, seed: int, stats: Stats) -> float:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        started = time.monotonic()
        deadline = started + seconds
        loads = [Load(url, keys, random.Random(seed * 1000 + n), stats, 120) for n in range(clients)]
        await asyncio.gather(*(load.client(http, deadline) for load in loads))
        # Leave no upload half-done between phases.
        return time.monotonic() - started


def _cli(index: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "rag", *args, "--index", str(index), "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        encoding="utf-8",
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def build_index(index: Path, with_shared: bool) -> dict[str, Any]:
    sources = [str(ROOT / "corpus")]
    if with_shared and SHARED_CORPUS.is_dir():
        sources += [str(p) for p in sorted(SHARED_CORPUS.glob("*.jsonl"))]
    started = time.monotonic()
    report = _cli(index, "ingest", *sources, "--no-progress")
    return {"sources": sources, "counts": report["counts"], "seconds": round(time.monotonic() - started, 1)}


def run(duration: float, clients: int, warmup: float, seed: int, with_shared: bool, work: Path) -> dict[str, Any]:
    index = work / "index"
    built = build_index(index, with_shared)
    keys = {
        "reader": _cli(index, "keys", "create", "--role", "reader", "--clearance", "cong-khai")["key"],
        "editor": _cli(index, "keys", "create", "--role", "editor", "--clearance", "noi-bo")["key"],
        "admin": _cli(index, "keys", "create", "--role", "admin", "--clearance", "toi-mat")["key"],
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VANKIEN_RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("VANKIEN_INDEX", None)
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {(work / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        # /readyz gives counts only to a known caller, of what that caller may see: the admin sees everything
        documents = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {keys['admin']}"}).json()["documents"]
        warm = Stats()
        asyncio.run(_phase(url, keys, clients, warmup, seed, warm))
        rss_start = _settled_rss_kb(server.pid)
        stats = Stats()
        stats.uploaded = dict(warm.uploaded)  # documents still uploaded after the warm-up
        samples: list[int] = []

        async def measured() -> float:
            async def sample() -> None:
                while True:
                    samples.append(rss_kb(server.pid))
                    await asyncio.sleep(5)

            sampler = asyncio.create_task(sample())
            try:
                return await _phase(url, keys, clients, duration, seed + 1, stats)
            finally:
                sampler.cancel()

        wall = asyncio.run(measured())
        rss_end_raw = rss_kb(server.pid)
        rss_end = _settled_rss_kb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    endpoints = {}
    requests = errors = server_errors = 0
    for endpoint in sorted(set(stats.statuses) | set(stats.latencies)):
        counts = stats.statuses[endpoint]
        n = sum(counts.values())
        bad = {s: c for s, c in counts.items() if not (s.isdigit() and int(s) < 400)}
        five = sum(c for s, c in counts.items() if s.isdigit() and int(s) >= 500)
        if endpoint != "job outcome":
            requests += n
        errors += sum(bad.values())
        server_errors += five
        lat = stats.latencies[endpoint]
        endpoints[endpoint] = {
            "requests": n,
            "statuses": dict(sorted(counts.items())),
            "latency_ms": {f"p{q}": round(_percentile(lat, q), 1) for q in (50, 95, 99)},
        }
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0.0
    return {
        "url": url,
        "index": built,
        "documents": documents,
        "clients": clients,
        "warmup_s": warmup,
        "duration_s": round(wall, 1),
        "requests": requests,
        "errors": errors,
        "server_errors_5xx": server_errors,
        "throughput_rps": round(requests / wall, 1) if wall else 0.0,
        "endpoints": endpoints,
        "rss_kb": {
            "start": rss_start,  # settled, after the warm-up
            "end": rss_end,  # settled, after the measured phase
            "end_at_stop": rss_end_raw,  # the reading at the moment traffic stopped
            "max": max(samples, default=rss_end),
            "floor_first_minute": min(samples[:12], default=rss_start),
            "floor_last_minute": min(samples[-12:], default=rss_end),
        },
        "rss_samples_kb": samples,  # every 5 s during the measured phase
        "memory_growth_percent": round(growth, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help=f"measured seconds (1-{MAX_DURATION_S})")
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients (1-{MAX_CLIENTS})")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of traffic before the first RSS reading")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-shared", action="store_true", help="index corpus/ only, even when the shared set exists")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be between 1 and {MAX_DURATION_S}")
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        result = run(args.duration, args.clients, args.warmup, args.seed, not args.no_shared, args.work)
    else:
        with tempfile.TemporaryDirectory(prefix="vk-load-") as tmp:
            result = run(args.duration, args.clients, args.warmup, args.seed, not args.no_shared, Path(tmp))
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    ok = result["server_errors_5xx"] == 0 and result["memory_growth_percent"] < MAX_GROWTH_PERCENT
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
