"""Experiment harness for lexical (BM25) retrieval on Vietnamese BEIR sets.

Every configuration is scored by one small scipy implementation of BM25/BM25F so that tokenisation, ranking
function, field weighting and query handling can be varied independently; the peers (bm25s with its default
tokenizer, LangChain's BM25Retriever over rank_bm25) and the production `rag.index.lexical.LexicalIndex` run in the
same loop for a side-by-side. Data are read from ../shared (evaluation only, never copied).

Usage (each prints one table; see docs/retrieval-notes.md for the results):
    .venv/bin/python scripts/exp_lexical.py --step peers
    .venv/bin/python scripts/exp_lexical.py --step tokens
    .venv/bin/python scripts/exp_lexical.py --step all          # every step in order
    .venv/bin/python scripts/exp_lexical.py --config bigrams=1,title_w=2,k1=1.2 --datasets alqac:all
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.text.normalize import clean, fold, has_diacritics, match_form  # noqa: E402
from rag.text.tokenize import QUESTION_WORDS  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # the checkout may live elsewhere; /work/shared is the usual place
    SHARED = Path("/work/shared")

DATASETS = {
    "alqac:all": ("alqac", "all"),
    "alqac:bge146": ("alqac", "bge146"),
    "uit:all": ("uit_reg_wiki", "all"),
}

# ----------------------------------------------------------------------------------------------- data


@dataclass
class Beir:
    """A BEIR data set restricted to the queries that have judgements in the split."""

    name: str
    split: str
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    qids: list[str]
    queries: list[str]
    qrels: dict[str, set[str]]


def load_beir(directory: Path, split: str) -> Beir:
    """Load corpus.jsonl, queries.jsonl and qrels/<split>.tsv (BEIR layout)."""
    doc_ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    with (directory / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                doc_ids.append(str(rec["_id"]))
                titles.append(rec.get("title") or "")
                texts.append(rec.get("text") or "")
    queries: dict[str, str] = {}
    with (directory / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                queries.setdefault(str(rec["_id"]), rec["text"])  # duplicate ids: the first text wins
    qrels: dict[str, set[str]] = {}
    with (directory / "qrels" / f"{split}.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and int(parts[2]) > 0:
                qrels.setdefault(parts[0], set()).add(parts[1])
    qids = [q for q in qrels if q in queries]
    return Beir(directory.name, split, doc_ids, titles, texts, qids, [queries[q] for q in qids], qrels)


@cache
def dataset(key: str) -> Beir:
    name, split = DATASETS[key]
    return load_beir(SHARED / "eval" / name, split)


# -------------------------------------------------------------------------------------------- metrics

METRICS = ("Hit@1", "Hit@3", "Hit@10", "MRR@10", "NDCG@10", "Recall@10")


@dataclass
class Result:
    """Mean metrics, per-query reciprocal rank (for paired comparisons) and per-query latency in ms."""

    metrics: dict[str, float]
    rr: list[float]
    lat: list[float]


def evaluate(
    ranked: Sequence[Sequence[str]], qids: Sequence[str], qrels: dict[str, set[str]], lat: list[float]
) -> Result:
    """Mean Hit@1/3/10, MRR@10, NDCG@10 (binary gains), Recall@10 over the queries."""
    sums = Counter[str]()
    rr: list[float] = []
    for qid, run in zip(qids, ranked, strict=True):
        gold = qrels[qid]
        rels = [1 if d in gold else 0 for d in run[:10]]
        first = next((i for i, r in enumerate(rels) if r), None)
        rr.append(1.0 / (first + 1) if first is not None else 0.0)
        for k in (1, 3, 10):
            sums[f"Hit@{k}"] += 1.0 if first is not None and first < k else 0.0
        sums["MRR@10"] += 1.0 / (first + 1) if first is not None else 0.0
        dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rels))
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), 10)))
        sums["NDCG@10"] += dcg / idcg
        sums["Recall@10"] += sum(rels) / len(gold)
    n = max(len(qids), 1)
    return Result({k: sums[k] / n for k in METRICS}, rr, lat)


def percentiles(ms: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(ms, dtype=np.float64)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


# ---------------------------------------------------------------------------------------- tokenisation

_TOKEN_RE = re.compile(r"[^\W_]+")
# Phrase boundaries: bigrams never cross punctuation (",", ".", ";", ":", brackets, dashes, slashes, quotes).
_PHRASE_SPLIT = re.compile(r"[^\w\s]+|_+")

# Vietnamese function words (hand-written, general Vietnamese, not tuned to a data set); the question scaffolding
# list is the shipped one.
FUNCTION_WORDS = frozenset(
    {
        "và",
        "của",
        "các",
        "là",
        "có",
        "được",
        "trong",
        "cho",
        "với",
        "những",
        "này",
        "để",
        "theo",
        "không",
        "một",
        "khi",
        "đã",
        "về",
        "từ",
        "thì",
        "do",
        "bị",
        "tại",
        "đến",
        "hoặc",
        "nếu",
        "mà",
        "ra",
        "vào",
        "trên",
        "như",
        "nhưng",
        "thế",
        "sẽ",
        "đó",
        "cũng",
    }
)


@dataclass(frozen=True)
class Tok:
    """How text becomes terms."""

    unit: str = "syl"  # "syl" syllables | "word" pyvi words | "syl+word" syllables plus multi-syllable words
    min_len: int = 1  # 2 drops one-letter syllables (what regex \w\w+ tokenizers do)
    bigrams: bool = False  # add adjacent-syllable bigrams inside a phrase
    trigrams: bool = False  # add syllable trigrams inside a phrase (weighted like bigrams)
    bigram_across: bool = False  # let bigrams cross punctuation
    fold: bool = False  # index and query without diacritics (simulates the folded namespace)
    stop_doc: str = "none"  # "none" | "func": drop function words from documents (and queries)
    raw_case: bool = False  # skip match_form (clean only, lower case): measures what canonical tones buy


def _pyvi_words(text: str) -> list[list[str]]:
    from pyvi import ViTokenizer  # type: ignore[import-untyped]

    out: list[list[str]] = []
    for phrase in _PHRASE_SPLIT.split(text):
        if phrase.strip():
            seg = ViTokenizer.tokenize(phrase)
            out.append([w for w in seg.split() if _TOKEN_RE.search(w)])
    return out


def phrases(text: str, tok: Tok) -> list[list[str]]:
    """Split text into phrases of normalised syllables (or words)."""
    norm = clean(text).lower() if tok.raw_case else match_form(text)
    if tok.unit != "syl":
        words = [[match_form(w) for w in ph] for ph in _pyvi_words(clean(text))]
        if tok.fold:
            words = [[fold(w) for w in ph] for ph in words]
        return words
    if tok.fold:
        norm = fold(norm)
    if tok.bigram_across:
        return [_TOKEN_RE.findall(norm)]
    return [t for t in (_TOKEN_RE.findall(p) for p in _PHRASE_SPLIT.split(norm)) if t]


def terms(text: str, tok: Tok) -> list[str]:
    """Terms of a text: unigrams, then bigrams marked with a leading space-free separator."""
    out: list[str] = []
    for ph in phrases(text, tok):
        if tok.unit == "syl":
            units = ph
        else:
            units = []
            for w in ph:
                syls = w.split("_")
                if tok.unit == "word":
                    units.append(w)
                else:  # syl+word
                    units.extend(syls)
                    if len(syls) > 1:
                        units.append("w:" + w)
        if tok.min_len > 1:
            units = [u for u in units if len(u) >= tok.min_len or u.isdigit()]
        if tok.stop_doc == "func":
            units = [u for u in units if u not in FUNCTION_WORDS]
        out.extend(units)
        if tok.bigrams:
            syl = [u for u in units if not u.startswith("w:")]
            out.extend(f"{a}_{b}" for a, b in itertools.pairwise(syl))
            if tok.trigrams:
                out.extend(f"{a}_{b}_{c}" for a, b, c in zip(syl, syl[1:], syl[2:], strict=False))
    return out


_TERM_CACHE: dict[tuple[str, str, Tok], list[list[str]]] = {}


def cached_terms(key: str, which: str, items: Sequence[str], tok: Tok) -> list[list[str]]:
    ck = (key, which, tok)
    if ck not in _TERM_CACHE:
        _TERM_CACHE[ck] = [terms(t, tok) for t in items]
    return _TERM_CACHE[ck]


# ---------------------------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Rank:
    """How terms are scored."""

    method: str = "lucene"  # lucene | robertson | atire | bm25l | bm25+ | tfidf
    k1: float = 1.2
    b: float = 0.75
    delta: float = 0.5  # bm25l / bm25+
    title_w: float = 1.0  # BM25F weight of the title field (0 = ignore titles, 1 = plain concatenation)
    bigram_w: float = 1.0  # query weight of bigram terms relative to unigrams
    qtf: bool = True  # repeated query terms count repeatedly
    query_stop: str = "none"  # "none" | "question": drop question scaffolding from the query
    rm3: tuple[int, int, float] | None = None  # (feedback docs, expansion terms, original query weight)
    rm3_min_idf: float = 0.0  # expansion terms need at least this idf (drops function words)
    fold_auto: bool = False  # accent-less query -> folded index only; accented -> exact + fold_blend x folded
    fold_blend: float = 0.0
    idf_pow: float = 1.0  # idf ** p (p = 2 is Lucene ClassicSimilarity's effective idf weighting)
    k1_bi: float = 0.0  # k1 for bigram terms (0 = same as k1)
    bi_own_len: bool = False  # bigram terms normalised by the bigram length of the document


@dataclass(frozen=True)
class Cfg:
    tok: Tok = field(default_factory=Tok)
    rank: Rank = field(default_factory=Rank)
    name: str = ""


class Matrix:
    """Term weights of one corpus under one configuration (docs x terms, CSR)."""

    def __init__(self, title_terms: list[list[str]], text_terms: list[list[str]], rank: Rank) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, (tt, bt) in enumerate(zip(title_terms, text_terms, strict=True)):
            c: Counter[str] = Counter(bt)
            if rank.title_w:
                for t in tt:
                    c[t] += rank.title_w
            for t, n in c.items():
                rows.append(i)
                cols.append(vocab.setdefault(t, len(vocab)))
                vals.append(n)
        n_docs = len(text_terms)
        tf = sp.csr_matrix((np.asarray(vals), (rows, cols)), shape=(n_docs, max(len(vocab), 1)))
        self.vocab = vocab
        self.tf = tf
        dl = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = float(dl.mean()) if n_docs else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        self.idf = idf(rank.method, df, n_docs) ** rank.idf_pow
        self.dl = dl
        w = tf.tocoo()
        tfv = w.data
        is_bi = np.zeros(tf.shape[1], dtype=bool)
        for t, j in vocab.items():
            is_bi[j] = "_" in t and not t.startswith("w:")
        post_bi = is_bi[w.col]
        if rank.bi_own_len:
            dl_bi = np.bincount(w.row[post_bi], weights=tfv[post_bi], minlength=n_docs)
            dl_uni = dl - dl_bi
            rel = np.where(post_bi, dl_bi[w.row] / max(dl_bi.mean(), 1e-9), dl_uni[w.row] / max(dl_uni.mean(), 1e-9))
        else:
            rel = dl[w.row] / avgdl
        norm = 1 - rank.b + rank.b * rel
        k1 = np.where(post_bi, rank.k1_bi or rank.k1, rank.k1)
        if rank.method in ("lucene", "robertson", "atire"):
            sat = tfv * (k1 + 1) / (tfv + k1 * norm)
        elif rank.method == "bm25l":
            ctd = tfv / norm
            sat = (rank.k1 + 1) * (ctd + rank.delta) / (rank.k1 + ctd + rank.delta)
        elif rank.method == "bm25+":
            sat = tfv * (rank.k1 + 1) / (tfv + rank.k1 * norm) + rank.delta
        elif rank.method == "tfidf":
            sat = 1 + np.log(tfv)
        else:
            raise ValueError(rank.method)
        self.w = sp.csr_matrix((sat * self.idf[w.col], (w.row, w.col)), shape=tf.shape).tocsc()

    def query_vector(self, q_terms: Sequence[str], rank: Rank) -> np.ndarray:
        v = np.zeros(self.w.shape[1])
        seen: set[str] = set()
        for t in q_terms:
            j = self.vocab.get(t)
            if j is None or (not rank.qtf and t in seen):
                continue
            seen.add(t)
            v[j] += rank.bigram_w if "_" in t and not t.startswith("w:") else 1.0
        return v

    def scores(self, v: np.ndarray) -> np.ndarray:
        nz = np.flatnonzero(v)
        if nz.size == 0:
            return np.zeros(self.w.shape[0])
        return np.asarray(self.w[:, nz] @ v[nz]).ravel()


def idf(method: str, df: np.ndarray, n: int) -> np.ndarray:
    """Inverse document frequency variants (Lucene's is never negative; Robertson's is clamped at 0)."""
    if method == "robertson":
        return np.maximum(np.log((n - df + 0.5) / (df + 0.5)), 0.0)
    if method == "atire":
        return np.log(n / np.maximum(df, 1))
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


def rm3_vector(m: Matrix, v: np.ndarray, scores: np.ndarray, rank: Rank) -> np.ndarray:
    """RM3: mix the query with the term distribution of the top feedback documents (weighted by score)."""
    assert rank.rm3 is not None
    n_docs, n_terms, alpha = rank.rm3
    top = np.argsort(-scores)[:n_docs]
    top = top[scores[top] > 0]
    if top.size == 0:
        return v
    dw = scores[top] / scores[top].sum()
    tf = m.tf[top]
    p = sp.diags(dw / np.maximum(m.dl[top], 1)) @ tf
    e = np.asarray(p.sum(axis=0)).ravel()
    if rank.rm3_min_idf > 0:
        e[m.idf < rank.rm3_min_idf] = 0.0
    keep = np.argsort(-e)[:n_terms]
    exp = np.zeros_like(e)
    exp[keep] = e[keep]
    if exp.sum() <= 0:
        return v
    return alpha * v / v.sum() + (1 - alpha) * exp / exp.sum()


def query_terms(q: str, tok: Tok, rank: Rank) -> list[str]:
    t = terms(q, tok)
    if rank.query_stop == "question":
        qw = {fold(w) for w in QUESTION_WORDS} if tok.fold else QUESTION_WORDS
        drop = {"đúng_hay", "hay_sai"} if not tok.fold else {"dung_hay", "hay_sai"}
        t = [x for x in t if x not in qw and x not in drop]
    return t


_MATRIX_CACHE: dict[tuple[str, Tok, Rank], Matrix] = {}


def matrix(ds: Beir, tok: Tok, rk: Rank) -> Matrix:
    ck = (ds.name, tok, rk)
    if ck not in _MATRIX_CACHE:
        title_terms = cached_terms(ds.name, "title", ds.titles, tok)
        text_terms = cached_terms(ds.name, "text", ds.texts, tok)
        _MATRIX_CACHE[ck] = Matrix(title_terms, text_terms, rk)
    return _MATRIX_CACHE[ck]


_OLD_STYLE_RE = re.compile(r"[^\W\d_]+")


def old_style(text: str) -> str:
    """Rewrite open oa/oe/uy syllables to the old tone placement ("hòa" -> "hoà", "thủy" -> "thuỷ")."""
    import unicodedata

    def move(m: re.Match[str]) -> str:
        word = m.group(0)
        nfd = unicodedata.normalize("NFD", word)
        tones = [c for c in nfd if c in "\u0300\u0301\u0303\u0309\u0323"]
        if len(tones) != 1:
            return word
        base = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in tones))
        if base[-2:].lower() not in ("oa", "oe", "uy") or base[:-2].lower() in ("q", "g"):
            return word
        return unicodedata.normalize("NFC", base + tones[0])  # mark on the last vowel (the word ends in it)

    return _OLD_STYLE_RE.sub(move, text)


def query_form(q: str, form: str) -> str:
    """The query as a user might type it: as written, without diacritics, or with the old tone placement."""
    if form == "fold":
        return fold(clean(q))
    if form == "old":
        return old_style(clean(q))
    if form == "partial":  # a hurried typist: every third word without its marks
        return " ".join(fold(w) if i % 3 == 1 else w for i, w in enumerate(clean(q).split(" ")))
    return q


def run_config(key: str, cfg: Cfg, *, qform: str = "as-is") -> Result:
    """Rank every query of a data set under one configuration; returns metrics and per-query latency (ms)."""
    ds = dataset(key)
    tok = cfg.tok
    # Index-shaping parts of Rank (everything except query-side options) key the matrix cache.
    rk = replace(
        cfg.rank, bigram_w=1.0, qtf=True, query_stop="none", rm3=None, rm3_min_idf=0.0, fold_auto=False, fold_blend=0.0
    )
    m = matrix(ds, tok, rk)
    ftok = replace(tok, fold=True)
    mf = matrix(ds, ftok, rk) if cfg.rank.fold_auto else m
    ranked: list[list[str]] = []
    lat: list[float] = []
    for q in ds.queries:
        t0 = time.perf_counter()
        qq = query_form(q, qform)
        if cfg.rank.fold_auto and not has_diacritics(qq):
            m_used = mf
            v = mf.query_vector(query_terms(qq, ftok, cfg.rank), cfg.rank)
            s = mf.scores(v)
        else:
            m_used = m
            v = m.query_vector(query_terms(qq, tok, cfg.rank), cfg.rank)
            s = m.scores(v)
            if cfg.rank.fold_auto and cfg.rank.fold_blend > 0:
                s = s + cfg.rank.fold_blend * mf.scores(mf.query_vector(query_terms(qq, ftok, cfg.rank), cfg.rank))
        if cfg.rank.rm3 is not None:
            s = m_used.scores(rm3_vector(m_used, v, s, cfg.rank))
        top = np.argpartition(-s, 10)[:10] if s.size > 10 else np.arange(s.size)
        top = top[np.argsort(-s[top], kind="stable")]
        lat.append((time.perf_counter() - t0) * 1000)
        ranked.append([ds.doc_ids[i] for i in top if s[i] > 0])
    return evaluate(ranked, ds.qids, ds.qrels, lat)


# ------------------------------------------------------------------------------------------------ peers


def run_bm25s_default(key: str, with_title: bool = True) -> Result:
    """bm25s as its README shows: bm25s.tokenize (regex \\w\\w+, lower case, English stopwords), BM25()."""
    import bm25s

    ds = dataset(key)
    corpus = [f"{t}\n{x}" if with_title and t else x for t, x in zip(ds.titles, ds.texts, strict=True)]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
    ranked: list[list[str]] = []
    lat: list[float] = []
    for q in ds.queries:
        t0 = time.perf_counter()
        qt = bm25s.tokenize([q], return_ids=False, show_progress=False)
        if not qt[0]:
            ranked.append([])
            lat.append((time.perf_counter() - t0) * 1000)
            continue
        docs, _ = retriever.retrieve(qt, k=10, show_progress=False)
        lat.append((time.perf_counter() - t0) * 1000)
        ranked.append([ds.doc_ids[i] for i in docs[0]])
    return evaluate(ranked, ds.qids, ds.qrels, lat)


def run_langchain(key: str, with_title: bool = True) -> Result:
    """LangChain BM25Retriever.from_texts (rank_bm25.BM25Okapi, whitespace split), as its docs show."""
    from langchain_community.retrievers import BM25Retriever

    ds = dataset(key)
    corpus = [f"{t}\n{x}" if with_title and t else x for t, x in zip(ds.titles, ds.texts, strict=True)]
    retriever = BM25Retriever.from_texts(corpus, metadatas=[{"id": d} for d in ds.doc_ids], k=10)
    ranked: list[list[str]] = []
    lat: list[float] = []
    for q in ds.queries:
        t0 = time.perf_counter()
        docs = retriever.invoke(q)
        lat.append((time.perf_counter() - t0) * 1000)
        ranked.append([d.metadata["id"] for d in docs])
    return evaluate(ranked, ds.qids, ds.qrels, lat)


def run_production(key: str, qform: str = "as-is") -> Result:
    """The shipped rag.index.lexical.LexicalIndex (BEIR title passed as the paragraph's title)."""
    from rag.index.lexical import LexicalIndex

    ds = dataset(key)
    idx = LexicalIndex()
    idx.add(list(range(len(ds.doc_ids))), ds.texts, ds.titles)
    ranked: list[list[str]] = []
    lat: list[float] = []
    for q in ds.queries:
        qq = query_form(q, qform)
        t0 = time.perf_counter()
        hits = idx.search(qq, 10)
        lat.append((time.perf_counter() - t0) * 1000)
        ranked.append([ds.doc_ids[p] for p, _ in hits])
    return evaluate(ranked, ds.qids, ds.qrels, lat)


def run_tantivy(key: str) -> Result:
    """tantivy-py (BM25 k1=1.2 b=0.75, fixed) over our exact terms; title terms repeated twice (BM25F weight 2)."""
    import tempfile

    import tantivy

    from rag.text.tokenize import query_terms as shipped_query_terms
    from rag.text.tokenize import tokenize

    ds = dataset(key)
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("n", stored=True)
    sb.add_text_field("body", stored=False, tokenizer_name="whitespace", index_option="freq")
    schema = sb.build()
    with tempfile.TemporaryDirectory() as tmp:
        index = tantivy.Index(schema, path=tmp)
        writer = index.writer(heap_size=128_000_000, num_threads=1)
        for i, (title, text) in enumerate(zip(ds.titles, ds.texts, strict=True)):
            writer.add_document(tantivy.Document(n=i, body=" ".join(tokenize(text) + tokenize(title) * 2)))
        writer.commit()
        index.reload()
        searcher = index.searcher()
        ranked: list[list[str]] = []
        lat: list[float] = []
        for q in ds.queries:
            t0 = time.perf_counter()
            terms = shipped_query_terms(q).exact
            counts = Counter(terms)
            clauses = [
                (tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.term_query(schema, "body", t), float(c)))
                for t, c in counts.items()
            ]
            hits = searcher.search(tantivy.Query.boolean_query(clauses), 10).hits if clauses else []
            lat.append((time.perf_counter() - t0) * 1000)
            ranked.append([ds.doc_ids[searcher.doc(addr)["n"][0]] for _, addr in hits])
    return evaluate(ranked, ds.qids, ds.qrels, lat)


