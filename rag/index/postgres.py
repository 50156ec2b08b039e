"""Documents, paragraphs, BM25 postings and vectors in PostgreSQL + pgvector (issue 17, first part).

For an archive that outgrows one machine, the serving state lives in one PostgreSQL primary (and its read
replicas) that every API replica reads; this module is that store's core:

* **Schema by versioned SQL** (`pg_migrations/NNNN_*.sql`): each file runs once, in one transaction, and its number
  is recorded in `vankien_schema`; `PgStore.migrate` applies the missing ones in order.
* **BM25 with the product's own terms.** PostgreSQL's text parser splits "hoà/hòa" and "57-NQ/TW" and its
  ts_rank has no idf, so paragraphs are tokenised here (`rag.index.lexical.document_terms`: syllables, bigrams,
  the context counted twice, folded twins) and the query is weighted as the lexical index weighs it
  (`query_weights`, the same k1 per term kind, b and fold blend). The ranking is the lexical index's ranking,
  computed by SQL over a postings table; a test compares the two.
* **Access in the database.** Rows carry the classification rank of their document (0 công khai ... 3 tối mật).
  Searches run as the role `vankien_reader` with the transaction's clearance set (`vankien.clearance`); row-level
  security shows that role only the rows at or below it. The document count, average length and document
  frequencies of BM25 are computed over those rows alone, so nothing above a caller's clearance changes the
  caller's scores (the side-channel rule of docs/security.md), as in the single-machine index.
* **Vectors in pgvector**: one `vector(dim)` per paragraph with an HNSW index on inner product (vectors are
  L2-normalised), created for the embedder the store is first given; another embedder's vectors are refused.
  Filtered searches use pgvector's iterative index scan, so a selective clearance still returns k rows.
* **Idempotent writes by (source, sha256)**: writing a document again with the same content is "unchanged"; with
  other content it replaces the old paragraphs in one transaction.

Not done yet (issue 17): the `IndexStore` protocol that lets `Library` use this store (`store = "postgres://..."`),
the Ray ingestion, stateless replicas' shared state (rate limits, jobs, conversations). docs/scale.md.

psycopg is imported lazily: `import rag` never needs it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import StoreError
from rag.index.lexical import BM25Params, document_terms, query_weights
from rag.index.store import IndexStore
from rag.progress import Progress
from rag.text.tokenize import BIGRAM_JOINER, fold_term
from rag.types import classification_rank

MIGRATIONS = Path(__file__).with_name("pg_migrations")
READER_ROLE = "vankien_reader"
#: The highest classification rank (tối mật): a search with no principal (local use) sees everything.
TOP_CLEARANCE = 3
#: Sort memory of a search (`work_mem`): a question's postings, tens of thousands of rows, sort without spilling.
WORK_MEM = "64MB"
#: The HNSW graph (pgvector's `m`, `ef_construction`) and the candidates a search reads (`hnsw.ef_search`). Measured
#: on 85,847 e5 vectors and 258 questions, recall of the exact ten / search p50 (docs/scale.md,
#: `benchmarks/bench_postgres.py --sweep`): pgvector's defaults (16, 64) with ef_search 100: 0.798 / 2.8 ms;
#: (16, 200) with 200: 0.916 / 4.1 ms, with 400: 0.948 / 5.9 ms; (32, 200) with 400: 0.955 / 10.1 ms. e5's vectors
#: crowd together (cosines 0.7-0.9), so the graph needs a wide search.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 200
EF_SEARCH = 400

_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_USER_MESSAGE = "Không kết nối được cơ sở dữ liệu PostgreSQL của kho văn bản; hãy kiểm tra địa chỉ và quyền truy cập."


@dataclass(frozen=True, slots=True)
class PgParagraph:
    """A paragraph as the store writes it.

    Attributes:
        paragraph_id: the stable id "<doc_id>/p<n>".
        n: its position in the document.
        text: its text.
        context: what is indexed beside it (document title, number, headings: `rag.index.store.lexical_title`).
    """

    paragraph_id: str
    n: int
    text: str
    context: str = ""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "psycopg is not installed (pip install 'vankien[pg]')",
            "Chưa cài gói kết nối PostgreSQL; hãy cài bản có hỗ trợ PostgreSQL (vankien[pg]).",
        ) from exc
    return psycopg


def _vector_literal(vector: npt.ArrayLike) -> str:
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def migrations() -> list[tuple[int, Path]]:
    """The schema's migration files, (version, path), in order."""
    found = []
    for path in MIGRATIONS.iterdir():
        m = _MIGRATION_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


