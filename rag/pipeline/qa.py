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
from rag.answer.citations import MARKER_AFTER_END_RE, verify
from rag.answer.conversation import (
    contrasts,
    focus,
    has_anaphora,
    is_follow_up,
    needs_context,
    new_subject_words,
    rewrite,
    switch_question,
)
from rag.answer.extractive import (
    asks_signer,
    effective,
    ends_intro,
    list_anchor,
    pick_best,
    score_candidates,
    states_subject,
    whole_document,
)
from rag.answer.generate import Draft, ExtractiveGenerator, Generator
from rag.answer.question import KIND_ABOUT, KIND_LIST, KIND_SUMMARY, KIND_WHAT, QuestionInfo, analyse_question
from rag.answer.sentences import split_sentences
from rag.errors import InvalidRequest
from rag.pipeline.library import Library
from rag.retrieve.query import check_query, doc_refs, referenced_docs
from rag.retrieve.retrievers import Retriever, make_retriever
from rag.retrieve.scope import (
    around,
    document_hits,
    is_intro,
    is_quiz_option,
    items_after,
    list_section,
    looks_like_option,
    outline,
    purpose,
    signature_block,
    task_groups,
)
from rag.text.accents import restore_accents
from rag.text.layout import is_layout, is_table_header
from rag.text.normalize import fold
from rag.text.phrasing import expand_acronyms, politeness_only, strip_politeness, with_acronyms
from rag.types import Answer, Filters, Hit, Principal

logger = logging.getLogger(__name__)

ABSTAIN_TEXT = "Không tìm thấy thông tin trả lời câu hỏi này trong các văn bản hiện có."
#: Paragraphs retrieved for the generator.
DEFAULT_ANSWER_K = 8
#: Paragraphs fetched per paragraph kept: headings and bare questions are dropped before the generator.
FETCH_FACTOR = 3
#: Most paragraphs stating what a question's subject is that are added to its evidence (`QAPipeline._statements`).
MAX_STATEMENTS = 3
#: Paragraphs read before and after a short line to tell whether it is a quiz option: the options before it, the
#: question and its number line; the options after it.
QUIZ_BEFORE, QUIZ_AFTER = 8, 5
_QUESTION_ONLY_RE = re.compile(r"\?\s*[\"”']?\s*$")


