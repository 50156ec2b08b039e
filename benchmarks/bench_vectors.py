"""Benchmark of the vector index at product scale (docs/embedder-notes.md).

Vectors are random but shaped like real ones: unit vectors drawn around a few hundred "topic" centres (documents
of one resolution resemble each other), queries are noisy copies of indexed vectors. Measured for
`rag.index.vectors.VectorIndex` (exact, IDMap2 over a flat inner-product index): add time, single-query latency
p50/p95 without and with an `allowed` filter of several sizes, remove and re-add time, save/load time, file size
and resident memory. For comparison, FAISS HNSW (which cannot delete) is built on the same vectors: build time,
latency and recall@10 against the exact answer.

Usage:
    .venv/bin/python benchmarks/bench_vectors.py                     # 100k x 1024 (the hash embedder's size)
    .venv/bin/python benchmarks/bench_vectors.py --n 100000 --dim 384 --threads 1 --no-hnsw
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.index.vectors import VectorIndex  # noqa: E402


def rss_mb() -> float:
    """Current resident set size in MiB (Linux), else the peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def realistic_vectors(n: int, dim: int, topics: int, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 10_000
    for start in range(0, n, step):
        m = min(step, n - start)
        which = rng.integers(0, topics, m)
        block = centres[which] + 1.2 * rng.standard_normal((m, dim)).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1000.0
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p95_ms": round(float(np.percentile(arr, 95)), 3)}


def time_queries(fn: Any, queries: npt.NDArray[np.float32]) -> dict[str, float]:
    fn(queries[0])  # warm-up
    samples = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0: FAISS default)")
    ap.add_argument("--no-hnsw", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    res: dict[str, Any] = {"n": args.n, "dim": args.dim, "k": args.k, "threads": faiss.omp_get_max_threads()}
    rss0 = rss_mb()
    vecs = realistic_vectors(args.n, args.dim, topics=max(10, args.n // 200), seed=0)
    pids = np.arange(args.n, dtype=np.int64) * 7 + 3  # sparse, non-contiguous ids like catalog rowids
    rng = np.random.default_rng(1)
    picks = rng.integers(0, args.n, args.queries)
    noisy = vecs[picks] + 0.05 * rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    queries = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    rss_data = rss_mb()

    index = VectorIndex(args.dim, f"bench:{args.dim}")
    t0 = time.perf_counter()
    for start in range(0, args.n, 10_000):
        index.add(pids[start : start + 10_000], vecs[start : start + 10_000])
    res["flat_add_s"] = round(time.perf_counter() - t0, 2)
    res["rss_mb"] = {"before": round(rss0), "data": round(rss_data), "with_index": round(rss_mb())}

    res["flat_search"] = time_queries(lambda q: index.search(q, args.k), queries)
    for frac in (0.5, 0.1, 0.01, 0.001):
        allowed = np.sort(rng.choice(pids, max(1, int(args.n * frac)), replace=False))
        res[f"flat_search_allowed_{frac:g}"] = time_queries(lambda q, a=allowed: index.search(q, args.k, a), queries)
    t0 = time.perf_counter()
    index.search_batch(queries, args.k)
    res["flat_search_batch_per_query_ms"] = round((time.perf_counter() - t0) * 1000 / args.queries, 3)

    gone = np.sort(rng.choice(pids, 1000, replace=False))
    t0 = time.perf_counter()
    index.remove(gone)
    res["remove_1000_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    for p in gone[:20].tolist():  # a document at a time, as ingest replaces them
        index.remove([p])
    res["remove_one_ms"] = round((time.perf_counter() - t0) * 1000 / 20, 2)
    back = vecs[(gone - 3) // 7]
    t0 = time.perf_counter()
    index.add(gone, back)
    res["re_add_1000_s"] = round(time.perf_counter() - t0, 3)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        index.save(tmp, 1)
        res["save_s"] = round(time.perf_counter() - t0, 2)
        res["file_mb"] = round(sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20, 1)
        t0 = time.perf_counter()
        VectorIndex.load(tmp, index.embedder)
        res["load_s_verified"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        VectorIndex.load(tmp, index.embedder, verify=False)
        res["load_s_unverified"] = round(time.perf_counter() - t0, 2)
    res["rss_mb"]["peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    if not args.no_hnsw:
        exact = [[p for p, _ in hits] for hits in index.search_batch(queries, args.k)]
        inner = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 40
        hnsw = faiss.IndexIDMap2(inner)
        t0 = time.perf_counter()
        hnsw.add_with_ids(vecs, pids)
        res["hnsw_build_s"] = round(time.perf_counter() - t0, 1)
        try:
            hnsw.remove_ids(faiss.IDSelectorBatch(gone[:1]))
            res["hnsw_remove"] = "supported"
        except RuntimeError as exc:
            res["hnsw_remove"] = f"not supported: {str(exc).splitlines()[0][:120]}"
        for ef in (64, 128):
            inner.hnsw.efSearch = ef
            res[f"hnsw_ef{ef}_search"] = time_queries(lambda q: hnsw.search(q[None, :], args.k), queries)
            _, labels = hnsw.search(queries, args.k)
            recall = np.mean([len(set(lab.tolist()) & set(ex)) / args.k for lab, ex in zip(labels, exact, strict=True)])
            res[f"hnsw_ef{ef}_recall@{args.k}"] = round(float(recall), 4)
        res["rss_mb"]["with_hnsw"] = round(rss_mb())
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
