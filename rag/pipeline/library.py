"""An index directory with its documents: the ingest workflow and catalog access.

`Library` ties the stages together for callers (CLI, service, evaluation): files are parsed
(`rag.ingest`), analysed (`rag.text`), and committed to the catalog (`rag.index`), one document per
transaction. One bad file never stops a batch and never leaves half a document behind.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import default_index_dir, default_store
from rag.errors import InvalidRequest, ParseError, VanKienError
from rag.index.catalog import CATALOG_FILE
from rag.index.durable import pause_point
from rag.index.embedders import NO_EMBEDDER
from rag.index.lexical import BM25Params
from rag.index.pg_catalog import open_catalog
from rag.index.store import LEXICAL_DIR, MANIFEST_FILE, IndexStore, vectors_on_disk
from rag.ingest import parse_file
from rag.ingest.common import Unchanged
from rag.ingest.isolate import parse_file_isolated
from rag.progress import NoProgress, Progress
from rag.retrieve.retrievers import make_retriever
from rag.text.document import AnalysedDoc, analyse
from rag.text.ids import doc_id_suffix, paragraph_id
from rag.types import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    DocumentInfo,
    Filters,
    Hit,
    IngestResult,
    Paragraph,
    Principal,
    RawDocument,
    SourceDoc,
    classification_rank,
)

logger = logging.getLogger(__name__)


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
            found: list[Path] = []
            for folder, dirs, files in os.walk(path):
                here = Path(folder)
                # Hidden folders and Văn Kiện indexes ("vankien ingest ." with the default ./index) are not sources.
                dirs[:] = [d for d in dirs if not d.startswith(".") and not _is_index(here / d)]
                found.extend(here / f for f in files if not f.startswith("."))
            for child in sorted(found):
                if any(child.match(p) for p in patterns):
                    continue
                if child.is_file():
                    yield child
        elif path.is_file():
            yield path
        else:
            yield IngestResult(str(path), "rejected", "Không tìm thấy tệp hoặc thư mục.")


def _is_index(folder: Path) -> bool:
    """Whether `folder` holds a Văn Kiện index: its catalog, or the search indexes of a replica whose catalog is in
    PostgreSQL."""
    return (folder / CATALOG_FILE).is_file() or ((folder / MANIFEST_FILE).is_file() and (folder / LEXICAL_DIR).is_dir())


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
    raw: RawDocument, analysed: AnalysedDoc, doc_id: str, classification: str, ingested_by: str = "cli"
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
        ingested_by=ingested_by,
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


@contextmanager
def _stage(bar: Progress, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback (done, todo) that starts `bar` on its first call and finishes it at the end."""
    started = False
    last = 0

    def step(done: int, todo: int) -> None:
        nonlocal started, last
        if not started:
            bar.start(todo, label, "đoạn")
            started = True
        bar.advance(done - last)
        last = done

    try:
        yield step
    finally:
        if started:
            bar.finish()


