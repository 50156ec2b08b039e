"""One index directory: the catalog plus the derived lexical and vector indexes, kept in step.

The catalog (SQLite) is the single commit point. Every catalog change appends to its change log; `sync`
replays the changes the derived indexes have not seen yet, in order, so a search always reflects the
catalog's last committed state (a document ingested by another process becomes searchable at the next
search, without a restart). Snapshots of the derived indexes are saved with the change number they include
(their generation); after a crash, loading the last snapshot and replaying the log from its generation
restores them exactly.

Progressive vectors: `sync` keeps the lexical index (and the table of what may be searched) up with the catalog;
the vector index follows its own cursor in `sync_vectors`, run in the foreground (`vankien ingest`, with its own
progress bar) or by a background thread (`start_vector_worker`, the service), so a new document is searchable
lexically as soon as it is committed and joins the dense side when its vectors are ready. `pending_vectors()` says
how many paragraphs still wait. The vector snapshot is saved with its own generation (every
`VECTOR_CHECKPOINT` paragraphs during a long run, and at the end), so after a crash only the paragraphs past it
are embedded again; nothing committed is lost, since the catalog is the truth.

Threads: a search holds `reading()` (shared) from computing what its caller may see until its hits are built;
`sync` and `sync_vectors` prepare each batch of changes (reading the catalog, tokenising, embedding) without
blocking searches and then apply it exclusively, a replaced document's removal and addition together. A search
therefore sees a document wholly before or wholly after a change, and a restricted version can never slip past an
access check computed before it arrived. Lock order: `_lock` (lexical sync), `_vlock` (vector sync), then the
directory's file lock.

Files:
    catalog.sqlite        the catalog (WAL mode)
    lexical/              `LexicalIndex` snapshot
    vectors/              `VectorIndex` snapshot (absent when the index has no embedder)
    manifest.json         what the snapshots are: embedder, each derived index's format and generation
    lock                  serialises snapshot writers across processes
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import numpy as np
import numpy.typing as npt

from rag.errors import EmbedderMismatch, IndexMismatch, InvalidRequest, StoreError
from rag.index.catalog import Catalog, Change
from rag.index.context import HeadingTracker, lexical_title
from rag.index.durable import PRIVATE_FILE, fsync_dir, pause_point, private_dir, write_atomic
from rag.index.embedders import DEFAULT_EMBEDDER, NO_EMBEDDER
from rag.index.memory import release_free_memory
from rag.index.text_similarity import TextSimilarity
from rag.types import CLASSIFICATIONS, DOC_TYPES, Filters, Hit, Paragraph, Principal, classification_rank

if TYPE_CHECKING:
    from rag.index.embedders import Embedder
    from rag.index.lexical import BM25Params, LexicalIndex
    from rag.index.offload import ForegroundGate, IndexingHelper
    from rag.index.pg_catalog import PgCatalog
    from rag.index.vectors import VectorIndex

logger = logging.getLogger(__name__)

#: Paragraphs added to the derived indexes per batch while replaying the change log (bounds peak memory).
SYNC_BATCH = 20_000
#: Paragraphs embedded per batch by `sync_vectors` (the unit of progress, and of work lost to a stop request).
VECTOR_BATCH = 256
#: A long vector run saves the vector snapshot after this many paragraphs (what a crash can cost to redo).
VECTOR_CHECKPOINT = 4096
#: After a sync that added at least this many paragraphs, free memory goes back to the system (`rag.index.memory`).
RELEASE_AFTER = 1000
#: With `background_sync`, the catch-up thread applies another process's commits at most this often (seconds).
CATCH_UP_INTERVAL = 1.0
LEXICAL_DIR, VECTORS_DIR, LOCK_FILE, MANIFEST_FILE = "lexical", "vectors", "lock", "manifest.json"
#: Version of the top-level manifest's layout.
MANIFEST_VERSION = 1
_META_EMBEDDER = "embedder"

Int64Array = npt.NDArray[np.int64]
SyncProgress = Callable[[int, int], None]


class SharedLock:
    """Many readers or one writer; a waiting writer keeps new readers out (a stream of searches cannot starve it).

    Reentrant for readers: a thread already reading may read again even while a writer waits.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0
        self._mine = threading.local()
        #: Seconds new readers were kept out by each of the last exclusive sections: from the writer's arrival
        #: (it waits for the readers inside) to its release. What an ingest can cost a search
        #: (tools/exclusive_section.py).
        self.blocked: deque[float] = deque(maxlen=10_000)

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = getattr(self._mine, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._waiting:
                    self._cond.wait()
                self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    if self._readers == 0:
                        self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        arrived = time.perf_counter()
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self.blocked.append(time.perf_counter() - arrived)
                self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class Batch:
    """Paragraphs on their way into the derived indexes: pids (ascending), texts, the indexed context
    (`lexical_title`: document title, number and section headings) and the classification rank of each (empty:
    all public)."""

    pids: list[int]
    texts: list[str]
    titles: list[str]
    levels: list[int] = field(default_factory=list)


class DerivedIndex(Protocol):
    """One index derived from the catalog (lexical, vectors, later others); the catalog stays the truth.

    Contract: `prepare(batch)` computes the expensive part of adding (tokens, vectors) without any lock, while
    searches go on; `add(batch, prepared)` and `remove(pids)` change the in-memory index while the store holds its
    exclusive lock, and must be quick; `maintain()` does the housekeeping they leave (merges) after that lock is
    released, with searches going on; `save(directory, generation)` writes a crash-safe snapshot that includes
    every catalog change up to `generation`; `generation` is that of the snapshot loaded or last saved (0 for
    none); `describe()` is this index's entry in the store's top-level manifest. `name` is its subdirectory.
    """

    name: str

    @property
    def generation(self) -> int: ...

    def prepare(self, batch: Batch) -> Any: ...

    def add(self, batch: Batch, prepared: Any) -> None: ...

    def remove(self, pids: Int64Array) -> None: ...

    def maintain(self) -> None: ...

    def save(self, directory: Path, generation: int) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class LexicalPart:
    """The lexical (BM25) index as a `DerivedIndex`."""

    name = LEXICAL_DIR

    def __init__(self, index: LexicalIndex) -> None:
        self.index = index
        #: Tokenise in this helper process rather than here (`IndexStore.offload`).
        self.helper: IndexingHelper | None = None

    @property
    def generation(self) -> int:
        return self.index.generation

    def prepare(self, batch: Batch) -> Any:
        if self.helper is not None:
            tokens = self.helper.tokenize(batch.texts, batch.titles)
        else:
            tokens = self.index.tokenize(batch.texts, batch.titles)
        return self.index.build(batch.pids, tokens, batch.levels or None)  # the segments, ready to attach

    def add(self, batch: Batch, prepared: Any) -> None:
        self.index.attach(prepared, maintain=False)

    def remove(self, pids: Int64Array) -> None:
        self.index.remove(pids.tolist(), maintain=False)

    def maintain(self) -> None:
        self.index.maintain()

    def save(self, directory: Path, generation: int) -> None:
        self.index.save(directory, generation)

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict

        from rag.index.lexical import FORMAT_VERSION
        from rag.text.tokenize import TOKENIZER_VERSION

        return {
            "format": FORMAT_VERSION,
            "tokenizer": TOKENIZER_VERSION,
            "params": asdict(self.index.params),
            "generation": self.generation,
        }


class VectorPart:
    """The FAISS vector index and the embedder that fills it, as a `DerivedIndex`."""

    name = VECTORS_DIR

    def __init__(self, index: VectorIndex, embedder: Embedder, shared: PgCatalog | None = None) -> None:
        self.index = index
        self.embedder = embedder
        #: Embed documents in this helper process rather than here (`IndexStore.offload`); queries stay here.
        self.helper: IndexingHelper | None = None
        #: A catalog that stores vectors for every replica: read from it what another process embedded already,
        #: and store there what is embedded here (`rag.index.pg_catalog`).
        self.shared = shared

    @property
    def generation(self) -> int:
        return self.index.generation

    def prepare(self, batch: Batch) -> Any:
        texts = [f"{title}\n{text}" for title, text in zip(batch.titles, batch.texts, strict=True)]
        if self.shared is None:
            return self._embed(texts)
        name, dim = self.embedder.name, self.embedder.dim
        known = self.shared.stored_vectors(batch.pids, name, dim)
        missing = [i for i, pid in enumerate(batch.pids) if pid not in known]
        matrix = np.empty((len(batch.pids), dim), dtype=np.float32)
        if missing:
            computed = np.asarray(self._embed([texts[i] for i in missing]), dtype=np.float32)
            levels = batch.levels or [0] * len(batch.pids)
            self.shared.store_vectors(
                [batch.pids[i] for i in missing], [levels[i] for i in missing], computed, name, dim
            )
            matrix[missing] = computed
        for i, pid in enumerate(batch.pids):
            if pid in known:
                matrix[i] = known[pid]
        return matrix

    def _embed(self, texts: list[str]) -> Any:
        if self.helper is not None:
            return self.helper.embed_documents(texts)
        return self.embedder.embed_documents(texts)

    def add(self, batch: Batch, prepared: Any) -> None:
        self.index.add(np.asarray(batch.pids, dtype=np.int64), prepared, levels=batch.levels or None)

    def remove(self, pids: Int64Array) -> None:
        self.index.remove(pids)

    def maintain(self) -> None:
        # A level's change of kind (flat -> ivf, a retrain: seconds to minutes at 10^5-10^6 vectors) is made by
        # the vector sync (`rebuild`), never in the lexical sync a request may be waiting for.
        return None

    def rebuild(self) -> None:
        """Give each level the FAISS index its size calls for (`VectorIndex.maintain`), searches going on."""
        self.index.maintain()

    def save(self, directory: Path, generation: int) -> None:
        self.index.save(directory, generation)

    def describe(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name, "dim": self.embedder.dim, "generation": self.generation}


@dataclass(frozen=True, slots=True)
class _PreparedAdds:
    """Paragraphs to add, with one derived index's expensive part computed before any lock is taken."""

    batch: Batch
    prepared: Any
    docs: dict[str, DocRow]
    per_doc: dict[str, list[int]]


class DocRow(NamedTuple):
    """What retrieval needs to know about a document without reading the catalog.

    `DocTable` keeps each as a plain tuple and makes the named one on access: the cyclic garbage collector stops
    tracking a plain tuple that holds only strings and None (not a subclass's instance, nor a dataclass's), so a
    table of many documents costs a full collection nothing (one pauses every thread, searches too: 39.6 -> 11.3 ms
    with 60,000 documents in memory)."""

    doc_id: str
    title: str
    number: str | None
    doc_type: str
    issuer: str | None
    issued: str | None
    classification: str


def _issued_ordinal(issued: str | None) -> int:
    if not issued:
        return -1
    try:
        return date.fromisoformat(issued).toordinal()
    except ValueError:
        return -1


#: Per document: type code, issue date ordinal, classification rank, still present.
_DocArrays = tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.bool_]]


