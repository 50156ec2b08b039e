"""Fairness and isolation of ingestion: searches and small uploads while two large uploads ingest.

Builds an index from corpus/ in a temporary folder, starts `vankien serve` on a free 127.0.0.1 port, measures idle
search latency, then uploads a generated Markdown file of `--markdown-mb` MB (one long document) and a generated
.jsonl of `--records` records (written here; not official texts), and right after them a small document. While
they ingest it searches continuously and samples the server's resident memory.

    .venv/bin/python -m tools.ingest_fairness --markdown-mb 20 --records 60000 --max-seconds 1800

Prints one JSON object: idle and during-ingest search p50/p95 (ms) and their ratio, seconds until the small upload
was searchable, seconds until each large job finished (or its state at `--max-seconds`), server RSS at baseline,
peak and after the jobs (settled), and the growth in percent.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tools.serving import ROOT, free_port, rss_kb, settled_rss_kb, start_server, stop_server, summary, wait_ready

QUERIES = ["chuyển đổi số", "Nghị quyết 57 mục tiêu", "kinh tế tư nhân", "phòng chống tham nhũng", "hội nhập quốc tế"]
#: Searches measured on the idle server, before and after (at the measuring loop's pace).
IDLE_SEARCHES = 150
WORDS = "phát triển kinh tế xã hội chuyển đổi số khoa học công nghệ giáo dục y tế văn hóa quốc phòng an ninh".split()


def _sentence(rng: random.Random, i: int) -> str:
    return f"Nội dung {i}: " + " ".join(rng.choice(WORDS) for _ in range(14)) + f", mục tiêu số {i % 977}."


def write_markdown(path: Path, megabytes: float, rng: random.Random) -> None:
    """One long resolution-like document of about `megabytes` MB."""
    target = int(megabytes * 1024 * 1024)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "# Nghị quyết thử nghiệm về phát triển kho dữ liệu lớn\n\nTài liệu do nhóm Văn Kiện sinh ra để đo.\n\n"
        )
        i = 0
        while out.tell() < target:
            if i % 200 == 0:
                out.write(f"\n## Phần {i // 200 + 1}\n\n")
            out.write(f"{i}. {_sentence(rng, i)}\n\n")
            i += 1


def write_jsonl(path: Path, records: int, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(records):
            record = {"title": f"Tin thử nghiệm số {i}", "text": _sentence(rng, i) + " " + _sentence(rng, i + 1)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _search_ms(client: httpx.Client, query: str) -> float | None:
    started = time.perf_counter()
    try:
        r = client.get("/api/v1/search", params={"q": query, "k": 5})
    except httpx.HTTPError:
        return None
    return (time.perf_counter() - started) * 1000 if r.status_code == 200 else None


def _children_rss_kb(pid: int) -> int:
    """Resident memory of a process's descendants (ingest children, indexing helpers, parse workers)."""
    total = 0
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        total += rss_kb(int(child)) + _children_rss_kb(int(child))
    return total


def _paced_searches(client: httpx.Client, n: int) -> list[float]:
    """`n` searches at the pace of the measuring loop (one, then 0.2 s), latencies in ms."""
    out = []
    for i in range(n):
        if (ms := _search_ms(client, QUERIES[i % len(QUERIES)])) is not None:
            out.append(ms)
        time.sleep(0.2)
    return out


def _pending_vectors(client: httpx.Client) -> int:
    try:
        return int(client.get("/readyz").json().get("pending_vectors", 0))
    except (httpx.HTTPError, ValueError):
        return -1