# ----------------------------------------------------------------------------------------------- tables


def print_header(keys: Sequence[str]) -> None:
    cols = " | ".join(f"{k} H@1 / H@3 / MRR@10" for k in keys)
    print(f"| config | {cols} | MRR better/worse vs row 1 | p50/p95 ms |")
    print("|---" * (len(keys) + 3) + "|")


def print_row(name: str, results: Sequence[Result], ref: Sequence[Result] | None) -> None:
    cells = " | ".join(
        f"{r.metrics['Hit@1']:.3f} / {r.metrics['Hit@3']:.3f} / {r.metrics['MRR@10']:.3f}" for r in results
    )
    paired = "-"
    if ref is not None:
        # Per data set: queries whose reciprocal rank went up / down against the first row (a crude sign test).
        def sign(r: Result, f: Result) -> str:
            pairs = list(zip(r.rr, f.rr, strict=True))
            return f"+{sum(a > b for a, b in pairs)}/-{sum(a < b for a, b in pairs)}"

        paired = " · ".join(sign(r, f) for r, f in zip(results, ref, strict=True))
    lat = [x for r in results for x in r.lat]
    p50, p95 = percentiles(lat)
    print(f"| {name} | {cells} | {paired} | {p50:.2f} / {p95:.2f} |", flush=True)


