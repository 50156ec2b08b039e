"""The library's front door: an index directory with its documents, and the ingest workflow.

`Library` ties the stages together for callers (CLI, service, evaluation): files are parsed
(`rag.ingest`), analysed (`rag.text`), and committed to the catalog (`rag.index`), one document per
transaction. One bad file never stops a batch and never leaves half a document behind.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from rag.answer.abstain import AbstentionModel, Decision, default_model
from rag.answer.citations import verify
from rag.answer.conversation import focus, needs_context, rewrite
from rag.answer.generate import Draft, ExtractiveGenerator, Generator
from rag.answer.question import analyse_question
from rag.config import default_index_dir
from rag.errors import InvalidRequest, ParseError, StoreError, VanKienError
from rag.index.catalog import Catalog
from rag.index.store import IndexStore, pause_point
from rag.ingest import parse_file, supported_extensions
from rag.ingest.common import Unchanged
from rag.ingest.isolate import parse_file_isolated
from rag.retrieve.query import check_query
from rag.retrieve.retrievers import Retriever, make_retriever
from rag.text.document import AnalysedDoc, analyse
from rag.text.ids import paragraph_id
from rag.types import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    Answer,
    DocumentInfo,
    Filters,
    Hit,
    IngestResult,
    Paragraph,
    Principal,
    RawDocument,
    SourceDoc,
)

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives progress of a long operation (the CLI shows a bar; the service records a status).

    `start` may be called again for a new phase (parsing documents, then indexing paragraphs); `unit` names
    what is counted, for display.
    """

    def start(self, total: int, label: str, unit: str = "tài liệu") -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    def start(self, total: int, label: str, unit: str = "tài liệu") -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(slots=True)
class IngestReport:
    """Per-source results of an ingest run and their counts by status."""

    results: list[IngestResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.status for r in self.results)
        return {status: counts.get(status, 0) for status in ("ok", "unchanged", "replaced", "rejected")}


#: Files skipped inside folders (a folder's own notes, not documents); naming such a file explicitly ingests it.
FOLDER_SKIP = ("README*", "LICENSE*", "SOURCE.txt", "*.tmp", "~$*")


def collect_files(paths: Iterable[Path], exclude: Sequence[str] = ()) -> Iterator[Path | IngestResult]:
    """Expand folders (recursively, sorted, hidden entries skipped); report paths that do not exist.

    Args:
        paths: files and folders.
        exclude: glob patterns matched against file names inside folders ("*.bak"), besides `FOLDER_SKIP`.
    """
    patterns = (*FOLDER_SKIP, *exclude)
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or any(child.match(p) for p in patterns):
                    continue
                if child.is_file():
                    yield child
        elif path.is_file():
            yield path
        else:
            yield IngestResult(str(path), "rejected", "Không tìm thấy tệp hoặc thư mục.")


def _units(path: Path) -> int:
    """How many documents a file will probably yield (for the progress bar)."""
    if path.suffix.lower() == ".jsonl":
        try:
            with path.open("rb") as fh:
                return max(1, sum(1 for line in fh if line.strip()))
        except OSError:
            return 1
    return 1


def build_document(
    raw: RawDocument, analysed: AnalysedDoc, doc_id: str, classification: str
) -> tuple[SourceDoc, list[Paragraph]]:
    """Give an analysed document and its paragraphs their ids."""
    header = analysed.header
    doc = SourceDoc(
        doc_id=doc_id,
        source_key=raw.source_key,
        path=raw.path,
        fmt=raw.fmt,
        sha256=raw.sha256,
        title=analysed.title,
        doc_type=analysed.doc_type,
        number=header.number,
        issuer=header.issuer,
        issued=header.issued,
        place=header.place,
        summary=header.summary,
        classification=classification,
        text=analysed.text,
        metadata=dict(raw.metadata),
    )
    paragraphs = [
        Paragraph(
            paragraph_id=paragraph_id(doc_id, n),
            doc_id=doc_id,
            n=n,
            text=analysed.text[span.start : span.end],
            section=span.section,
            page=span.page,
            start=span.start,
            end=span.end,
            kind=span.kind,
        )
        for n, span in enumerate(analysed.spans)
    ]
    return doc, paragraphs


