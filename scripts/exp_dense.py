"""Experiment: which offline embedder adds most to lexical retrieval in a hybrid (docs/embedder-notes.md).

Candidates are scored alone (exact inner-product search over the whole corpus) and fused with a lexical
baseline by reciprocal rank fusion (k=60) and by a convex combination of min-max normalised scores over each
side's top 100. Lexical baselines:

* ``bm25``: bm25s (k1=1.5, b=0.75) over syllables of ``match_form(title + "\\n" + text)``, one-letter syllables
  kept: the stand-in named in the issue;
* ``bm25bi``: the same plus syllable bigrams (what a stronger lexical side looks like);
* ``rag``: the project's own ``rag.index.lexical.LexicalIndex`` when it is importable.

Candidates:

* ``hash``: ``rag.index.embedders.HashEmbedder`` as shipped (and variants: dimension, feature groups);
* ``lsa``: corpus-fitted TF-IDF (sublinear tf, smooth idf) over syllable unigrams + bigrams of the matching form,
  reduced by randomized SVD to k dimensions fitted on the indexed paragraphs (numpy + scipy only).

Data are read from ../shared/eval (evaluation only, never copied). Usage:

    .venv/bin/python scripts/exp_dense.py                       # every candidate, bm25 + bm25bi baselines
    .venv/bin/python scripts/exp_dense.py --lexical bm25,bm25bi,rag --candidates hash,lsa256
    .venv/bin/python scripts/exp_dense.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.index.embedders import DEFAULT_HASH_GROUPS, HashEmbedder  # noqa: E402
from rag.text.normalize import match_form  # noqa: E402

SHARED = ROOT.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")

SETS = {"alqac:all": ("alqac", "all"), "alqac:bge146": ("alqac", "bge146"), "uit:all": ("uit_reg_wiki", "all")}
ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9)
FIXED_ALPHA = 0.7  # the lexical weight reported as "cvx": chosen before looking, not tuned per data set
POOL = 100
_SYL = re.compile(r"\w+")

Matrix = npt.NDArray[np.float32]
Ranked = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]  # doc indices best first, their scores


@dataclass
class Corpus:
    name: str
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]  # title + "\n" + text, what every candidate indexes
    qids: list[str]
    queries: list[str]


def load_corpus(name: str) -> Corpus:
    base = SHARED / "eval" / name
    doc_ids, titles, texts = [], [], []
    with (base / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            doc_ids.append(str(rec["_id"]))
            titles.append(rec.get("title") or "")
            texts.append((rec.get("title") or "") + "\n" + (rec.get("text") or ""))
    qids, queries = [], []
    with (base / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            qids.append(str(rec["_id"]))
            queries.append(rec["text"])
    return Corpus(name, doc_ids, titles, texts, qids, queries)


def load_qrels(name: str, split: str) -> dict[str, set[str]]:
    qrels: dict[str, set[str]] = {}
    with (SHARED / "eval" / name / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(did)
    return qrels


# ----------------------------------------------------------------------------------------------- metrics


def metrics(ranked: Sequence[Sequence[str]], qids: Sequence[str], qrels: dict[str, set[str]]) -> dict[str, float]:
    h1 = h3 = h10 = mrr = 0.0
    for qid, docs in zip(qids, ranked, strict=True):
        rel = qrels[qid]
        h1 += docs[0] in rel if docs else 0
        h3 += any(d in rel for d in docs[:3])
        h10 += any(d in rel for d in docs[:10])
        mrr += next((1.0 / (r + 1) for r, d in enumerate(docs[:10]) if d in rel), 0.0)
    n = len(qids)
    return {"Hit@1": h1 / n, "Hit@3": h3 / n, "Hit@10": h10 / n, "MRR@10": mrr / n}


def top(scores: npt.NDArray[Any], k: int = POOL) -> Ranked:
    k = min(k, scores.shape[0])
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx.astype(np.int64), scores[idx].astype(np.float64)


def rrf(lists: Sequence[Ranked], k: int = 60) -> list[int]:
    acc: dict[int, float] = {}
    for idx, _ in lists:
        for rank, i in enumerate(idx.tolist(), start=1):
            acc[i] = acc.get(i, 0.0) + 1.0 / (k + rank)
    return sorted(acc, key=lambda i: -acc[i])


def convex(lexical: Ranked, dense: Ranked, alpha: float) -> list[int]:
    fused: dict[int, float] = {}
    for (idx, s), w in ((lexical, alpha), (dense, 1.0 - alpha)):
        if len(s) == 0:
            continue
        lo, hi = float(s.min()), float(s.max())
        norm = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
        for i, v in zip(idx.tolist(), norm.tolist(), strict=True):
            fused[i] = fused.get(i, 0.0) + w * v
    return sorted(fused, key=lambda i: -fused[i])


# ----------------------------------------------------------------------------------------------- lexical


def syllables(text: str) -> list[str]:
    return _SYL.findall(match_form(text))


def with_bigrams(text: str) -> list[str]:
    s = syllables(text)
    return s + [a + "_" + b for a, b in pairwise(s)]


def bm25_runs(c: Corpus, tokenize: Callable[[str], list[str]]) -> list[Ranked]:
    import bm25s

    retriever = bm25s.BM25()
    retriever.index([tokenize(t) for t in c.texts], show_progress=False)
    vocab = retriever.vocab_dict
    out = []
    for q in c.queries:
        toks = [t for t in tokenize(q) if t in vocab]
        scores = retriever.get_scores(toks) if toks else np.zeros(len(c.texts))
        out.append(top(np.asarray(scores)))
    return out


def rag_lexical_runs(c: Corpus) -> list[Ranked]:
    from rag.index.lexical import LexicalIndex

    index = LexicalIndex()
    raw = [t.split("\n", 1)[1] for t in c.texts]
    index.add(list(range(len(raw))), raw, c.titles)
    out = []
    for q in c.queries:
        hits = index.search(q, POOL)
        out.append((np.array([p for p, _ in hits], dtype=np.int64), np.array([s for _, s in hits], dtype=np.float64)))
    return out


# ----------------------------------------------------------------------------------------------- candidates


def hash_candidate(dim: int, groups: dict[str, float] | None = None) -> Callable[[Corpus], tuple[Matrix, Matrix]]:
    def run(c: Corpus) -> tuple[Matrix, Matrix]:
        emb = HashEmbedder(dim, groups)
        return emb.embed_documents(c.texts), np.stack([emb.embed_query(q) for q in c.queries])

    return run


def _tfidf(docs: list[list[str]], queries: list[list[str]]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    vocab: dict[str, int] = {}
    for toks in docs:
        for t in toks:
            vocab.setdefault(t, len(vocab))

    def counts(rows: list[list[str]]) -> sp.csr_matrix:
        r, cidx, v = [], [], []
        for i, toks in enumerate(rows):
            cnt: dict[int, int] = {}
            for t in toks:
                j = vocab.get(t)
                if j is not None:
                    cnt[j] = cnt.get(j, 0) + 1
            r.extend([i] * len(cnt))
            cidx.extend(cnt)
            v.extend(cnt.values())
        m = sp.csr_matrix((np.asarray(v, dtype=np.float64), (r, cidx)), shape=(len(rows), len(vocab)))
        m.data = 1.0 + np.log(m.data)
        return m

    d, q = counts(docs), counts(queries)
    df = np.bincount(d.indices, minlength=len(vocab))
    idf = sp.diags(np.log((1 + d.shape[0]) / (1 + df)) + 1.0)
    return d @ idf, q @ idf


def _randomized_svd(x: sp.csr_matrix, k: int, n_iter: int = 5, seed: int = 0) -> npt.NDArray[np.float64]:
    """Top-k right singular vectors (k x V) by Halko et al.'s randomized range finder."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(x @ rng.standard_normal((x.shape[1], k + 10)))[0]
    for _ in range(n_iter):
        q = np.linalg.qr(x @ np.asarray(x.T @ q))[0]
    b = np.asarray((x.T @ q).T)
    _, _, vt = np.linalg.svd(b, full_matrices=False)
    return vt[:k]