def table(title: str, rows: Iterable[tuple[str, Callable[[str], Result]]], keys: Sequence[str]) -> None:
    print(f"\n### {title}\n")
    print_header(keys)
    ref: list[Result] | None = None
    for name, fn in rows:
        results = [fn(k) for k in keys]
        print_row(name, results, ref)
        ref = ref or results


def cfg_row(name: str, cfg: Cfg, qform: str = "as-is") -> tuple[str, Callable[[str], Result]]:
    return name, lambda k: run_config(k, cfg, qform=qform)


def parse_config(spec: str, base: Cfg) -> Cfg:
    """'bigrams=1,k1=1.2,rm3=10:20:0.6' -> Cfg (field names of Tok and Rank)."""
    tok_kw: dict[str, Any] = {}
    rank_kw: dict[str, Any] = {}
    tok_fields = {f.name: f for f in fields(Tok)}
    rank_fields = {f.name: f for f in fields(Rank)}
    for part in filter(None, spec.split(",")):
        key, _, val = part.partition("=")
        target = tok_kw if key in tok_fields else rank_kw if key in rank_fields else None
        if target is None:
            raise SystemExit(f"unknown option {key!r}")
        ref = getattr(base.tok if key in tok_fields else base.rank, key)
        if key == "rm3":
            a, b_, c = val.split(":")
            target[key] = (int(a), int(b_), float(c))
        elif isinstance(ref, bool):
            target[key] = val in ("1", "true", "yes")
        elif isinstance(ref, int):
            target[key] = int(val)
        elif isinstance(ref, float):
            target[key] = float(val)
        else:
            target[key] = val
    return Cfg(replace(base.tok, **tok_kw), replace(base.rank, **rank_kw), spec)