class Library:
    """An index directory: its catalog of documents and paragraphs.

    Args:
        index_dir: where the index lives (default: `$VANKIEN_INDEX` or ./index).
        create: create an empty index when none exists; with False a missing index is a `StoreError`.
        embedder: embedder spec for a new index (None: `DEFAULT_EMBEDDER`, or the one an existing index has).
        lexical_params: BM25 constants for a new index (None: the defaults, or those an existing index has).
        isolate: parse files in worker processes under time and memory limits (`rag.ingest.isolate`); False
            parses in this process (tests that patch a parser, tools that cannot start processes).
        background_vectors: `ingest` returns once documents are committed and searchable lexically, and their
            vectors are computed by a background thread (the service); False: `ingest` embeds them before it
            returns, with its own progress bar (the CLI).
        offload: tokenise and embed new paragraphs in helper processes at idle CPU priority (`IndexStore.offload`:
            the service, whose searches must not wait for an ingest); False: in this process.
        store: where documents are stored: None for `$VANKIEN_STORE`, and when that is unset the catalog inside
            `index_dir` (SQLite); a postgresql:// URI for a database shared by API replicas (docs/scale.md), the
            index directory then holding this process's search indexes, rebuilt from the database when missing.
        read_store: a streaming replica of that database for reads (None: `$VANKIEN_STORE_READ`, else the primary).
    """

    def __init__(
        self,
        index_dir: Path | None = None,
        *,
        create: bool = True,
        embedder: str | None = None,
        lexical_params: BM25Params | None = None,
        isolate: bool = True,
        background_vectors: bool = False,
        offload: bool = False,
        store: str | None = None,
        read_store: str | None = None,
    ) -> None:
        self.index_dir = index_dir or default_index_dir()
        env_store, env_read = default_store()
        self.store_url = store or env_store
        self.read_store_url = (read_store or env_read) if self.store_url else None
        self.isolate = isolate
        self.background_vectors = background_vectors
        self.offload = offload
        self.catalog = open_catalog(self.index_dir, self.store_url, self.read_store_url, create=create)
        self._embedder = embedder
        self._lexical_params = lexical_params
        self._store: IndexStore | None = None

    @property
    def store(self) -> IndexStore:
        """The search indexes, loaded on first use (listing documents does not need them)."""
        if self._store is None:
            self._store = IndexStore(
                self.index_dir, embedder=self._embedder, catalog=self.catalog, lexical_params=self._lexical_params
            )
            # the service's searches leave catching up with other processes' commits to a background thread
            self._store.background_sync = self.background_vectors
            if self.offload:
                self._store.offload()
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.stop_vector_worker()
            for helper in self._store.helpers():
                helper.close()
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
        ingested_by: str = "cli",
        *,
        commit_only: bool = False,
        records: tuple[int, int] | None = None,
        force: bool = False,
    ) -> IngestReport:
        """Ingest files and folders; idempotent.

        Each document is committed on its own; re-ingesting an unchanged source changes nothing, a
        changed one replaces its earlier version in one transaction. `ingested_by` is recorded with each
        document (provenance: "cli", or the uploading key as "key:<id> (<name>)").

        Args:
            commit_only: commit to the catalog and stop: the search indexes are neither loaded nor brought up to
                date (another process, the service, applies the catalog's changes). For an ingest child process.
            records: only the documents `start..stop-1` of each file (the records of a .jsonl; a work unit of a
                large upload); None: all.
            force: analyse and commit even sources whose content is unchanged (re-ingesting after the parser or
                the analysis changed); their documents are replaced under the same ids.

        Raises:
            InvalidRequest: for an unknown classification (nothing is ingested then).
        """
        if classification not in CLASSIFICATIONS:
            raise InvalidRequest(
                f"unknown classification {classification!r}",
                f"Mức phân loại '{classification}' không hợp lệ; chọn một trong: {', '.join(CLASSIFICATIONS)}.",
            )
        bar = progress or NoProgress()
        store = None if commit_only else self.store  # fails early when the index was built with another embedder
        items = list(collect_files(paths, exclude))
        bar.start(sum(_units(i) if isinstance(i, Path) else 1 for i in items), "Nạp tài liệu")
        report = IngestReport()
        try:
            for item in items:
                if isinstance(item, IngestResult):
                    report.results.append(item)
                    bar.advance()
                    continue
                report.results.extend(self._ingest_file(item, classification, ingested_by, records, force))
                bar.advance(_units(item))
        finally:
            bar.finish()
        if not commit_only:
            self.refresh(progress)
        del store
        return report

    def refresh(self, progress: Progress | None = None) -> None:
        """Bring the search indexes up to the catalog and save their snapshots: the lexical index first (the
        documents are searchable from then on), then the vectors, in the foreground with their own progress bar
        or, with `background_vectors`, in a background thread."""
        store = self.store
        last_change = store.catalog.last_change()
        if last_change == store.applied and (store.vectors is None or last_change == store.vectors_applied):
            if store.unsaved():  # built or caught up while opening (a new replica's first start): kept for the next
                store.save(vectors=not self.background_vectors)
            return
        bar = progress or NoProgress()
        if last_change != store.applied:
            with _stage(bar, "Lập chỉ mục") as step:
                store.sync(step)
        if self.background_vectors:
            store.save(vectors=False)  # never waits for a vector run in progress; the worker saves its own
            store.start_vector_worker()
            return
        with _stage(bar, "Nhúng vectơ") as step:
            store.sync_vectors(step, checkpoint=True)
        store.save()

    def _ingest_file(
        self,
        path: Path,
        classification: str,
        ingested_by: str = "cli",
        records: tuple[int, int] | None = None,
        force: bool = False,
    ) -> list[IngestResult]:
        def known(source_key: str, sha256: str) -> bool:
            if force:
                return False
            state = self.catalog.source_state(source_key)
            return state is not None and state.sha256 == sha256 and state.classification == classification

        try:
            if self.isolate:
                parsed = parse_file_isolated(path, known, records=records)
            else:
                parsed = parse_file(path, known, records)
        except ParseError as exc:
            logger.info("rejected %s: %s", path, exc)
            return [IngestResult(str(path), "rejected", exc.user_message)]
        except Exception as exc:  # never let one file stop the batch
            logger.exception("unexpected failure parsing %s", path)
            return [IngestResult(str(path), "rejected", f"Lỗi không mong đợi khi đọc tệp ({type(exc).__name__}).")]
        if not parsed:
            if records is not None and records[0] > 0:
                return []  # a work unit past the file's last document
            return [IngestResult(str(path), "rejected", "Tệp không có nội dung văn bản.")]
        results = []
        for entry in parsed:
            if isinstance(entry, ParseError):
                results.append(IngestResult(str(path), "rejected", entry.user_message))
            elif isinstance(entry, Unchanged):
                results.append(self._unchanged(entry.source_key, entry.path))
            else:
                results.append(self.ingest_raw(entry, classification, ingested_by, force=force))
        return results

    def _unchanged(self, source_key: str, path: str) -> IngestResult:
        label = path if "#" not in source_key else f"{path}#{source_key.rsplit('#', 1)[1]}"
        state = self.catalog.source_state(source_key)
        doc_id = state.doc_id if state else None
        return IngestResult(label, "unchanged", "", doc_id, self.catalog.paragraph_count(doc_id) if doc_id else 0)

    def ingest_raw(
        self,
        raw: RawDocument,
        classification: str = DEFAULT_CLASSIFICATION,
        ingested_by: str = "cli",
        *,
        force: bool = False,
    ) -> IngestResult:
        """Commit one parsed document (unchanged sources are left alone unless `force`)."""
        label = raw.path if "#" not in raw.source_key else f"{raw.path}#{raw.source_key.rsplit('#', 1)[1]}"
        state = self.catalog.source_state(raw.source_key)
        unchanged = state is not None and state.sha256 == raw.sha256 and state.classification == classification
        if unchanged and not force:
            return self._unchanged(raw.source_key, raw.path)
        try:
            analysed = analyse(raw)
            if state is not None and state.classification == classification:
                doc_id = state.doc_id  # a new version keeps its id
            else:  # the id depends only on documents of the same classification (`doc_id_suffix`)
                doc_id = self.catalog.free_doc_id(analysed.base_id, doc_id_suffix(classification))
            doc, paragraphs = build_document(raw, analysed, doc_id, classification, ingested_by)
            status = self.catalog.put_document(doc, paragraphs)
        except VanKienError as exc:
            logger.info("rejected %s: %s", label, exc)
            return IngestResult(label, "rejected", exc.user_message)
        except Exception as exc:
            logger.exception("unexpected failure ingesting %s", label)
            return IngestResult(label, "rejected", f"Lỗi không mong đợi khi phân tích tài liệu ({type(exc).__name__}).")
        # Logged only once the transaction is durable: tools/kill_ingest.py holds a killed ingest to these lines.
        logger.info("committed %s as %s (%s, %d paragraphs)", label, doc.doc_id, status, len(paragraphs))
        pause_point("ingest.committed")
        note = "; ".join(raw.warnings)
        return IngestResult(label, status, note, doc.doc_id, len(paragraphs))

    def pending_vectors(self) -> int:
        """Paragraphs still waiting for their vectors: from the open store's cursor, or else from the saved
        snapshot's generation (without loading the indexes); 0 for an index without an embedder."""
        if self._store is not None:
            return self._store.pending_vectors()
        generation = vectors_on_disk(self.index_dir)
        if generation is None:
            recorded = self.catalog.get_meta("embedder")
            if recorded in (None, NO_EMBEDDER):
                return 0
            generation = 0
        return self.catalog.paragraphs_added_since(generation)

    # -- catalog access ---------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return self.catalog.documents()

    def document(self, doc_id: str) -> SourceDoc:
        return self.catalog.document(doc_id)

    def number_conflicts(self, doc: SourceDoc, principal: Principal | None = None) -> list[SourceDoc]:
        """Earlier documents that `principal` may see (None: all) and that carry `doc`'s số/ký hiệu but differ in
        issuer or in who ingested them: `doc` may be a forgery of one of them, or they of it (shown as a warning,
        never silently treated as the same document). Copies from the same ingester and issuer are not listed."""
        if not doc.number:
            return []
        top = classification_rank(principal.clearance if principal is not None else CLASSIFICATIONS[-1])
        return [
            other
            for other in self.catalog.earlier_with_number(doc.number, doc.doc_id)
            if classification_rank(other.classification) <= top
            and ((other.issuer or "") != (doc.issuer or "") or other.ingested_by != doc.ingested_by)
        ]

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
        with self.store.foreground():
            return make_retriever(mode, self.store).retrieve(query, k, filters, principal)

    def check(self) -> list[str]:
        """Integrity problems of the index (empty when sound)."""
        return self.catalog.integrity_problems()
