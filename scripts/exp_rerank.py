"""Experiment harness for the second-stage reranker (`rag.retrieve.rerank.SentenceReranker`).

First stage: the shipped `rag.index.lexical.LexicalIndex` (BEIR title given as the paragraph's title), top 50
candidates per query, computed once. Second stages are applied to those lists and scored with the metric code
of scripts/exp_lexical.py. Data are read from ../shared (evaluation only, never copied).

Splits: uit:all (1,452 q), uit:test (qrels/test.tsv, 229 q with judgements), uit:train (all minus test),
alqac:all (730 q; all but two ids are "train_"), alqac:bge146 (145 q, a subset of alqac:all). Constants were
chosen on uit:train + alqac:all; uit:test was held out.

Usage (each prints a table; results in docs/retrieval-notes.md, section "Second stage"):
    .venv/bin/python scripts/exp_rerank.py --step main          # shipped reranker vs lexical (~1 min)
    .venv/bin/python scripts/exp_rerank.py --step grid          # how the two weights were chosen
    .venv/bin/python scripts/exp_rerank.py --step ablation      # parts, candidate count, queries without marks
    .venv/bin/python scripts/exp_rerank.py --step alternatives  # other evidence measured and not kept (~3 min)
    .venv/bin/python scripts/exp_rerank.py --step learned       # learned combinations of all features
    .venv/bin/python scripts/exp_rerank.py --step expansion     # PMI query expansion in the first stage
    .venv/bin/python scripts/exp_rerank.py --step latency       # rerank stage ms on the eval corpora
    .venv/bin/python scripts/exp_rerank.py --step scale         # 100,000 paragraphs, search + rerank (~3 min)
    .venv/bin/python scripts/exp_rerank.py --step party         # quiz questions on Party resolutions (in-domain)
    .venv/bin/python scripts/exp_rerank.py --step all
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from exp_lexical import SHARED, Beir, Result, evaluate, load_beir, percentiles  # noqa: E402

from rag.index.lexical import LexicalIndex  # noqa: E402
from rag.retrieve.rerank import PHRASE_WEIGHT, UNIGRAM_WEIGHT, RerankParams, SentenceReranker  # noqa: E402
from rag.text.normalize import clean, fold, match_form  # noqa: E402
from rag.text.tokenize import BIGRAM_JOINER, phrases, query_terms  # noqa: E402

N_MAX = 50  # candidates fetched once per query
N_DEFAULT = 30  # candidates given to the reranker (ablation: 10, 20, 30, 50)
KEYS = ("uit:all", "uit:test", "uit:train", "alqac:all", "alqac:bge146")
TUNE_KEYS = ("uit:train", "alqac:all")

# ------------------------------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """One BEIR corpus, its lexical index, and the first-stage candidates of every query (all splits)."""

    beir: Beir
    index: LexicalIndex
    cands: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    query_text: dict[str, str] = field(default_factory=dict)


@cache
def corpus(name: str) -> Corpus:
    beir = load_beir(SHARED / "eval" / name, "all")
    index = LexicalIndex()
    index.add(list(range(len(beir.doc_ids))), beir.texts, beir.titles)
    c = Corpus(beir, index)
    for qid, q in zip(beir.qids, beir.queries, strict=True):
        c.query_text[qid] = q
        c.cands[qid] = index.search(q, N_MAX)
    return c


@dataclass
class Split:
    key: str
    corpus: Corpus
    qids: list[str]
    qrels: dict[str, set[str]]


@cache
def split(key: str) -> Split:
    name = {"uit": "uit_reg_wiki", "alqac": "alqac"}[key.split(":")[0]]
    part = key.split(":")[1]
    c = corpus(name)
    if part == "train":
        test = set(load_beir(SHARED / "eval" / name, "test").qids)
        qids = [q for q in c.beir.qids if q not in test]
        return Split(key, c, qids, c.beir.qrels)
    b = load_beir(SHARED / "eval" / name, part)
    return Split(key, c, b.qids, b.qrels)


# Second stage: (split, qid, candidates (pid, score) best first) -> pids best first.
Stage = Callable[[Split, str, list[tuple[int, float]]], list[int]]


def run_stage(key: str, stage: Stage | None, n: int = N_DEFAULT, qform: str = "as-is") -> Result:
    """Metrics of lexical top-N (+ a second stage) on one split; latency is the second stage's alone."""
    sp = split(key)
    ranked: list[list[str]] = []
    lat: list[float] = []
    for qid in sp.qids:
        if qform == "as-is":
            cands = sp.corpus.cands[qid][:n]
        else:
            cands = sp.corpus.index.search(query_form(sp.corpus.query_text[qid], qform), n)
        t0 = time.perf_counter()
        pids = stage(sp, qid if qform == "as-is" else f"{qform}:{qid}", cands) if stage else [p for p, _ in cands]
        lat.append((time.perf_counter() - t0) * 1000)
        ranked.append([sp.corpus.beir.doc_ids[p] for p in pids[:10]])
    return evaluate(ranked, sp.qids, sp.qrels, lat)