# ------------------------------------------------------------------------------------------------ steps

KEYS = ("alqac:all", "alqac:bge146", "uit:all")
BASE = Cfg(Tok(), Rank(method="lucene", k1=1.2, b=0.75, title_w=1.0))


def step_peers() -> None:
    table(
        "Peers (title + text concatenated unless said)",
        [
            ("LangChain BM25Retriever (rank_bm25, split())", lambda k: run_langchain(k)),
            ("LangChain BM25Retriever, text only", lambda k: run_langchain(k, with_title=False)),
            ("bm25s default tokenizer", lambda k: run_bm25s_default(k)),
            ("bm25s default tokenizer, text only", lambda k: run_bm25s_default(k, with_title=False)),
        ],
        KEYS,
    )


def step_tokens() -> None:
    b = BASE
    table(
        "Tokenisation (Lucene BM25 k1=1.2 b=0.75, title concatenated)",
        [
            cfg_row("syllables >= 2 letters (like \\w\\w+)", replace(b, tok=Tok(min_len=2))),
            cfg_row("syllables, raw lower case (no tone canonicalisation)", replace(b, tok=Tok(raw_case=True))),
            cfg_row("syllables, match_form, one-letter kept", b),
            cfg_row("+ function words removed (docs and queries)", replace(b, tok=Tok(stop_doc="func"))),
            cfg_row("+ syllable bigrams (within phrase)", replace(b, tok=Tok(bigrams=True))),
            cfg_row("+ syllable bigrams across punctuation", replace(b, tok=Tok(bigrams=True, bigram_across=True))),
            cfg_row("pyvi words", replace(b, tok=Tok(unit="word"))),
            cfg_row("syllables + pyvi compound words", replace(b, tok=Tok(unit="syl+word"))),
            cfg_row("syllables + pyvi words + bigrams", replace(b, tok=Tok(unit="syl+word", bigrams=True))),
        ],
        KEYS,
    )


