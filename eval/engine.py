"""Factories that turn a `RunConfig` into the callables the runners drive (the seam to `rag.pipeline`).

The evaluation commands never touch the index or the retrievers directly; they call these functions. Each
builds (or reuses) an index in `index_dir`, a folder owned by the evaluation run (one per data set and
configuration), and returns a plain callable:

* `make_retrieval_engine` -> `search(query, k) -> ranked BEIR corpus ids`, best first, at most k, no repeats.
  The corpus entries are the units to rank: a paragraph-level hit must be mapped back to its corpus id (the
  best paragraph of an entry gives the entry's rank).
* `make_qa_engine` -> `ask(item) -> rag.types.Answer` (the item carries `history` for follow-up questions).
* `make_mcq_engine` -> `choose(item) -> 0-based option index`.
* `index_manifest(index_dir)` -> the manifest of the index built there (embedder, lexical format and
  parameters, counts, generation), recorded in every result; None when there is none.

They are implemented by the library's owner on top of `rag.pipeline`; until then they raise
`NotImplementedError` and the commands say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from eval.config import RunConfig
from eval.datasets import CorpusDoc, MCQItem, QAItem
from eval.runners import AnswerLike

_PENDING = "eval.engine.{} is not implemented yet: it needs rag.pipeline's index building and search/ask API"


def make_retrieval_engine(
    config: RunConfig, corpus: Mapping[str, CorpusDoc], index_dir: Path
) -> Callable[[str, int], list[str]]:
    """Index a BEIR corpus (one document per entry, id kept) under `config`, and return its search function.

    Args:
        config: embedder, lexical options, fusion and weights to use.
        corpus: corpus id -> (title, text), in file order.
        index_dir: a folder for this data set and configuration (may already hold an index from a previous run
            of the same data set and configuration; reuse it when its manifest matches).

    Returns:
        `search(query, k)` returning up to k distinct corpus ids, best first.
    """
    raise NotImplementedError(_PENDING.format("make_retrieval_engine"))


def make_qa_engine(
    config: RunConfig, docs: Path, distractors: Path | None, index_dir: Path
) -> Callable[[QAItem], AnswerLike]:
    """Ingest `docs` (and the distractor documents, when given) and return an `ask` function.

    Args:
        config: retrieval settings, `k` paragraphs for the generator, and the generator.
        docs: folder of documents that answer the questions.
        distractors: a file or folder of unrelated documents ingested beside them (harder retrieval).
        index_dir: a folder for this run's index.
    """
    raise NotImplementedError(_PENDING.format("make_qa_engine"))


def make_mcq_engine(
    config: RunConfig, docs: Path | None, distractors: Path | None, index_dir: Path
) -> Callable[[MCQItem], int]:
    """Return a `choose` function answering multiple-choice questions from the documents (or without any)."""
    raise NotImplementedError(_PENDING.format("make_mcq_engine"))


def index_manifest(index_dir: Path) -> dict[str, Any] | None:
    """Return the manifest of the index in `index_dir` (recorded in results), or None when there is none."""
    raise NotImplementedError(_PENDING.format("index_manifest"))
