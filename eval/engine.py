"""Factories that turn a `RunConfig` into the callables the runners drive (the seam to `rag`).

The evaluation commands never touch the index or the retrievers directly; they call these functions. Each
builds (or reuses) an index in `index_dir`, a folder owned by the evaluation run (one per data set and
configuration), and returns a plain callable:

Every engine is built by `rag.build_pipeline`, the function the CLI and the service use, so an evaluation measures
the pipeline users get from the same configuration file.

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
from eval.runners import AnswerLike
from rag import Library, QAPipeline, TerminalProgress, build_pipeline, choose_option, open_library

#: Paragraphs fetched per requested corpus entry: entries have several paragraphs, and k distinct entries
#: are needed after grouping paragraphs by entry.
PARAGRAPHS_PER_ENTRY = 5
_INDEX = "ix"


def _bar() -> TerminalProgress:
    """The indexing phases' bar: on stderr, cleared when done."""
    return TerminalProgress(sys.stderr, leave=False, mininterval=1.0)


def _library(config: RunConfig, index_dir: Path) -> Library:
    return open_library(config, index_dir / _INDEX)


def qa_pipeline(config: RunConfig, library: Library) -> QAPipeline:
    """The pipeline every evaluation runs: `rag.build_pipeline`, the function `vankien serve/ask` use too."""
    return build_pipeline(config, library)


def index_corpus(config: RunConfig, corpus: Mapping[str, CorpusDoc], index_dir: Path) -> Library:
    """The library of a BEIR corpus under `config` (one document per entry, id kept), ingested when new."""
    index_dir.mkdir(parents=True, exist_ok=True)
    records = index_dir / "corpus.jsonl"
    if not records.exists():
        with records.open("w", encoding="utf-8") as fh:
            for cid, doc in corpus.items():
                fh.write(json.dumps({"id": cid, "title": doc.title, "text": doc.text or doc.title}, ensure_ascii=False))
                fh.write("\n")
    library = _library(config, index_dir)
    library.ingest([records], progress=_bar())
    return library


def corpus_entries(library: Library) -> dict[str, str]:
    """doc_id -> the BEIR corpus id it was ingested from."""
    return {d.doc_id: d.source_key.rsplit("#", 1)[1] for d in library.documents() if "#" in d.source_key}


def make_retrieval_engine(
    config: RunConfig, corpus: Mapping[str, CorpusDoc], index_dir: Path
) -> Callable[[str, int], list[str]]:
    """Index a BEIR corpus (one document per entry, id kept) under `config`, and return its search function."""
    library = index_corpus(config, corpus, index_dir)
    entry_of = corpus_entries(library)
    retriever = qa_pipeline(config, library).retriever

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
    library = _library(config, index_dir)
    library.ingest([docs] + ([distractors] if distractors else []), progress=_bar())
    qa = qa_pipeline(config, library)

    def ask(item: QAItem) -> AnswerLike:
        history = [dict(turn) for turn in item.history]
        return qa.ask(item.question, history=history or None)

    return ask


def documents_library(config: RunConfig, docs: Path | None, distractors: Path | None, index_dir: Path) -> Library:
    """The index an MCQ run reads: the documents and distractors, ingested (only what changed) under `index_dir`."""
    library = _library(config, index_dir)
    paths = [p for p in (docs, distractors) if p is not None]
    if paths:
        library.ingest(paths, progress=_bar())
    return library


def make_mcq_engine(
    config: RunConfig, docs: Path | None, distractors: Path | None, index_dir: Path
) -> Callable[[MCQItem], int]:
    """Return a `choose` function answering multiple-choice questions from the documents (or without any)."""
    library = documents_library(config, docs, distractors, index_dir)
    qa = qa_pipeline(config, library)
    retriever = qa.retriever

    def choose(item: MCQItem) -> int:
        return choose_option(retriever, item.question, list(item.options), k=qa.k, similarity=library.store.similarity)

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
