"""Durable uploads: kill `vankien serve` (SIGKILL or SIGTERM) at random moments while uploading over HTTP.

Each run starts the service on an index in a temporary folder, uploads small documents (written here, each with
its own canary word) from a client thread, kills the server after a random delay, restarts it, and checks:

* every upload answered 202 ends `done` (its document searchable by its canary and listed) or `failed` with a
  Vietnamese reason after the restart: none is lost (404) or stuck;
* the processes of the killed server (ingest children, parsing workers, indexing helpers) are gone within 5
  seconds (no orphans);
* at the end, the catalog passes its integrity check and the search index holds exactly its paragraphs.

    .venv/bin/python -m tools.kill_uploads --runs 50 --seed 3

Prints one JSON object (runs, kills by signal, uploads accepted, lost, failed, orphans, inconsistencies) and exits
with status 1 when anything was lost, orphaned or inconsistent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tools.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
MAX_RUNS = 500
_SYLLABLES = ["ba", "ke", "lo", "mu", "ni", "qua", "ro", "su", "ti", "vo", "xa", "yen"]


def _document(number: int, canary: str) -> str:
    """A small resolution written for this test (not an official text); its canary is in the title and body."""
    lines = [
        "BAN CHẤP HÀNH TRUNG ƯƠNG",
        f"Số {number}-NQ/TW",
        "Hà Nội, ngày 5 tháng 5 năm 2025",
        "NGHỊ QUYẾT",
        f"về kho dữ liệu {canary}",
        "Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.",
        "I. NHIỆM VỤ",
    ]
    lines += [f"{i}. Nhiệm vụ {i}: triển khai kho {canary} trước năm {2026 + i}." for i in range(1, 12)]
    return "\n".join(lines) + "\n"


def _children(pid: int) -> set[int]:
    """Every descendant of a process now: ingest children, their parsing workers, the indexing helpers."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.update(int(x) for x in (task / "children").read_text().split())
    except OSError:
        pass
    for child in list(found):
        found |= _children(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    """`python -m rag serve` on a free loopback port."""

    def __init__(self, index: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "VANKIEN_RATE_LIMIT_PER_MINUTE": "0"}
        env.pop("VANKIEN_INDEX", None)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _uploader(url: str, key: str, start: int, stop: threading.Event, accepted: dict[str, str], seen: set[int],
              pid: int, rng: random.Random) -> None:  # fmt: skip
    """Upload documents until `stop`; record job id -> canary of every 202; note the server's children."""
    number = start
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        while not stop.is_set():
            number += 1
            canary = "zq" + "".join(rng.choice(_SYLLABLES) for _ in range(4)) + str(number)
            body = _document(number, canary).encode("utf-8")
            try:
                r = client.post("/api/v1/documents", files={"file": (f"nq{number}.txt", body, "text/plain")})
            except httpx.HTTPError:
                break  # the server is gone
            if r.status_code == 202:
                accepted[r.json()["job_id"]] = canary
            seen.update(_children(pid))


def run_campaign(runs: int, seed: int, work: Path) -> dict[str, Any]:
    from service.keys import KeyStore

    rng = random.Random(seed)
    index = work / "index"
    index.mkdir(parents=True)
    _, key = KeyStore(index / "keys.json").create("editor", "cong-khai", "tai-len")
    log = work / "server.log"
    report: dict[str, Any] = {
        "runs": runs,
        "kills": {"SIGKILL": 0, "SIGTERM": 0},
        "accepted": 0,
        "done": 0,
        "failed": 0,
        "lost": [],
        "orphans": 0,
        "inconsistencies": [],
    }
    number = 1000
    for run in range(runs):
        server = Server(index, log)
        accepted: dict[str, str] = {}
        workers: set[int] = set()
        stop = threading.Event()
        thread = threading.Thread(
            target=_uploader,
            args=(server.url, key, number, stop, accepted, workers, server.proc.pid, rng),
            daemon=True,
        )
        thread.start()
        time.sleep(rng.uniform(0.2, 3.0))
        sig = signal.SIGKILL if run % 2 == 0 else signal.SIGTERM
        report["kills"][sig.name] += 1
        server.stop(sig)
        stop.set()
        thread.join(30)
        number += 1000
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        report["orphans"] += sum(_alive(w) for w in workers)
        # the next server takes the accepted uploads up
        server = Server(index, log)
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                for job_id, canary in accepted.items():
                    report["accepted"] += 1
                    deadline = time.monotonic() + 180
                    while True:
                        r = client.get(f"/api/v1/jobs/{job_id}")
                        job = r.json() if r.status_code == 200 else None
                        if job is None or job["status"] in ("done", "failed") or time.monotonic() > deadline:
                            break
                        time.sleep(0.1)
                    if job is None or job["status"] not in ("done", "failed"):
                        report["lost"].append(f"run {run}: job {job_id} {r.status_code} {job and job['status']}")
                    elif job["status"] == "failed":
                        report["failed"] += 1
                        if not job["error"]:
                            report["lost"].append(f"run {run}: job {job_id} failed without a reason")
                    else:
                        report["done"] += 1
                        hits = client.get("/api/v1/search", params={"q": canary, "mode": "lexical"}).json()["hits"]
                        if not hits or canary not in hits[0]["title"]:
                            report["lost"].append(f"run {run}: {canary} done but not searchable")
        finally:
            server.stop()
    report["inconsistencies"] = _check_index(index)
    return report


def _check_index(index: Path) -> list[str]:
    from rag import Library

    problems: list[str] = []
    with Library(index, create=False) as library:
        problems += library.catalog.integrity_problems()
        pids = {pid for pid, _ in library.catalog.pid_docs()}
        indexed = set(library.store.table.pids.tolist())
        if pids != indexed:
            problems.append(f"search index holds {len(indexed)} paragraphs, the catalog {len(pids)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50, help=f"kill/restart cycles (1-{MAX_RUNS}; default 50)")
    parser.add_argument("--seed", type=int, default=3, help="random seed (kill moments, canaries)")
    parser.add_argument("--work", type=Path, help="folder for the index and the server log (default: a temp dir)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be 1-{MAX_RUNS}")
    with tempfile.TemporaryDirectory(prefix="vankien-kill-uploads-") as tmp:
        report = run_campaign(args.runs, args.seed, args.work or Path(tmp))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0 if not report["lost"] and not report["orphans"] and not report["inconsistencies"] else 1


if __name__ == "__main__":
    sys.exit(main())