class DocTable:
    """Per-paragraph document attributes as arrays, so filters become one vectorised mask.

    Paragraph ids only grow (the catalog never reuses them), so appending keeps `pids` sorted.
    """

    def __init__(self) -> None:
        self.pids: Int64Array = np.zeros(0, dtype=np.int64)
        self.doc_of: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        #: Per document, its `DocRow` as a plain tuple (see `DocRow`); None once removed.
        self._rows: list[tuple[Any, ...] | None] = []
        self.index_of: dict[str, int] = {}
        self._type: list[int] = []
        self._issued: list[int] = []
        self._rank: list[int] = []
        self._arrays: _DocArrays | None = None
        self._views: dict[int, tuple[Int64Array, npt.NDArray[np.int32]]] = {}
        self._numbered: list[tuple[str, str, int]] | None = None

    def __len__(self) -> int:
        return int(self.pids.size)

    def add(self, row: DocRow, pids: Sequence[int]) -> None:
        self.add_many([(row, pids)])

    def add_many(self, items: Sequence[tuple[DocRow, Sequence[int] | Int64Array]]) -> None:
        """Add documents with their paragraphs (a document already in the table is replaced). The arrays are
        extended once for the whole call: adding documents one by one would copy them once per document
        (quadratic: ~12,000 documents over a million paragraphs)."""
        if not items:
            return
        replaced = [self.index_of.pop(row.doc_id) for row, _ in items if row.doc_id in self.index_of]
        if replaced:
            for idx in replaced:
                self._rows[idx] = None
            keep = ~np.isin(self.doc_of, np.asarray(replaced, dtype=np.int32))
            self.pids, self.doc_of = self.pids[keep], self.doc_of[keep]
        new_pids: list[Int64Array] = []
        new_docs: list[npt.NDArray[np.int32]] = []
        for row, pids in items:
            prev = self.index_of.get(row.doc_id)
            if prev is not None:  # the same document twice in one call: the later one wins
                self._rows[prev] = None
                kept = [(p, d) for p, d in zip(new_pids, new_docs, strict=True) if not (d.size and d[0] == prev)]
                new_pids, new_docs = [p for p, _ in kept], [d for _, d in kept]
            idx = len(self._rows)
            self._rows.append(tuple(row))
            self.index_of[row.doc_id] = idx
            self._type.append(DOC_TYPES.index(row.doc_type) if row.doc_type in DOC_TYPES else -1)
            self._issued.append(_issued_ordinal(row.issued))
            self._rank.append(classification_rank(row.classification))
            new = np.asarray(pids, dtype=np.int64)
            new_pids.append(new)
            new_docs.append(np.full(new.size, idx, np.int32))
        self._arrays = None
        self._numbered = None
        self._views.clear()
        new = np.concatenate(new_pids)
        doc_of = np.concatenate(new_docs)
        if new.size > 1 and np.any(new[1:] < new[:-1]):
            order = np.argsort(new, kind="stable")
            new, doc_of = new[order], doc_of[order]
        if new.size and self.pids.size and new[0] <= self.pids[-1]:
            order = np.argsort(np.concatenate([self.pids, new]), kind="stable")
            self.pids = np.concatenate([self.pids, new])[order]
            self.doc_of = np.concatenate([self.doc_of, doc_of])[order]
        else:
            self.pids = np.concatenate([self.pids, new])
            self.doc_of = np.concatenate([self.doc_of, doc_of])

    def remove_doc(self, doc_id: str) -> None:
        idx = self.index_of.pop(doc_id, None)
        if idx is None:
            return
        self._rows[idx] = None
        keep = self.doc_of != idx
        self.pids, self.doc_of = self.pids[keep], self.doc_of[keep]
        self._arrays = None
        self._numbered = None
        self._views.clear()

    def numbered(self) -> list[tuple[str, str, int]]:
        """(doc_id, ký hiệu, classification rank) of every document with a number, cached until the documents
        change: every search asks for them, and a table of 60,000 news items holds few numbered documents."""
        if self._numbered is None:
            self._numbered = [
                (d.doc_id, d.number, classification_rank(d.classification)) for d in self.rows() if d.number
            ]
        return self._numbered

    def remove_pids(self, pid_min: int, pid_max: int) -> None:
        keep = (self.pids < pid_min) | (self.pids > pid_max)
        self.pids, self.doc_of = self.pids[keep], self.doc_of[keep]
        self._views.clear()

    def row_of(self, pid: int) -> DocRow | None:
        i = int(np.searchsorted(self.pids, pid))
        if i < self.pids.size and self.pids[i] == pid:
            return self.row(int(self.doc_of[i]))
        return None

    def row(self, index: int) -> DocRow | None:
        """The document at `index` (`index_of`), None once removed."""
        values = self._rows[index]
        return None if values is None else DocRow._make(values)

    def count_up_to(self, level: int) -> int:
        """How many documents of classification rank `level` or below the table holds."""
        _, _, rank, present = self._doc_arrays()
        return int(np.count_nonzero(present & (rank <= level)))

    def rows(self) -> Iterator[DocRow]:
        """Every document in the table."""
        return (DocRow._make(values) for values in self._rows if values is not None)

    def _doc_arrays(self) -> _DocArrays:
        if self._arrays is None:
            self._arrays = (
                np.asarray(self._type, dtype=np.int32),
                np.asarray(self._issued, dtype=np.int64),
                np.asarray(self._rank, dtype=np.int32),
                np.asarray([d is not None for d in self._rows], dtype=np.bool_),
            )
        return self._arrays

    def levels_of(self, pids: Int64Array) -> npt.NDArray[np.int64]:
        """The level (classification rank) of each pid; pids not in the table get the highest level."""
        ranks = self._doc_arrays()[2]
        out = np.full(pids.size, len(CLASSIFICATIONS) - 1, dtype=np.int64)
        if self.pids.size and pids.size:
            at = np.minimum(np.searchsorted(self.pids, pids), self.pids.size - 1)
            found = self.pids[at] == pids
            out[found] = ranks[self.doc_of[at[found]]]
        return out

    def _level_view(self, level: int) -> tuple[Int64Array, npt.NDArray[np.int32]]:
        """(pids, doc_of) of the paragraphs at levels 0..level, cached until the table changes: what a filtered
        search works through depends only on what its caller may see."""
        view = self._views.get(level)
        if view is None:
            keep = self._doc_arrays()[2][self.doc_of] <= level
            view = self._views[level] = (self.pids[keep], self.doc_of[keep])
        return view

    def allowed_within(self, filters: Filters, level: int) -> Int64Array | None:
        """Sorted pids at levels 0..`level` that pass `filters`, or None when every paragraph at those levels does
        (the searches then read those levels whole: `LexicalIndex.search` and `VectorIndex.search` take the
        level)."""
        if not (filters.doc_types or filters.issued_from or filters.issued_to or filters.doc_ids):
            return None
        types, issued, ranks, alive = self._doc_arrays()
        visible = alive & (ranks <= level)
        mask = visible & self._filter_mask(filters, types, issued)
        if mask[visible].all():
            return None
        pids, doc_of = self._level_view(level)
        return pids[mask[doc_of]] if pids.size else pids

    def _filter_mask(
        self, filters: Filters, types: npt.NDArray[np.int32], issued: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        mask = np.ones(len(self._rows), dtype=np.bool_)
        if filters.doc_types:
            codes = [DOC_TYPES.index(t) for t in filters.doc_types]
            mask &= np.isin(types, codes)
        if filters.issued_from:
            mask &= issued >= date.fromisoformat(filters.issued_from).toordinal()
        if filters.issued_to:
            mask &= (issued >= 0) & (issued <= date.fromisoformat(filters.issued_to).toordinal())
        if filters.doc_ids:
            wanted = np.zeros(len(self._rows), dtype=np.bool_)
            for doc_id in filters.doc_ids:
                i = self.index_of.get(doc_id)
                if i is not None:
                    wanted[i] = True
            mask &= wanted
        return mask

    def allowed(self, filters: Filters, clearance: str) -> Int64Array | None:
        """Sorted pids that pass `filters` and `clearance`, or None when every paragraph does."""
        types, issued, ranks, alive = self._doc_arrays()
        mask = alive & (ranks <= classification_rank(clearance)) & self._filter_mask(filters, types, issued)
        if mask[alive].all():
            return None
        return self.pids[mask[self.doc_of]] if self.pids.size else self.pids


def level_of(principal: Principal | None) -> int:
    """The highest classification rank a caller may see (None: local use, every level)."""
    return classification_rank(principal.clearance if principal is not None else CLASSIFICATIONS[-1])


def validate_filters(filters: Filters) -> Filters:
    """Check filter values; raise `InvalidRequest` with a Vietnamese message naming the bad one."""
    for t in filters.doc_types:
        if t not in DOC_TYPES:
            raise InvalidRequest(
                f"unknown doc type {t!r}", f"Loại văn bản '{t}' không hợp lệ; chọn trong: {', '.join(DOC_TYPES)}."
            )
    for name, value in (("issued_from", filters.issued_from), ("issued_to", filters.issued_to)):
        if value is not None:
            try:
                # Exactly YYYY-MM-DD: `fromisoformat` alone also takes "20250131" and week dates like "2025-W05-1".
                if len(value) != 10 or value[4] != "-" or value[7] != "-":
                    raise ValueError(value)
                date.fromisoformat(value)
            except ValueError:
                raise InvalidRequest(
                    f"bad date {name}={value!r}",
                    f"Ngày '{value}' không hợp lệ; dùng dạng NNNN-TT-NN (ví dụ 2025-01-31).",
                ) from None
    if filters.issued_from and filters.issued_to and filters.issued_from > filters.issued_to:
        raise InvalidRequest("issued_from after issued_to", "Khoảng ngày không hợp lệ: ngày bắt đầu sau ngày kết thúc.")
    return filters


_INDEX_BEHIND_MESSAGE = "Chỉ mục đang được cập nhật; hãy thử lại sau giây lát."


def resolve_embedder(catalog: Catalog | PgCatalog, spec: str | None) -> tuple[str, Embedder | None]:
    """The embedder an index uses: (its spec, the embedder; None for "none"). `spec` None means the one the catalog
    records, or `DEFAULT_EMBEDDER` for an empty catalog; the catalog records the one chosen.

    Raises:
        EmbedderMismatch: `spec` names another model than the catalog's documents were embedded with.
    """
    recorded = catalog.get_meta(_META_EMBEDDER)
    empty = catalog.last_change() == 0
    wanted = spec or recorded or DEFAULT_EMBEDDER
    if spec is not None and recorded is not None and not empty:
        from rag.index.embedders import same_model

        if same_model(spec, recorded):
            wanted = recorded
    embedder: Embedder | None = None
    if wanted != NO_EMBEDDER:
        from rag.index.embedders import make_embedder

        embedder = make_embedder(wanted)
    name = embedder.name if embedder is not None else NO_EMBEDDER
    if recorded is not None and recorded != name and not empty:
        raise EmbedderMismatch(
            f"index built with embedder {recorded!r}, asked for {name!r}",
            f"Chỉ mục được tạo bằng bộ nhúng '{recorded}', nhưng đang dùng '{name}'; hãy dùng đúng bộ nhúng "
            "hoặc xây lại chỉ mục vào một thư mục mới.",
            built_with=recorded,
            asked=name,
        )
    if recorded != name:
        catalog.set_meta(_META_EMBEDDER, name)
    return wanted, embedder


class IndexStore:
    """Catalog and the indexes derived from it (lexical, and vectors when there is an embedder), kept in step.

    The derived indexes are `DerivedIndex` parts, handled alike: loaded from their snapshots (or rebuilt from the
    catalog), updated by `sync`, saved by `save`, described in the top-level manifest (`manifest.json`). Retrievers
    read `lexical` and `vectors` directly.

    Args:
        index_dir: the index directory.
        embedder: embedder spec ("hash", "st:/path", "none"); None means the one the index was built with,
            or `DEFAULT_EMBEDDER` for a new index. Asking for another one than the index was built with is
            an `EmbedderMismatch` (rebuild into a new directory instead).
        create: create the directory and an empty catalog when missing.
        catalog: an already open catalog of `index_dir` to share (its owner closes it).
        lexical_params: BM25 constants for a lexical index built from scratch; None: the defaults, or those the
            index was built with. Others than an existing snapshot's are an `IndexMismatch`.
    """

    def __init__(
        self,
        index_dir: Path,
        *,
        embedder: str | None = None,
        create: bool = True,
        catalog: Catalog | PgCatalog | None = None,
        lexical_params: BM25Params | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.catalog: Catalog | PgCatalog = catalog or Catalog.open(index_dir, create=create)
        self._snapshots_usable = self._snapshots_match_catalog()
        self._lock = threading.RLock()  # one sync or save at a time
        self._vlock = threading.RLock()  # one vector sync at a time
        self._stop_vectors = threading.Event()
        self._vector_worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()  # starting the vector worker thread
        #: Searches bring the lexical index up to the catalog in a background thread rather than themselves (the
        #: service: a search must never do an ingest's work); False: inline (library and command-line use).
        self.background_sync = False
        self._catch_up_thread: threading.Thread | None = None
        self._maintenance_thread: threading.Thread | None = None
        self._catch_up_lock = threading.Lock()
        self._closing = threading.Event()  # set by `close`: the catch-up thread ends
        self.vector_error: str | None = None
        self._rw = SharedLock()  # searches share it; applying changes to the in-memory indexes takes it alone
        self._gate: ForegroundGate | None = None  # pauses the indexing helpers during requests (`offload`)
        #: change seq -> (first pid still to embed, the headings read so far) of a run that yielded or stopped
        self._vector_resume: dict[int, tuple[int, HeadingTracker | None]] = {}
        #: The vector work read from the catalog and not yet behind the cursor (`_read_vector_changes`): the
        #: changes by seq, their seqs in catalog order, the work order ((order key, seq), sorted), the changes done
        #: ahead of the cursor, and the last change read.
        self._vector_pending: dict[int, Change] = {}
        self._vector_seqs: deque[int] = deque()
        self._vector_queue: list[tuple[tuple[int, int, int, int], int]] = []
        self._vector_done: set[int] = set()
        self._vector_read = 0
        #: doc_id -> classification rank, for ordering the vector work (`_vector_keys`)
        self._vector_levels: dict[str, int] = {}
        self.embedder = self._resolve_embedder(embedder)
        self.lexical = self._load_lexical(lexical_params)
        self.vectors = self._load_vectors()
        self._lexical_part = LexicalPart(self.lexical)
        self._vector_part: VectorPart | None = None
        self.parts: list[DerivedIndex] = [self._lexical_part]
        if self.vectors is not None and self.embedder is not None:
            shared = cast("PgCatalog", self.catalog) if getattr(self.catalog, "shares_vectors", False) else None
            self._vector_part = VectorPart(self.vectors, self.embedder, shared)
            self.parts.append(self._vector_part)
        self.table = DocTable()
        self._headings_cache: dict[str, dict[str, str]] = {}
        self._text_similarity = TextSimilarity()
        self._applied = self._lexical_part.generation
        self._vectors_applied = self._vector_part.generation if self._vector_part is not None else 0
        self._fill_table()
        if self.vectors is not None and self.vectors.unlevelled:
            moved = self.vectors.assign_levels(self.table.levels_of)
            logger.info("vector snapshot of format 1: %d vectors moved to their classification level", moved)
        self.sync()

    # -- opening -----------------------------------------------------------------------------------

    def _resolve_embedder(self, spec: str | None) -> Embedder | None:
        self._embedder_spec, embedder = resolve_embedder(self.catalog, spec)
        return embedder

    def _load_lexical(self, params: BM25Params | None) -> LexicalIndex:
        from rag.index.lexical import LexicalIndex

        directory = self.index_dir / LEXICAL_DIR
        if self._snapshots_usable and (directory / "manifest.json").exists():
            try:
                index = LexicalIndex.load(directory)
            except StoreError as exc:
                logger.warning("lexical snapshot unusable (%s); rebuilding from the catalog", exc)
            else:
                if params is not None and index.params != params and self.catalog.last_change() > 0:
                    raise IndexMismatch(
                        f"lexical index built with {index.params}, asked for {params}",
                        "Chỉ mục từ khóa được xây với tham số BM25 khác cấu hình đang dùng; hãy bỏ bảng [lexical] "
                        "khỏi cấu hình hoặc xây lại chỉ mục vào một thư mục mới.",
                    )
                if index.generation <= self.catalog.last_change():
                    return index
                logger.warning("lexical snapshot is ahead of the catalog; rebuilding it")
        return LexicalIndex(params)

    def _load_vectors(self) -> VectorIndex | None:
        if self.embedder is None:
            return None
        from rag.index.vectors import MANIFEST, VectorIndex

        directory = self.index_dir / VECTORS_DIR
        if self._snapshots_usable and (directory / MANIFEST).exists():
            try:
                index = VectorIndex.load(directory, self.embedder.name, self.embedder.dim)
            except EmbedderMismatch:
                raise
            except StoreError as exc:
                logger.warning("vector snapshot unusable (%s); rebuilding from the catalog", exc)
            else:
                if index.generation <= self.catalog.last_change():
                    return index
                logger.warning("vector snapshot is ahead of the catalog; rebuilding it")
        return VectorIndex(self.embedder.dim, self.embedder.name)

    def _snapshots_match_catalog(self) -> bool:
        """Whether the saved snapshots were built from this catalog. A catalog in a shared database has an identity
        (`PgCatalog.identity`), recorded in the top-level manifest: a replica's folder of snapshots built from
        another database (or with no manifest saying which) is rebuilt from this one, never loaded. A local
        catalog has none: its snapshots live beside it."""
        identity = self.catalog.identity
        if not identity:
            return True
        try:
            recorded = json.loads((self.index_dir / MANIFEST_FILE).read_text(encoding="utf-8")).get("store")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded != identity:
            if (self.index_dir / LEXICAL_DIR).exists():
                logger.warning("snapshots in %s belong to another store; rebuilding them", self.index_dir)
            return False
        return True

    def _fill_table(self) -> None:
        rows = {attributes[0]: DocRow(*attributes) for attributes in self.catalog.document_attributes()}
        items: list[tuple[DocRow, Sequence[int] | Int64Array]] = []
        for doc_id, pids in self.catalog.doc_pids():
            row = rows.get(doc_id)
            if row is None:  # committed by another process between the two reads: its change is replayed below
                continue
            items.append((row, pids))
        self.table.add_many(items)
        # Paragraphs added after the snapshots were written must not be in the table twice: sync re-adds them.
        if self._applied < self.catalog.last_change():
            for change in self.catalog.changes_since(self._applied):
                if change.op == "add" and change.pid_min is not None and change.pid_max is not None:
                    self.table.remove_pids(change.pid_min, change.pid_max)

    # -- keeping up with the catalog -----------------------------------------------------------------

    def unsaved(self) -> bool:
        """Whether the lexical index holds changes its saved snapshot lacks (the snapshot is behind the catalog)."""
        return self._applied != self._lexical_part.generation

    @property
    def applied(self) -> int:
        """The last catalog change the lexical index (and what may be searched) includes."""
        return self._applied

    @property
    def vectors_applied(self) -> int:
        """The last catalog change the vector index includes (0 without vectors)."""
        return self._vectors_applied

    def exclusive_waits(self) -> list[float]:
        """Seconds each of the last exclusive sections kept searches out (`SharedLock.blocked`), oldest first."""
        return list(self._rw.blocked)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold while reading the derived indexes for one search: from the allowed set to the hits.

        A sync applies changes only while no search holds it, so everything read inside is one consistent state.
        Do not call `sync` or `save` inside.
        """
        with self._rw.shared():
            yield

    def catch_up(self) -> None:
        """Bring the search indexes up to changes another process committed to the catalog (an ingest child, a
        `vankien ingest` beside the service), for a search about to run.

        Inline without `background_sync` (the search then reads the new state; it does not wait for a sync that
        is already running). With it, a background thread does the work and the search reads the last applied
        state at once: a large document committed by another process never stalls searches while it is
        tokenised. Vectors follow in their own background worker when the store has one running."""
        if self.catalog.last_change() == self._applied:
            return
        if not self.background_sync:
            # The new paragraphs inline (a few, usually), the merges they call for in the background: a merge of
            # large segments takes seconds, and the search that found the change must not wait for it.
            if self.sync(wait=False, maintain=False):
                self._start_maintenance()
            return
        with self._catch_up_lock:
            if self._catch_up_thread is not None and self._catch_up_thread.is_alive():
                return
            self._catch_up_thread = threading.Thread(target=self._catch_up_work, name="vankien-catch-up", daemon=True)
            self._catch_up_thread.start()

    def _catch_up_work(self) -> None:
        """Apply the catalog's new changes, then again every `CATCH_UP_INTERVAL` while more keep coming.

        An ingest child commits a .jsonl record by record; a thread started by each search that saw a new commit
        applied ~70 paragraphs at a time, 3.6 times a second, each with its own catalog reads, tokenising round
        trip, exclusive step and merge planning. Paced, the commits of a second are applied together, and a
        search started meanwhile does not start another thread (it reads the last applied state)."""
        try:
            while True:
                started = time.monotonic()
                self.sync()
                if self.vectors is not None and self.catalog.last_change() != self._vectors_applied:
                    self.start_vector_worker()
                if self._closing.wait(max(0.0, CATCH_UP_INTERVAL - (time.monotonic() - started))):
                    return
                if self.catalog.last_change() == self._applied:
                    return
        except Exception:  # a background thread has no caller to tell; the next search tries again
            logger.exception("catching up with the catalog failed")

    def _start_maintenance(self) -> None:
        """Run the parts' `maintain` (merges) in a background thread, unless one is running already."""
        with self._catch_up_lock:
            if self._maintenance_thread is not None and self._maintenance_thread.is_alive():
                return
            thread = threading.Thread(target=self._maintenance_work, name="vankien-merge", daemon=True)
            self._maintenance_thread = thread
            thread.start()

    def _maintenance_work(self) -> None:
        try:
            for part in self.parts:
                part.maintain()
        except Exception:  # a background thread has no caller to tell; the next change plans the merges again
            logger.exception("merging index segments failed")

    def wait_for_maintenance(self, timeout: float | None = None) -> None:
        """Wait for background merges started by `catch_up` (tests, orderly shutdown)."""
        thread = self._maintenance_thread
        if thread is not None:
            thread.join(timeout)

    def sync(self, progress: SyncProgress | None = None, *, wait: bool = True, maintain: bool = True) -> int:
        """Apply the catalog changes the lexical index has not seen (vectors: `sync_vectors`).

        Each batch is prepared (catalog rows read, paragraphs tokenised and embedded) while searches go on, then
        applied exclusively with the removals that precede it, so a replaced document's old and new paragraphs
        never coexist, or both vanish, for a search.

        Args:
            progress: called with (paragraphs done, paragraphs to do) while adding.
            wait: when another thread is already syncing, wait for it (True) or return 0 at once (False: a
                search then reads the last applied state rather than queue behind an ingest).
            maintain: merge segments after each batch (True); False: the caller does (`catch_up` starts a
                background thread for it).

        Returns:
            The number of changes applied.
        """
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            changes = self.catalog.changes_since(self._applied)
            if not changes:
                return 0
            todo = sum(
                c.pid_max - c.pid_min + 1
                for c in changes
                if c.op == "add" and c.pid_min is not None and c.pid_max is not None
            )
            done = 0
            removes: list[Change] = []
            pending: list[tuple[int, int]] = []
            pending_size = 0
            for change in changes:
                if change.pid_min is None or change.pid_max is None:
                    continue
                if change.op == "remove":
                    removes.append(change)
                else:
                    pending.append((change.pid_min, change.pid_max))
                    pending_size += change.pid_max - change.pid_min + 1
                    if pending_size >= SYNC_BATCH:
                        done += self._apply(removes, pending, maintain=maintain)
                        removes, pending, pending_size = [], [], 0
                        if progress:
                            progress(done, todo)
            done += self._apply(removes, pending, maintain=maintain)
            if progress:
                progress(done, todo)
            self._applied = changes[-1].seq
            logger.info("applied %d catalog changes (%d paragraphs added)", len(changes), done)
            if done >= RELEASE_AFTER:
                release_free_memory()
            return len(changes)
        finally:
            self._lock.release()

    def _apply(self, removes: Sequence[Change], ranges: list[tuple[int, int]], *, maintain: bool = True) -> int:
        """Apply removals, then additions, as one step for searches.

        The order is safe because paragraph ids are never reused: a removal covers only ids already deleted from
        the catalog, and an addition adds only rows the catalog still holds.
        """
        prepared = self._prepare(ranges, self._lexical_part)
        if not removes and prepared is None:
            return 0
        pause_point("store.apply")
        with self._rw.exclusive():
            for change in removes:
                assert change.pid_min is not None and change.pid_max is not None
                self._remove_range(change.doc_id, change.pid_min, change.pid_max)
            if prepared is not None:
                self._lexical_part.add(prepared.batch, prepared.prepared)
                for doc_id in prepared.per_doc:
                    self._headings_cache.pop(doc_id, None)
                self.table.add_many([(prepared.docs[doc_id], pids) for doc_id, pids in prepared.per_doc.items()])
        if maintain:
            for part in self.parts:  # merges and rebuilds while searches go on
                part.maintain()
        return len(prepared.batch.pids) if prepared is not None else 0

    def _remove_range(self, doc_id: str, pid_min: int, pid_max: int) -> None:
        self._headings_cache.pop(doc_id, None)
        pids = np.arange(pid_min, pid_max + 1, dtype=np.int64)
        self._lexical_part.remove(pids)
        if self._vector_part is not None:
            # At once, not when the vector cursor gets there: ids are never reused, so removing early is safe,
            # and a removed (or replaced, restricted) paragraph must leave the dense side with the lexical one.
            self._vector_part.remove(pids)
        self.table.remove_pids(pid_min, pid_max)
        row = self.table.index_of.get(doc_id)
        if row is not None and not np.any(self.table.doc_of == row):
            self.table.remove_doc(doc_id)

    def _prepare(
        self,
        ranges: list[tuple[int, int]],
        part: DerivedIndex,
        first: int = 0,
        headings: HeadingTracker | None = None,
    ) -> _PreparedAdds | None:
        """Read the paragraphs in `ranges` from the catalog and prepare `part`'s additions of those from pid
        `first` on (no lock held). The rows before `first` are read only for the section headings above.
        `headings`: the tracker of the rows read before `ranges` (a document embedded batch by batch continues its
        headings instead of reading the document again from its start for every batch)."""
        if not ranges:
            return None
        rows = self.catalog.paragraph_rows(ranges)
        if not rows:
            return None
        docs: dict[str, DocRow] = {}
        batch = Batch([], [], [])
        headings = headings if headings is not None else HeadingTracker()
        per_doc: dict[str, list[int]] = {}
        for pid, doc_id, text, section, kind in rows:
            row = docs.get(doc_id)
            if row is None:
                d = self.catalog.document_info(doc_id)
                if d is None:  # removed by a later change in the same replay
                    continue
                row = docs[doc_id] = DocRow(
                    d.doc_id, d.title, d.number, d.doc_type, d.issuer, d.issued, d.classification
                )
            context = headings.context(doc_id, section, kind, text)
            if pid < first:
                continue
            batch.pids.append(pid)
            batch.texts.append(text)
            batch.titles.append(lexical_title(row, context))
            batch.levels.append(classification_rank(row.classification))
            per_doc.setdefault(doc_id, []).append(pid)
        if not batch.pids:
            return None
        return _PreparedAdds(batch, part.prepare(batch), docs, per_doc)

    # -- vectors, on their own cursor -----------------------------------------------------------------

    def pending_vectors(self) -> int:
        """Paragraphs committed to the catalog that still wait for their vectors (0 without an embedder).

        Counts the additions logged after the vector index's cursor; paragraphs removed since are counted until
        the vector sync passes their removal (an upper bound, exact once nothing is being removed)."""
        if self._vector_part is None:
            return 0
        return self.catalog.paragraphs_added_since(self._vectors_applied)

    def visible_counts(self, principal: Principal | None) -> tuple[int, int]:
        """(documents, paragraphs waiting for vectors) among what `principal` may see (None: everything).

        Counts of what a caller may see only: a restricted upload changes neither figure for a caller below it."""
        with self.reading():
            allowed = self.allowed(None, principal)
            top = level_of(principal)
            documents = self.table.count_up_to(top)
            if self.vectors is None:
                return documents, 0
            pids = self.table.pids if allowed is None else allowed
            done = self.vectors.ids()
            waiting = int(pids.size - np.count_nonzero(np.isin(pids, done, assume_unique=True)))
        return documents, waiting

    def sync_vectors(
        self,
        progress: SyncProgress | None = None,
        *,
        wait: bool = True,
        checkpoint: bool = True,
        yield_to_new: bool = False,
    ) -> int:
        """Embed the paragraphs the vector index has not seen and apply the catalog's changes to it.

        Batches of `VECTOR_BATCH` paragraphs are embedded without any lock searches need and applied in one brief
        exclusive step each. Pending changes are taken lowest classification level first, small ones (up to one
        batch) before large ones, then in catalog order (`_vector_order`): how soon a document becomes searchable
        by meaning then never depends on restricted text waiting above its level (docs/security.md), and a small
        upload does not wait for the embedding of a large one. A change that arrives during a run is taken at its
        place in that order (with `yield_to_new`: the background worker): the run returns after the current batch,
        and a large change resumes where it stopped. The cursor (`vectors_applied`) moves over the changes done
        without a gap; with `checkpoint`, the vector snapshot is saved after every `VECTOR_CHECKPOINT` paragraphs
        and at the end (a change done past the cursor is redone after a restart: adding a vector again replaces
        it). Stops early when `stop_vector_worker` is called.

        Args:
            progress: called with (paragraphs embedded, paragraphs to embed).
            wait: when another thread is already embedding, wait for it (True) or return 0 at once.
            checkpoint: save the vector snapshot as it goes (False: the caller saves).
            yield_to_new: return after the current batch when the catalog has a change this run did not read
                (False: embed everything read at the start, as `vankien ingest` does before it returns).

        Returns:
            The number of paragraphs embedded.
        """
        part = self._vector_part
        if part is None or not self._vlock.acquire(blocking=wait):
            return 0
        try:
            self._read_vector_changes()
            seen = self._vector_read
            todo = 0
            if progress:
                todo = sum(
                    c.pid_max - c.pid_min + 1
                    for c in self._vector_pending.values()
                    if c.op == "add" and c.pid_min is not None and c.pid_max is not None
                )
            done = since_saved = 0
            if progress and todo:
                progress(0, todo)
            queue = self._vector_queue
            while queue:
                if self._stop_vectors.is_set() or (yield_to_new and self.catalog.last_change() != seen):
                    break  # stopped, or a newer change may come first: the worker runs again
                group = self._small_additions(queue)
                if len(group) > 1:
                    # Short documents (the records of a .jsonl) share one batch: one call to the embedder and one
                    # brief exclusive step for up to VECTOR_BATCH paragraphs, not one each.
                    ranges = [(c.pid_min, c.pid_max) for c in group if c.pid_min is not None and c.pid_max is not None]
                    prepared = self._prepare(ranges, part)
                    if prepared is not None:
                        pause_point("store.vectors")
                        with self._rw.exclusive():
                            part.add(prepared.batch, prepared.prepared)
                        part.rebuild()
                    size = sum(hi - lo + 1 for lo, hi in ranges)
                    done += size
                    since_saved += size
                    del queue[: len(group)]
                    for c in group:
                        self._vector_finished(c.seq)
                    if progress:
                        progress(done, todo)
                    if checkpoint and since_saved >= VECTOR_CHECKPOINT:
                        self._save_vectors()
                        since_saved = 0
                    continue
                change = self._vector_pending[queue[0][1]]
                if change.pid_min is not None and change.pid_max is not None:
                    if change.op == "remove":
                        pids = np.arange(change.pid_min, change.pid_max + 1, dtype=np.int64)
                        with self._rw.exclusive():
                            part.remove(pids)
                    else:
                        start, headings = self._vector_resume.get(change.seq, (change.pid_min, None))
                        while start <= change.pid_max and not self._stop_vectors.is_set():
                            end = min(change.pid_max, start + VECTOR_BATCH - 1)
                            # The headings above the batch's first paragraph are context: read from the change's
                            # start once, then carried from batch to batch (re-reading was quadratic in the size).
                            if headings is None:
                                headings = HeadingTracker()
                                prepared = self._prepare([(change.pid_min, end)], part, first=start, headings=headings)
                            else:
                                prepared = self._prepare([(start, end)], part, first=start, headings=headings)
                            if prepared is not None:
                                pause_point("store.vectors")
                                with self._rw.exclusive():
                                    part.add(prepared.batch, prepared.prepared)
                                part.rebuild()  # no-op until a level reaches the size for an inverted file
                            done += end - start + 1
                            since_saved += end - start + 1
                            start = end + 1
                            if progress:
                                progress(done, todo)
                            if start <= change.pid_max and yield_to_new and self.catalog.last_change() != seen:
                                break  # a newer change may come first; this one resumes at `start`
                        if start <= change.pid_max:
                            self._vector_resume[change.seq] = (start, headings)
                            break
                        self._vector_resume.pop(change.seq, None)
                queue.pop(0)
                self._vector_finished(change.seq)
                if checkpoint and since_saved >= VECTOR_CHECKPOINT:
                    self._save_vectors()
                    since_saved = 0
            if checkpoint and since_saved:
                self._save_vectors()
            if done:
                logger.info("embedded %d paragraphs (vector cursor at change %d)", done, self._vectors_applied)
            return done
        finally:
            self._vlock.release()

    def _read_vector_changes(self) -> None:
        """Read the catalog changes logged since the last run into the vector work queue.

        The background worker yields after each batch when newer changes exist (`sync_vectors`), so while a large
        .jsonl is committed record by record it starts again and again: re-reading and re-ordering every pending
        change (and looking up each one's document) at every start was quadratic, and held the catalog that
        searches read for most of the time. The work read stays queued; each run reads only what was logged
        since, and takes it in order."""
        if self._vector_read < self._vectors_applied:  # a new cursor (a reloaded snapshot): start afresh
            self._vector_pending.clear()
            self._vector_seqs.clear()
            self._vector_queue.clear()
            self._vector_done.clear()
            self._vector_read = self._vectors_applied
        new = self.catalog.changes_since(self._vector_read)
        if not new:
            return
        entries = list(zip(self._vector_keys(new), (c.seq for c in new), strict=True))
        for change in new:
            self._vector_pending[change.seq] = change
            self._vector_seqs.append(change.seq)
        if len(entries) > 64:
            self._vector_queue.extend(entries)
            self._vector_queue.sort()
        else:
            for entry in entries:
                bisect.insort(self._vector_queue, entry)
        self._vector_read = new[-1].seq

    def _small_additions(self, queue: Sequence[tuple[tuple[int, int, int, int], int]]) -> list[Change]:
        """The additions at the head of the work queue that fit in one batch together: each small (up to
        VECTOR_BATCH paragraphs, none half done), all at the level of the first."""
        group: list[Change] = []
        size = 0
        for key, seq in queue:
            change = self._vector_pending[seq]
            if key[0] != 1 or key[2] != 0 or seq in self._vector_resume or (group and key[1] != queue[0][0][1]):
                break
            assert change.pid_min is not None and change.pid_max is not None  # an addition (key[0] == 1)
            n = change.pid_max - change.pid_min + 1
            if size + n > VECTOR_BATCH:
                break
            group.append(change)
            size += n
        return group

    def _vector_finished(self, seq: int) -> None:
        """Change `seq` is embedded (or removed): move the cursor over the changes done without a gap."""
        self._vector_done.add(seq)
        seqs = self._vector_seqs
        while seqs and seqs[0] in self._vector_done:
            first = seqs.popleft()
            self._vector_done.discard(first)
            self._vector_pending.pop(first, None)
            self._vectors_applied = first

    def _vector_keys(self, changes: Sequence[Change]) -> list[tuple[int, int, int, int]]:
        """The work order of `changes`: removals first, then additions by (level, large, catalog order); see
        `sync_vectors`. Document levels are looked up in a few queries, once per document."""
        top = len(CLASSIFICATIONS) - 1
        levels = self._vector_levels
        if len(levels) > 100_000:
            levels.clear()  # documents long embedded (or removed): keep the map bounded
        unknown = {c.doc_id for c in changes if c.op != "remove" and c.doc_id not in levels}
        if unknown:
            known = self.catalog.classifications(sorted(unknown))
            for doc_id in unknown:
                levels[doc_id] = classification_rank(known[doc_id]) if doc_id in known else top
        keys = []
        for change in changes:
            if change.op == "remove" or change.pid_min is None or change.pid_max is None:
                keys.append((0, 0, 0, change.seq))
            else:
                large = int(change.pid_max - change.pid_min + 1 > VECTOR_BATCH)
                keys.append((1, levels.get(change.doc_id, top), large, change.seq))
        return keys

    def start_vector_worker(self) -> bool:
        """Embed pending paragraphs in a background thread (one at a time; searches go on). Returns whether a
        worker was started (False: nothing pending, no embedder, or one already running)."""
        if self._vector_part is None or self._vectors_applied >= self.catalog.last_change():
            return False
        # Not `_vlock`: a running vector sync holds that for its whole run, and a request that asks for the worker
        # must never wait for it (it used to: searches stalled for the whole embedding of an upload).
        with self._worker_lock:
            if self._vector_worker is not None and self._vector_worker.is_alive():
                return False
            self._stop_vectors.clear()
            self._vector_worker = threading.Thread(target=self._vector_work, name="vectors", daemon=True)
            self._vector_worker.start()
            return True

    def _vector_work(self) -> None:
        try:
            while not self._stop_vectors.is_set() and self._vectors_applied < self.catalog.last_change():
                if self.sync_vectors(yield_to_new=True) == 0 and self._vectors_applied >= self.catalog.last_change():
                    break
            self.vector_error = None
            release_free_memory()  # the batches of a long run are freed in this thread's arena
        except Exception as exc:  # the service goes on lexically; the status says why vectors stopped
            logger.exception("background embedding stopped")
            self.vector_error = f"{type(exc).__name__}: {exc}"

    def stop_vector_worker(self, timeout: float = 30.0) -> None:
        """Ask a running vector sync to stop after its current batch, and wait for the background thread."""
        # Under the worker lock: a worker being started is then either not there yet or started (joining a thread
        # made but not yet started raises), and it cannot clear the stop request between the two lines.
        with self._worker_lock:
            self._stop_vectors.set()
            worker = self._vector_worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        self._stop_vectors.clear()

    def _save_vectors(self) -> None:
        """Save the vector snapshot at its cursor, and the top-level manifest (holding `_vlock`)."""
        if self._vector_part is None:
            return
        with self._vlock, self._file_lock():
            self._vector_part.save(self.index_dir / self._vector_part.name, self._vectors_applied)
            self._write_manifest()

    def save(self, *, vectors: bool = True) -> None:
        """Write snapshots of the derived indexes (crash-safe), each at its own cursor, then the top-level
        manifest, under the directory's writer lock.

        Args:
            vectors: also the vector snapshot, which waits for a running vector sync to finish. False: the lexical
                snapshot only (the background vector worker saves its own as it goes); the manifest then keeps
                the vector snapshot's last saved generation.
        """
        if not vectors or self._vector_part is None:
            with self._lock, self._file_lock():
                self.sync()
                self._lexical_part.save(self.index_dir / self._lexical_part.name, self._applied)
                self._write_manifest()
            return
        with self._lock, self._vlock, self._file_lock():
            self.sync()
            self._lexical_part.save(self.index_dir / self._lexical_part.name, self._applied)
            if self._vector_part is not None:
                pause_point("store.between_snapshots")
                self._vector_part.save(self.index_dir / self._vector_part.name, self._vectors_applied)
            self._write_manifest()

    def _write_manifest(self) -> None:
        data = json.dumps(self._snapshot_manifest(), indent=1, ensure_ascii=False).encode("utf-8")
        write_atomic(self.index_dir / MANIFEST_FILE, data)
        fsync_dir(self.index_dir)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        private_dir(self.index_dir)
        fd = os.open(self.index_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        with os.fdopen(fd, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------------------

    def scope(self, filters: Filters | None, principal: Principal | None) -> tuple[int, Int64Array | None]:
        """What a search reads for a caller: (the highest level it may see, the pids at levels 0..that level that
        pass `filters`, or None for all of them). Searches pass both to the lexical and vector indexes, which read
        only those levels: without filters no pid list is built at all, so neither the work nor the result
        depends on paragraphs above the caller's clearance."""
        level = level_of(principal)
        return level, self.table.allowed_within(validate_filters(filters or Filters()), level)

    def allowed(self, filters: Filters | None, principal: Principal | None) -> Int64Array | None:
        """Pids a caller may retrieve under `filters` (None = all, at every level)."""
        clearance = principal.clearance if principal is not None else CLASSIFICATIONS[-1]
        return self.table.allowed(validate_filters(filters or Filters()), clearance)

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Turn (pid, score) pairs into `Hit`s, in order (pids no longer in the catalog are skipped)."""
        paragraphs = self.catalog.paragraphs_by_pid([pid for pid, _ in scored])
        out: list[Hit] = []
        for pid, score in scored:
            paragraph = paragraphs.get(pid)
            row = self.table.row_of(pid)
            if paragraph is None or row is None:
                continue
            headings = self.headings_above(paragraph)
            out.append(_make_hit(len(out) + 1, score, paragraph, row, headings))
        return out

    def headings_above(self, paragraph: Paragraph) -> str:
        """Texts of the section headings above a paragraph, outermost first (" > " between)."""
        if not paragraph.section:
            return ""
        titles = self._heading_titles(paragraph.doc_id)
        parts = paragraph.section.split(" > ")
        chain = [titles.get(" > ".join(parts[: i + 1]), "") for i in range(len(parts))]
        if paragraph.kind == "heading" and chain:
            chain = chain[:-1]  # a heading is not above itself
        return " > ".join(t for t in chain if t)

    def _heading_titles(self, doc_id: str) -> dict[str, str]:
        cached = self._headings_cache.get(doc_id)
        if cached is None:
            cached = {}
            for section, text in self.catalog.headings(doc_id):
                cached.setdefault(section, text[:200])
            if len(self._headings_cache) > 512:
                self._headings_cache.clear()
            self._headings_cache[doc_id] = cached
        return cached

    def numbered_docs(self, principal: Principal | None = None) -> list[tuple[str, str]]:
        """(doc_id, ký hiệu) of every live document that has a number and that `principal` may see (None: all)."""
        top = level_of(principal)
        return [(doc_id, number) for doc_id, number, rank in self.table.numbered() if rank <= top]

    def text_similarity(self, query: str, texts: Sequence[str]) -> list[float] | None:
        """Cosine similarity of the query's embedding to each text's, embedded now (recent ones are kept): how
        close in meaning a sentence that may be quoted is to the question. None when the index has no embedder, or
        one that does not read meaning (`HashEmbedder.reads_meaning`)."""
        embedder = self.embedder
        if embedder is None or not getattr(embedder, "reads_meaning", True):
            return None
        return self._text_similarity.cosines(embedder, query, texts)

    def similarity(self, query: str, paragraphs: Sequence[Paragraph]) -> list[float | None]:
        """Cosine similarity of the query's embedding to each paragraph's stored vector (None where the index has
        no embedder or the paragraph's vector is not computed yet). Paragraph n of a document has its document's
        n-th pid (pids are given in paragraph order when a document is added)."""
        if self.vectors is None or self.embedder is None or not paragraphs:
            return [None] * len(paragraphs)
        pids: list[int | None] = []
        by_doc: dict[str, Int64Array] = {}
        for p in paragraphs:
            doc_pids = by_doc.get(p.doc_id)
            if doc_pids is None:
                doc_pids = by_doc[p.doc_id] = np.sort(self.pids_of([p.doc_id]))
            pids.append(int(doc_pids[p.n]) if p.n < len(doc_pids) else None)
        present = [pid for pid in pids if pid is not None and pid in self.vectors]
        if not present:
            return [None] * len(paragraphs)
        q = self._text_similarity.query_vector(self.embedder, query)
        vecs = self.vectors.vectors(present)
        norms = np.linalg.norm(vecs, axis=1) * (np.linalg.norm(q) or 1.0)
        cos = dict(zip(present, (vecs @ q) / np.where(norms == 0, 1.0, norms), strict=True))
        return [float(cos[pid]) if pid is not None and pid in cos else None for pid in pids]

    def pids_of(self, doc_ids: Sequence[str]) -> Int64Array:
        """Sorted paragraph ids of the given documents."""
        wanted = [self.table.index_of[d] for d in doc_ids if d in self.table.index_of]
        if not wanted:
            return np.zeros(0, dtype=np.int64)
        return self.table.pids[np.isin(self.table.doc_of, wanted)]

    def doc_row(self, doc_id: str) -> DocRow | None:
        i = self.table.index_of.get(doc_id)
        return None if i is None else self.table.row(i)

    def indexed(self, doc_id: str) -> list[tuple[int, Paragraph, str]]:
        """A document's paragraphs as the indexes hold them: (pid, paragraph, the context indexed beside it,
        `lexical_title`), in order; [] for a document not in the index. For copying an index elsewhere
        (`rag.index.postgres.copy_index`)."""
        row = self.doc_row(doc_id)
        if row is None:
            return []
        paragraphs = self.catalog.paragraphs(doc_id)
        pids = self.pids_of([doc_id]).tolist()
        if len(pids) != len(paragraphs):  # changed meanwhile: the next sync brings the index level with the catalog
            raise StoreError(f"index and catalog disagree on {doc_id!r}", _INDEX_BEHIND_MESSAGE)
        headings = HeadingTracker()
        return [
            (pid, para, lexical_title(row, headings.context(doc_id, para.section, para.kind, para.text)))
            for pid, para in zip(pids, paragraphs, strict=True)
        ]

    def _snapshot_manifest(self) -> dict[str, Any]:
        return {
            **({"store": self.catalog.identity} if self.catalog.identity else {}),
            "version": MANIFEST_VERSION,
            "embedder": self.embedder.name if self.embedder else NO_EMBEDDER,
            "generation": self._applied,
            "parts": {part.name: part.describe() for part in self.parts},
        }

    def manifest(self) -> dict[str, Any]:
        """What this index is: the top-level manifest (embedder, each derived index's format, parameters and
        generation), with the directory and the catalog's counts. The flat keys `lexical_format` and `tokenizer`
        are kept for readers of earlier results."""
        data = self._snapshot_manifest()
        lexical = data["parts"][LEXICAL_DIR]
        return {
            "index_dir": str(self.index_dir),
            **data,
            "lexical_format": lexical["format"],
            "tokenizer": lexical["tokenizer"],
            **self.catalog.counts(),
        }

    def offload(self) -> None:
        """Tokenise and embed new paragraphs in helper processes from now on (`rag.index.offload`), not here.

        For a serving process: its searches then never compete with an ingest's tokenising or embedding for the
        interpreter, the embedding engine or (the helpers run under `SCHED_IDLE`) the CPUs. Queries are still
        embedded here. The helpers start on first use and stop with `close`."""
        from rag.index.offload import ForegroundGate, IndexingHelper

        if self._lexical_part.helper is None:
            self._lexical_part.helper = IndexingHelper(name="tokenize")
        if self._vector_part is not None and self._vector_part.helper is None:
            self._vector_part.helper = IndexingHelper(self._embedder_spec, name="embed")
        if self._gate is None:
            self._gate = ForegroundGate(self.helpers)

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Hold while answering a request (a search, a question): the indexing helpers, if any, are paused
        meanwhile (`rag.index.offload.ForegroundGate`)."""
        gate = self._gate
        if gate is None:
            yield
            return
        with gate.held():
            yield

    def helpers(self) -> list[IndexingHelper]:
        """The helper processes' handles (empty unless `offload` was called)."""
        parts = (self._lexical_part.helper, self._vector_part.helper if self._vector_part is not None else None)
        return [h for h in parts if h is not None]

    def close(self) -> None:
        self._closing.set()
        self.stop_vector_worker()
        thread = self._catch_up_thread
        if thread is not None:
            thread.join(60)
        for helper in self.helpers():
            helper.close()
        self.catalog.close()


def vectors_on_disk(index_dir: Path) -> int | None:
    """The catalog change the saved vector snapshot includes, from the top-level manifest (None: the index has
    no embedder or no manifest yet), without loading any index."""
    try:
        data = json.loads((index_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        part = data["parts"].get(VECTORS_DIR)
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if not isinstance(part, dict) or not isinstance(part.get("generation"), int):
        return None
    return int(part["generation"])


def _make_hit(rank: int, score: float, paragraph: Paragraph, row: DocRow, headings: str = "") -> Hit:
    return Hit(
        rank=rank,
        score=float(score),
        paragraph=paragraph,
        title=row.title,
        number=row.number,
        issued=row.issued,
        doc_type=row.doc_type,
        issuer=row.issuer,
        classification=row.classification,
        headings=headings,
    )
