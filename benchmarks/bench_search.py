"""Search speed at scale, through the whole library (catalog, indexes, hits), with the peers on the same data.

Builds an index of at least 100,000 paragraphs from ../shared (the party_politics articles, the ALQAC statutes,
the uit_reg_wiki paragraphs, and variant copies of the articles when more are needed), then reports:

* build: ingest time (parse, analyse, catalog) and indexing time (lexical [+ vectors]), paragraphs;
* search: p50/p95/p99 latency of `Library.search` over real questions (alqac, uit_reg_wiki, nq57 quiz);
* incremental: one new document ingested by one `Library` becomes searchable in another `Library` on the same
  directory (the way a running server sees a CLI ingest) — seconds from the start of the ingest to the first
  search that finds it, without a restart;
* memory: peak RSS of the process;
* peers, on the same paragraphs: LangChain's BM25Retriever and bm25s (default tokenizer), build time and
  query latency.

With `--index DIR` it only times searches over an index built beforehand (e.g. by `vankien ingest`, with its
vectors): no build, no incremental add, no peers.

Usage:
    .venv/bin/python benchmarks/bench_search.py [--min-paragraphs 100000] [--queries 500] [--peer-queries 100]
        [--embedder none] [--work DIR] [--copies N] [--no-peers]
    .venv/bin/python benchmarks/bench_search.py --index /tmp/pp-ix

Prints one JSON object (figures recorded in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

from rag.pipeline import Library  # noqa: E402


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": round(statistics.fmean(ms), 2)}


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _write_corpus(out: Path, copies: int) -> int:
    """Write the benchmark corpus as JSON lines; returns the number of records."""
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        articles = [json.loads(line) for line in (SHARED / "corpora/party_politics/docs_party_politics.jsonl").open()]
        for copy in range(copies):
            for rec in articles:
                rec = dict(rec)
                if copy:
                    # A variant copy: another record id and its paragraphs in another order, so the index holds
                    # distinct documents of realistic length rather than exact duplicates.
                    rec["doc_id"] = f"{rec['doc_id']}-v{copy}"
                    parts = rec["text"].split("\n\n")
                    random.Random(copy).shuffle(parts)
                    rec["text"] = "\n\n".join(parts)
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        for name in ("alqac", "uit_reg_wiki"):
            for line in (SHARED / "eval" / name / "corpus.jsonl").open(encoding="utf-8"):
                doc = json.loads(line)
                rec = {"doc_id": f"{name}-{doc['_id']}", "title": doc.get("title") or doc["_id"], "text": doc["text"]}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    return n


def real_questions(limit: int) -> list[str]:
    """Up to `limit` real questions (alqac, uit_reg_wiki, nq57), shuffled with a fixed seed."""
    texts: list[str] = []
    for name in ("alqac", "uit_reg_wiki"):
        lines = (SHARED / "eval" / name / "queries.jsonl").open(encoding="utf-8")
        texts += [json.loads(line)["text"] for line in lines]
    texts += [json.loads(line)["question"] for line in (SHARED / "eval/nq57/qa.jsonl").open(encoding="utf-8")]
    random.Random(7).shuffle(texts)
    return texts[:limit]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-paragraphs", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--peer-queries", type=int, default=100)
    ap.add_argument("--embedder", default=None, help="embedder for the index (default: the library default)")
    ap.add_argument("--work", type=Path, help="keep the index here (default: a temporary folder)")
    ap.add_argument(
        "--copies",
        type=int,
        help="variant copies of the articles to write (default: grow one copy at a time until --min-paragraphs; "
        "give it with a slow embedder, so that only one index is embedded)",
    )
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--index", type=Path, help="only time searches over this existing index")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} not found: this benchmark needs ../shared", file=sys.stderr)
        return 2
    if args.index is not None:
        return _search_existing(args.index, args.queries)
    work = args.work or Path(tempfile.mkdtemp(prefix="vankien-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"embedder": args.embedder or "default"}

    copies = args.copies or 1
    while True:
        corpus = work / f"bench-corpus-{copies}.jsonl"
        records = _write_corpus(corpus, copies)
        index_dir = work / f"ix-{copies}"
        library = Library(index_dir, embedder=args.embedder)
        t0 = time.perf_counter()
        library.ingest([corpus], progress=None)
        built = time.perf_counter() - t0
        paragraphs = library.catalog.counts()["paragraphs"]
        if paragraphs >= args.min_paragraphs or args.copies:
            break
        library.close()
        copies += 1
    # Ingest = parse + analyse + catalog; indexing happened inside ingest (refresh); measure a rebuild apart.
    t0 = time.perf_counter()
    fresh = Library(index_dir, create=False)
    _ = fresh.store
    load_s = time.perf_counter() - t0
    result["build"] = {
        "records": records,
        "documents": library.catalog.counts()["documents"],
        "paragraphs": paragraphs,
        "ingest_and_index_s": round(built, 1),
        "open_existing_index_s": round(load_s, 2),
    }

    queries = real_questions(args.queries)
    latencies = _search_latencies(library, queries)
    result["search_ms"] = {"n": len(latencies), **_percentiles(latencies)}

    # Incremental: a new document ingested through one Library, found through another (a server's view).
    server_view = Library(index_dir, create=False)
    server_view.search("khởi động", k=1)
    new_doc = work / "tin-moi.md"
    new_doc.write_text(
        "# Tin thử nghiệm benchmark\n12/03/2026\nSáng 12/3, hội nghị bàn về mô hình hợp tác xã kiểu mới "
        "với mã thử nghiệm BENCHMARK-ZX81 tại tỉnh Lâm Đồng.\n",
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    library.ingest([new_doc])
    ingested = time.perf_counter() - t0
    found = server_view.search("mã thử nghiệm BENCHMARK-ZX81", k=1)
    visible = time.perf_counter() - t0
    result["incremental_add"] = {
        "ingest_s": round(ingested, 3),
        "searchable_in_other_view_s": round(visible, 3),
        "found": bool(found and "BENCHMARK-ZX81" in found[0].paragraph.text),
    }
    result["peak_rss_mb"] = _rss_mb()

    if not args.no_peers:
        texts = [p for (_, _, p) in _all_paragraph_texts(library)]
        peer_queries = queries[: args.peer_queries]
        result["peers"] = {"paragraphs": len(texts), **_peers(texts, peer_queries)}
        ours = latencies[: len(peer_queries)]
        result["ours_on_peer_queries_ms"] = _percentiles(ours)
    result["peak_rss_mb_total"] = _rss_mb()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _search_latencies(library: Library, queries: list[str]) -> list[float]:
    """Milliseconds of `library.search(q, k=10)` for each query, after 20 warm-up searches."""
    for q in queries[:20]:  # warm caches
        library.search(q, k=10)
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        library.search(q, k=10)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def _search_existing(index_dir: Path, n_queries: int) -> int:
    """Time `Library.search` over an index built beforehand (its own embedder, vectors included)."""
    t0 = time.perf_counter()
    library = Library(index_dir, create=False)
    store = library.store
    opened = time.perf_counter() - t0
    queries = real_questions(n_queries)
    latencies = _search_latencies(library, queries)
    result = {
        "index": str(index_dir),
        "embedder": store.manifest().get("embedder"),
        "paragraphs": library.catalog.counts()["paragraphs"],
        "pending_vectors": library.pending_vectors(),
        "open_existing_index_s": round(opened, 2),
        "search_ms": {"n": len(latencies), **_percentiles(latencies)},
        "peak_rss_mb": _rss_mb(),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _all_paragraph_texts(library: Library) -> list[tuple[int, str, str]]:
    pid_docs = library.catalog.pid_docs()
    rows = library.catalog.paragraph_rows([(pid_docs[0][0], pid_docs[-1][0])]) if pid_docs else []
    return [(pid, doc_id, text) for pid, doc_id, text, _, _ in rows]


def _peers(texts: list[str], queries: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    try:
        import bm25s

        t0 = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
        build = time.perf_counter() - t0
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            tokens = bm25s.tokenize([q], return_ids=False, show_progress=False)
            if tokens[0]:
                retriever.retrieve(tokens, k=10, show_progress=False)
            lat.append((time.perf_counter() - t0) * 1000)
        out["bm25s"] = {"build_s": round(build, 1), "search_ms": _percentiles(lat)}
    except ImportError:
        out["bm25s"] = "not installed"
    try:
        from langchain_community.retrievers import BM25Retriever

        t0 = time.perf_counter()
        lc = BM25Retriever.from_texts(texts, k=10)
        build = time.perf_counter() - t0
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            lc.invoke(q)
            lat.append((time.perf_counter() - t0) * 1000)
        out["langchain_bm25"] = {"build_s": round(build, 1), "search_ms": _percentiles(lat)}
    except ImportError:
        out["langchain_bm25"] = "not installed"
    return out


if __name__ == "__main__":
    sys.exit(main())