BIG = replace(BASE, tok=Tok(bigrams=True))
# The configuration kept (every part earned its place in the steps below); rag.index.lexical implements it.
FINAL = Cfg(
    Tok(bigrams=True),
    Rank(
        method="lucene", k1=1.2, k1_bi=0.5, b=0.75, title_w=2.0, query_stop="question", fold_auto=True, fold_blend=0.5
    ),
)


def _r(cfg: Cfg, **kw: Any) -> Cfg:
    return replace(cfg, rank=replace(cfg.rank, **kw))


def step_bm25() -> None:
    b = BIG
    table(
        "BM25 variant and k1/b (syllables + bigrams, title concatenated)",
        [
            cfg_row("Lucene k1=1.2 b=0.75", b),
            *[
                cfg_row(f"Lucene k1={k1} b={bb}", _r(b, k1=k1, b=bb))
                for k1, bb in ((0.6, 0.75), (0.9, 0.75), (1.5, 0.75), (2.0, 0.75), (1.2, 0.5), (1.2, 0.9), (0.9, 0.4))
            ],
            cfg_row("Robertson idf", _r(b, method="robertson")),
            cfg_row("ATIRE idf", _r(b, method="atire")),
            cfg_row("BM25L delta=0.5", _r(b, method="bm25l")),
            cfg_row("BM25+ delta=0.5", _r(b, method="bm25+")),
            cfg_row("idf squared (Lucene classic)", _r(b, idf_pow=2.0)),
            cfg_row("bigram query weight 0.5", _r(b, bigram_w=0.5)),
            cfg_row("bigram query weight 1.5", _r(b, bigram_w=1.5)),
            cfg_row("bigram k1 = 0.5 (bigrams saturate sooner)", _r(b, k1_bi=0.5)),
            cfg_row("bigram k1 = 0.5, own length normalisation", _r(b, k1_bi=0.5, bi_own_len=True)),
            cfg_row("+ trigrams", replace(b, tok=Tok(bigrams=True, trigrams=True))),
        ],
        KEYS,
    )