def lsa_candidate(k: int) -> Callable[[Corpus], tuple[Matrix, Matrix]]:
    def run(c: Corpus) -> tuple[Matrix, Matrix]:
        d, q = _tfidf([with_bigrams(t) for t in c.texts], [with_bigrams(t) for t in c.queries])
        vt = _randomized_svd(d, min(k, d.shape[0] - 1))
        dv, qv = np.asarray(d @ vt.T), np.asarray(q @ vt.T)
        for m in (dv, qv):
            m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
        return dv.astype(np.float32), qv.astype(np.float32)

    return run


_MATCH_ONLY = {"w": 0.5, "b": 1.0, "t": 1.0}
_FOLD_ONLY = {"f": 0.5, "fb": 1.0, "ft": 1.0}
_UNIGRAMS = {"w": 1.0, "f": 1.0}
CANDIDATES: dict[str, Callable[[Corpus], tuple[Matrix, Matrix]]] = {
    "hash": hash_candidate(1024),
    "hash512": hash_candidate(512),
    "hash2048": hash_candidate(2048),
    "hash-match-only": hash_candidate(1024, _MATCH_ONLY),
    "hash-fold-only": hash_candidate(1024, _FOLD_ONLY),
    "hash-unigrams": hash_candidate(1024, _UNIGRAMS),
    "lsa256": lsa_candidate(256),
    "lsa512": lsa_candidate(512),
}
LEXICAL = {
    "bm25": lambda c: bm25_runs(c, syllables),
    "bm25bi": lambda c: bm25_runs(c, with_bigrams),
    "rag": rag_lexical_runs,
}