def answerable_hits(hits: Sequence[Hit], k: int, *, keep_layout: bool = False) -> list[Hit]:
    """The first k hits that can hold an answer: not a section heading, not a question restated, not a layout
    line ("TỔNG BÍ THƯ", "(đã ký)": short, so a search ranks them high for a document's name).

    Headings stay available to the generator as context of the paragraphs below them (`Hit.headings`); a
    paragraph that is itself a question (quiz pages, FAQ articles) repeats the user's words without answering.
    `keep_layout` keeps the signature block, for questions that ask who signed.
    """
    kept = [
        h
        for h in hits
        if h.paragraph.kind != "heading"
        and not (_QUESTION_ONLY_RE.search(h.paragraph.text) and len(h.paragraph.text) < 400)
        and (keep_layout or h.paragraph.kind == "header" or not _layout_only(h.paragraph.text))
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
        self.generator = generator or ExtractiveGenerator(library.store.text_similarity)
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
        if politeness_only(text):
            raise InvalidRequest(
                "question is politeness only",
                "Câu hỏi mới có lời chào hỏi, chưa có nội dung cần tìm; hãy nêu điều đồng chí muốn hỏi.",
            )
        plain = strip_politeness(text)
        previous = strip_politeness(str(history[-1].get("question") or "").strip()) if history else ""
        if history and previous and self._switches(plain, previous, history, filters, principal):
            # A new subject in the previous frame: retrieve afresh, without the previous document.
            rewritten = focused = switch_question(plain, previous)
        else:
            if history and needs_context(plain, history):
                history = self._with_context(history, filters, principal)
            rewritten = rewrite(plain, history)
            focused = focus(plain, history)
        focused = expand_acronyms(focused)
        retrieved = self.retriever.retrieve(with_acronyms(rewritten), self.k * FETCH_FACTOR, filters, principal)
        retrieved = self._without_quiz_options(retrieved, filters, principal)
        hits = answerable_hits(retrieved, self.k, keep_layout=asks_signer(focused))
        info = analyse_question(focused)
        named = self._named_evidence(info, focused, filters, principal)
        if named:
            # The question names a document in the index and asks what it is about, for its summary or who signed
            # it: those paragraphs answer, whatever the search ranked first (no abstention to decide).
            hits = _first(named, hits)
            return Prepared(text, rewritten, focused, hits, replace(self.abstention.decide(info, hits), answer=True))
        info = effective(info, focused, hits)
        decision = self.abstention.decide(info, hits, focused, self._semantic(focused, hits))
        if not any(ch.isalpha() for ch in focused):
            # Only numbers ("2030", "57"): nothing says what is asked about them. Any sentence holding the number
            # would be a guess; the documents it points to are listed instead.
            decision = replace(decision, answer=False)
        logger.debug("abstention p=%.3f features=%s", decision.probability, decision.features)
        if decision.answer:
            hits = self._widen(info, focused, hits, filters, principal)
        return Prepared(text, rewritten, focused, hits, decision)

    def _without_quiz_options(self, hits: list[Hit], filters: Filters | None, principal: Principal | None) -> list[Hit]:
        """The hits less a quiz page's answer options (`is_quiz_option`): three of four are false, and a search
        ranks them high because they repeat the question's words. The search itself still shows them."""
        store = self.library.store
        return [
            h
            for h in hits
            if not (
                looks_like_option(h.paragraph.text)
                and is_quiz_option(h, around(store, h, QUIZ_BEFORE, QUIZ_AFTER, filters, principal))
            )
        ]

    def _semantic(self, question: str, hits: Sequence[Hit]) -> float | None:
        """The best cosine of the question to the first three paragraphs, when the abstention model was fitted
        with this index's embedder (None otherwise)."""
        embedder = self.library.store.embedder
        if not hits or not self.abstention.uses_semantic(embedder.name if embedder is not None else None):
            return None
        # An accent-less question is compared as the paragraphs would write it (`restore_accents`).
        accented = restore_accents(question, [h.paragraph.text for h in hits])
        sims = [x for x in self.library.store.similarity(accented, [h.paragraph for h in hits[:3]]) if x is not None]
        return max(sims) if sims else None

    def _named_evidence(
        self, info: QuestionInfo, question: str, filters: Filters | None, principal: Principal | None
    ) -> list[Hit]:
        """What answers a question about a document it names by number: the header and purpose ("về vấn đề gì"),
        the outline ("tóm tắt") when it asks about the whole document (`whole_document`), or the signature block
        ("ai ký"); empty for other questions, or when the index has no such document."""
        summary = info.kind in (KIND_ABOUT, KIND_SUMMARY)
        if not summary and not asks_signer(question):
            return []
        named = referenced_docs(question, self.library.store.numbered_docs(principal))
        if not named:
            return []
        doc = document_hits(self.library.store, named[0], filters, principal)
        if not summary:
            # The signature block, as quotable lines even where the reader marked them as headings.
            return [replace(h, paragraph=replace(h.paragraph, kind="body")) for h in signature_block(doc)]
        if not doc or doc[0].paragraph.kind != "header" or not whole_document(info, question, [doc[0]]):
            return []
        return outline(doc) if info.kind == KIND_SUMMARY else purpose(doc)

    def _switches(
        self,
        question: str,
        previous: str,
        history: Sequence[Mapping[str, Any]],
        filters: Filters | None,
        principal: Principal | None,
    ) -> bool:
        """Whether a follow-up changes the subject ("Còn mục tiêu về y tế thì sao?" after education) rather than
        asking more about the previous document ("Nghị quyết đó ban hành ngày nào?").

        A follow-up that brings new subject words, does not point back ("đó", "này") and names no document
        switches when it opens a contrast ("Còn ... thì sao?"), or when the previous turn's document has no
        paragraph holding most of its new words.
        """
        words = new_subject_words(question, previous)
        if not words or has_anaphora(question) or not is_follow_up(question):
            return False
        if contrasts(question):
            return True  # "Còn ... thì sao?", "Thế còn hội nghị về Nghị quyết 79?": the same frame, a new subject
        if doc_refs(question):
            return False
        doc_id = self._previous_doc(history, filters, principal)
        if doc_id is None:
            return False
        scoped = replace(filters or Filters(), doc_ids=(doc_id,))
        try:
            top = self.retriever.retrieve(question, 1, scoped, principal)
        except InvalidRequest:
            return False
        have = set(fold(top[0].paragraph.text).lower().split()) if top else set()
        return sum(1 for w in words if w in have) < 0.6 * len(words)

    def _previous_doc(
        self, history: Sequence[Mapping[str, Any]], filters: Filters | None, principal: Principal | None
    ) -> str | None:
        for citation in history[-1].get("citations") or []:
            if isinstance(citation, Mapping) and citation.get("doc_id"):
                return str(citation["doc_id"])
        previous = str(history[-1].get("question") or "").strip()
        try:
            top = self.retriever.retrieve(previous, 1, filters, principal) if previous else []
        except InvalidRequest:
            return None
        return top[0].doc_id if top else None

    def _widen(
        self, info: QuestionInfo, question: str, hits: list[Hit], filters: Filters | None, principal: Principal | None
    ) -> list[Hit]:
        """The evidence with what the kind of question needs beyond its best matches (`rag.retrieve.scope`):
        the whole list section for a list, the header and purpose for "về vấn đề gì", the outline for "tóm tắt"."""
        if not hits:
            return hits
        extra: list[Hit] = []
        if info.kind in (KIND_ABOUT, KIND_SUMMARY):  # whole, but not named: the best match's document
            target = hits[0].doc_id
            doc = document_hits(self.library.store, target, filters, principal)
            extra = outline(doc) if info.kind == KIND_SUMMARY else purpose(doc)
        elif (
            info.kind == KIND_WHAT
            and info.subject
            and (found := self._statements(info, question, hits, filters, principal))
        ):
            extra = found
        else:
            scored = score_candidates(info, hits, question, semantic=self.library.store.text_similarity)
            if not scored:
                return hits
            lead = list_anchor(scored) if info.kind == KIND_LIST else pick_best(scored)
            anchor = hits[lead.hit_index]
            if ends_intro(lead, hits) or info.kind == KIND_LIST:
                doc = document_hits(self.library.store, anchor.doc_id, filters, principal)
                same = next((h for h in doc if h.paragraph_id == anchor.paragraph_id), None)
                if same is not None and ends_intro(lead, hits):
                    extra = [same, *items_after(doc, same)]
                elif same is not None:
                    extra = list_section(doc, same, info.terms)
                    extra = [*task_groups(doc, extra), *extra]
                    before = next((h for h in doc if h.paragraph.n == same.paragraph.n - 1), None)
                    if not extra and before is not None and is_intro(before):
                        extra = [before, *items_after(doc, before)]  # an item of an announced list
        return _first(extra, hits) if extra else hits

    def _statements(
        self,
        info: QuestionInfo,
        question: str,
        hits: Sequence[Hit],
        filters: Filters | None,
        principal: Principal | None,
    ) -> list[Hit]:
        """The paragraphs of the document asked about that say what the question's subject is or what role it has
        ("Nghị quyết 57 xác định tầm quan trọng của việc phát triển khoa học ... như thế nào?": "Phát triển khoa
        học ... là đột phá quan trọng hàng đầu"), in document order, at most `MAX_STATEMENTS`.

        A search ranks such a sentence low when the subject's words are in every paragraph of the document (they
        weigh little) and the question's other words ("tầm quan trọng") are not the sentence's. The document is
        the one the question names by number, else the best match's.
        """
        named = referenced_docs(question, self.library.store.numbered_docs(principal))
        target = named[0] if named else hits[0].doc_id
        doc = document_hits(self.library.store, target, filters, principal)
        found = [h for h in doc if h.paragraph.kind == "body" and states_subject(info.subject, h.paragraph.text)]
        return found[:MAX_STATEMENTS]

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
        if any(ch.isdigit() for ch in question) and not any(ch.isalpha() for ch in question):
            text += (
                f" Câu hỏi mới có con số «{question.strip()}»; hãy nói rõ điều cần hỏi về nó, ví dụ: «Mục tiêu đến "
                "năm 2030 của Nghị quyết 57 là gì?»."
            )
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
        with self.library.store.foreground():  # indexing helpers pause while a question is answered
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
        with self.library.store.foreground():  # the retrieval, not the (possibly long) generation
            p = self.prepare(question, history, filters, principal)
        if not p.decision.answer:
            answer = self._abstain(p.question, p.rewritten, p.hits)
            yield StreamEvent("delta", answer.text)
        else:
            stream = self.generator.stream(p.focused, p.hits)
            pieces: list[str] = []
            emitted = ""
            checked_upto = 0
            while True:
                try:
                    piece = next(stream)
                except StopIteration as stop:
                    # Every generator returns its whole draft (with the quotes it knows) when its stream ends.
                    draft = stop.value if isinstance(stop.value, Draft) else Draft("".join(pieces))
                    break
                pieces.append(piece)
                # Only verified text leaves: each complete sentence is checked before it is sent.
                ready = complete_part("".join(pieces))
                if len(ready) <= checked_upto:
                    continue
                checked_upto = len(ready)
                text = verify(ready, p.hits).text
                if len(text) > len(emitted) and text.startswith(emitted):
                    yield from _word_deltas(text[len(emitted) :])
                    emitted = text
            answer = self._finish(p.question, p.rewritten, p.hits, draft)
            if answer.text.startswith(emitted) and len(answer.text) > len(emitted):
                yield from _word_deltas(answer.text[len(emitted) :])
        yield StreamEvent("answer", answer=answer)
        yield StreamEvent("done")


def _word_deltas(text: str) -> Iterator[StreamEvent]:
    """Verified text as word-sized deltas, so a page shows it growing as it does with a model's tokens."""
    for piece in re.findall(r"\s*\S+", text):
        yield StreamEvent("delta", piece)
    if text and text[-1].isspace():
        yield StreamEvent("delta", text[len(text.rstrip()) :])


def _layout_only(text: str) -> bool:
    """A paragraph of layout lines only (banner, signature, dateline); a table's column names stay, as the
    context of its rows."""
    return all(is_layout(line) and not is_table_header(line) for line in text.split("\n"))


def complete_part(text: str) -> str:
    """The part of a streamed draft whose sentences are complete: whole lines, then the sentences of the last
    line that another sentence follows (the last one may still grow, or its [n] marker may be on its way)."""
    text = MARKER_AFTER_END_RE.sub(lambda m: m.group(2) + m.group(1), text)
    cut = text.rfind("\n")
    head, last = (text[: cut + 1], text[cut + 1 :]) if cut >= 0 else ("", text)
    sentences = split_sentences(last)
    if len(sentences) < 2:
        return head.rstrip("\n")
    return (head + last[: sentences[-1].start]).rstrip()


def _first(extra: Sequence[Hit], hits: Sequence[Hit]) -> list[Hit]:
    """`extra` then the hits not among them, ranked 1..n."""
    ids = {h.paragraph_id for h in extra}
    merged = [*extra, *(h for h in hits if h.paragraph_id not in ids)]
    return [replace(h, rank=i) for i, h in enumerate(merged, start=1)]


def _doc_label(hit: Hit) -> str:
    parts = [hit.title]
    meta = ", ".join(x for x in (hit.number, hit.issued) if x)
    return f"{parts[0]} ({meta})" if meta else parts[0]
