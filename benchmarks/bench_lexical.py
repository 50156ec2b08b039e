"""Benchmark lexical engines at >= 100,000 paragraphs (build, search p50/p95, incremental add, RSS).

The corpus is built from ../shared (evaluation data, read only): the party_politics articles split into paragraphs,
the alqac and uit_reg_wiki corpora, replicated with small variations (every n-th word dropped) up to --size.
Queries are the alqac and uit_reg_wiki questions (a fixed sample), as typed and without diacritics.

Each engine runs in its own process so that its memory is measured alone:
    .venv/bin/python benchmarks/bench_lexical.py                       # all engines, 100,000 paragraphs
    .venv/bin/python benchmarks/bench_lexical.py --engines ours,langchain --size 100000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")

ENGINES = ("ours", "bm25s", "tantivy", "fts5", "langchain")
_BLANK = re.compile(r"\n\s*\n")
_BOILERPLATE = re.compile(r"^\s*\*\*(?:Mới|>>)")


def paragraphs_from_article(text: str, max_chars: int = 1200) -> list[str]:
    """Blank-line paragraphs; a longer block (tables, run-on pages) is cut at line ends near `max_chars`."""
    out: list[str] = []
    for block in _BLANK.split(text):
        block = block.strip()
        if len(block) < 40 or _BOILERPLATE.match(block):
            continue
        if len(block) <= max_chars:
            out.append(block)
            continue
        buf = ""
        for line in block.split("\n"):
            if buf and len(buf) + len(line) > max_chars:
                out.append(buf)
                buf = ""
            buf = f"{buf}\n{line}" if buf else line
            while len(buf) > 2 * max_chars:  # a single enormous line
                out.append(buf[:max_chars])
                buf = buf[max_chars:]
        if len(buf) >= 40:
            out.append(buf)
    return out


def build_corpus(size: int) -> list[str]:
    base: list[str] = []
    with (SHARED / "corpora" / "party_politics" / "docs_party_politics.jsonl").open(encoding="utf-8") as f:
        for line in f:
            base.extend(paragraphs_from_article(json.loads(line)["text"]))
    for name in ("alqac", "uit_reg_wiki"):
        with (SHARED / "eval" / name / "corpus.jsonl").open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                base.append(f"{rec.get('title') or ''}\n{rec['text']}".strip())
    out = list(base)
    replica = 1
    while len(out) < size:
        step = replica + 3  # replica r drops every (r+3)-th word: new texts, same vocabulary and lengths
        for text in base:
            words = text.split(" ")
            out.append(" ".join(w for i, w in enumerate(words) if i % step != step - 1))
            if len(out) >= size:
                break
        replica += 1
    return out[:size]


def load_queries(n: int, seed: int = 13) -> list[str]:
    qs: list[str] = []
    for name in ("alqac", "uit_reg_wiki"):
        with (SHARED / "eval" / name / "queries.jsonl").open(encoding="utf-8") as f:
            qs.extend(json.loads(line)["text"] for line in f if line.strip())
    random.Random(seed).shuffle(qs)
    return qs[:n]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pcts(ms: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def time_queries(search: Callable[[str], Any], queries: Sequence[str]) -> tuple[float, float]:
    for q in queries[:5]:  # warm caches
        search(q)
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        lat.append((time.perf_counter() - t0) * 1000)
    return pcts(lat)


NEW_DOC = (
    "Nghị quyết thí điểm về phát triển hạ tầng số quốc gia giao Ban chỉ đạo tổng kết mô hình "
    "trung tâm dữ liệu vùng Tây Nguyên trước quý IV."
)
NEW_QUERY = "trung tâm dữ liệu vùng Tây Nguyên"


# ---------------------------------------------------------------------------------------------- engines


def bench_ours(corpus: list[str], queries: list[str], folded: list[str], workdir: Path) -> dict[str, Any]:
    from rag.index.lexical import LexicalIndex

    r: dict[str, Any] = {}
    idx = LexicalIndex()
    t0 = time.perf_counter()
    idx.add(list(range(len(corpus))), corpus)
    r["build_s"] = time.perf_counter() - t0
    r["rss_mb"] = rss_mb()
    r["p50_ms"], r["p95_ms"] = time_queries(lambda q: idx.search(q, 10), queries)
    r["p50_folded_ms"], r["p95_folded_ms"] = time_queries(lambda q: idx.search(q, 10), folded)
    allowed = np.arange(0, len(corpus), 3, dtype=np.int64)
    r["p50_allowed_ms"], r["p95_allowed_ms"] = time_queries(lambda q: idx.search(q, 10, allowed), queries[:200])
    new_pid = len(corpus) + 1
    t0 = time.perf_counter()
    idx.add([new_pid], [NEW_DOC])
    hits = idx.search(NEW_QUERY, 1)
    r["add_one_s"] = time.perf_counter() - t0
    r["new_doc_first"] = bool(hits and hits[0][0] == new_pid)
    t0 = time.perf_counter()
    idx.remove(range(1000, 1100))  # a document's paragraphs
    r["remove_100_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx.save(workdir / "ours", 1)
    r["save_s"] = time.perf_counter() - t0
    r["disk_mb"] = sum(p.stat().st_size for p in (workdir / "ours").iterdir()) / 2**20
    del idx
    t0 = time.perf_counter()
    idx = LexicalIndex.load(workdir / "ours")
    r["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx.optimize()
    r["full_merge_s"] = time.perf_counter() - t0
    r["peak_rss_mb"] = peak_rss_mb()
    return r


def _our_terms(texts: Sequence[str]) -> list[list[str]]:
    from rag.text.tokenize import tokenize

    return [tokenize(t) for t in texts]


def bench_bm25s(corpus: list[str], queries: list[str], folded: list[str], workdir: Path) -> dict[str, Any]:
    """bm25s with our tokenizer (exact terms only; no folded twins)."""
    import bm25s

    from rag.text.tokenize import query_terms

    r: dict[str, Any] = {}
    t0 = time.perf_counter()
    toks = _our_terms(corpus)
    r["tokenize_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index(toks, show_progress=False)
    r["build_s"] = r["tokenize_s"] + time.perf_counter() - t0
    del toks
    r["rss_mb"] = rss_mb()

    def search(q: str) -> Any:
        qt = list(query_terms(q).exact)
        ids = retriever.get_tokens_ids(qt)
        if not ids:
            return []
        return retriever.retrieve([qt], k=10, show_progress=False)

    r["p50_ms"], r["p95_ms"] = time_queries(search, queries)
    r["add_one_s"] = "full rebuild (= build_s)"
    r["peak_rss_mb"] = peak_rss_mb()
    return r


def bench_tantivy(corpus: list[str], queries: list[str], folded: list[str], workdir: Path) -> dict[str, Any]:
    """tantivy-py with our terms pre-tokenized (whitespace tokenizer), BM25 k1=1.2 b=0.75 (fixed in tantivy)."""
    import tantivy

    from rag.text.tokenize import query_terms, tokenize

    r: dict[str, Any] = {}
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("pid", stored=True, indexed=True, fast=True)
    sb.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
    schema = sb.build()
    path = workdir / "tantivy"
    path.mkdir()
    index = tantivy.Index(schema, path=str(path))
    t0 = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=2)
    for i, text in enumerate(corpus):
        writer.add_document(tantivy.Document(pid=i, body=" ".join(tokenize(text))))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    r["build_s"] = time.perf_counter() - t0
    r["rss_mb"] = rss_mb()
    searcher = index.searcher()

    def search(q: str) -> Any:
        terms = list(dict.fromkeys(query_terms(q).exact))
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t)) for t in terms]
        return searcher.search(tantivy.Query.boolean_query(clauses), 10).hits

    r["p50_ms"], r["p95_ms"] = time_queries(search, queries)
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    t0 = time.perf_counter()
    writer.add_document(tantivy.Document(pid=len(corpus) + 1, body=" ".join(tokenize(NEW_DOC))))
    writer.commit()
    index.reload()
    searcher = index.searcher()
    hits = search(NEW_QUERY)
    r["add_one_s"] = time.perf_counter() - t0
    r["new_doc_first"] = bool(hits) and searcher.doc(hits[0][1])["pid"][0] == len(corpus) + 1
    r["disk_mb"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    r["peak_rss_mb"] = peak_rss_mb()
    return r


def bench_fts5(corpus: list[str], queries: list[str], folded: list[str], workdir: Path) -> dict[str, Any]:
    """SQLite FTS5 over our pre-tokenized terms (unicode61, no diacritic removal, '_' and '~' kept in tokens)."""
    import sqlite3

    from rag.text.tokenize import query_terms, tokenize

    r: dict[str, Any] = {}
    db = sqlite3.connect(workdir / "fts.db")
    db.execute("CREATE VIRTUAL TABLE p USING fts5(body, tokenize = \"unicode61 remove_diacritics 0 tokenchars '_~'\")")
    t0 = time.perf_counter()
    db.executemany(
        "INSERT INTO p(rowid, body) VALUES (?, ?)", ((i, " ".join(tokenize(t))) for i, t in enumerate(corpus))
    )
    db.commit()
    r["build_s"] = time.perf_counter() - t0
    r["rss_mb"] = rss_mb()

    def search(q: str) -> Any:
        terms = list(dict.fromkeys(query_terms(q).exact))
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        return db.execute("SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT 10", (match,)).fetchall()

    r["p50_ms"], r["p95_ms"] = time_queries(search, queries[:200])
    t0 = time.perf_counter()
    db.execute("INSERT INTO p(rowid, body) VALUES (?, ?)", (len(corpus) + 1, " ".join(tokenize(NEW_DOC))))
    db.commit()
    hits = search(NEW_QUERY)
    r["add_one_s"] = time.perf_counter() - t0
    r["new_doc_first"] = bool(hits) and hits[0][0] == len(corpus) + 1
    r["peak_rss_mb"] = peak_rss_mb()
    return r


def bench_langchain(corpus: list[str], queries: list[str], folded: list[str], workdir: Path) -> dict[str, Any]:
    """LangChain BM25Retriever.from_texts (rank_bm25 BM25Okapi, whitespace split), as its docs show."""
    from langchain_community.retrievers import BM25Retriever

    r: dict[str, Any] = {}
    t0 = time.perf_counter()
    retriever = BM25Retriever.from_texts(corpus, k=10)
    r["build_s"] = time.perf_counter() - t0
    r["rss_mb"] = rss_mb()
    r["p50_ms"], r["p95_ms"] = time_queries(retriever.invoke, queries[:30])
    r["add_one_s"] = "full rebuild (= build_s)"
    r["peak_rss_mb"] = peak_rss_mb()
    return r


BENCHES: dict[str, Callable[[list[str], list[str], list[str], Path], dict[str, Any]]] = {
    "ours": bench_ours,
    "bm25s": bench_bm25s,
    "tantivy": bench_tantivy,
    "fts5": bench_fts5,
    "langchain": bench_langchain,
}


def run_one(engine: str, size: int, n_queries: int) -> dict[str, Any]:
    from rag.text.normalize import fold

    corpus = build_corpus(size)
    queries = load_queries(n_queries)
    folded = [fold(q) for q in queries]
    base_rss = rss_mb()
    with tempfile.TemporaryDirectory(prefix=f"bench-{engine}-") as tmp:
        result = BENCHES[engine](corpus, queries, folded, Path(tmp))
    result["corpus_rss_mb"] = base_rss
    result["engine"] = engine
    result["paragraphs"] = len(corpus)
    result["chars"] = sum(len(t) for t in corpus)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not (SHARED / "eval").exists():
        raise SystemExit(f"{SHARED} not found: the benchmark reads the shared evaluation data")
    if args.one:
        print(json.dumps(run_one(args.one, args.size, args.queries)))
        return
    results = []
    for engine in args.engines.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", engine, "--size", str(args.size), "--queries", str(args.queries)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"{engine}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(res)
        print(json.dumps(res), file=sys.stderr, flush=True)
    cols = ("engine", "paragraphs", "build_s", "p50_ms", "p95_ms", "add_one_s", "rss_mb", "peak_rss_mb")
    print("| " + " | ".join(cols) + " |")
    print("|---" * len(cols) + "|")
    for res in results:
        cells = [f"{res.get(c):.2f}" if isinstance(res.get(c), float) else str(res.get(c, "")) for c in cols]
        print("| " + " | ".join(cells) + " |")
    for res in results:
        extra = {k: v for k, v in res.items() if k not in cols}
        print(
            f"\n{res['engine']}: "
            + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items())
        )


if __name__ == "__main__":
    main()
