"""The catalog in PostgreSQL: documents, paragraphs, their BM25 postings and vectors, and the change log, shared by
every API replica (issue 17).

`PgCatalog` answers what `rag.index.catalog.Catalog` (SQLite) answers, so `IndexStore` and `Library` run on it
unchanged: each replica keeps its lexical index and vectors in memory, as the single-machine default does, and
brings them up to the database by replaying the change log (`IndexStore.catch_up`). A document committed through
one replica is searchable through every other one at their next catch-up; the database is the truth, and a
replica's saved search indexes are a cache it can rebuild (they record the database's `store_id`, so a cache of
another database is never loaded).

What the database adds to the single-machine catalog:

* **BM25 postings** with the product's own terms (`document_terms`: syllables, bigrams, the context counted twice,
  folded twins), written with each document, so SQL can rank paragraphs as the lexical index does
  (`rag.index.postgres.PgStore.lexical_search`, for tools and operators that query the database directly).
* **Vectors shared by the replicas** (`paragraph_vectors`, pgvector): the first replica (or `vankien ingest`) to
  embed a paragraph stores its vector, and the others read it instead of embedding it again
  (`stored_vectors` / `store_vectors`); an empty replica starts from the stored vectors, not from the model.
* **Row-level security** by classification for the reader role (`vankien_reader`), as `rag.index.postgres`
  describes; the product's own access checks stay in force in the replicas.
* **Read replicas**: reads that follow the change log can go to a streaming replica (`read_dsn`); writes, and the
  reads a write depends on (is this source known? which ids are free?), go to the primary.

Writers take one advisory lock (`WRITE_LOCK`) from their first read to their commit: sequence numbers and paragraph
ids are then given out in commit order, so a reader that has applied change s has every change below it, and a
document's paragraph ids are one run (what `IndexStore` expects of a catalog).

psycopg is imported lazily: `import rag` never needs it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.config import ENV_POSTINGS
from rag.errors import NotFound, StoreError
from rag.index.catalog import DOC_COLUMNS, Catalog, CatalogReads, doc_values
from rag.index.context import HeadingTracker, lexical_title
from rag.index.lexical import document_terms
from rag.text.tokenize import fold_term
from rag.types import Paragraph, SourceDoc, classification_rank

Int64Array = npt.NDArray[np.int64]
#: A row of the postings table: (term, pid, level, tf, length).
PostingRow = tuple[str, int, int, float, float]

MIGRATIONS = Path(__file__).with_name("pg_migrations")
READER_ROLE = "vankien_reader"
#: The highest classification rank (tối mật).
TOP_CLEARANCE = 3
#: The HNSW graph of the stored vectors (pgvector's `m`, `ef_construction`), chosen by `bench_postgres.py --sweep`
#: (docs/scale.md): pgvector's default construction width (64) gave recall 0.80 of the exact ten on e5 vectors.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 200
#: The advisory lock every writer holds until it commits (an arbitrary constant: "vk" in ASCII, then 17).
WRITE_LOCK = 0x766B_0017
#: Keys of the single-machine catalog's metadata live under this prefix in `vankien_meta` (the store's own keys,
#: such as the vectors' "embedder" with its dimension, have none).
_META_PREFIX = "catalog."
_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
USER_MESSAGE = "Không kết nối được cơ sở dữ liệu PostgreSQL của kho văn bản; hãy kiểm tra địa chỉ và quyền truy cập."
#: Rows per `IN` list / `ANY` array when reading by id.
_CHUNK = 5000


def psycopg_module() -> Any:
    """psycopg, or a clear error when the `pg` extra is not installed."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "psycopg is not installed (pip install 'vankien[pg]')",
            "Chưa cài gói kết nối PostgreSQL; hãy cài bản có hỗ trợ PostgreSQL (vankien[pg]).",
        ) from exc
    return psycopg


def is_postgres(store: str | None) -> bool:
    """Whether a store setting names a PostgreSQL database (a `postgres://` or `postgresql://` URI)."""
    return bool(store) and str(store).split("://", 1)[0].lower() in ("postgres", "postgresql")


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, as `sqlite3.Row` is: the catalog's reads and the
    service's state share their SQL with SQLite."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, names)


def pg_connect(dsn: str) -> Any:
    """An autocommit connection (every `transaction()` block is a real transaction, never a savepoint) whose rows
    are `Row`s."""
    psycopg = psycopg_module()
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {exc}", USER_MESSAGE) from exc
    conn.row_factory = _row_factory
    return conn


