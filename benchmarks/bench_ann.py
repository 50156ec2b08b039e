"""Exact vs approximate vector search at a million paragraphs, with real questions (issue 12, point 6).

Real vectors: the default embedder (e5) embeds the passages and questions of the ALQAC and uit_reg_wiki sets and
real paragraphs of the party_politics articles (cached under `--work`, so only the first run embeds: ~15 min
on 2 cores). Embedding a million paragraphs would take a day here, so the index is filled up to `--n` vectors
with *neighbours of real paragraphs*: each filler is a real paragraph vector plus Gaussian noise (cosine 0.6-0.9
to its source), renormalised. Every real question's exact top 10 is then fought over by thousands of close
fillers, which is harder for an inverted-file index than a corpus of distinct documents.

Measured, single-query latency on one thread (as the product searches), recall@10 against the exact answer:

* exact: `rag.index.vectors.VectorIndex` with every vector in one flat index (the product below `ANN_FROM`);
* IVF (FAISS `IndexIVFFlat`, inner product) for a few list counts and `nprobe` values, with training time
  (k-means on a sample) and add time;
* the product's approximate path: `VectorIndex.maintain()` builds its IVF level, then `VectorIndex.search`,
  also with an `allowed` filter (1 % and 10 % of the paragraphs).

Usage:
    .venv/bin/python benchmarks/bench_ann.py --n 1000000 --work /tmp/ann-work
    .venv/bin/python benchmarks/bench_ann.py --n 180000 --work /tmp/ann-work --nlist 1024
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_vectors import percentiles, rss_mb  # noqa: E402
from rag.index.vectors import VectorIndex  # noqa: E402

SHARED = ROOT.parent / "shared"
Floats = npt.NDArray[np.float32]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _party_paragraphs(limit: int) -> list[str]:
    path = SHARED / "corpora" / "party_politics" / "docs_party_politics.jsonl"
    out: list[str] = []
    for doc in _jsonl(path):
        for block in str(doc.get("text", "")).split("\n\n"):
            text = " ".join(block.split())
            if len(text) >= 80:
                out.append(f"{doc.get('title', '')}\n{text}")
                if len(out) >= limit:
                    return out
    return out


def real_vectors(work: Path, distractors: int) -> tuple[Floats, Floats]:
    """(passage vectors, question vectors) of the shared sets, embedded once and cached in `work`."""
    work.mkdir(parents=True, exist_ok=True)
    passages_file, queries_file = work / f"passages-{distractors}.npy", work / "queries.npy"
    if passages_file.exists() and queries_file.exists():
        return np.load(passages_file), np.load(queries_file)
    from rag.index.embedders import make_embedder

    embedder = make_embedder("e5")
    passages: list[str] = []
    questions: list[str] = []
    for name in ("alqac", "uit_reg_wiki"):
        passages += [f"{d.get('title', '')}\n{d['text']}" for d in _jsonl(SHARED / "eval" / name / "corpus.jsonl")]
        questions += [q["text"] for q in _jsonl(SHARED / "eval" / name / "queries.jsonl")]
    passages += _party_paragraphs(distractors)
    t0 = time.perf_counter()
    chunks = []
    for start in range(0, len(passages), 512):
        chunks.append(embedder.embed_documents(passages[start : start + 512]))
        print(f"embedded {start + len(chunks[-1])}/{len(passages)} passages", file=sys.stderr, flush=True)
    pvecs = np.vstack(chunks).astype(np.float32)
    qvecs = np.vstack([embedder.embed_query(q) for q in questions]).astype(np.float32)
    print(f"embedding took {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    np.save(passages_file, pvecs)
    np.save(queries_file, qvecs)
    return pvecs, qvecs


def fill(real: Floats, n: int, seed: int) -> Floats:
    """`real` followed by noisy neighbours of its rows up to `n` rows, unit length."""
    rng = np.random.default_rng(seed)
    out = np.empty((max(n, len(real)), real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    dim = real.shape[1]
    for start in range(len(real), n, 50_000):
        m = min(50_000, n - start)
        src = real[rng.integers(0, len(real), m)]
        scale = rng.uniform(0.5, 1.3, (m, 1)).astype(np.float32)  # noise norm: cosine ~0.6-0.9 to the source
        block = src + scale * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _timed(fn: Any, queries: Floats) -> tuple[dict[str, float], list[list[int]]]:
    fn(queries[0])
    samples, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = fn(q)
        samples.append(time.perf_counter() - t0)
        results.append(hits)
    return percentiles(samples), results


def recall(found: list[list[int]], exact: list[list[int]], k: int) -> float:
    return round(
        float(np.mean([len(set(f[:k]) & set(e[:k])) / max(1, len(e[:k])) for f, e in zip(found, exact, strict=True)])),
        4,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ann-work"), help="cache of the embedded real vectors")
    ap.add_argument("--distractors", type=int, default=15_000, help="real party_politics paragraphs embedded")
    ap.add_argument("--queries", type=int, default=500, help="real questions timed (all are used for recall)")
    ap.add_argument("--nlist", type=int, nargs="*", default=[], help="raw IVF list counts to sweep (none: skip)")
    ap.add_argument("--nprobe", type=int, nargs="*", default=[8, 16, 32, 64])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import faiss

    faiss.omp_set_num_threads(1)
    real, questions = real_vectors(args.work, args.distractors)
    rng = np.random.default_rng(7)
    timed = questions[rng.permutation(len(questions))[: args.queries]]
    vecs = fill(real, args.n, seed=0)
    pids = np.arange(len(vecs), dtype=np.int64) * 3 + 1
    res: dict[str, Any] = {"n": len(vecs), "real": len(real), "questions": len(questions), "k": args.k}

    index = VectorIndex(vecs.shape[1], "bench")
    t0 = time.perf_counter()
    for start in range(0, len(vecs), 100_000):
        index.add(pids[start : start + 100_000], vecs[start : start + 100_000])
    res["add_s"] = round(time.perf_counter() - t0, 1)
    res["rss_mb_flat"] = round(rss_mb())
    exact = [[p for p, _ in hits] for hits in index.search_batch(questions, args.k)]
    res["exact"], _ = _timed(lambda q: index.search(q, args.k), timed)

    faiss.omp_set_num_threads(2)
    for nlist in args.nlist:
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(vecs.shape[1]), vecs.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = 10
        sample = vecs[rng.choice(len(vecs), min(len(vecs), 32 * nlist), replace=False)]
        t0 = time.perf_counter()
        ivf.train(sample)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ivf.add_with_ids(vecs, pids)
        row: dict[str, Any] = {"train_s": round(train_s, 1), "add_s": round(time.perf_counter() - t0, 1)}
        faiss.omp_set_num_threads(1)
        for nprobe in args.nprobe:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            _, labels = ivf.search(questions, args.k, params=params)
            lat, _ = _timed(lambda q, p=params, ix=ivf: ix.search(q[None, :], args.k, params=p), timed)
            row[f"nprobe{nprobe}"] = {"recall@10": recall(labels.tolist(), exact, args.k), **lat}
        faiss.omp_set_num_threads(2)
        res[f"ivf{nlist}"] = row
        del ivf

    t0 = time.perf_counter()
    index.maintain()
    res["product_maintain_s"] = round(time.perf_counter() - t0, 1)
    res["product_kind"] = index.kinds()
    faiss.omp_set_num_threads(1)
    lat, found = _timed(lambda q: [p for p, _ in index.search(q, args.k)], questions)
    res["product_ann"] = {"recall@10": recall(found, exact, args.k), **lat}
    for frac in (0.1, 0.01):
        allowed = np.sort(rng.choice(pids, int(len(pids) * frac), replace=False))
        want = [[p for p, _ in hits] for hits in index.search_batch(questions[:200], args.k, allowed, exact=True)]
        lat, found = _timed(lambda q, a=allowed: [p for p, _ in index.search(q, args.k, a)], questions[:200])
        res[f"product_ann_allowed_{frac:g}"] = {"recall@10": recall(found, want, args.k), **lat}
    res["rss_mb_ann"] = round(rss_mb())
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