def step_fields() -> None:
    b = _r(BIG, k1_bi=0.5)
    table(
        "Title field (BM25F weight; bigram k1=0.5)",
        [
            cfg_row("title weight 1 (concatenation)", b),
            *[cfg_row(f"title weight {w}", _r(b, title_w=w)) for w in (0.0, 0.5, 2.0, 3.0, 4.0)],
        ],
        KEYS,
    )


def step_query() -> None:
    b = _r(BIG, k1_bi=0.5, title_w=2.0)
    table(
        "Query side (title weight 2, bigram k1=0.5)",
        [
            cfg_row("as is, repeated terms count", b),
            cfg_row("repeated query terms counted once", _r(b, qtf=False)),
            cfg_row(
                "question scaffolding dropped (gì, nào, bao nhiêu, đúng hay sai ...)", _r(b, query_stop="question")
            ),
            cfg_row("RM3 3 docs / 10 terms / 0.8", _r(b, rm3=(3, 10, 0.8))),
            cfg_row("RM3 5 docs / 10 terms / 0.7", _r(b, rm3=(5, 10, 0.7))),
            cfg_row("RM3 10 docs / 20 terms / 0.6", _r(b, rm3=(10, 20, 0.6))),
        ],
        KEYS,
    )


def step_fold() -> None:
    exact = _r(FINAL, fold_auto=False, fold_blend=0.0)
    for form, label in (
        ("as-is", "queries as written"),
        ("fold", "queries typed without diacritics"),
        ("partial", "every third word typed without diacritics"),
        ("old", "queries rewritten to the old tone placement (hoà, thuỷ)"),
    ):
        table(
            f"Diacritics: {label}",
            [
                cfg_row("exact index only", exact, form),
                cfg_row(
                    "no tone canonicalisation (raw lower case)",
                    replace(exact, tok=replace(exact.tok, raw_case=True)),
                    form,
                ),
                cfg_row(
                    "folded index only (everything without diacritics)",
                    replace(exact, tok=replace(exact.tok, fold=True)),
                    form,
                ),
                cfg_row("both: accent-less query -> folded, else exact", _r(exact, fold_auto=True), form),
                cfg_row(
                    "both, accented query adds 0.5 x folded score", _r(exact, fold_auto=True, fold_blend=0.5), form
                ),
                cfg_row(
                    "both, accented query adds 1.0 x folded score", _r(exact, fold_auto=True, fold_blend=1.0), form
                ),
            ],
            KEYS,
        )