def query_form(q: str, form: str) -> str:
    if form == "fold":
        return fold(clean(q))
    if form == "partial":  # every third word without its marks
        return " ".join(fold(w) if i % 3 == 1 else w for i, w in enumerate(clean(q).split(" ")))
    return q


def text_of(sp: Split, qid: str) -> str:
    form, _, base = qid.rpartition(":") if qid.startswith(("fold:", "partial:")) else ("as-is", "", qid)
    return query_form(sp.corpus.query_text[base], form)


# -------------------------------------------------------------------------------------------- tables


def print_header(keys: Sequence[str]) -> None:
    cols = " | ".join(f"{k} H@1 / H@3 / MRR@10" for k in keys)
    print(f"| second stage | {cols} | MRR better/worse vs lexical | rerank p50/p95 ms |")
    print("|---" * (len(keys) + 3) + "|")


def row(name: str, stage: Stage | None, keys: Sequence[str], **kw: Any) -> list[Result]:
    results = [run_stage(k, stage, **kw) for k in keys]
    base = [run_stage(k, None, **kw) for k in keys]
    cells = " | ".join(
        f"{r.metrics['Hit@1']:.3f} / {r.metrics['Hit@3']:.3f} / {r.metrics['MRR@10']:.3f}" for r in results
    )

    def sign(r: Result, f: Result) -> str:
        pairs = list(zip(r.rr, f.rr, strict=True))
        return f"+{sum(a > b for a, b in pairs)}/-{sum(a < b for a, b in pairs)}"

    paired = " · ".join(sign(r, f) for r, f in zip(results, base, strict=True))
    p50, p95 = percentiles([x for r in results for x in r.lat])
    print(f"| {name} | {cells} | {paired} | {p50:.2f} / {p95:.2f} |", flush=True)
    return results


def table(title: str, rows: Sequence[tuple[str, Stage | None]], keys: Sequence[str] = KEYS, **kw: Any) -> None:
    print(f"\n### {title}\n")
    print_header(keys)
    for name, stage in rows:
        row(name, stage, keys, **kw)


# ------------------------------------------------------------------------------------ shipped reranker


def shipped(params: RerankParams | None = None, context: bool = True) -> Stage:
    """The production reranker over (pid, score, text, title) candidates, idf from the index."""

    def stage(sp: Split, qid: str, cands: list[tuple[int, float]]) -> list[int]:
        b = sp.corpus.beir
        rr = SentenceReranker(sp.corpus.index.idf, params)
        items = [(p, s, b.texts[p], b.titles[p] if context else "") for p, s in cands]
        return [p for p, _ in rr.rerank(text_of(sp, qid), items, 10)]

    return stage


def step_main() -> None:
    table(
        f"Shipped reranker (N = {N_DEFAULT} candidates, weights {UNIGRAM_WEIGHT} / {PHRASE_WEIGHT})",
        [("lexical alone (LexicalIndex)", None), ("+ SentenceReranker", shipped())],
    )
    print("\nAll metrics (N = 30):\n")
    print("| data set | system | Hit@1 | Hit@3 | Hit@10 | MRR@10 | NDCG@10 | Recall@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for key in KEYS:
        for name, stage in (("LexicalIndex", None), ("+ SentenceReranker", shipped())):
            r = run_stage(key, stage)
            cells = " | ".join(f"{r.metrics[m]:.3f}" for m in ("Hit@1", "Hit@3", "Hit@10", "MRR@10", "NDCG@10"))
            print(f"| {key} (n={len(r.rr)}) | {name} | {cells} | {r.metrics['Recall@10']:.3f} |", flush=True)


def step_grid() -> None:
    print("\n### Weights grid (chosen on uit:train + alqac:all; uit:test not shown)\n")
    print_header(TUNE_KEYS)
    for a in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        for b in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8):
            row(f"unigram {a} / phrase {b}", shipped(RerankParams(a, b)), TUNE_KEYS)


