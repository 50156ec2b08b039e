"""The peers we measure ourselves against, run in the same process on the same data.

* LangChain's `BM25Retriever` (langchain-community + rank_bm25), set up as its documentation shows:
  `BM25Retriever.from_texts(texts, metadatas, k=...)`, default preprocessing (whitespace split).
* bm25s with its default tokenizer (`bm25s.tokenize`: lower case, `\\w\\w+` tokens — one-letter Vietnamese
  syllables such as "ở" are dropped — English stop words), as its README shows.

Both index each BEIR entry as "title\\ntext", the same text our engine sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eval.datasets import CorpusDoc, MCQItem, QAItem
from rag import MissingDependency

PEERS = ("langchain-bm25", "bm25s")


def _texts(corpus: Mapping[str, CorpusDoc]) -> tuple[list[str], list[str]]:
    ids = list(corpus)
    texts = [f"{d.title}\n{d.text}" if d.title else d.text for d in corpus.values()]
    return ids, texts


def langchain_bm25(corpus: Mapping[str, CorpusDoc]) -> Callable[[str, int], list[str]]:
    """Search function of LangChain's BM25Retriever over the corpus."""
    try:
        from langchain_community.retrievers import BM25Retriever
    except ImportError as exc:
        raise MissingDependency(
            f"peer needs langchain-community and rank_bm25: {exc}",
            "Cần cài langchain-community và rank_bm25 để chạy đối chứng LangChain (pip install '.[peers]').",
        ) from exc
    ids, texts = _texts(corpus)
    retriever: Any = BM25Retriever.from_texts(texts, metadatas=[{"id": i} for i in ids], k=10)

    def search(query: str, k: int) -> list[str]:
        retriever.k = k
        return [d.metadata["id"] for d in retriever.invoke(query)]

    return search


def bm25s_default(corpus: Mapping[str, CorpusDoc]) -> Callable[[str, int], list[str]]:
    """Search function of bm25s with its default tokenizer over the corpus."""
    try:
        import bm25s
    except ImportError as exc:
        raise MissingDependency(
            f"peer needs bm25s: {exc}", "Cần cài bm25s để chạy đối chứng bm25s (pip install '.[peers]')."
        ) from exc
    ids, texts = _texts(corpus)
    retriever: Any = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)

    def search(query: str, k: int) -> list[str]:
        tokens = bm25s.tokenize([query], return_ids=False, show_progress=False)
        if not tokens[0]:
            return []
        docs, _ = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
        return [ids[int(i)] for i in docs[0]]

    return search


FACTORIES: dict[str, Callable[[Mapping[str, CorpusDoc]], Callable[[str, int], list[str]]]] = {
    "langchain-bm25": langchain_bm25,
    "bm25s": bm25s_default,
}


# -- QA baselines ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PeerParagraph:
    paragraph_id: str
    text: str


@dataclass(frozen=True, slots=True)
class _PeerHit:
    paragraph: _PeerParagraph


@dataclass(frozen=True, slots=True)
class _PeerCitation:
    hit: _PeerHit
    quote: str


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    """What a retrieval-only RAG baseline shows: its top paragraphs as the answer and its citations."""

    text: str
    abstained: bool
    citations: tuple[_PeerCitation, ...]


def qa_peer(name: str, paragraphs: Sequence[tuple[str, str]], k: int = 3) -> Callable[[QAItem], PeerAnswer]:
    """A retrieval-only QA baseline over the same paragraphs: cite the peer retriever's top k paragraphs.

    This is what a RAG stack built on the peer gives a user without an answer-writing model: no abstention, the
    best paragraphs quoted whole. It scores the peers' citations on the same questions as ours.
    """
    corpus = {pid: CorpusDoc("", text) for pid, text in paragraphs}
    search = FACTORIES[name](corpus)
    texts = dict(paragraphs)

    def ask(item: QAItem) -> PeerAnswer:
        ids = search(item.question, k)
        cites = tuple(_PeerCitation(_PeerHit(_PeerParagraph(pid, texts[pid])), texts[pid]) for pid in ids)
        return PeerAnswer(" ".join(f"{texts[pid]} [{i}]" for i, pid in enumerate(ids, start=1)), False, cites)

    return ask


# -- MCQ baselines -----------------------------------------------------------------------------------------------


class _PeerRetriever:
    """A peer's search behind the `retrieve` method our option chooser calls (paragraph text is all it reads)."""

    def __init__(self, search: Callable[[str, int], list[str]], texts: Mapping[str, str]) -> None:
        self._search = search
        self._texts = texts

    def retrieve(self, query: str, k: int = 10, filters: Any = None, principal: Any = None) -> list[_PeerHit]:
        return [_PeerHit(_PeerParagraph(pid, self._texts[pid])) for pid in self._search(query, k)]


def mcq_peer(name: str, paragraphs: Sequence[tuple[str, str]], k: int = 10) -> Callable[[MCQItem], int]:
    """Our option chooser (`rag.answer.mcq.choose_option`) fed by the peer's retrieval over the same paragraphs.

    The chooser is the same for everyone, so the difference to our run is what retrieval finds.
    """
    from rag import choose_option

    corpus = {pid: CorpusDoc("", text) for pid, text in paragraphs}
    retriever = _PeerRetriever(FACTORIES[name](corpus), dict(paragraphs))

    def choose(item: MCQItem) -> int:
        return choose_option(retriever, item.question, list(item.options), k=k)  # type: ignore[arg-type]

    return choose
