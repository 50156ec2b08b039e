"""Load test for POST /api/v1/ask: N concurrent clients for T seconds against a server on this machine.

Bounded on purpose: loopback addresses only, at most 256 clients and 15 minutes. Prints one JSON object:
requests, errors (non-2xx or transport failures, by kind), latency percentiles in milliseconds, throughput.

    vankien serve --index /tmp/vk_load --port 8000 &      # with VANKIEN_RATE_LIMIT_PER_MINUTE=0 for this test
    .venv/bin/python benchmarks/load_ask.py --url http://127.0.0.1:8000 --clients 32 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_CLIENTS = 256
MAX_DURATION_S = 900

#: Questions over the sample corpus and the kind of articles in the party_politics set; a mix of answerable
#: questions, follow-up style questions without context, and questions the documents cannot answer.
QUESTIONS = [
    "Nghị quyết 57 đặt mục tiêu gì đến năm 2030?",
    "Kinh phí chi cho nghiên cứu phát triển theo Nghị quyết 57 là bao nhiêu phần trăm GDP?",
    "Nghị quyết 68 về phát triển kinh tế tư nhân đặt mục tiêu bao nhiêu doanh nghiệp?",
    "Nghị quyết 71 về giáo dục và đào tạo có những nhiệm vụ gì?",
    "Nghị quyết 72 quy định gì về khám sức khỏe định kỳ cho người dân?",
    "Nghị quyết 59 về hội nhập quốc tế được ban hành ngày nào?",
    "Nghị quyết 66 về xây dựng và thi hành pháp luật có quan điểm chỉ đạo nào?",
    "Thành ủy Hà Nội thực hiện Nghị quyết 71 bằng chương trình hành động nào?",
    "Tỉnh ủy Nghệ An có kế hoạch gì để thực hiện Nghị quyết 57?",
    "Kết luận 210 của Bộ Chính trị yêu cầu gì về triển khai các nghị quyết chiến lược?",
    "Đồng Nai triển khai Nghị quyết 68 như thế nào?",
    "Nghị quyết 80 về phát triển văn hóa đặt mục tiêu gì?",
    "Nghị quyết 79 về kinh tế nhà nước có nội dung chính nào?",
    "Công tác xây dựng Đảng và hệ thống chính trị cần tập trung vào những nhiệm vụ gì?",
    "Vai trò của đảng viên trong việc thực hiện nghị quyết ở cơ sở là gì?",
    "Chuyển đổi số trong cơ quan đảng được triển khai như thế nào?",
    "Phòng, chống tham nhũng, tiêu cực được đẩy mạnh ra sao?",
    "Sắp xếp tổ chức bộ máy tinh gọn, hiệu lực, hiệu quả có yêu cầu gì?",
    "Đại hội đảng bộ các cấp nhiệm kỳ 2025-2030 chuẩn bị văn kiện thế nào?",
    "Giá vé máy bay Hà Nội đi Đà Nẵng tháng sau là bao nhiêu?",
]


def _percentile(sorted_ms: list[float], q: int) -> float:
    if not sorted_ms:
        return 0.0
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[q - 1]


async def _client(
    n: int,
    http: httpx.AsyncClient,
    questions: list[str],
    deadline: float,
    latencies: list[float],
    errors: Counter[str],
) -> None:
    i = n
    while time.monotonic() < deadline:
        question = questions[i % len(questions)]
        i += 1
        started = time.perf_counter()
        try:
            r = await http.post("/api/v1/ask", json={"question": question})
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code // 100 != 2:
                errors[f"http_{r.status_code}"] += 1
            else:
                body = r.json()
                if "answer" not in body or "citations" not in body:
                    errors["bad_body"] += 1
                else:
                    latencies.append(elapsed)
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1


async def run(
    url: str, clients: int, duration: float, key: str | None, questions: list[str], timeout: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        ready = await http.get("/readyz")
        ready.raise_for_status()
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(*(_client(n, http, questions, deadline, latencies, errors) for n in range(clients)))
        wall = time.monotonic() - started
    ordered = sorted(latencies)
    total = len(latencies) + sum(errors.values())
    return {
        "url": url,
        "endpoint": "POST /api/v1/ask",
        "clients": clients,
        "duration_s": round(wall, 1),
        "documents": ready.json().get("documents"),
        "requests": total,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "latency_ms": {
            "p50": round(_percentile(ordered, 50), 1),
            "p95": round(_percentile(ordered, 95), 1),
            "p99": round(_percentile(ordered, 99), 1),
            "mean": round(statistics.fmean(ordered), 1) if ordered else 0.0,
            "max": round(ordered[-1], 1) if ordered else 0.0,
        },
        "throughput_rps": round(total / wall, 1) if wall else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (loopback only)")
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1-{MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=60.0, help=f"seconds (1-{MAX_DURATION_S})")
    parser.add_argument("--key", help="API key, when the server has keys")
    parser.add_argument("--questions", type=Path, help="file with one question per line (default: built-in list)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    args = parser.parse_args(argv)
    host = urlsplit(args.url).hostname or ""
    if host not in LOOPBACK:
        parser.error(f"refusing to load {host!r}: only loopback addresses ({', '.join(sorted(LOOPBACK))})")
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be between 1 and {MAX_DURATION_S}")
    questions = QUESTIONS
    if args.questions:
        questions = [q.strip() for q in args.questions.read_text(encoding="utf-8").splitlines() if q.strip()]
    result = asyncio.run(run(args.url, args.clients, args.duration, args.key, questions, args.timeout))
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