def step_ablation() -> None:
    table(
        "Ablation",
        [
            ("shipped", shipped()),
            ("- context (title not counted in sentences)", shipped(context=False)),
            (f"unigram coverage only ({UNIGRAM_WEIGHT} / 0)", shipped(RerankParams(UNIGRAM_WEIGHT, 0.0))),
            (f"phrase coverage only (0 / {PHRASE_WEIGHT})", shipped(RerankParams(0.0, PHRASE_WEIGHT))),
            ("weights of the first prototype (0.3 / 0.3)", shipped(RerankParams(0.3, 0.3))),
            ("no idf (every query term 1.0)", _no_idf()),
        ],
    )
    for n in (10, 20, 50):
        table(f"Candidates N = {n}", [("lexical", None), ("+ SentenceReranker", shipped())], n=n)
    for form in ("fold", "partial"):
        table(
            f"Queries typed {'without diacritics' if form == 'fold' else 'with every third word unmarked'}",
            [("lexical", None), ("+ SentenceReranker", shipped())],
            qform=form,
        )


def _no_idf() -> Stage:
    def stage(sp: Split, qid: str, cands: list[tuple[int, float]]) -> list[int]:
        b = sp.corpus.beir
        items = [(p, s, b.texts[p], b.titles[p]) for p, s in cands]
        return [p for p, _ in SentenceReranker(None).rerank(text_of(sp, qid), items, 10)]

    return stage


# ---------------------------------------------------------------------------------------- alternatives

_SENT = re.compile(r"(?<=[.!?…])[\"”’»)\]]*\s+|\n+")


@dataclass(frozen=True)
class Sent:
    syl: tuple[str, ...]
    bi: frozenset[str]
    raw: str


@cache
def sentences(name: str, pid: int, precise: bool = False) -> tuple[Sent, ...]:
    """Sentences of a paragraph: the reranker's split, or `rag.answer.sentences` (abbreviations, numbering)."""
    text = corpus(name).beir.texts[pid]
    if precise:
        from rag.answer.sentences import split_sentences

        parts = [s.text for s in split_sentences(text)]
    else:
        parts = _SENT.split(text)
    out: list[Sent] = []
    for s in parts:
        if s and not s.isspace():
            ph = phrases(s)
            syl = tuple(x for p in ph for x in p)
            if syl:
                out.append(Sent(syl, frozenset(a + BIGRAM_JOINER + b for p in ph for a, b in pairwise(p)), s))
    return tuple(out)


@cache
def title_terms(name: str, pid: int) -> frozenset[str]:
    ph = phrases(corpus(name).beir.titles[pid])
    return frozenset([x for p in ph for x in p] + [a + BIGRAM_JOINER + b for p in ph for a, b in pairwise(p)])


def cname(sp: Split) -> str:
    return sp.corpus.beir.name


@cache
def q_idf(name: str, q: str) -> dict[str, float]:
    terms = list(dict.fromkeys(query_terms(q).exact))
    return dict(zip(terms, corpus(name).index.idf(terms), strict=True))


Feature = Callable[[Split, str, list[tuple[int, float]]], np.ndarray]


def fused(feature: Feature, w: float) -> Stage:
    """relative first-stage score + w x feature (feature in [0, 1] or normalised by its max)."""

    def stage(sp: Split, qid: str, cands: list[tuple[int, float]]) -> list[int]:
        if not cands:
            return []
        s = np.array([x for _, x in cands])
        f = feature(sp, qid, cands)
        score = s / s[0] + w * f
        order = np.lexsort((np.arange(len(score)), -score))
        return [cands[i][0] for i in order]

    return stage


def coverage_feature(bigram_w: float, context: bool, window: int = 1, precise: bool = False) -> Feature:
    """Best sentence (or window of sentences) idf-weighted coverage of the query terms, as in the prototype."""

    def feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
        idf = q_idf(cname(sp), text_of(sp, qid))
        w = {t: v * (bigram_w if BIGRAM_JOINER in t else 1.0) for t, v in idf.items()}
        total = sum(w.values()) or 1e-9
        out = []
        for p, _ in cands:
            ctx = title_terms(cname(sp), p) if context else frozenset()
            sets = [set(s.syl) | s.bi for s in sentences(cname(sp), p, precise)]
            best = sum(v for t, v in w.items() if t in ctx) / total  # the context alone (a paragraph may be empty)
            for i in range(len(sets)):
                present = ctx.union(*sets[i : i + window])
                best = max(best, sum(v for t, v in w.items() if t in present) / total)
            out.append(best)
        return np.array(out)

    return feature


