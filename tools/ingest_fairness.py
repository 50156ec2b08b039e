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
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["chuyển đổi số", "Nghị quyết 57 mục tiêu", "kinh tế tư nhân", "phòng chống tham nhũng", "hội nhập quốc tế"]
WORDS = "phát triển kinh tế xã hội chuyển đổi số khoa học công nghệ giáo dục y tế văn hóa quốc phòng an ninh".split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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


def _settled_rss(pid: int, quiet_s: float = 10.0) -> int:
    lowest = _rss_kb(pid)
    end = time.monotonic() + quiet_s
    while time.monotonic() < end:
        time.sleep(1)
        lowest = min(lowest, _rss_kb(pid))
    return lowest


def _search_ms(client: httpx.Client, query: str) -> float | None:
    started = time.perf_counter()
    try:
        r = client.get("/api/v1/search", params={"q": query, "k": 5})
    except httpx.HTTPError:
        return None
    return (time.perf_counter() - started) * 1000 if r.status_code == 200 else None


def _summary(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    ordered = sorted(ms)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return {"n": len(ms), "p50": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def run(markdown_mb: float, records: int, max_seconds: float, work: Path) -> dict[str, Any]:
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
    port = _free_port()
    env = {**os.environ, "VANKIEN_RATE_LIMIT_PER_MINUTE": "0", "VANKIEN_MAX_UPLOAD_MB": "64"}
    env.pop("VANKIEN_INDEX", None)
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--index", str(index), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    headers = {"Authorization": f"Bearer {key}"}
    report: dict[str, Any] = {"markdown_mb": markdown_mb, "records": records}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            deadline = time.monotonic() + 120
            while _search_ms(client, "khởi động") is None:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.3)
            while client.get("/readyz").json().get("pending_vectors", 0):
                time.sleep(0.5)
            idle = [ms for q in QUERIES * 12 if (ms := _search_ms(client, q)) is not None]
            report["rss_baseline_kb"] = baseline = _settled_rss(server.pid)

            def upload(path: Path, kind: str) -> str:
                with path.open("rb") as fh:
                    r = client.post("/api/v1/documents", files={"file": (path.name, fh, kind)})
                r.raise_for_status()
                job_id: str = r.json()["job_id"]
                return job_id

            started = time.monotonic()
            jobs = {"markdown": upload(big_md, "text/markdown"), "jsonl": upload(big_jsonl, "application/json")}
            small_job = upload(small, "text/markdown")
            during: list[float] = []
            peak = baseline
            small_seen: float | None = None
            finished: dict[str, float] = {}
            i = 0
            while time.monotonic() - started < max_seconds and len(finished) < len(jobs):
                ms = _search_ms(client, QUERIES[i % len(QUERIES)])
                i += 1
                if ms is not None:
                    during.append(ms)
                peak = max(peak, _rss_kb(server.pid))
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
                time.sleep(0.2)
            states = {name: client.get(f"/api/v1/jobs/{job_id}").json()["status"] for name, job_id in jobs.items()}
            small_state = client.get(f"/api/v1/jobs/{small_job}").json()["status"]
            after = _settled_rss(server.pid)
        report.update(
            {
                "idle_ms": _summary(idle),
                "during_ms": _summary(during),
                "p95_ratio": round(_summary(during).get("p95", 0) / max(_summary(idle).get("p95", 1), 1e-9), 2),
                "small_upload_searchable_s": round(small_seen, 1) if small_seen is not None else None,
                "small_upload_job": small_state,
                "large_jobs_finished_s": {k: round(v, 1) for k, v in finished.items()},
                "large_jobs_state": states,
                "rss_peak_kb": peak,
                "rss_after_kb": after,
                "rss_growth_percent": round(100 * (after - baseline) / baseline, 1),
            }
        )
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--markdown-mb", type=float, default=20.0, help="size of the large Markdown upload (MB)")
    parser.add_argument("--records", type=int, default=60_000, help="records of the large .jsonl upload")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop measuring after this long")
    parser.add_argument("--work", type=Path, help="folder for the index and files (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vankien-fairness-") as tmp:
        report = run(args.markdown_mb, args.records, args.max_seconds, args.work or Path(tmp))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