def evaluate(
    c: Corpus, lexical: list[Ranked], dense: Matrix | None, qids: list[str], qrels: dict[str, set[str]]
) -> dict[str, dict[str, float]]:
    pos = {q: i for i, q in enumerate(c.qids)}
    rows = [pos[q] for q in qids]
    names = lambda idx: [c.doc_ids[i] for i in idx]  # noqa: E731
    out = {"lexical": metrics([names(lexical[r][0].tolist()) for r in rows], qids, qrels)}
    if dense is None:
        return out
    d_runs = [top(s) for s in dense[rows]]
    out["dense"] = metrics([names(d[0].tolist()) for d in d_runs], qids, qrels)
    out["rrf"] = metrics([names(rrf([lexical[r], d])) for r, d in zip(rows, d_runs, strict=True)], qids, qrels)
    for a in ALPHAS:
        fused = [names(convex(lexical[r], d, a)) for r, d in zip(rows, d_runs, strict=True)]
        out[f"cvx{a}"] = metrics(fused, qids, qrels)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default=",".join(CANDIDATES), help="comma list of " + ", ".join(CANDIDATES))
    ap.add_argument("--lexical", default="bm25,bm25bi", help="comma list of " + ", ".join(LEXICAL))
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args(argv)
    if not (SHARED / "eval").exists():
        print(f"evaluation data not found under {SHARED / 'eval'}; nothing to do", file=sys.stderr)
        return 2
    cands = [x for x in args.candidates.split(",") if x]
    lexes = [x for x in args.lexical.split(",") if x]
    results: dict[str, Any] = {"default_hash_groups": dict(DEFAULT_HASH_GROUPS), "runs": {}}
    corpora = {name: load_corpus(name) for name, _ in {v for v in SETS.values()}}
    lex_runs = {(lx, n): LEXICAL[lx](c) for lx in lexes for n, c in corpora.items()}
    embedded: dict[tuple[str, str], Matrix] = {}
    timings: dict[str, float] = {}
    for cand in cands:
        t0 = time.perf_counter()
        for n, c in corpora.items():
            dv, qv = CANDIDATES[cand](c)
            embedded[(cand, n)] = qv @ dv.T
        timings[cand] = time.perf_counter() - t0
    print(
        "| lexical | candidate | set | dense H@1/MRR | lexical H@1/H@3/MRR | rrf H@1/H@3/MRR | "
        f"cvx{FIXED_ALPHA} H@1/H@3/MRR | best α: H@1/H@3/MRR |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for lx in lexes:
        for cand in [None, *cands]:
            for tag, (name, split) in SETS.items():
                c = corpora[name]
                qrels = load_qrels(name, split)
                qids = [q for q in c.qids if q in qrels]
                dense = embedded[(cand, name)] if cand else None
                r = evaluate(c, lex_runs[(lx, name)], dense, qids, qrels)
                results["runs"][f"{lx}|{cand or '-'}|{tag}"] = r
                f3 = lambda m: f"{m['Hit@1']:.3f}/{m['Hit@3']:.3f}/{m['MRR@10']:.3f}"  # noqa: E731
                if cand is None:
                    print(f"| {lx} | (alone) | {tag} | | {f3(r['lexical'])} | | | |")
                    continue
                best = max(ALPHAS, key=lambda a: (r[f"cvx{a}"]["Hit@1"], r[f"cvx{a}"]["MRR@10"]))
                print(
                    f"| {lx} | {cand} | {tag} | {r['dense']['Hit@1']:.3f}/{r['dense']['MRR@10']:.3f} | "
                    f"{f3(r['lexical'])} | {f3(r['rrf'])} | {f3(r[f'cvx{FIXED_ALPHA}'])} | "
                    f"{best}: {f3(r[f'cvx{best}'])} |",
                    flush=True,
                )
    results["embed_seconds"] = timings
    print("embedding time (both corpora + all queries), s:", {k: round(v, 1) for k, v in timings.items()})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
