"""The scale curve of the lexical side: ingest, memory, disk, reopen and search at 100k, 300k and 1M paragraphs.

For each size a JSONL corpus is written from ../shared (the party_politics articles, then variant copies of them
with their paragraphs shuffled, then ALQAC and uit_reg_wiki), and each step runs in a process of its own so that
its peak memory is its own:

1. `vankien ingest CORPUS --index IX --embedder none` (parse, analyse, catalog, lexical index): wall time and
   peak RSS of the whole command; the index's size on disk (all of it, and the lexical part alone).
2. Reopen and search: open the index in a fresh process (time, RSS after opening), 500 real questions through
   `Library.search` (p50 / p95 / p99, RSS after), a new document ingested through a second library and found by the
   first (seconds), then 1,000 documents added one ingest at a time and the same questions again.
3. The peers on the same paragraphs: tantivy fed the product's own terms (syllables, bigrams and folded twins,
   joined by spaces, whitespace tokenizer; the same title weighting is not reproduced) and bm25s with its default
   tokenizer. Build time, peak RSS, size on disk (tantivy), search p50 / p95 / p99 on the same questions.

Usage:
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 300000 1000000 --work /tmp/vk-scale
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 --no-peers           # ours only

tantivy is not a dependency of the product: `pip install tantivy` (the `bench` extra) to compare with it.
Prints one JSON object per size, then a summary; figures go to docs/benchmarks.md ("The scale curve").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_search import real_questions  # noqa: E402  (the same 500 questions as the search benchmark)

SHARED = ROOT.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
VANKIEN = Path(sys.executable).with_name("vankien")
#: The parser cuts the corpus's blank-line blocks into about this many paragraphs each (measured on these files:
#: 101,649 blocks gave 180,388 paragraphs); the actual count is reported.
PARAGRAPHS_PER_BLOCK = 1.75
SHARD_BYTES = 32 * 1024 * 1024


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def _rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _du_mb(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 1e6, 1)


def timed_searches(library: Any, questions: list[str], k: int = 10) -> list[float]:
    """Milliseconds of `library.search(q, k)` for each question, in order."""
    ms = []
    for q in questions:
        started = time.perf_counter()
        library.search(q, k=k)
        ms.append((time.perf_counter() - started) * 1000)
    return ms


def _blocks(text: str) -> int:
    return sum(1 for b in text.split("\n\n") if b.strip())


class _Shards:
    """JSON lines written to numbered files of at most `SHARD_BYTES` each (one file may hold 200 MB at most)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0
        self.size = 0
        self.fh = (folder / "part-000.jsonl").open("w", encoding="utf-8")

    def write(self, line: str) -> None:
        if self.size > SHARD_BYTES:
            self.fh.close()
            self.n += 1
            self.size = 0
            self.fh = (self.folder / f"part-{self.n:03d}.jsonl").open("w", encoding="utf-8")
        self.fh.write(line)
        self.size += len(line.encode("utf-8"))

    def close(self) -> None:
        self.fh.close()


def write_corpus(out: Path, paragraphs: int) -> dict[str, int]:
    """Write a JSONL corpus of about `paragraphs` blank-line blocks into the folder `out` (in files of at most
    `SHARD_BYTES`; the parser's paragraph count is reported after the ingest)."""
    out.mkdir(parents=True, exist_ok=True)
    articles = [json.loads(line) for line in (SHARED / "corpora/party_politics/docs_party_politics.jsonl").open()]
    extra: list[dict[str, str]] = []
    for name in ("alqac", "uit_reg_wiki"):
        for line in (SHARED / "eval" / name / "corpus.jsonl").open(encoding="utf-8"):
            doc = json.loads(line)
            extra.append(
                {"doc_id": f"{name}-{doc['_id']}", "title": doc.get("title") or doc["_id"], "text": doc["text"]}
            )
    records = 0
    blocks = 0
    fh = _Shards(out)
    try:
        for rec in extra:  # the statutes and the wiki first: every size holds the questions' own corpora
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            records += 1
            blocks += _blocks(rec["text"])
        copy = 0
        while blocks < paragraphs:
            for art in articles:
                if blocks >= paragraphs:
                    break
                rec = dict(art)
                if copy:
                    # A variant copy: another record id, its paragraphs in another order.
                    rec["doc_id"] = f"{rec['doc_id']}-v{copy}"
                    parts = rec["text"].split("\n\n")
                    random.Random(copy * 100_003 + records).shuffle(parts)
                    rec["text"] = "\n\n".join(parts)
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                records += 1
                blocks += _blocks(rec["text"])
            copy += 1
    finally:
        fh.close()
    return {"records": records, "blocks": blocks, "files": fh.n + 1}


