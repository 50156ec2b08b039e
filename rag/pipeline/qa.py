"""Question answering over a `Library`: understand the question, retrieve, decide, generate, verify.

`QAPipeline` is built by `rag.pipeline.build.build_pipeline` from a `PipelineConfig`; the CLI, the service and the
evaluation toolkit all go through that function, so they answer with the same components.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rag.answer.abstain import AbstentionModel, Decision, default_model
from rag.answer.citations import verify
from rag.answer.conversation import focus, needs_context, rewrite
from rag.answer.generate import Draft, ExtractiveGenerator, Generator
from rag.answer.question import analyse_question
from rag.errors import InvalidRequest
from rag.pipeline.library import Library
from rag.retrieve.query import check_query
from rag.retrieve.retrievers import Retriever, make_retriever
from rag.types import Answer, Filters, Hit, Principal

logger = logging.getLogger(__name__)

ABSTAIN_TEXT = "Không tìm thấy thông tin trả lời câu hỏi này trong các văn bản hiện có."
#: Paragraphs retrieved for the generator.
DEFAULT_ANSWER_K = 8
#: Paragraphs fetched per paragraph kept: headings and bare questions are dropped before the generator.
FETCH_FACTOR = 3
_QUESTION_ONLY_RE = re.compile(r"\?\s*[\"”']?\s*$")


def answerable_hits(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The first k hits that can hold an answer: not a section heading, not a question restated.

    Headings stay available to the generator as context of the paragraphs below them (`Hit.headings`); a
    paragraph that is itself a question (quiz pages, FAQ articles) repeats the user's words without answering.
    """
    kept = [
        h
        for h in hits
        if h.paragraph.kind != "heading"
        and not (_QUESTION_ONLY_RE.search(h.paragraph.text) and len(h.paragraph.text) < 400)
    ]
    return [replace(h, rank=i) for i, h in enumerate(kept[:k], start=1)]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a streamed answer: "delta" (a piece of text), "answer" (the verified answer, which
    replaces the streamed text), then "done"."""

    kind: str
    text: str = ""
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the pipeline knows before writing: the question, the query it retrieved with, the question as
    the answerer reads it (a follow-up with its document), the paragraphs, and the abstention decision."""

    question: str
    rewritten: str
    focused: str
    hits: list[Hit]
    decision: Decision


class QAPipeline:
    """Answers questions from a `Library` with checked citations, or abstains.

    Args:
        library: the documents.
        retriever: how paragraphs are found (default: hybrid over the library's indexes).
        generator: who writes the answer (default: the extractive generator; no model needed).
        k: paragraphs given to the generator.
        abstention: the calibrated abstention model (default: the one shipped with the library).
    """

    def __init__(
        self,
        library: Library,
        *,
        retriever: Retriever | None = None,
        generator: Generator | None = None,
        k: int = DEFAULT_ANSWER_K,
        abstention: AbstentionModel | None = None,
    ) -> None:
        self.library = library
        self.retriever = retriever or make_retriever("hybrid", library.store)
        self.generator = generator or ExtractiveGenerator()
        self.k = k
        self.abstention = abstention or default_model()

    def prepare(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] | None = None,
        filters: Filters | None = None,
        principal: Principal | None = None,
    ) -> Prepared:
        """Check, rewrite, retrieve and decide whether to answer (the steps before the generator)."""
        text = check_query(question)
        if history and needs_context(text, history):
            history = self._with_context(history, filters, principal)
        rewritten = rewrite(text, history)
        focused = focus(text, history)
        hits = answerable_hits(self.retriever.retrieve(rewritten, self.k * FETCH_FACTOR, filters, principal), self.k)
        decision = self.abstention.decide(analyse_question(focused), hits, focused)
        logger.debug("abstention p=%.3f features=%s", decision.probability, decision.features)
        return Prepared(text, rewritten, focused, hits, decision)

    def _with_context(
        self, history: Sequence[Mapping[str, Any]], filters: Filters | None, principal: Principal | None
    ) -> list[Mapping[str, Any]]:
        """The history with the document the last turn was about, found by retrieving its question."""
        last = history[-1]
        previous = str(last.get("question") or "").strip()
        if not previous:
            return list(history)
        try:
            top = self.retriever.retrieve(previous, 1, filters, principal)
        except InvalidRequest:
            return list(history)
        if not top or not top[0].number:
            return list(history)
        return [*history[:-1], {**last, "citations": [{"number": top[0].number, "doc_id": top[0].doc_id}]}]

    def _abstain(self, question: str, rewritten: str, hits: Sequence[Hit]) -> Answer:
        nearest: list[Hit] = []
        for hit in hits:
            if all(h.doc_id != hit.doc_id for h in nearest):
                nearest.append(hit)
            if len(nearest) == 3:
                break
        text = ABSTAIN_TEXT
        if nearest:
            listed = "; ".join(_doc_label(h) for h in nearest)
            text += f" Các văn bản gần nhất: {listed}."
        return Answer(question, text, True, (), rewritten if rewritten != question else None, tuple(nearest))

    def _finish(self, question: str, rewritten: str, hits: list[Hit], draft: Draft) -> Answer:
        checked = verify(draft.text, hits, draft.quotes)
        if not checked.citations:
            return self._abstain(question, rewritten, hits)
        return Answer(question, checked.text, False, checked.citations, rewritten if rewritten != question else None)

    def ask(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] | None = None,
        filters: Filters | None = None,
        principal: Principal | None = None,
    ) -> Answer:
        """Answer a question (see the class docstring).

        Args:
            question: the question as typed.
            history: earlier turns, oldest first; each a mapping with "question" and optionally "citations"
                (as in the JSON answer), used to understand follow-ups.
            filters: document restrictions applied inside retrieval.
            principal: the caller; paragraphs above their clearance are never seen.

        Raises:
            InvalidRequest: empty or over-long question, bad filters.
        """
        p = self.prepare(question, history, filters, principal)
        if not p.decision.answer:
            return self._abstain(p.question, p.rewritten, p.hits)
        return self._finish(p.question, p.rewritten, p.hits, self.generator.generate(p.focused, p.hits))

    def ask_stream(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] | None = None,
        filters: Filters | None = None,
        principal: Principal | None = None,
    ) -> Iterator[StreamEvent]:
        """Like `ask`, yielding the text as the generator produces it, then the verified answer."""
        p = self.prepare(question, history, filters, principal)
        if not p.decision.answer:
            answer = self._abstain(p.question, p.rewritten, p.hits)
            yield StreamEvent("delta", answer.text)
        else:
            stream = self.generator.stream(p.focused, p.hits)
            pieces: list[str] = []
            while True:
                try:
                    piece = next(stream)
                except StopIteration as stop:
                    # Every generator returns its whole draft (with the quotes it knows) when its stream ends.
                    draft = stop.value if isinstance(stop.value, Draft) else Draft("".join(pieces))
                    break
                pieces.append(piece)
                yield StreamEvent("delta", piece)
            answer = self._finish(p.question, p.rewritten, p.hits, draft)
        yield StreamEvent("answer", answer=answer)
        yield StreamEvent("done")


def _doc_label(hit: Hit) -> str:
    parts = [hit.title]
    meta = ", ".join(x for x in (hit.number, hit.issued) if x)
    return f"{parts[0]} ({meta})" if meta else parts[0]