def min_span_feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
    """Distinct matched query syllables / shortest syllable window holding them all (Tao & Zhai's MinCover)."""
    idf = q_idf(cname(sp), text_of(sp, qid))
    out = []
    for p, _ in cands:
        pos = [(i, t) for i, t in enumerate(x for s in sentences(cname(sp), p) for x in s.syl) if t in idf]
        need = {t for _, t in pos}
        if not need:
            out.append(0.0)
            continue
        cnt: collections.Counter[str] = collections.Counter()
        have = lo = 0
        best = 10**9
        for hi in range(len(pos)):
            cnt[pos[hi][1]] += 1
            have += cnt[pos[hi][1]] == 1
            while have == len(need):
                best = min(best, pos[hi][0] - pos[lo][0] + 1)
                cnt[pos[lo][1]] -= 1
                have -= cnt[pos[lo][1]] == 0
                lo += 1
        out.append(len(need) / best)
    return np.array(out)


def local_idf_feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
    """Query terms weighted by global idf x idf among the candidates (terms every candidate shares count less)."""
    idf = q_idf(cname(sp), text_of(sp, qid))
    sets = [set().union(*(set(s.syl) | s.bi for s in sentences(cname(sp), p))) for p, _ in cands]
    df = {t: sum(t in s for s in sets) for t in idf}
    v = np.array([sum(idf[t] * math.log((len(sets) + 1) / (df[t] + 0.5)) for t in idf if t in s) for s in sets])
    return v / (v.max() + 1e-9)


_QTYPES = [
    ("time", re.compile(r"năm nào|năm bao nhiêu|khi nào|lúc nào|bao giờ|ngày nào|thời gian nào|thời điểm nào")),
    ("num", re.compile(r"bao nhiêu|\bmấy\b")),
    ("name", re.compile(r"\bai\b|ở đâu|\bđâu\b|nơi nào|nước nào|quốc gia nào|thành phố nào|tỉnh nào")),
]


def answer_type_feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
    """Coverage of the best sentence that also holds the expected kind of answer (number, date, proper name)."""
    q = text_of(sp, qid)
    m = match_form(q)
    kind = next((k for k, rx in _QTYPES if rx.search(m)), None)
    out = np.zeros(len(cands))
    if kind is None:
        return out
    idf = q_idf(cname(sp), q)
    uni = {t: v for t, v in idf.items() if BIGRAM_JOINER not in t}
    total = sum(uni.values()) or 1e-9
    for i, (p, _) in enumerate(cands):
        for s in sentences(cname(sp), p):
            words = re.findall(r"\w+", s.raw)
            if kind == "name":
                ok = any(w[0].isupper() and match_form(w) not in idf for w in words[1:])
            else:
                ok = any(re.search(r"\d", w) and w not in idf for w in words)
            if ok:
                out[i] = max(out[i], sum(v for t, v in uni.items() if t in s.syl) / total)
    return out


@cache
def sentence_index(name: str) -> tuple[LexicalIndex, np.ndarray]:
    """Every sentence of the corpus as its own BM25 document (sentence-level statistics)."""
    owner: list[int] = []
    texts: list[str] = []
    for p in range(len(corpus(name).beir.texts)):
        for s in sentences(name, p):
            owner.append(p)
            texts.append(s.raw)
    idx = LexicalIndex()
    idx.add(list(range(len(texts))), texts)
    return idx, np.array(owner)


def sentence_bm25_feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
    """Best sentence's BM25 score in a sentence-level index (top 200 sentences), normalised by the best."""
    idx, owner = sentence_index(cname(sp))
    best: dict[int, float] = {}
    for sid, s in idx.search(text_of(sp, qid), 200):
        best[int(owner[sid])] = max(best.get(int(owner[sid]), 0.0), s)
    v = np.array([best.get(p, 0.0) for p, _ in cands])
    return v / (v.max() + 1e-9)