def _run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd` in a child and report its wall time and peak RSS (this helper runs in a process of its own,
    so RUSAGE_CHILDREN is that command alone)."""
    helper = [sys.executable, __file__, "_measure", "--", *cmd]
    out = subprocess.run(helper, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _measure(cmd: list[str]) -> int:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode not in (0, 3):  # 3: some records were refused (empty texts in the crawl): reported, fine
        sys.stderr.write(proc.stderr[-3000:])
        return 1
    print(json.dumps({"wall_s": round(wall, 1), "peak_rss_mb": round(peak, 1), "rc": proc.returncode}))
    return 0


# ------------------------------------------------------------------------------------------------- ours


def _search_step(index: Path, n_queries: int, adds: int) -> int:
    """Reopen, search, add one document and find it from the other view, then `adds` single-document ingests."""
    from rag.pipeline import Library

    result: dict[str, Any] = {"rss_before_open_mb": _rss_mb()}
    t0 = time.perf_counter()
    library = Library(index, create=False, embedder="none")
    _ = library.store
    result["reopen_s"] = round(time.perf_counter() - t0, 2)
    result["rss_after_reopen_mb"] = _rss_mb()
    result["paragraphs"] = library.catalog.counts()["paragraphs"]
    qs = real_questions(n_queries)
    timed_searches(library, qs)  # the first pass touches the mapped pages the questions need
    result["search_ms"] = _percentiles(timed_searches(library, qs))
    result["rss_after_search_mb"] = _rss_mb()
    writer = Library(index, create=False, embedder="none")
    new = index.parent / "scale-new-doc.md"
    new.write_text(
        "# Tin thử nghiệm quy mô\n12/03/2026\nHội nghị bàn về mô hình hợp tác xã kiểu mới với mã SCALE-QX42.\n",
        encoding="utf-8",
    )
    # The writer ingests in a thread (as another process would: the catalog commit is what readers follow) while
    # the reader searches until it finds the document; the writer's own merges and save do not delay the reader.
    done_at: list[float] = []
    t0 = time.perf_counter()
    ingest = threading.Thread(target=lambda: (writer.ingest([new]), done_at.append(time.perf_counter())))
    ingest.start()
    while not any("SCALE-QX42" in hit.paragraph.text for hit in library.search("mã SCALE-QX42", k=1)):
        if time.perf_counter() - t0 > 60:
            break
        time.sleep(0.01)
    result["new_document_searchable_s"] = round(time.perf_counter() - t0, 3)
    ingest.join()
    result["new_document_ingest_returned_s"] = round(done_at[0] - t0, 3) if done_at else None
    if adds:
        folder = index.parent / "scale-adds"
        folder.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        for i in range(adds):
            doc = folder / f"tin-{i:04d}.md"
            doc.write_text(
                f"# Tin bổ sung số {i}\nNgày {1 + i % 28}/11/2026, chi bộ số {i} họp bàn công tác phát triển đảng "
                f"viên và nghị quyết chuyên đề số {i}.\n",
                encoding="utf-8",
            )
            writer.ingest([doc])
        result["adds"] = {"n": adds, "wall_s": round(time.perf_counter() - t0, 1)}
        library.refresh()
        timed_searches(library, qs)
        result["search_after_adds_ms"] = _percentiles(timed_searches(library, qs))
        result["segments_after_adds"] = len(library.store.lexical._segments)
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------------------ peers


def _paragraph_texts(index: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(index / "catalog.sqlite")
    try:
        return [row[0] for row in con.execute("SELECT text FROM paragraphs ORDER BY pid")]
    finally:
        con.close()


def _peer_step(engine: str, index: Path, work: Path, n_queries: int) -> int:
    texts = _paragraph_texts(index)
    qs = real_questions(n_queries)
    result: dict[str, Any] = {"engine": engine, "paragraphs": len(texts)}
    if engine == "tantivy":
        import tantivy

        from rag.text.tokenize import query_terms, tokenize

        folder = work / "tantivy"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace")
        builder.add_integer_field("pid", stored=True, indexed=False)
        schema = builder.build()
        t0 = time.perf_counter()
        idx = tantivy.Index(schema, path=str(folder))
        writer = idx.writer(heap_size=256_000_000, num_threads=1)
        from rag.text.tokenize import fold_term

        for pid, text in enumerate(texts):
            terms = tokenize(text)
            body = " ".join(terms + [fold_term(t) for t in terms])
            writer.add_document(tantivy.Document(body=body, pid=pid))
        writer.commit()
        writer.wait_merging_threads()
        result["build_s"] = round(time.perf_counter() - t0, 1)
        idx.reload()
        searcher = idx.searcher()
        result["disk_mb"] = _du_mb(folder)

        def run(q: str) -> None:
            qt = query_terms(q)
            terms = qt.exact + qt.folded if qt.accented else qt.folded
            if not terms:
                return
            parsed, _errors = idx.parse_query_lenient(" ".join(t.replace('"', "") for t in terms), ["body"])
            searcher.search(parsed, 10)

    else:
        import bm25s

        t0 = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
        result["build_s"] = round(time.perf_counter() - t0, 1)

        def run(q: str) -> None:
            tokens = bm25s.tokenize([q], show_progress=False)
            if tokens.vocab:
                retriever.retrieve(tokens, k=10, show_progress=False)

    del texts
    for q in qs:  # warm
        run(q)
    ms = []
    for q in qs:
        s = time.perf_counter()
        run(q)
        ms.append((time.perf_counter() - s) * 1000)
    result["search_ms"] = _percentiles(ms)
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result))
    return 0


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        return _measure(sys.argv[3:])
    if len(sys.argv) > 1 and sys.argv[1] == "_search":
        return _search_step(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "_peer":
        return _peer_step(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/vk-scale"))
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--adds", type=int, default=1000, help="single-document ingests before the second search pass")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep each size's index (default: deleted after its run)")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} not found: this benchmark needs ../shared", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    summary = []
    for size in args.sizes:
        work = args.work / f"n{size}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        corpus = work / "corpus"
        row: dict[str, Any] = {
            "target_paragraphs": size,
            "corpus": write_corpus(corpus, int(size / PARAGRAPHS_PER_BLOCK)),
        }
        index = work / "ix"
        env = dict(os.environ, VANKIEN_LOG_LEVEL="ERROR")
        row["ingest"] = _run_measured(
            [str(VANKIEN), "ingest", str(corpus), "--index", str(index), "--embedder", "none"], env
        )
        row["disk_mb"] = {
            "index": _du_mb(index),
            "lexical": _du_mb(index / "lexical"),
            "catalog": _du_mb(index / "catalog.sqlite"),
        }
        row["ours"] = _child(["_search", str(index), str(args.queries), str(args.adds)])
        if row["ours"].get("paragraphs", 0) < size / 2:
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
            raise SystemExit(f"the ingest indexed far fewer paragraphs than {size}: see its output above")
        if not args.no_peers:
            row["peers"] = [
                _child(["_peer", engine, str(index), str(work), str(args.queries)]) for engine in ("tantivy", "bm25s")
            ]
        print(json.dumps(row, ensure_ascii=False), flush=True)
        summary.append(row)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"summary": summary}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