def step_final() -> None:
    table(
        "Final configuration, ablations and the shipped index",
        [
            cfg_row("FINAL (harness)", FINAL),
            cfg_row("- question scaffolding kept", _r(FINAL, query_stop="none")),
            cfg_row("- title weight 1", _r(FINAL, title_w=1.0)),
            cfg_row("- bigram k1 as unigrams", _r(FINAL, k1_bi=0.0)),
            cfg_row("- bigrams", replace(FINAL, tok=Tok())),
            ("rag.index.lexical.LexicalIndex", run_production),
            ("rag.index.lexical.LexicalIndex, accent-less queries", lambda k: run_production(k, "fold")),
            cfg_row(
                "FINAL - bigram k1 - folded blend (what tantivy can express)", _r(FINAL, k1_bi=0.0, fold_blend=0.0)
            ),
            ("tantivy-py, our exact terms, title x2", run_tantivy),
            ("bm25s default tokenizer (peer)", run_bm25s_default),
        ],
        KEYS,
    )


def step_shipped() -> None:
    """Every metric of the shipped index and of the peers, per data set (the issue's acceptance figures)."""
    print("\n### Shipped index vs peers, all metrics\n")
    print("| data set | system | " + " | ".join(METRICS) + " | p50 / p95 ms |")
    print("|---" * (len(METRICS) + 3) + "|")
    systems: list[tuple[str, Callable[[str], Result]]] = [
        ("LexicalIndex", run_production),
        ("LexicalIndex, queries without diacritics", lambda k: run_production(k, "fold")),
        ("bm25s default", run_bm25s_default),
        ("LangChain BM25Retriever", run_langchain),
    ]
    for key in KEYS:
        for name, fn in systems:
            r = fn(key)
            p50, p95 = percentiles(r.lat)
            cells = " | ".join(f"{r.metrics[m]:.3f}" for m in METRICS)
            print(f"| {key} (n={len(r.rr)}) | {name} | {cells} | {p50:.2f} / {p95:.2f} |", flush=True)