def migrations() -> list[tuple[int, Path]]:
    """The schema's migration files, (version, path), in order."""
    found = []
    for path in MIGRATIONS.iterdir():
        m = _MIGRATION_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


def migrate(conn: Any) -> list[int]:
    """Apply the migrations the database lacks, in order and in one transaction (all or none); return their
    versions. Replicas starting together take a table lock, so a file is never applied twice."""
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS vankien_schema (version INTEGER PRIMARY KEY)")
        conn.execute("LOCK TABLE vankien_schema IN EXCLUSIVE MODE")
        done = {row[0] for row in conn.execute("SELECT version FROM vankien_schema")}
        applied = []
        for version, path in migrations():
            if version in done:
                continue
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute("INSERT INTO vankien_schema (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


def vector_literal(vector: npt.ArrayLike) -> str:
    """pgvector's text form of a vector ("[0.1,0.2]"); float32 values round-trip exactly."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def has_vectors(conn: Any) -> bool:
    return bool(conn.execute("SELECT to_regclass('paragraph_vectors') IS NOT NULL").fetchone()[0])


def ensure_vectors(conn: Any, embedder: str, dim: int) -> None:
    """Create the vectors table and its HNSW index for `embedder` (`dim` dimensions) when missing.

    Raises:
        StoreError: the store holds another embedder's vectors, or the server has no pgvector.
    """
    psycopg = psycopg_module()
    with conn.transaction():
        conn.execute("LOCK TABLE vankien_meta IN EXCLUSIVE MODE")
        row = conn.execute("SELECT value FROM vankien_meta WHERE key = 'embedder'").fetchone()
        if row is not None:
            if row[0] != f"{embedder}:{dim}":
                raise StoreError(
                    f"the store holds vectors of {row[0]}, not {embedder}:{dim}",
                    "Kho văn bản đã có vectơ của mô hình nhúng khác; hãy dùng đúng mô hình hoặc tạo kho mới.",
                )
            return
        try:
            with conn.transaction():  # a savepoint: the error below leaves the outer transaction usable
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            raise StoreError(
                f"pgvector is not available: {exc}",
                "Máy chủ PostgreSQL chưa có phần mở rộng pgvector; hãy cài pgvector cho máy chủ này.",
            ) from exc
        conn.execute(
            f"""CREATE TABLE paragraph_vectors (
                pid BIGINT PRIMARY KEY REFERENCES paragraphs (pid) ON DELETE CASCADE,
                level SMALLINT NOT NULL,
                embedding vector({int(dim)}) NOT NULL)"""
        )
        conn.execute(
            "CREATE INDEX paragraph_vectors_hnsw ON paragraph_vectors USING hnsw (embedding vector_ip_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
        conn.execute("ALTER TABLE paragraph_vectors ENABLE ROW LEVEL SECURITY")
        conn.execute(
            "CREATE POLICY paragraph_vectors_read ON paragraph_vectors FOR SELECT TO vankien_reader "
            "USING (level <= vankien_clearance())"
        )
        conn.execute("GRANT SELECT ON paragraph_vectors TO vankien_reader")
        conn.execute("INSERT INTO vankien_meta (key, value) VALUES ('embedder', %s)", (f"{embedder}:{int(dim)}",))


def postings_of(
    pid: int, level: int, text: str, context: str
) -> tuple[float, list[tuple[str, int, int, float, float]]]:
    """A paragraph's BM25 length and its postings rows (term, pid, level, tf, length): exact terms and their
    folded twins, as `rag.index.lexical` indexes them. Folded twins share a row when two exact terms fold alike
    ("bàn", "bán"): their counts add up."""
    counts, length = document_terms(text, context)
    folded: dict[str, int] = {}
    for term, tf in counts.items():
        twin = fold_term(term)
        folded[twin] = folded.get(twin, 0) + tf
    rows = [(term, pid, level, float(tf), float(length)) for term, tf in counts.items()]
    rows += [(term, pid, level, float(tf), float(length)) for term, tf in folded.items()]
    return float(length), rows


def postings_enabled(conn: Any) -> bool:
    """Whether this store keeps BM25 postings for search in SQL (`vankien_meta` "sql_postings"). Chosen once, when
    the store is still empty, by `VANKIEN_PG_POSTINGS` (on by default; "off" when nothing queries the database
    directly: the replicas search their own indexes, and postings are most of the store's size and writing time).
    A store that already holds documents keeps what it has."""
    row = conn.execute("SELECT value FROM vankien_meta WHERE key = 'sql_postings'").fetchone()
    if row is None:
        has_documents = conn.execute("SELECT EXISTS (SELECT 1 FROM documents)").fetchone()[0]
        wanted = os.environ.get(ENV_POSTINGS, "on").strip().lower() not in ("off", "0", "false", "no")
        value = "on" if has_documents or wanted else "off"
        conn.execute(
            "INSERT INTO vankien_meta (key, value) VALUES ('sql_postings', %s) ON CONFLICT (key) DO NOTHING", (value,)
        )
        row = conn.execute("SELECT value FROM vankien_meta WHERE key = 'sql_postings'").fetchone()
    return str(row[0]) == "on"


def write_rows(
    cur: Any,
    doc: SourceDoc,
    paragraphs: Sequence[Paragraph],
    contexts: Sequence[str],
    vectors: npt.NDArray[np.float32] | None = None,
    postings: bool = True,
) -> tuple[str, list[int]]:
    """Write a document, its paragraphs, postings (unless `postings` is off: `postings_enabled`) and (when given)
    vectors, and log the change, inside the caller's transaction; an earlier version of the same source is removed
    first (and logged). Takes the write lock.

    Returns:
        ("ok" | "replaced", the new paragraphs' ids).
    """
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    level = classification_rank(doc.classification)
    seq = int(cur.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
    old = cur.execute("SELECT doc_id FROM documents WHERE source_key = %s", (doc.source_key,)).fetchone()
    if old is not None:
        seq += 1
        _delete(cur, old[0], seq)
    seq += 1
    cur.execute(
        f"INSERT INTO documents ({DOC_COLUMNS}, level, n_paragraphs, committed) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            *doc_values(doc),
            level,
            len(paragraphs),
            seq,
        ),
    )
    pids: list[int] = []
    if paragraphs:
        # One run of ids for the document: taken from the sequence while the write lock is held.
        first = int(cur.execute("SELECT nextval('paragraphs_pid_seq')").fetchone()[0])
        if len(paragraphs) > 1:
            cur.execute("SELECT setval('paragraphs_pid_seq', %s)", (first + len(paragraphs) - 1,))
        pids = list(range(first, first + len(paragraphs)))
        rows_out: list[PostingRow] = []
        with cur.copy(
            "COPY paragraphs (pid, paragraph_id, doc_id, n, level, text, context, length, section, page, "
            'start, "end", kind) FROM STDIN'
        ) as copy:
            for pid, p, context in zip(pids, paragraphs, contexts, strict=True):
                length = 0.0
                if postings:
                    length, rows = postings_of(pid, level, p.text, context)
                    rows_out.extend(rows)
                copy.write_row(
                    (pid, p.paragraph_id, doc.doc_id, p.n, level, p.text, context, length, p.section, p.page,
                     p.start, p.end, p.kind)
                )  # fmt: skip
        if rows_out:
            with cur.copy("COPY postings (term, pid, level, tf, length) FROM STDIN") as copy:
                for record in rows_out:
                    copy.write_row(record)
        if vectors is not None:
            _copy_vectors(cur, pids, [level] * len(pids), vectors)
    cur.execute(
        "INSERT INTO changes (seq, op, doc_id, pid_min, pid_max) VALUES (%s, 'add', %s, %s, %s)",
        (seq, doc.doc_id, pids[0] if pids else None, pids[-1] if pids else None),
    )
    return ("replaced" if old is not None else "ok"), pids


def _delete(cur: Any, doc_id: str, seq: int) -> None:
    lo, hi = cur.execute("SELECT min(pid), max(pid) FROM paragraphs WHERE doc_id = %s", (doc_id,)).fetchone()
    # Paragraphs, postings and vectors go with the document (ON DELETE CASCADE).
    cur.execute("DELETE FROM documents WHERE doc_id = %s", (doc_id,))
    cur.execute(
        "INSERT INTO changes (seq, op, doc_id, pid_min, pid_max) VALUES (%s, 'remove', %s, %s, %s)",
        (seq, doc_id, lo, hi),
    )


def _copy_vectors(cur: Any, pids: Sequence[int], levels: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
    if len(vectors) != len(pids):
        raise ValueError(f"{len(vectors)} vectors for {len(pids)} paragraphs")
    with cur.copy("COPY paragraph_vectors (pid, level, embedding) FROM STDIN") as copy:
        for pid, level, vector in zip(pids, levels, vectors, strict=True):
            copy.write_row((int(pid), int(level), vector_literal(vector)))


def paragraph_contexts(doc: SourceDoc, paragraphs: Sequence[Paragraph]) -> list[str]:
    """What the lexical index puts beside each paragraph (`rag.index.context.lexical_title`: the document's title and
    number, the section headings above it), computed as `IndexStore` computes it while indexing."""
    headings = HeadingTracker()
    return [lexical_title(doc, headings.context(doc.doc_id, p.section, p.kind, p.text)) for p in paragraphs]


class _Connection:
    """One connection used by the threads of a process (each use holds the lock), reopened after it breaks (a
    server restart, a replica promoted): the failing call raises a `StoreError`, the next one reconnects."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.RLock()
        self._conn = pg_connect(dsn)

    def get(self) -> Any:
        if self._conn.closed or self._conn.broken:
            self._conn = pg_connect(self.dsn)
        return self._conn

    def close(self) -> None:
        self._conn.close()


class PgCatalog(CatalogReads):
    """The catalog of `rag.index.catalog.Catalog` in a PostgreSQL database; applies the schema's missing migrations
    on opening.

    Args:
        dsn: the primary (a libpq URI: postgresql://user@host/db).
        read_dsn: a streaming replica for the reads that follow the change log (None: the primary). A replica lags
            the primary by its replication delay: what it has not received yet is applied at a later catch-up.
    """

    #: `IndexStore` reads stored vectors from the catalog and stores the ones it computes (replicas share them).
    shares_vectors = True
    _COMMIT_ORDER = "committed"
    _BY_DOC = ""
    _ID_ORDER = 'doc_id COLLATE "C"'

    def __init__(self, dsn: str, read_dsn: str | None = None) -> None:
        self._primary = _Connection(dsn)
        self._reader = _Connection(read_dsn) if read_dsn else self._primary
        self.dsn = dsn
        self._vectors_ready = False
        self._guarded(lambda conn: migrate(conn))
        #: BM25 postings written with each document (`postings_enabled`).
        self.postings = bool(self._guarded(postings_enabled))
        self.identity = str(self._scalar_meta("store_id") or "")

    def close(self) -> None:
        self._primary.close()
        if self._reader is not self._primary:
            self._reader.close()

    def __enter__(self) -> PgCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------------

    def _guarded(self, work: Any, *, read: bool = False) -> Any:
        """Run `work(conn)` under the connection's lock; a database error becomes a `StoreError`."""
        psycopg = psycopg_module()
        holder = self._reader if read else self._primary
        with holder.lock:
            try:
                return work(holder.get())
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}", USER_MESSAGE) from exc

    def _all(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> list[Any]:
        """Rows of a query in the shared SQL of `CatalogReads` (`?` placeholders), from the read replica unless
        `primary`."""
        query = sql.replace("%", "%%").replace("?", "%s")
        return list(self._guarded(lambda conn: conn.execute(query, params).fetchall(), read=not primary))

    def _one(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> Any:
        rows = self._all(sql, params, primary=primary)
        return rows[0] if rows else None

    def _scalar_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM vankien_meta WHERE key = ?", (key,), primary=True)
        return None if row is None else str(row[0])

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A transaction on the primary with a cursor; a database error becomes a `StoreError`."""
        psycopg = psycopg_module()
        with self._primary.lock:
            try:
                conn = self._primary.get()
                with conn.transaction():
                    yield conn.cursor()
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL: {exc}", USER_MESSAGE) from exc

    # -- metadata -------------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return self._scalar_meta(_META_PREFIX + key)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as cur:
            cur.execute(
                "INSERT INTO vankien_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s",
                (_META_PREFIX + key, value, value),
            )

    # -- writes ---------------------------------------------------------------------------------------------

    def put_document(self, doc: SourceDoc, paragraphs: Sequence[Paragraph]) -> str:
        """Store a document with its paragraphs and postings in one transaction, replacing any earlier version of
        the same source (`Catalog.put_document`). Returns "ok" or "replaced"."""
        for p in paragraphs:
            if p.doc_id != doc.doc_id or doc.text[p.start : p.end] != p.text:
                raise ValueError(f"paragraph {p.paragraph_id} does not match document {doc.doc_id}")
        contexts = paragraph_contexts(doc, paragraphs)
        with self._write() as cur:
            status, _ = write_rows(cur, doc, paragraphs, contexts, postings=self.postings)
        return status

    def remove_document(self, doc_id: str) -> None:
        """Delete a document with everything derived from it.

        Raises:
            NotFound: if there is no such document.
        """
        with self._write() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            if cur.execute("SELECT 1 FROM documents WHERE doc_id = %s", (doc_id,)).fetchone() is None:
                raise NotFound(f"no document {doc_id!r}", f"Không có tài liệu '{doc_id}'.")
            seq = int(cur.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]) + 1
            _delete(cur, doc_id, seq)

    # -- vectors shared by the replicas ---------------------------------------------------------------------

    def stored_vectors(self, pids: Sequence[int], embedder: str, dim: int) -> dict[int, npt.NDArray[np.float32]]:
        """The stored vectors of those of `pids` that have one (empty when the store holds no vectors, or another
        embedder's: those are never mixed in)."""
        if self._scalar_meta("embedder") != f"{embedder}:{int(dim)}" or not len(pids):
            return {}

        def read(conn: Any) -> dict[int, npt.NDArray[np.float32]]:
            out: dict[int, npt.NDArray[np.float32]] = {}
            cur = conn.cursor(binary=True)  # pgvector's binary form: dim, unused, then float4 big-endian
            for i in range(0, len(pids), _CHUNK):
                chunk = [int(p) for p in pids[i : i + _CHUNK]]
                for pid, blob in cur.execute(
                    "SELECT pid, embedding FROM paragraph_vectors WHERE pid = ANY(%s)", (chunk,)
                ):
                    out[int(pid)] = np.frombuffer(bytes(blob), dtype=">f4", offset=4).astype(np.float32)
            return out

        result: dict[int, npt.NDArray[np.float32]] = self._guarded(read, read=True)
        return result

    def store_vectors(
        self, pids: Sequence[int], levels: Sequence[int], vectors: npt.NDArray[np.float32], embedder: str, dim: int
    ) -> None:
        """Store computed vectors for the other replicas (creating the vectors table for the first embedder); rows
        another replica stored meanwhile, and paragraphs removed meanwhile, are skipped."""
        if not len(pids):
            return
        if not self._vectors_ready:
            self._guarded(lambda conn: ensure_vectors(conn, embedder, dim))
            self._vectors_ready = True
        with self._write() as cur:
            cur.execute("CREATE TEMP TABLE incoming (LIKE paragraph_vectors) ON COMMIT DROP")
            with cur.copy("COPY incoming (pid, level, embedding) FROM STDIN") as copy:
                for pid, level, vector in zip(pids, levels, vectors, strict=True):
                    copy.write_row((int(pid), int(level), vector_literal(vector)))
            cur.execute(
                "INSERT INTO paragraph_vectors SELECT i.* FROM incoming i JOIN paragraphs p ON p.pid = i.pid "
                "ON CONFLICT (pid) DO NOTHING"
            )

    def paragraphs_without_vectors(self, doc_ids: Sequence[str]) -> list[tuple[int, int, str, str]]:
        """(pid, level, context, text) of those documents' paragraphs that have no stored vector yet, in pid order:
        what an embedding worker still has to do for them (`rag.pipeline.distributed`). `context` is what the
        lexical index puts beside the paragraph, which the vector of `IndexStore` embeds with it."""
        if not doc_ids:
            return []
        if not self._guarded(has_vectors):
            sql = "SELECT pid, level, context, text FROM paragraphs WHERE doc_id = ANY(?) ORDER BY pid"
        else:
            sql = (
                "SELECT p.pid, p.level, p.context, p.text FROM paragraphs p WHERE p.doc_id = ANY(?) "
                "AND NOT EXISTS (SELECT 1 FROM paragraph_vectors v WHERE v.pid = p.pid) ORDER BY p.pid"
            )
        rows = self._all(sql, (list(doc_ids),), primary=True)
        return [(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]

    def integrity_problems(self) -> list[str]:
        """The catalog's own invariants checked in the database (empty = sound)."""
        return self._invariant_problems()


def open_catalog(
    index_dir: Path, store: str | None = None, read_store: str | None = None, *, create: bool = True
) -> Catalog | PgCatalog:
    """The catalog an index directory works with: its own SQLite file (`store` None, the default), or a PostgreSQL
    database shared by several processes and machines (`store` a postgresql:// URI; `read_store` a streaming
    replica for reads), the index directory then holding this process's search indexes only.

    Raises:
        StoreError: `store` is neither, or the database cannot be reached.
    """
    if not store:
        return Catalog.open(index_dir, create=create)
    if not is_postgres(store) or (read_store and not is_postgres(read_store)):
        raise StoreError(
            "store must be a postgresql:// URI",
            "Địa chỉ kho văn bản phải có dạng postgresql://người_dùng@máy_chủ/cơ_sở_dữ_liệu (hoặc để trống để dùng "
            "kho cục bộ).",
        )
    return PgCatalog(store, read_store)