def run(markdown_mb: float, records: int, max_seconds: float, work: Path, offload: bool = True) -> dict[str, Any]:
    from service.keys import KeyStore

    rng = random.Random(5)
    index = work / "index"
    subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(ROOT / "corpus"), "--index", str(index), "--no-progress"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    _, key = KeyStore(index / "keys.json").create("editor", "cong-khai", "do-cong-bang")
    big_md, big_jsonl, small = work / "lon.md", work / "tin.jsonl", work / "nho.md"
    write_markdown(big_md, markdown_mb, rng)
    write_jsonl(big_jsonl, records, rng)
    small.write_text("# Thông báo thử nghiệm zqnhocanary\n\nKết luận về kho zqnhocanary của nhóm Văn Kiện.\n", "utf-8")
    env = {
        "VANKIEN_RATE_LIMIT_PER_MINUTE": "0",
        "VANKIEN_MAX_UPLOAD_MB": "64",
        "VANKIEN_OFFLOAD_INDEXING": "true" if offload else "false",
    }
    headers = {"Authorization": f"Bearer {key}"}
    report: dict[str, Any] = {"markdown_mb": markdown_mb, "records": records, "offload": offload}
    port = free_port()
    server = start_server(index, port, work / "server.log", env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            wait_ready(server, client)
            while _pending_vectors(client):
                time.sleep(0.5)
            idle = _paced_searches(client, IDLE_SEARCHES)
            report["rss_baseline_kb"] = baseline = settled_rss_kb(server.pid)

            def upload(path: Path, kind: str) -> str:
                with path.open("rb") as fh:
                    r = client.post("/api/v1/documents", files={"file": (path.name, fh, kind)})
                r.raise_for_status()
                job_id: str = r.json()["job_id"]
                return job_id

            started = time.monotonic()
            jobs = {"markdown": upload(big_md, "text/markdown"), "jsonl": upload(big_jsonl, "application/json")}
            small_job = upload(small, "text/markdown")
            during_jobs: list[float] = []
            during_vectors: list[float] = []
            peak = baseline
            children_peak = 0
            small_seen: float | None = None
            finished: dict[str, float] = {}
            vectors_done: float | None = None
            pending = -1
            failed_searches = 0
            i = 0
            while time.monotonic() - started < max_seconds:
                ms = _search_ms(client, QUERIES[i % len(QUERIES)])
                i += 1
                if ms is not None:
                    (during_jobs if len(finished) < len(jobs) else during_vectors).append(ms)
                else:
                    failed_searches += 1
                peak = max(peak, rss_kb(server.pid))
                children_peak = max(children_peak, _children_rss_kb(server.pid))
                if small_seen is None:
                    hits = client.get("/api/v1/search", params={"q": "zqnhocanary", "mode": "lexical"}).json()["hits"]
                    if hits:
                        small_seen = time.monotonic() - started
                if i % 10 == 0:
                    for name, job_id in jobs.items():
                        if name not in finished and client.get(f"/api/v1/jobs/{job_id}").json()["status"] in (
                            "done",
                            "failed",
                        ):
                            finished[name] = time.monotonic() - started
                    if len(finished) == len(jobs):
                        pending = _pending_vectors(client)
                        if pending == 0:
                            vectors_done = time.monotonic() - started
                            break
                time.sleep(0.2)
            states = {name: client.get(f"/api/v1/jobs/{job_id}").json()["status"] for name, job_id in jobs.items()}
            small_state = client.get(f"/api/v1/jobs/{small_job}").json()["status"]
            pending = _pending_vectors(client)
            after = settled_rss_kb(server.pid)
            idle_after = _paced_searches(client, IDLE_SEARCHES)
    finally:
        stop_server(server)
    # The same index opened afresh: what the server's memory should come back to once the work is done.
    port = free_port()
    fresh_server = start_server(index, port, work / "server.log", env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            wait_ready(fresh_server, client)
            fresh_searches = _paced_searches(client, IDLE_SEARCHES)
            fresh = settled_rss_kb(fresh_server.pid)
    finally:
        stop_server(fresh_server)
    during = during_jobs + during_vectors
    report.update(
        {
            "idle_ms": summary(idle),
            "during_ms": summary(during),
            "during_jobs_ms": summary(during_jobs),
            "during_vectors_ms": summary(during_vectors),
            "idle_after_ms": summary(idle_after),
            "fresh_server_ms": summary(fresh_searches),
            "p95_ratio": round(summary(during).get("p95", 0) / max(summary(idle).get("p95", 1), 1e-9), 2),
            # While the uploads themselves ingest (the acceptance's "while they ingest"), vectors aside.
            "p95_ratio_jobs": round(summary(during_jobs).get("p95", 0) / max(summary(idle).get("p95", 1), 1e-9), 2),
            "searches_failed": failed_searches,
            "small_upload_searchable_s": round(small_seen, 1) if small_seen is not None else None,
            "small_upload_job": small_state,
            "large_jobs_finished_s": {k: round(v, 1) for k, v in finished.items()},
            "large_jobs_state": states,
            "vectors_done_s": round(vectors_done, 1) if vectors_done is not None else None,
            "pending_vectors_at_end": pending,
            "rss_peak_kb": peak,
            "children_rss_peak_kb": children_peak,
            "rss_after_kb": after,
            "rss_growth_percent": round(100 * (after - baseline) / baseline, 1),
            "rss_fresh_kb": fresh,
            "rss_after_vs_fresh_percent": round(100 * (after - fresh) / fresh, 1),
        }
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--markdown-mb", type=float, default=20.0, help="size of the large Markdown upload (MB)")
    parser.add_argument("--records", type=int, default=60_000, help="records of the large .jsonl upload")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop measuring after this long")
    parser.add_argument("--work", type=Path, help="folder for the index and files (default: a temp dir)")
    parser.add_argument(
        "--no-offload", action="store_true", help="tokenise and embed in the serving process (the earlier design)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vankien-fairness-") as tmp:
        report = run(args.markdown_mb, args.records, args.max_seconds, args.work or Path(tmp), not args.no_offload)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