def step_published() -> None:
    """The published BAAI/bge-m3 dense run (top 3 only, ALQAC-2025 pool) scored on the bge146 split."""
    ds = dataset("alqac:bge146")
    run = json.loads((SHARED / "eval" / "alqac" / "published_run_bge_m3_bge146.json").read_text("utf-8"))["run"]
    r = evaluate([run.get(q, []) for q in ds.qids], ds.qids, ds.qrels, [0.0])
    print("\n### Published BAAI/bge-m3 run on alqac:bge146 (3 results per query)\n")
    print(
        f"Hit@1 {r.metrics['Hit@1']:.3f}, Hit@3 {r.metrics['Hit@3']:.3f}, MRR@3 {r.metrics['MRR@10']:.3f} "
        f"(n={len(ds.qids)}; Hit@10 etc. undefined: the run has 3 results)"
    )


def step_cost() -> None:
    """Tokenisation throughput: what word segmentation costs on top of syllables (alqac corpus)."""
    ds = dataset("alqac:all")
    texts = ds.texts[:500]
    print("\n### Tokenisation cost (500 alqac articles)\n")
    print("| tokenizer | ms per 1,000 characters |")
    print("|---|---|")
    n_chars = sum(len(t) for t in texts) / 1000
    for label, tok in (
        ("syllables", Tok()),
        ("syllables + bigrams", Tok(bigrams=True)),
        ("pyvi words", Tok(unit="word")),
        ("syllables + pyvi words + bigrams", Tok(unit="syl+word", bigrams=True)),
    ):
        t0 = time.perf_counter()
        for t in texts:
            terms(t, tok)
        print(f"| {label} | {(time.perf_counter() - t0) * 1000 / n_chars:.3f} |", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", default="", help="peers | tokens | ... | all")
    ap.add_argument("--config", action="append", default=[], help="ad-hoc configuration(s), see parse_config")
    ap.add_argument("--base", default="", help="base configuration for --config")
    ap.add_argument("--datasets", default=",".join(KEYS))
    ap.add_argument(
        "--query-form",
        default="as-is",
        choices=["as-is", "fold", "old", "partial"],
        help="type the queries without diacritics (fold) or with the old tone placement (old)",
    )
    args = ap.parse_args(argv)
    keys = tuple(args.datasets.split(","))
    steps = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}
    if args.step:
        for name in list(steps) if args.step == "all" else args.step.split(","):
            steps[name]()
    if args.config:
        base = parse_config(args.base, BASE) if args.base else BASE
        table("Ad-hoc", [cfg_row(s, parse_config(s, base), args.query_form) for s in args.config], keys)


if __name__ == "__main__":
    main()
