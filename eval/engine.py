"""Factories that turn a `RunConfig` into the callables the runners drive (the seam to `rag.pipeline`).

The evaluation commands never touch the index or the retrievers directly; they call these functions. Each
builds (or reuses) an index in `index_dir`, a folder owned by the evaluation run (one per data set and
configuration), and returns a plain callable:

* `make_retrieval_engine` -> `search(query, k) -> ranked BEIR corpus ids`, best first, at most k, no repeats.
  Each corpus entry is ingested as one document (its paragraphs are what the product retrieves); an entry's
  rank is the rank of its best paragraph.
* `make_qa_engine` -> `ask(item) -> rag.types.Answer` (the item carries `history` for follow-up questions).
* `make_mcq_engine` -> `choose(item) -> 0-based option index`.
* `index_manifest(index_dir)` -> the manifest of the index built there (embedder, lexical format and
  parameters, counts, generation), recorded in every result; None when there is none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from eval.config import RunConfig
from eval.datasets import CorpusDoc, MCQItem, QAItem
from eval.errors import ConfigError
from eval.runners import AnswerLike
from rag.answer.generate import Generator
from rag.pipeline import Library, Progress
from rag.retrieve.retrievers import HybridRetriever, Retriever, make_retriever

#: Paragraphs fetched per requested corpus entry: entries have several paragraphs, and k distinct entries
#: are needed after grouping paragraphs by entry.
PARAGRAPHS_PER_ENTRY = 5
_INDEX = "ix"


class _Bar:
    """tqdm progress on stderr for the indexing phases of an evaluation run."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, total: int, label: str, unit: str = "tài liệu") -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=sys.stderr, mininterval=1.0, leave=False)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _library(config: RunConfig, index_dir: Path) -> Library:
    return Library(index_dir / _INDEX, embedder=config.embedder)


def _retriever(config: RunConfig, library: Library) -> Retriever:
    store = library.store
    if store.vectors is None:
        return make_retriever("lexical", store, rerank=config.rerank)
    lexical = float(config.weights.get("lexical", 1.0))
    dense = float(config.weights.get("dense", 0.0))
    total = lexical + dense
    return HybridRetriever(
        store,
        rerank=config.rerank,
        lexical_weight=lexical / total if total else 1.0,
        fusion=config.fusion,
        rrf_k=config.rrf_k,
    )


def _generator(config: RunConfig) -> Generator | None:
    """The configured generator; None means the pipeline's default (extractive)."""
    if config.generator != "llm":
        return None
    if not config.llm_url or not config.llm_model:
        raise ConfigError(
            "generator 'llm' needs llm_url and llm_model",
            path=f"<cấu hình {config.name}>",
            field="generator",
            user_reason="bộ sinh 'llm' cần khai báo llm_url và llm_model.",
        )
    from rag.answer.llm import make_llm_generator

    # No fallback here: an evaluation of the LLM must count its failures, not hide them behind extractive answers.
    return make_llm_generator(config.llm_url, config.llm_model)


def make_retrieval_engine(
    config: RunConfig, corpus: Mapping[str, CorpusDoc], index_dir: Path
) -> Callable[[str, int], list[str]]:
    """Index a BEIR corpus (one document per entry, id kept) under `config`, and return its search function."""
    index_dir.mkdir(parents=True, exist_ok=True)
    records = index_dir / "corpus.jsonl"
    if not records.exists():
        with records.open("w", encoding="utf-8") as fh:
            for cid, doc in corpus.items():
                fh.write(json.dumps({"id": cid, "title": doc.title, "text": doc.text or doc.title}, ensure_ascii=False))
                fh.write("\n")
    library = _library(config, index_dir)
    progress: Progress = _Bar()
    library.ingest([records], progress=progress)
    entry_of = {d.doc_id: d.source_key.rsplit("#", 1)[1] for d in library.documents() if "#" in d.source_key}
    retriever = _retriever(config, library)

    def search(query: str, k: int) -> list[str]:
        hits = retriever.retrieve(query, min(k * PARAGRAPHS_PER_ENTRY, 200))
        ranked: list[str] = []
        for hit in hits:
            entry = entry_of.get(hit.doc_id)
            if entry is not None and entry not in ranked:
                ranked.append(entry)
                if len(ranked) == k:
                    break
        return ranked

    return search


def make_qa_engine(
    config: RunConfig, docs: Path, distractors: Path | None, index_dir: Path
) -> Callable[[QAItem], AnswerLike]:
    """Ingest `docs` (and the distractor documents, when given) and return an `ask` function."""
    from rag.pipeline import QAPipeline

    library = _library(config, index_dir)
    library.ingest([docs] + ([distractors] if distractors else []), progress=_Bar())
    qa = QAPipeline(library, retriever=_retriever(config, library), generator=_generator(config), k=config.k)

    def ask(item: QAItem) -> AnswerLike:
        history = [dict(turn) for turn in item.history]
        return qa.ask(item.question, history=history or None)

    return ask


def make_mcq_engine(
    config: RunConfig, docs: Path | None, distractors: Path | None, index_dir: Path
) -> Callable[[MCQItem], int]:
    """Return a `choose` function answering multiple-choice questions from the documents (or without any)."""
    from rag.answer.mcq import choose_option

    paths = [p for p in (docs, distractors) if p is not None]
    library = _library(config, index_dir)
    if paths:
        library.ingest(paths, progress=_Bar())
    retriever = _retriever(config, library)

    def choose(item: MCQItem) -> int:
        return choose_option(retriever, item.question, list(item.options), k=config.k)

    return choose


def index_manifest(index_dir: Path) -> dict[str, Any] | None:
    """Return the manifest of the index in `index_dir` (recorded in results), or None when there is none."""
    if not (index_dir / _INDEX / "catalog.sqlite").exists():
        return None
    with Library(index_dir / _INDEX, create=False) as library:
        return library.store.manifest()


def paragraphs(index_dir: Path) -> list[tuple[str, str]]:
    """(paragraph_id, text) of every paragraph of the index built in `index_dir` (for the peers)."""
    with Library(index_dir / _INDEX, create=False) as library:
        return library.catalog.paragraph_texts()