class PgStore:
    """The store in one PostgreSQL database (`dsn`, a libpq connection string or URI); applies the schema's
    missing migrations on opening. One connection; not for concurrent use from several threads."""

    def __init__(self, dsn: str, params: BM25Params | None = None) -> None:
        psycopg = _psycopg()
        try:
            # Autocommit: every `transaction()` block is a real transaction, never a savepoint in an implicit one.
            self._conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}", _USER_MESSAGE) from exc
        self.params = params or BM25Params()
        self.migrate()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations the database lacks, in order and in one transaction (all or none); return their
        versions."""
        with self._conn.transaction():
            self._conn.execute("CREATE TABLE IF NOT EXISTS vankien_schema (version INTEGER PRIMARY KEY)")
            # One migrator at a time: replicas starting together must not apply a file twice.
            self._conn.execute("LOCK TABLE vankien_schema IN EXCLUSIVE MODE")
            done = {row[0] for row in self._conn.execute("SELECT version FROM vankien_schema")}
            applied = []
            for version, path in migrations():
                if version in done:
                    continue
                self._conn.execute(path.read_text(encoding="utf-8"))
                self._conn.execute("INSERT INTO vankien_schema (version) VALUES (%s)", (version,))
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(version), 0) FROM vankien_schema").fetchone()
        return int(row[0])

    def ensure_vectors(self, embedder: str, dim: int) -> None:
        """Create the vectors table and its HNSW index for `embedder` (`dim` dimensions) when missing.

        Raises:
            StoreError: the store holds another embedder's vectors.
        """
        with self._conn.transaction():
            self._conn.execute("LOCK TABLE vankien_meta IN EXCLUSIVE MODE")
            row = self._conn.execute("SELECT value FROM vankien_meta WHERE key = 'embedder'").fetchone()
            if row is not None:
                if row[0] != f"{embedder}:{dim}":
                    raise StoreError(
                        f"the store holds vectors of {row[0]}, not {embedder}:{dim}",
                        "Kho văn bản đã có vectơ của mô hình nhúng khác; hãy dùng đúng mô hình hoặc tạo kho mới.",
                    )
                return
            try:
                with self._conn.transaction():  # a savepoint: the error below leaves the outer transaction usable
                    self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except _psycopg().Error as exc:
                raise StoreError(
                    f"pgvector is not available: {exc}",
                    "Máy chủ PostgreSQL chưa có phần mở rộng pgvector; hãy cài pgvector cho máy chủ này.",
                ) from exc
            self._conn.execute(
                f"""CREATE TABLE paragraph_vectors (
                    pid BIGINT PRIMARY KEY REFERENCES paragraphs (pid) ON DELETE CASCADE,
                    level SMALLINT NOT NULL,
                    embedding vector({int(dim)}) NOT NULL)"""
            )
            self._conn.execute(
                "CREATE INDEX paragraph_vectors_hnsw ON paragraph_vectors USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
            self._conn.execute("ALTER TABLE paragraph_vectors ENABLE ROW LEVEL SECURITY")
            self._conn.execute(
                "CREATE POLICY paragraph_vectors_read ON paragraph_vectors FOR SELECT TO vankien_reader "
                "USING (level <= vankien_clearance())"
            )
            self._conn.execute("GRANT SELECT ON paragraph_vectors TO vankien_reader")
            self._conn.execute(
                "INSERT INTO vankien_meta (key, value) VALUES ('embedder', %s)", (f"{embedder}:{int(dim)}",)
            )

    def rebuild_vector_index(self, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION) -> None:
        """Build the HNSW graph again over the stored vectors with these parameters (measuring them; after a bulk
        load a build is faster than the inserts' graph)."""
        with self._conn.transaction():
            self._conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            self._conn.execute("DROP INDEX IF EXISTS paragraph_vectors_hnsw")
            self._conn.execute(
                "CREATE INDEX paragraph_vectors_hnsw ON paragraph_vectors USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
            )

    def _has_vectors(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('paragraph_vectors') IS NOT NULL").fetchone()
        return bool(row[0])

    # -- writes ---------------------------------------------------------------------------------------------

    def write_document(
        self,
        doc_id: str,
        source_key: str,
        sha256: str,
        title: str,
        level: int,
        paragraphs: Sequence[PgParagraph],
        vectors: npt.NDArray[np.float32] | None = None,
    ) -> str:
        """Write a document and its paragraphs, postings and vectors in one transaction.

        Returns "ok" (new), "unchanged" (same source and sha256: nothing written) or "replaced" (the source's
        earlier version and everything derived from it removed first).

        Raises:
            ValueError: `level` outside 0..3, or `vectors` not one row per paragraph.
            StoreError: vectors given before `ensure_vectors`.
        """
        if not 0 <= level <= TOP_CLEARANCE:
            raise ValueError(f"level must be 0..{TOP_CLEARANCE}, got {level}")
        if vectors is not None and len(vectors) != len(paragraphs):
            raise ValueError(f"{len(vectors)} vectors for {len(paragraphs)} paragraphs")
        with self._conn.transaction():
            cur = self._conn.cursor()
            old = cur.execute(
                "SELECT doc_id, sha256 FROM documents WHERE source_key = %s FOR UPDATE", (source_key,)
            ).fetchone()
            if old is not None and old[1] == sha256:
                return "unchanged"
            if old is not None:
                cur.execute("DELETE FROM documents WHERE doc_id = %s", (old[0],))
            cur.execute(
                "INSERT INTO documents (doc_id, source_key, sha256, title, level, n_paragraphs) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (doc_id, source_key, sha256, title, level, len(paragraphs)),
            )
            pids: list[int] = []
            postings: list[tuple[str, int, int, float, float]] = []
            for p in paragraphs:
                counts, length = document_terms(p.text, p.context)
                row = cur.execute(
                    "INSERT INTO paragraphs (paragraph_id, doc_id, n, level, text, context, length) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING pid",
                    (p.paragraph_id, doc_id, p.n, level, p.text, p.context, float(length)),
                ).fetchone()
                pid = int(row[0])
                pids.append(pid)
                # Folded twins share a row when two exact terms fold alike ("bàn", "bán"): their counts add up.
                folded: dict[str, int] = {}
                for term, tf in counts.items():
                    twin = fold_term(term)
                    folded[twin] = folded.get(twin, 0) + tf
                postings.extend((term, pid, level, float(tf), float(length)) for term, tf in counts.items())
                postings.extend((term, pid, level, float(tf), float(length)) for term, tf in folded.items())
            with cur.copy("COPY postings (term, pid, level, tf, length) FROM STDIN") as copy:
                for record in postings:
                    copy.write_row(record)
            if vectors is not None:
                if not self._has_vectors():
                    raise StoreError(
                        "vectors written before ensure_vectors", "Kho văn bản chưa được tạo cho vectơ nhúng."
                    )
                cur.executemany(
                    "INSERT INTO paragraph_vectors (pid, level, embedding) VALUES (%s, %s, %s::vector)",
                    [(pid, level, _vector_literal(v)) for pid, v in zip(pids, vectors, strict=True)],
                )
        return "replaced" if old is not None else "ok"

    def sources(self) -> dict[str, str]:
        """source key -> sha256 of every document stored (all levels: the store's own view, not a caller's)."""
        return {key: sha for key, sha in self._conn.execute("SELECT source_key, sha256 FROM documents")}

    def vacuum(self) -> None:
        """Refresh the planner's statistics and the visibility map after bulk writes (autovacuum does it too, later),
        so searches read postings from the index alone."""
        self._conn.execute("VACUUM (ANALYZE) postings, paragraphs, level_stats")

    def remove_document(self, doc_id: str) -> bool:
        """Remove a document and everything derived from it; False when there was none."""
        with self._conn.transaction():
            cur = self._conn.execute("DELETE FROM documents WHERE doc_id = %s", (doc_id,))
            return bool(cur.rowcount)

    # -- reads ----------------------------------------------------------------------------------------------

    @contextmanager
    def _reader(self, clearance: int | None) -> Iterator[Any]:
        """A read-only transaction as `vankien_reader` at `clearance` (None: everything, for local use)."""
        level = TOP_CLEARANCE if clearance is None else int(clearance)
        with self._conn.transaction():
            cur = self._conn.cursor()
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(f"SET LOCAL ROLE {READER_ROLE}")
            cur.execute("SELECT set_config('vankien.clearance', %s, true)", (str(level),))
            # Postings of a question's terms are sorted in memory (by term, then by paragraph), not on disk.
            cur.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            yield cur

    def count_paragraphs(self, clearance: int | None = None) -> int:
        """How many paragraphs a caller at `clearance` can see."""
        with self._reader(clearance) as cur:
            return int(cur.execute("SELECT coalesce(sum(paragraphs), 0) FROM level_stats").fetchone()[0])

    def lexical_search(self, query: str, k: int, clearance: int | None = None) -> list[tuple[str, float]]:
        """The k best (paragraph id, BM25 score) for `query` among what `clearance` may see, best first.

        The scores of `rag.index.lexical.LexicalIndex.search` over the same paragraphs when the caller sees one
        level (the public one, for most); over several levels the average length is that of all of them (the
        lexical index keeps one per level), so scores may differ in the third decimal."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        weights = query_weights(query, self.params)
        if not weights:
            return []
        terms = list(weights)
        k1 = [self.params.k1_bigram if BIGRAM_JOINER in t else self.params.k1 for t in terms]
        with self._reader(clearance) as cur:
            rows = cur.execute(
                """
                WITH q AS (
                    SELECT * FROM unnest(%(terms)s::text[], %(weights)s::float8[], %(k1)s::float8[])
                        AS q(term, weight, k1)),
                stats AS (
                    SELECT sum(paragraphs)::float8 AS n,
                           (sum(total_length) / greatest(sum(paragraphs), 1))::float8 AS avgdl
                    FROM level_stats),
                -- each term's document frequency (an index-only count), then its postings
                df AS (
                    SELECT q.term, q.weight, q.k1, d.df
                    FROM q CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM postings p WHERE p.term = q.term) d
                    WHERE d.df > 0),
                found AS (
                    SELECT p.term, p.pid, p.tf, p.length, df.weight, df.k1, df.df
                    FROM df JOIN postings p ON p.term = df.term),
                scored AS (
                    SELECT f.pid,
                           sum(f.weight * ln(1 + (stats.n - f.df + 0.5) / (f.df + 0.5))
                               * f.tf * (f.k1 + 1)
                               / (f.tf + f.k1 * (1 - %(b)s + %(b)s * f.length / greatest(stats.avgdl, 1e-9)))
                               ORDER BY f.term)  -- a fixed order: the same sum to the last bit, whatever else is stored
                               AS score
                    FROM found f CROSS JOIN stats
                    GROUP BY f.pid
                    ORDER BY score DESC, f.pid
                    LIMIT %(k)s)
                SELECT par.paragraph_id, s.score
                FROM scored s JOIN paragraphs par ON par.pid = s.pid
                ORDER BY s.score DESC, s.pid
                """,
                {"terms": terms, "weights": [weights[t] for t in terms], "k1": k1, "b": self.params.b, "k": k},
            ).fetchall()
        return [(str(pid), float(score)) for pid, score in rows if score > 0 and math.isfinite(score)]

    def dense_search(
        self, vector: npt.ArrayLike, k: int, clearance: int | None = None, ef_search: int = EF_SEARCH
    ) -> list[tuple[str, float]]:
        """The k nearest (paragraph id, cosine) to the L2-normalised `vector` among what `clearance` may see, by
        the HNSW index (approximate, `ef_search` candidates read), best first; [] when the store has no vectors."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if not self._has_vectors():
            return []
        literal = _vector_literal(vector)
        with self._reader(clearance) as cur:
            # Row-level security filters after the index scan: iterate the scan until k visible rows are found.
            cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cur.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            rows = cur.execute(
                """
                SELECT par.paragraph_id, -(v.embedding <#> %(q)s::vector) AS cosine
                FROM (SELECT pid, embedding FROM paragraph_vectors
                      ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s) v
                JOIN paragraphs par ON par.pid = v.pid
                ORDER BY cosine DESC
                """,
                {"q": literal, "k": k},
            ).fetchall()
        return [(str(pid), float(cos)) for pid, cos in rows]


def copy_index(store: IndexStore, pg: PgStore, progress: Progress | None = None) -> dict[str, int]:
    """Write every document of a single-machine index (`IndexStore`) into the PostgreSQL store: its paragraphs
    with the context the lexical index holds beside them, its classification, and its vectors when the index has
    them (all of them: wait for the vector worker first). How an existing archive moves to the scale-out store;
    idempotent by (source, sha256), so running it again writes only what changed.

    Returns:
        counts of "ok", "unchanged" and "replaced" documents.

    Raises:
        StoreError: paragraphs still wait for their vectors, or the PostgreSQL store holds another embedder's.
    """
    vectors = store.vectors if store.embedder is not None else None
    if vectors is not None:
        if store.pending_vectors():
            raise StoreError(
                f"{store.pending_vectors()} paragraphs still wait for their vectors",
                "Chỉ mục còn đoạn chưa có vectơ; hãy chờ nhúng xong rồi sao chép.",
            )
        assert store.embedder is not None
        pg.ensure_vectors(store.embedder.name, store.embedder.dim)
    counts = {"ok": 0, "unchanged": 0, "replaced": 0}
    documents = store.catalog.documents()
    if progress is not None:
        progress.start(len(documents), "Sao chép sang PostgreSQL")
    stored = pg.sources()
    for info in documents:
        state = store.catalog.source_state(info.source_key)
        if state is None:  # removed meanwhile
            continue
        if stored.get(info.source_key) == state.sha256:
            # Known already: its paragraphs and vectors are not read again (a second run costs one query).
            counts["unchanged"] += 1
        else:
            rows = store.indexed(info.doc_id)
            paragraphs = [PgParagraph(para.paragraph_id, para.n, para.text, context) for _, para, context in rows]
            matrix = vectors.vectors([pid for pid, _, _ in rows]) if vectors is not None and rows else None
            level = classification_rank(info.classification)
            counts[
                pg.write_document(info.doc_id, info.source_key, state.sha256, info.title, level, paragraphs, matrix)
            ] += 1
        if progress is not None:
            progress.advance(1)
    if progress is not None:
        progress.finish()
    pg.vacuum()
    return counts