class Library:
    """An index directory: its catalog of documents and paragraphs.

    Args:
        index_dir: where the index lives (default: `$VANKIEN_INDEX` or ./index).
        create: create an empty index when none exists; with False a missing index is a `StoreError`.
        isolate: parse files in worker processes under time and memory limits (`rag.ingest.isolate`); False
            parses in this process (tests that patch a parser, tools that cannot start processes).
    """

    def __init__(
        self,
        index_dir: Path | None = None,
        *,
        create: bool = True,
        embedder: str | None = None,
        isolate: bool = True,
    ) -> None:
        self.index_dir = index_dir or default_index_dir()
        self.isolate = isolate
        self.catalog = Catalog.open(self.index_dir, create=create)
        self._embedder = embedder
        self._store: IndexStore | None = None

    @property
    def store(self) -> IndexStore:
        """The search indexes, loaded on first use (listing documents does not need them)."""
        if self._store is None:
            self._store = IndexStore(self.index_dir, embedder=self._embedder, catalog=self.catalog)
        return self._store

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest -----------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[Path],
        classification: str = DEFAULT_CLASSIFICATION,
        progress: Progress | None = None,
        exclude: Sequence[str] = (),
    ) -> IngestReport:
        """Ingest files and folders; idempotent.

        Each document is committed on its own; re-ingesting an unchanged source changes nothing, a
        changed one replaces its earlier version in one transaction.

        Raises:
            InvalidRequest: for an unknown classification (nothing is ingested then).
        """
        if classification not in CLASSIFICATIONS:
            raise InvalidRequest(
                f"unknown classification {classification!r}",
                f"Mức phân loại '{classification}' không hợp lệ; chọn một trong: {', '.join(CLASSIFICATIONS)}.",
            )
        bar = progress or _NoProgress()
        store = self.store  # fails early when the index was built with another embedder
        items = list(collect_files(paths, exclude))
        bar.start(sum(_units(i) if isinstance(i, Path) else 1 for i in items), "Nạp tài liệu")
        report = IngestReport()
        try:
            for item in items:
                if isinstance(item, IngestResult):
                    report.results.append(item)
                    bar.advance()
                    continue
                report.results.extend(self._ingest_file(item, classification))
                bar.advance(_units(item))
        finally:
            bar.finish()
        self.refresh(progress)
        del store
        return report

    def refresh(self, progress: Progress | None = None) -> None:
        """Bring the search indexes up to the catalog and save their snapshots."""
        store = self.store
        if store.catalog.last_change() == store.applied:
            return
        bar = progress or _NoProgress()
        started = False
        last = 0

        def step(done: int, todo: int) -> None:
            nonlocal started, last
            if not started:
                bar.start(todo, "Lập chỉ mục", "đoạn")
                started = True
            bar.advance(done - last)
            last = done

        try:
            store.sync(step)
        finally:
            if started:
                bar.finish()
        store.save()

    def _ingest_file(self, path: Path, classification: str) -> list[IngestResult]:
        def known(source_key: str, sha256: str) -> bool:
            state = self.catalog.source_state(source_key)
            return state is not None and state.sha256 == sha256 and state.classification == classification

        try:
            parsed = parse_file_isolated(path, known) if self.isolate else parse_file(path, known)
        except ParseError as exc:
            logger.info("rejected %s: %s", path, exc)
            return [IngestResult(str(path), "rejected", exc.user_message)]
        except Exception as exc:  # never let one file stop the batch
            logger.exception("unexpected failure parsing %s", path)
            return [IngestResult(str(path), "rejected", f"Lỗi không mong đợi khi đọc tệp ({type(exc).__name__}).")]
        if not parsed:
            return [IngestResult(str(path), "rejected", "Tệp không có nội dung văn bản.")]
        results = []
        for entry in parsed:
            if isinstance(entry, ParseError):
                results.append(IngestResult(str(path), "rejected", entry.user_message))
            elif isinstance(entry, Unchanged):
                results.append(self._unchanged(entry.source_key, entry.path))
            else:
                results.append(self.ingest_raw(entry, classification))
        return results

    def _unchanged(self, source_key: str, path: str) -> IngestResult:
        label = path if "#" not in source_key else f"{path}#{source_key.rsplit('#', 1)[1]}"
        state = self.catalog.source_state(source_key)
        doc_id = state.doc_id if state else None
        return IngestResult(label, "unchanged", "", doc_id, self.catalog.paragraph_count(doc_id) if doc_id else 0)

    def ingest_raw(self, raw: RawDocument, classification: str = DEFAULT_CLASSIFICATION) -> IngestResult:
        """Commit one parsed document (unchanged sources are left alone)."""
        label = raw.path if "#" not in raw.source_key else f"{raw.path}#{raw.source_key.rsplit('#', 1)[1]}"
        state = self.catalog.source_state(raw.source_key)
        if state is not None and state.sha256 == raw.sha256 and state.classification == classification:
            return self._unchanged(raw.source_key, raw.path)
        try:
            analysed = analyse(raw)
            doc_id = state.doc_id if state is not None else self.catalog.free_doc_id(analysed.base_id)
            doc, paragraphs = build_document(raw, analysed, doc_id, classification)
            status = self.catalog.put_document(doc, paragraphs)
        except VanKienError as exc:
            logger.info("rejected %s: %s", label, exc)
            return IngestResult(label, "rejected", exc.user_message)
        except Exception as exc:
            logger.exception("unexpected failure ingesting %s", label)
            return IngestResult(label, "rejected", f"Lỗi không mong đợi khi phân tích tài liệu ({type(exc).__name__}).")
        # Logged only once the transaction is durable: scripts/kill_ingest.py holds a killed ingest to these lines.
        logger.info("committed %s as %s (%s, %d paragraphs)", label, doc.doc_id, status, len(paragraphs))
        pause_point("ingest.committed")
        note = "; ".join(raw.warnings)
        return IngestResult(label, status, note, doc.doc_id, len(paragraphs))

    # -- catalog access ---------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.documents()

    def document(self, doc_id: str) -> SourceDoc:
        return self.catalog.document(doc_id)

    def paragraphs(self, doc_id: str) -> list[Paragraph]:
        return self.catalog.paragraphs(doc_id)

    def paragraph(self, paragraph_id_: str) -> Paragraph:
        return self.catalog.paragraph(paragraph_id_)

    def remove(self, doc_id: str) -> None:
        """Delete a document (search indexes catch up from the catalog's change log).

        Raises:
            NotFound: if there is no such document.
        """
        self.catalog.remove_document(doc_id)
        if self._store is not None:
            self._store.sync()

    # -- search -----------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        principal: Principal | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The k paragraphs that best match `query` (see `rag.retrieve.retrievers.Retriever`)."""
        return make_retriever(mode, self.store).retrieve(query, k, filters, principal)

    def check(self) -> list[str]:
        """Integrity problems of the index (empty when sound)."""
        return self.catalog.integrity_problems()


