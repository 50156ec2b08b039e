"""Retrievers over an `IndexStore`: lexical, dense and hybrid, behind one protocol.

Filters and the caller's clearance become a set of allowed paragraph ids *before* any scoring, and both
engines apply it inside their search: a paragraph the caller may not see is never ranked. The lexical engine's
statistics (idf, lengths) come from the levels the caller may see only, so nothing above the caller's clearance
changes their scores either. A question typed without accents is embedded with the accents of the paragraphs its
lexical search finds (`rag.text.accents`), among those the caller may see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from rag.errors import InvalidRequest
from rag.index.context import lexical_title
from rag.index.store import IndexStore, level_of
from rag.retrieve.fusion import RRF_K, convex, min_max, rrf, z_convex
from rag.retrieve.query import check_k, check_query, referenced_docs
from rag.retrieve.rerank import RERANK_CANDIDATES, Candidate, SentenceReranker
from rag.text.accents import needs_accents, restore_accents
from rag.types import Filters, Hit, Principal

logger = logging.getLogger(__name__)

#: Candidates taken from each engine before fusion (at least k).
CANDIDATES = 50
#: Score multiplier for paragraphs of a document the query names by number ("Nghị quyết 57 ..."):
#: naming a document is the strongest evidence of where the answer lies. Chosen on our own QA set
#: (eval/data/corpus_qa.jsonl), see docs/decisions.md.
REF_BOOST = 1.5
#: Lexical hits whose words give an accent-less question its accents before it is embedded.
ACCENT_SOURCES = 10
#: Weight of the lexical side in the fusion with the dense side (dense gets 1 - this), for a real embedding model
#: (the packaged multilingual-e5-small, an operator's `st:` model), with the default fusion on complete standardised
#: scores (`z_convex`): chosen on uit_reg_wiki train, checked on its test split and on alqac (docs/decisions.md,
#: "Fusion on complete scores"). The earlier min-max fusion (`fusion = "minmax"`) was tuned at 0.5.
LEXICAL_WEIGHT = 0.4
#: The same for the feature-hashing embedder, which adds little to a strong lexical ranking
#: (docs/embedder-notes.md), so it only breaks near-ties.
HASH_LEXICAL_WEIGHT = 0.9


def default_lexical_weight(embedder_name: str | None) -> float:
    """The fusion's lexical weight when the configuration gives none: by the kind of the index's embedder."""
    return HASH_LEXICAL_WEIGHT if embedder_name and embedder_name.startswith("hash") else LEXICAL_WEIGHT


class Retriever(Protocol):
    """Finds the paragraphs that answer a query.

    `retrieve(query, k, filters, principal)` returns at most k `Hit`s, best first, ranks 1..n, never a
    paragraph outside `filters` or above `principal.clearance` (None: no restriction, for local use).
    Raises `InvalidRequest` for an empty or over-long query, k outside 1..MAX_K, or a bad filter. An empty
    index gives an empty list.
    """

    def retrieve(
        self, query: str, k: int = 10, filters: Filters | None = None, principal: Principal | None = None
    ) -> list[Hit]: ...


@dataclass
class _Base:
    """Shared steps. `rerank`: reorder the lexical list's first `RERANK_CANDIDATES` by sentence-level evidence
    (`rag.retrieve.rerank`). Off by default: wired into the product it gained on uit_reg_wiki and lost on
    alqac (docs/retrieval-notes.md, "Second stage"); evaluators switch it on with `rerank = true`."""

    store: IndexStore
    rerank: bool = False

    def _prepare(self, query: str, k: int) -> str:
        """Check the query and k, and catch up with changes another process made to the catalog.

        The catch-up does not wait for a sync already running in this process (an ingest): the search then reads
        the last applied state, which is consistent (see `IndexStore.reading`).
        """
        text = check_query(query)
        check_k(k)
        self.store.catch_up()
        return text

    def _lexical(
        self,
        text: str,
        n: int,
        allowed: np.ndarray | None,
        principal: Principal | None,
        named: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 with the statistics of the levels the caller may see (`level_of`), named documents favoured
        (`named`: their paragraphs when the caller has them already, `_named_pids`)."""
        level = level_of(principal)
        scored = self.store.lexical.search(text, n, allowed, level)
        ref_pids = self._named_pids(text, allowed, principal) if named is None else named
        if ref_pids.size == 0:
            return scored
        # Make sure the named document's best paragraphs are candidates, then favour them.
        merged = dict(scored)
        merged.update(self.store.lexical.search(text, n, ref_pids, level))
        ref_set = set(ref_pids.tolist())
        boosted = [(pid, s * REF_BOOST if pid in ref_set else s) for pid, s in merged.items()]
        boosted.sort(key=lambda kv: -kv[1])
        return boosted[:n]

    def _named_pids(self, text: str, allowed: np.ndarray | None, principal: Principal | None) -> np.ndarray:
        """The paragraphs (among `allowed`) of the documents the query names by number, sorted."""
        refs = referenced_docs(text, self.store.numbered_docs(principal))
        if not refs:
            return np.zeros(0, dtype=np.int64)
        ref_pids = self.store.pids_of(refs)
        if allowed is not None:
            ref_pids = np.intersect1d(ref_pids, allowed, assume_unique=True)
        return ref_pids

    def _lexical_scores(
        self, text: str, pids: list[int], named: np.ndarray, principal: Principal | None
    ) -> dict[int, float]:
        """The lexical score `_lexical` would give each of `pids` at any rank (the paragraphs of the named
        documents, `named`, favoured alike)."""
        scores = self.store.lexical.scores(text, pids, level_of(principal))
        if named.size:
            for pid in np.asarray(pids, dtype=np.int64)[np.isin(pids, named)].tolist():
                if pid in scores:
                    scores[pid] *= REF_BOOST
        return scores

    def _lexical_ranked(
        self,
        text: str,
        n: int,
        allowed: np.ndarray | None,
        principal: Principal | None,
        named: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The lexical list, best first, at most n, second stage applied when `rerank` is on."""
        if not self.rerank:
            return self._lexical(text, n, allowed, principal, named)[:n]
        scored = self._lexical(text, max(n, RERANK_CANDIDATES), allowed, principal, named)
        if len(scored) < 2:
            return scored[:n]
        return self._reranked(text, scored, level_of(principal))[:n]

    def _reranked(self, text: str, scored: list[tuple[int, float]], level: int) -> list[tuple[int, float]]:
        """Rerank the head of a first-stage list; the tail follows with its relative first-stage scores.

        Every reranked score is at least the candidate's relative first-stage score, which is at least that of
        any candidate in the tail, so the result stays ordered.
        """
        head, tail = scored[:RERANK_CANDIDATES], scored[RERANK_CANDIDATES:]
        paragraphs = self.store.catalog.paragraphs_by_pid([pid for pid, _ in head])
        candidates: list[Candidate] = []
        for pid, score in head:
            paragraph = paragraphs.get(pid)
            row = self.store.table.row_of(pid)
            if paragraph is None or row is None:  # removed meanwhile: `hits` would drop it too
                continue
            context = lexical_title(row, self.store.headings_above(paragraph))
            candidates.append(Candidate(pid, score, paragraph.text, context))
        if not candidates:
            return scored
        top = head[0][1]
        reranked = SentenceReranker(partial(self.store.lexical.idf, level=level)).rerank(
            text, candidates, len(candidates)
        )
        return reranked + [(pid, score / top if top > 0 else 0.0) for pid, score in tail]

    def _query_vector(self, text: str, filters: Filters | None, principal: Principal | None) -> np.ndarray:
        """The query's embedding (computed before taking the store's read lock: a model may be slow). A question
        typed without accents is embedded as `accented` writes it."""
        if self.store.vectors is None or self.store.embedder is None:
            raise InvalidRequest(
                "dense retrieval on an index without embedder",
                "Chỉ mục này không có vectơ (tạo với --embedder none); hãy dùng tìm kiếm từ khóa hoặc xây lại chỉ mục.",
            )
        return self.store.embedder.embed_query(self.accented(text, filters, principal))

    def accented(self, text: str, filters: Filters | None = None, principal: Principal | None = None) -> str:
        """`text` with the accents its first lexical hits use (`restore_accents`); unchanged when it carries any
        diacritic. The hits are those the caller may see, so a restricted paragraph lends no word."""
        if not needs_accents(text):
            return text
        with self.store.reading():
            _, allowed = self.store.scope(filters, principal)
            if allowed is not None and allowed.size == 0:
                return text
            found = self.store.hits(self._lexical(text, ACCENT_SOURCES, allowed, principal)[:ACCENT_SOURCES])
        titles = dict.fromkeys(h.title for h in found)
        restored = restore_accents(text, [*titles, *(h.paragraph.text for h in found)])
        logger.debug("accent-less query %r embedded as %r", text, restored)
        return restored

    def _dense(self, vector: np.ndarray, n: int, allowed: np.ndarray | None, level: int) -> list[tuple[int, float]]:
        assert self.store.vectors is not None
        return self.store.vectors.search(vector, n, allowed, level)


@dataclass(frozen=True, slots=True)
class Candidates:
    """A hybrid search's candidates before fusion (`HybridRetriever.candidates`).

    Attributes:
        lexical: the lexical list, best first, (pid, score).
        dense: the dense list, best first, (pid, cosine).
        lexical_scores: the lexical score of every pid of either list (0.0: none of the query's terms).
        dense_scores: the cosine of every pid of either list that has a vector.
    """

    lexical: list[tuple[int, float]]
    dense: list[tuple[int, float]]
    lexical_scores: dict[int, float]
    dense_scores: dict[int, float]


@dataclass
class LexicalRetriever(_Base):
    """BM25 over syllables and bigrams (`rag.index.lexical`), with named-document boosting."""

    def retrieve(
        self, query: str, k: int = 10, filters: Filters | None = None, principal: Principal | None = None
    ) -> list[Hit]:
        text = self._prepare(query, k)
        with self.store.reading():  # one consistent state from the access check to the hits
            _, allowed = self.store.scope(filters, principal)
            if allowed is not None and allowed.size == 0:
                return []
            return self.store.hits(self._lexical_ranked(text, k, allowed, principal))


@dataclass
class DenseRetriever(_Base):
    """Nearest paragraphs by embedding (`rag.index.vectors`)."""

    def retrieve(
        self, query: str, k: int = 10, filters: Filters | None = None, principal: Principal | None = None
    ) -> list[Hit]:
        text = self._prepare(query, k)
        vector = self._query_vector(text, filters, principal)
        with self.store.reading():
            level, allowed = self.store.scope(filters, principal)
            if allowed is not None and allowed.size == 0:
                return []
            return self.store.hits(self._dense(vector, k, allowed, level))


@dataclass
class HybridRetriever(_Base):
    """Lexical and dense lists fused. `fusion`: "convex" (default): a convex combination of standardised scores,
    every candidate of either list scored by both (`z_convex`); "minmax": of each list's own top n, min-max
    normalised (the fusion before issue 12's second part); "rrf": reciprocal rank fusion.

    Without vectors in the index it is the lexical retriever. `lexical_weight` None: the default for the index's
    embedder (`default_lexical_weight`).
    """

    lexical_weight: float | None = None
    fusion: str = "convex"
    rrf_k: int = RRF_K

    def __post_init__(self) -> None:
        if self.lexical_weight is None:
            embedder = self.store.embedder
            self.lexical_weight = default_lexical_weight(embedder.name if embedder is not None else None)

    def retrieve(
        self, query: str, k: int = 10, filters: Filters | None = None, principal: Principal | None = None
    ) -> list[Hit]:
        text = self._prepare(query, k)
        lexical_weight = float(self.lexical_weight if self.lexical_weight is not None else LEXICAL_WEIGHT)
        use_dense = self.store.vectors is not None and lexical_weight < 1.0
        vector = self._query_vector(text, filters, principal) if use_dense else None
        # Without a dense list to fuse with, the lexical top k is the answer: asking for more candidates would only
        # weaken the pruning of common terms (`LexicalIndex.search`) and change nothing.
        n = max(k, CANDIDATES) if vector is not None else k
        with self.store.reading():  # both lists and the hits come from one consistent state
            level, allowed = self.store.scope(filters, principal)
            if allowed is not None and allowed.size == 0:
                return []
            named = self._named_pids(text, allowed, principal)
            lexical = self._lexical_ranked(text, n, allowed, principal, named)
            if vector is None:
                return self.store.hits(lexical[:k])
            dense = self._dense(vector, n, allowed, level)
            if self.fusion == "convex":
                found = self._complete(text, vector, lexical, dense, named, principal)
                return self.store.hits(z_convex(found.lexical_scores, found.dense_scores, lexical_weight)[:k])
            weights = [lexical_weight, 1.0 - lexical_weight]
            if self.fusion == "rrf":
                fused = rrf([[p for p, _ in lexical], [p for p, _ in dense]], k=self.rrf_k, weights=weights)
            else:
                fused = convex([lexical, dense], weights)
            fused = self._stand_in_for_waiting(lexical, fused, 1.0 - lexical_weight)
            return self.store.hits(fused[:k])

    def candidates(
        self, query: str, n: int = CANDIDATES, filters: Filters | None = None, principal: Principal | None = None
    ) -> Candidates:
        """Both retrievers' lists of at most n, and every candidate's score from both: what the fusion reads (for
        tuning and inspecting it; `retrieve` is the search). Needs an index with vectors."""
        text = self._prepare(query, n)
        vector = self._query_vector(text, filters, principal)
        with self.store.reading():
            level, allowed = self.store.scope(filters, principal)
            named = self._named_pids(text, allowed, principal)
            lexical = self._lexical_ranked(text, n, allowed, principal, named)
            dense = self._dense(vector, n, allowed, level)
            return self._complete(text, vector, lexical, dense, named, principal)

    def _complete(
        self,
        text: str,
        vector: np.ndarray,
        lexical: list[tuple[int, float]],
        dense: list[tuple[int, float]],
        named: np.ndarray,
        principal: Principal | None,
    ) -> Candidates:
        """Score each candidate by both retrievers: the lexical score of a paragraph only the dense list holds
        (`LexicalIndex.scores`), the cosine of one only the lexical list holds (its stored vector). A paragraph
        still waiting for its vector gets no dense score (`z_convex` lets its lexical evidence stand in)."""
        lexical_scores = dict(lexical)
        dense_scores = dict(dense)
        only_dense = [pid for pid, _ in dense if pid not in lexical_scores]
        if only_dense:
            if self.rerank:  # reranked scores are on another scale than BM25: the list's floor stands in
                floor = min(lexical_scores.values(), default=0.0)
                lexical_scores.update(dict.fromkeys(only_dense, floor))
            else:
                found = self._lexical_scores(text, only_dense, named, principal)
                lexical_scores.update({pid: found.get(pid, 0.0) for pid in only_dense})
        vectors = self.store.vectors
        assert vectors is not None
        only_lexical = [pid for pid, _ in lexical if pid not in dense_scores and pid in vectors]
        if only_lexical:
            cosines = vectors.vectors(only_lexical) @ np.asarray(vector, dtype=np.float32).reshape(-1)
            dense_scores.update(zip(only_lexical, cosines.tolist(), strict=True))
        return Candidates(lexical, dense, lexical_scores, dense_scores)

    def _stand_in_for_waiting(
        self, lexical: list[tuple[int, float]], fused: list[tuple[int, float]], dense_weight: float
    ) -> list[tuple[int, float]]:
        """Paragraphs still waiting for their vectors (progressive indexing) have no dense score yet, which is
        not a dense score of zero: their lexical evidence stands in for the dense share (normalised score for
        the convex fusion, lexical rank for RRF), so a document just ingested is not ranked below the others
        until its vectors arrive."""
        vectors = self.store.vectors
        if vectors is None or self.store.vectors_applied >= self.store.applied:
            return fused
        waiting = {pid for pid, _ in lexical if pid not in vectors}
        if not waiting:
            return fused
        if self.fusion == "rrf":
            stand_in = {pid: 1.0 / (self.rrf_k + rank) for rank, (pid, _) in enumerate(lexical, start=1)}
        else:
            stand_in = dict(zip([p for p, _ in lexical], min_max([s for _, s in lexical]), strict=True))
        scores = [(pid, score + dense_weight * stand_in[pid] if pid in waiting else score) for pid, score in fused]
        return sorted(scores, key=lambda item: -item[1])


RETRIEVERS: dict[str, type[_Base]] = {
    "lexical": LexicalRetriever,
    "dense": DenseRetriever,
    "hybrid": HybridRetriever,
}


def make_retriever(name: str, store: IndexStore, *, rerank: bool = False) -> Retriever:
    """The retriever called `name` ("lexical", "dense", "hybrid") over `store` (`rerank`: see `_Base`)."""
    cls = RETRIEVERS.get(name)
    if cls is None:
        raise InvalidRequest(
            f"unknown retriever {name!r}; valid: {sorted(RETRIEVERS)}",
            f"Bộ truy hồi '{name}' không có; chọn một trong: {', '.join(sorted(RETRIEVERS))}.",
        )
    retriever: Retriever = cls(store, rerank=rerank)  # type: ignore[assignment]
    return retriever