@cache
def hash_vectors(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from rag.index.embedders import HashEmbedder

    emb = HashEmbedder()
    b = corpus(name).beir
    pv = emb.embed_documents([f"{t}\n{x}" for t, x in zip(b.titles, b.texts, strict=True)])
    sl = [(p, s.raw) for p in range(len(b.texts)) for s in sentences(name, p)]
    sv = emb.embed_documents([r for _, r in sl])
    return pv, sv, np.array([p for p, _ in sl])


def hash_feature(level: str) -> Feature:
    """Cosine of the offline hash embedder between the query and the paragraph or its best sentence."""
    from rag.index.embedders import HashEmbedder

    emb = HashEmbedder()

    def feature(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
        pv, sv, owner = hash_vectors(cname(sp))
        qv = emb.embed_query(text_of(sp, qid))
        pids = [p for p, _ in cands]
        if level == "paragraph":
            return np.asarray(pv[pids] @ qv, dtype=np.float64)
        sims = sv @ qv
        return np.array([float(sims[owner == p].max()) if np.any(owner == p) else 0.0 for p in pids])

    return feature


ALTERNATIVES: list[tuple[str, Feature, tuple[float, ...]]] = [
    ("best sentence coverage, no context, syllables only", coverage_feature(0.0, False), (0.1, 0.3, 0.5)),
    ("best sentence coverage, no context, with bigrams", coverage_feature(1.0, False), (0.1, 0.3, 0.5)),
    ("best window of 2 sentences, context, syllables only", coverage_feature(0.0, True, 2), (0.1, 0.3, 0.5)),
    ("minimal span covering the matched syllables", min_span_feature, (0.1, 0.3)),
    ("local idf (idf among the candidates)", local_idf_feature, (0.05, 0.1, 0.4)),
    ("expected answer type in the best sentence", answer_type_feature, (0.1, 0.3)),
    ("sentence-level BM25 index, max per paragraph", sentence_bm25_feature, (0.1, 0.3, 1.0)),
    ("hash embedder, paragraph cosine", hash_feature("paragraph"), (0.1, 0.3)),
    ("hash embedder, best sentence cosine", hash_feature("sentence"), (0.1, 0.3)),
]


def shipped_with_precise_splitter(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
    """The shipped sum, sentences from `rag.answer.sentences.split_sentences` (weights folded into w = 1)."""
    uni = coverage_feature(0.0, True, precise=True)(sp, qid, cands)
    both = coverage_feature(1.0, True, precise=True)(sp, qid, cands)
    combined: np.ndarray = UNIGRAM_WEIGHT * uni + PHRASE_WEIGHT * both
    return combined


def step_alternatives() -> None:
    rows: list[tuple[str, Stage | None]] = [
        ("lexical alone", None),
        ("shipped", shipped()),
        ("shipped, precise sentence splitter (rag.answer.sentences)", fused(shipped_with_precise_splitter, 1.0)),
    ]
    for name, feat, weights in ALTERNATIVES:
        rows.extend((f"{name}, w={w}", fused(feat, w)) for w in weights)
    table("Other second-stage evidence (relative lexical score + w x feature, N = 30)", rows)
    shipped_plus: list[tuple[str, Stage | None]] = [("shipped", shipped())]
    for name, feat, weights in ALTERNATIVES[3:]:
        shipped_plus.extend((f"shipped + {name}, w={w}", _plus(feat, w)) for w in weights[:2])
    table("Added on top of the shipped reranker", shipped_plus)


def _plus(feature: Feature, w: float) -> Stage:
    base = [coverage_feature(0.0, True), coverage_feature(1.0, True)]

    def feat(sp: Split, qid: str, cands: list[tuple[int, float]]) -> np.ndarray:
        f: np.ndarray = (UNIGRAM_WEIGHT * base[0](sp, qid, cands) + PHRASE_WEIGHT * base[1](sp, qid, cands)) / w
        return f + feature(sp, qid, cands)

    return fused(feat, w)


# -------------------------------------------------------------------------------------------- learned

FEATURES: list[tuple[str, Feature]] = [
    ("cover syllables+context", coverage_feature(0.0, True)),
    ("cover all+context", coverage_feature(1.0, True)),
    ("cover syllables", coverage_feature(0.0, False)),
    ("cover all", coverage_feature(1.0, False)),
    ("window2", coverage_feature(0.0, True, 2)),
    ("min span", min_span_feature),
    ("local idf", local_idf_feature),
    ("answer type", answer_type_feature),
    ("sentence bm25", sentence_bm25_feature),
    ("hash paragraph", hash_feature("paragraph")),
    ("hash sentence", hash_feature("sentence")),
]


@cache
def feature_matrix(key: str, qid: str) -> np.ndarray:
    sp = split(key)
    cands = sp.corpus.cands[qid][:N_DEFAULT]
    s = np.array([x for _, x in cands])
    cols = [s / s[0], np.log(s / s[0]), np.log1p(np.arange(len(s)))]
    cols += [f(sp, qid, cands) for _, f in FEATURES]
    return np.column_stack(cols)


def _learned_stage(scorer: Callable[[str, str, np.ndarray], np.ndarray]) -> Stage:
    def stage(sp: Split, qid: str, cands: list[tuple[int, float]]) -> list[int]:
        if not cands:
            return []
        x = feature_matrix(sp.key.split(":")[0] + ":all", qid)
        score = scorer(sp.corpus.beir.name, qid, x)
        order = np.lexsort((np.arange(len(score)), -score))
        return [cands[i][0] for i in order]

    return stage


def _pairs(items: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for key, qid in items:
        sp = split(key)
        cands = sp.corpus.cands[qid][:10]
        gold = np.array([sp.corpus.beir.doc_ids[p] in sp.qrels[qid] for p, _ in cands], dtype=bool)
        if not cands or not gold.any():
            continue
        x = feature_matrix(key, qid)[:10]
        for i in np.flatnonzero(gold):
            for j in np.flatnonzero(~gold):
                xs += [x[i] - x[j], x[j] - x[i]]
                ys += [1, 0]
    return np.array(xs), np.array(ys)


def step_learned() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    items = [(k, q) for k in ("uit:all", "alqac:all") for q in split(k).qids if split(k).corpus.cands[q]]
    rng = np.random.default_rng(0)
    fold_of = {it: int(f) for it, f in zip(items, rng.integers(0, 5, len(items)), strict=True)}
    weights = []
    for f in range(5):
        x, y = _pairs([it for it in items if fold_of[it] != f])
        weights.append(LogisticRegression(C=1.0, fit_intercept=False, max_iter=5000).fit(x, y).coef_[0])
    name_of = {"uit_reg_wiki": "uit:all", "alqac": "alqac:all"}
    cv = _learned_stage(lambda name, qid, x: x @ weights[fold_of[(name_of[name], qid)]])
    uit_items = [it for it in items if it[0] == "uit:all"]
    x, y = _pairs(uit_items)
    w_in = LogisticRegression(C=0.1, fit_intercept=False, max_iter=5000).fit(x, y).coef_[0]
    insample = _learned_stage(lambda name, qid, x: x @ w_in)
    gbm_pred: dict[str, np.ndarray] = {}
    uit_fold = {q: fold_of[("uit:all", q)] for _, q in uit_items}
    for f in range(5):
        train = [q for q, g in uit_fold.items() if g != f]
        xs = np.vstack([feature_matrix("uit:all", q)[:10] for q in train])
        ys = np.concatenate(
            [
                [split("uit:all").corpus.beir.doc_ids[p] in split("uit:all").qrels[q] for p, _ in corpus_c(q)[:10]]
                for q in train
            ]
        )
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15).fit(xs, ys)
        for q, g in uit_fold.items():
            if g == f:
                full = feature_matrix("uit:all", q)
                pred = np.full(len(full), -1e9)
                pred[:10] = model.predict_proba(full[:10])[:, 1]
                gbm_pred[q] = pred
    gbm = _learned_stage(lambda name, qid, x: gbm_pred[qid])
    print("\nFeatures:", ", ".join(["lexical/top", "log(lexical/top)", "log(1+rank)"] + [n for n, _ in FEATURES]))
    print("Pairwise logistic regression, fold 0 weights:", np.round(weights[0], 2).tolist())
    table(
        "Learned combinations (N = 30)",
        [
            ("lexical alone", None),
            ("shipped (2 constants)", shipped()),
            ("pairwise logistic regression, all features, 5-fold CV (uit + alqac pooled)", cv),
        ],
    )
    table(
        "Ceilings on uit (trained on uit itself)",
        [
            ("pairwise logistic regression, in-sample (optimistic)", insample),
            ("gradient boosting, 5-fold CV on uit", gbm),
        ],
        keys=("uit:all",),
    )


def corpus_c(qid: str) -> list[tuple[int, float]]:
    return split("uit:all").corpus.cands[qid]


# ------------------------------------------------------------------------------------------ expansion


def step_expansion() -> None:
    """PMI-based expansion of the first-stage query (the exp_lexical BM25 harness, FINAL configuration)."""
    import exp_lexical as xl

    print("\n### First-stage query expansion by corpus co-occurrence (PMI x log(1 + co-count), df >= 3)\n")
    print("| expansion | alqac:all H@1 / H@3 / MRR@10 | uit:all H@1 / H@3 / MRR@10 |")
    print("|---|---|---|")
    for alpha, m_exp in ((0.0, 5), (0.2, 5), (0.5, 5), (0.5, 10), (1.0, 10)):
        cells = []
        for key in ("alqac:all", "uit:all"):
            r = _pmi_run(xl, key, m_exp, alpha)
            cells.append(f"{r['Hit@1']:.3f} / {r['Hit@3']:.3f} / {r['MRR@10']:.3f}")
        label = "none" if alpha == 0 else f"{m_exp} terms per query syllable, total weight {alpha}"
        print(f"| {label} | {' | '.join(cells)} |", flush=True)


def _pmi_run(xl: Any, key: str, m_exp: int, alpha: float, min_df: int = 3) -> dict[str, float]:
    ds = xl.dataset(key)
    cfg = xl.FINAL
    rk = replace(
        cfg.rank, bigram_w=1.0, qtf=True, query_stop="none", rm3=None, rm3_min_idf=0.0, fold_auto=False, fold_blend=0.0
    )
    m = xl.matrix(ds, cfg.tok, rk)
    binary = (m.tf > 0).astype(np.float64).tocsc()
    n = binary.shape[0]
    df = np.asarray(binary.sum(axis=0)).ravel()
    co = (binary.T @ binary).tocsr()
    term_of = {j: t for t, j in m.vocab.items()}
    ranked: list[list[str]] = []
    for q in ds.queries:
        v = m.query_vector(xl.query_terms(q, cfg.tok, cfg.rank), cfg.rank)
        if alpha > 0:
            add = np.zeros_like(v)
            for j in np.flatnonzero(v):
                if BIGRAM_JOINER in term_of[j] or df[j] < min_df:
                    continue
                r = co.getrow(j)
                ok = (df[r.indices] >= min_df) & (r.indices != j)
                cols, c = r.indices[ok], r.data[ok]
                if cols.size:
                    score = np.log(c * n / (df[j] * df[cols])) * np.log1p(c)
                    add[cols[np.argsort(-score)[:m_exp]]] += alpha * v[j] / m_exp
            v = v + add
        s = m.scores(v)
        top = np.argsort(-s)[:10]
        ranked.append([ds.doc_ids[i] for i in top if s[i] > 0])
    metrics: dict[str, float] = xl.evaluate(ranked, ds.qids, ds.qrels, [0.0]).metrics
    return metrics


# -------------------------------------------------------------------------------------------- latency


def _clock() -> tuple[float, float]:
    """(wall, CPU time of this thread) in ms: on a shared machine the CPU time is the stable figure."""
    return time.perf_counter() * 1000, time.thread_time() * 1000


def _p(values: Sequence[float]) -> str:
    return "{:.2f} / {:.2f}".format(*percentiles(values))


def step_latency() -> None:
    print("\n### Rerank stage latency on the eval corpora (ms per query, k = 10)\n")
    print("| corpus (mean characters per paragraph) | N | wall p50 / p95 | CPU p50 / p95 |")
    print("|---|---|---|---|")
    for key in ("alqac:all", "uit:all"):
        sp = split(key)
        b = sp.corpus.beir
        mean_chars = np.mean([len(t) + len(x) for t, x in zip(b.titles, b.texts, strict=True)])
        rr = SentenceReranker(sp.corpus.index.idf)
        for n in (10, 20, 30, 50):
            wall: list[float] = []
            cpu: list[float] = []
            for qid in sp.qids:
                items = [(p, s, b.texts[p], b.titles[p]) for p, s in sp.corpus.cands[qid][:n]]
                w0, c0 = _clock()
                rr.rerank(sp.corpus.query_text[qid], items, 10)
                w1, c1 = _clock()
                wall.append(w1 - w0)
                cpu.append(c1 - c0)
            print(f"| {key} ({mean_chars:.0f}) | {n} | {_p(wall)} | {_p(cpu)} |", flush=True)


def step_scale(size: int = 100_000, n_queries: int = 1000) -> None:
    """Search + rerank at 100,000 paragraphs (the bench_lexical corpus), end to end per query."""
    from bench_lexical import build_corpus, load_queries

    texts = build_corpus(size)
    queries = load_queries(n_queries)
    idx = LexicalIndex()
    t0 = time.perf_counter()
    for start in range(0, size, 20_000):
        idx.add(list(range(start, min(size, start + 20_000))), texts[start : start + 20_000])
    mean_chars = sum(map(len, texts)) / len(texts)
    print(
        f"\n### {size:,} paragraphs ({mean_chars:.0f} characters on average, built in "
        f"{time.perf_counter() - t0:.0f} s), {n_queries} queries, k = 10; ms, p50 / p95\n"
    )
    print("| N | lexical wall | rerank wall | total wall | lexical CPU | rerank CPU | total CPU |")
    print("|---|---|---|---|---|---|---|")
    rr = SentenceReranker(idx.idf)
    for n in (20, 30, 50):
        lex_w: list[float] = []
        lex_c: list[float] = []
        rr_w: list[float] = []
        rr_c: list[float] = []
        for q in queries:
            w0, c0 = _clock()
            hits = idx.search(q, n)
            w1, c1 = _clock()
            rr.rerank(q, [(p, s, texts[p]) for p, s in hits], 10)
            w2, c2 = _clock()
            lex_w.append(w1 - w0)
            lex_c.append(c1 - c0)
            rr_w.append(w2 - w1)
            rr_c.append(c2 - c1)
        tot_w = [a + b for a, b in zip(lex_w, rr_w, strict=True)]
        tot_c = [a + b for a, b in zip(lex_c, rr_c, strict=True)]
        print(f"| {n} | {_p(lex_w)} | {_p(rr_w)} | {_p(tot_w)} | {_p(lex_c)} | {_p(rr_c)} | {_p(tot_c)} |", flush=True)


# ----------------------------------------------------------------------------------------------- nq57

_BLANK = re.compile(r"\n\s*\n")


def step_party() -> None:
    """In-domain check on Party documents: quiz questions whose answer phrase stands verbatim in a paragraph.

    Paragraphs: the documents of eval/nq57/docs through the product's own text layer (`parse_md` + `analyse`:
    paragraphs, document title, section path) and the party_politics articles split as in bench_lexical, minus
    the quiz answer-key articles (they hold the questions and answers). Context = document title + section path
    (articles: their title), given to the index as titles and to the reranker as context, as the catalog would.
    Questions: eval/nq57/qa.jsonl (17, on Nghị quyết 57), and every question of quiz_party_politics_mcq.json
    whose answer (>= 15 characters) occurs in some paragraph. A hit is a paragraph whose matching form contains
    the answer's (markdown escapes removed).
    """
    from bench_lexical import paragraphs_from_article

    from rag.ingest.markdown import parse_md
    from rag.text.document import analyse

    texts: list[str] = []
    contexts: list[str] = []
    for path in sorted((SHARED / "eval" / "nq57" / "docs").glob("*.md")):
        for raw in parse_md(path, path.read_bytes()):
            doc = analyse(raw)
            for span in doc.spans:
                texts.append(doc.text[span.start : span.end])
                contexts.append(f"{doc.title} {span.section}".strip())
    quiz = json.loads((SHARED / "corpora" / "party_politics" / "quiz_party_politics_mcq.json").read_text("utf-8"))
    answer_keys = {q["source_doc"] for q in quiz}
    with (SHARED / "corpora" / "party_politics" / "docs_party_politics.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["doc_id"] not in answer_keys:
                paragraphs = paragraphs_from_article(rec["text"])
                texts.extend(paragraphs)
                contexts.extend([rec.get("title") or ""] * len(paragraphs))
    forms = [_plain(t) for t in texts]
    nq57 = [json.loads(line) for line in (SHARED / "eval" / "nq57" / "qa.jsonl").open(encoding="utf-8")]
    sets = {
        "nq57 qa.jsonl": [(q["question"], [_plain(a) for a in q["answers"]]) for q in nq57],
        "party quiz, answer verbatim in a paragraph": [
            (q["question"], [_plain(q["answer"])])
            for q in quiz
            if len(_plain(q["answer"])) >= 15 and any(_plain(q["answer"]) in f for f in forms)
        ],
    }
    idx = LexicalIndex()
    idx.add(list(range(len(texts))), texts, contexts)
    rr = SentenceReranker(idx.idf)
    print(f"\n### Party documents ({len(texts):,} paragraphs), N = {N_DEFAULT}\n")
    print("| questions | system | answer in paragraph 1 | in top 3 | MRR@10 |")
    print("|---|---|---|---|---|")
    for label, items in sets.items():
        for name, use in (("lexical", False), ("+ SentenceReranker", True)):
            h1 = h3 = mrr = 0.0
            for question, answers in items:
                hits = idx.search(question, N_DEFAULT)
                if use:
                    cands = [(p, s, texts[p], contexts[p]) for p, s in hits]
                    pids = [p for p, _ in rr.rerank(question, cands, 10)]
                else:
                    pids = [p for p, _ in hits[:10]]
                rank = next((i for i, p in enumerate(pids) if any(a in forms[p] for a in answers)), None)
                if rank is not None:
                    h1 += rank < 1
                    h3 += rank < 3
                    mrr += 1 / (rank + 1)
            n = len(items)
            print(f"| {label} (n={n}) | {name} | {h1 / n:.3f} | {h3 / n:.3f} | {mrr / n:.3f} |", flush=True)


def _plain(text: str) -> str:
    return re.sub(r"[\\*]", "", match_form(text)).strip().rstrip(".")


# ----------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", default="main")
    args = ap.parse_args(argv)
    if not (SHARED / "eval").exists():
        raise SystemExit(f"evaluation data not found under {SHARED}/eval (this script reads ../shared)")
    steps = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}
    order = ["main", "grid", "ablation", "alternatives", "learned", "expansion", "latency", "party", "scale"]
    for name in order if args.step == "all" else args.step.split(","):
        steps[name]()


if __name__ == "__main__":
    main()