__all__ = [
    "IngestReport",
    "Library",
    "Progress",
    "StoreError",
    "build_document",
    "collect_files",
    "supported_extensions",
]


# -- question answering -------------------------------------------------------------------------------

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
            pieces: list[str] = []
            for piece in self.generator.stream(p.focused, p.hits):
                pieces.append(piece)
                yield StreamEvent("delta", piece)
            # The extractive generator knows its quotes; for others the streamed text is the draft.
            if self.generator.name == "extractive":
                draft = self.generator.generate(p.focused, p.hits)
            else:
                draft = Draft("".join(pieces))
            answer = self._finish(p.question, p.rewritten, p.hits, draft)
        yield StreamEvent("answer", answer=answer)
        yield StreamEvent("done")


def _doc_label(hit: Hit) -> str:
    parts = [hit.title]
    meta = ", ".join(x for x in (hit.number, hit.issued) if x)
    return f"{parts[0]} ({meta})" if meta else parts[0]


def answer_to_dict(answer: Answer) -> dict[str, object]:
    """The contract's JSON form of an answer (`vankien ask --json`, `POST /api/v1/ask`)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [
            {
                "marker": c.marker,
                "doc_id": c.hit.doc_id,
                "paragraph_id": c.hit.paragraph_id,
                "title": c.hit.title,
                "number": c.hit.number,
                "issued": c.hit.issued,
                "section": c.hit.paragraph.section,
                "quote": c.quote,
                "text": c.hit.paragraph.text,
                "quote_start": c.quote_start,
                "page": c.hit.paragraph.page,
                "type": c.hit.doc_type,
                "issuer": c.hit.issuer,
            }
            for c in answer.citations
        ],
        "rewritten_question": answer.rewritten_question,
        "nearest": [
            {
                "doc_id": h.doc_id,
                "title": h.title,
                "number": h.number,
                "issued": h.issued,
                "paragraph_id": h.paragraph_id,
            }
            for h in answer.nearest
        ],
    }
