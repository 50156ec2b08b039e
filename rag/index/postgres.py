"""Searches computed in PostgreSQL + pgvector over the store of `rag.index.pg_catalog` (issue 17).

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

The catalog these tables make (`rag.index.pg_catalog.PgCatalog`) is what `Library`, `vankien ingest` and the API
replicas use (`--store`); this module adds searches computed in the database (for tools that query it directly,
under row-level security) and `copy_index`, which moves an existing single-machine index in. docs/scale.md.

psycopg is imported lazily: `import rag` never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import StoreError
from rag.index.lexical import BM25Params, query_weights
from rag.index.pg_catalog import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    READER_ROLE,
    TOP_CLEARANCE,
    WRITE_LOCK,
    ensure_vectors,
    has_vectors,
    migrate,
    paragraph_contexts,
    pg_connect,
    postings_enabled,
    vector_literal,
    write_rows,
)
from rag.index.store import IndexStore
from rag.progress import Progress
from rag.text.tokenize import BIGRAM_JOINER
from rag.types import CLASSIFICATIONS, Paragraph, SourceDoc

#: Sort memory of a search (`work_mem`): a question's postings, tens of thousands of rows, sort without spilling.
WORK_MEM = "64MB"
#: The candidates an HNSW search reads (`hnsw.ef_search`) over the graph `rag.index.pg_catalog` builds (m 16,
#: ef_construction 200). Measured on 85,847 e5 vectors and 258 questions, recall of the exact ten / search p50
#: (docs/scale.md, `benchmarks/bench_postgres.py --sweep`): pgvector's defaults (16, 64) with ef_search 100:
#: 0.798 / 2.8 ms; (16, 200) with 200: 0.916 / 4.1 ms, with 400: 0.948 / 5.9 ms; (32, 200) with 400: 0.955 /
#: 10.1 ms. e5's vectors crowd together (cosines 0.7-0.9), so the graph needs a wide search.
EF_SEARCH = 400


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


class PgStore:
    """The store in one PostgreSQL database (`dsn`, a libpq connection string or URI); applies the schema's
    missing migrations on opening. One connection; not for concurrent use from several threads."""

    def __init__(self, dsn: str, params: BM25Params | None = None) -> None:
        self._conn = pg_connect(dsn)
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
        """Apply the migrations the database lacks (`rag.index.pg_catalog.migrate`); return their versions."""
        return migrate(self._conn)

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(version), 0) FROM vankien_schema").fetchone()
        return int(row[0])

    def ensure_vectors(self, embedder: str, dim: int) -> None:
        """Create the vectors table and its HNSW index for `embedder` when missing (`pg_catalog.ensure_vectors`).

        Raises:
            StoreError: the store holds another embedder's vectors, or the server has no pgvector.
        """
        ensure_vectors(self._conn, embedder, dim)

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
        return has_vectors(self._conn)

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
        # The document's text is its paragraphs joined by blank lines; each paragraph's span lies within it.
        spans: list[tuple[int, int]] = []
        at = 0
        for p in paragraphs:
            spans.append((at, at + len(p.text)))
            at += len(p.text) + 2
        doc = SourceDoc(
            doc_id=doc_id,
            source_key=source_key,
            path=source_key,
            fmt="text",
            sha256=sha256,
            title=title,
            doc_type="văn bản",
            number=None,
            issuer=None,
            issued=None,
            place=None,
            summary=None,
            classification=CLASSIFICATIONS[level],
            text="\n\n".join(p.text for p in paragraphs),
        )
        rows = [
            Paragraph(p.paragraph_id, doc_id, p.n, p.text, section="", page=None, start=start, end=end)
            for p, (start, end) in zip(paragraphs, spans, strict=True)
        ]
        return self.write_source(doc, rows, [p.context for p in paragraphs], vectors)

    def write_source(
        self,
        doc: SourceDoc,
        paragraphs: Sequence[Paragraph],
        contexts: Sequence[str] | None = None,
        vectors: npt.NDArray[np.float32] | None = None,
    ) -> str:
        """Write a whole document (the catalog's row, its paragraphs, postings and vectors) in one transaction, and
        log the change for the replicas; `contexts`: what is indexed beside each paragraph (None: computed as
        `IndexStore` computes it). Returns "ok", "unchanged" (same source and sha256: nothing written) or
        "replaced".

        Raises:
            ValueError: `vectors` not one row per paragraph.
            StoreError: vectors given before `ensure_vectors`.
        """
        if vectors is not None and len(vectors) != len(paragraphs):
            raise ValueError(f"{len(vectors)} vectors for {len(paragraphs)} paragraphs")
        if vectors is not None and not self._has_vectors():
            raise StoreError("vectors written before ensure_vectors", "Kho văn bản chưa được tạo cho vectơ nhúng.")
        contexts = list(contexts) if contexts is not None else paragraph_contexts(doc, paragraphs)
        with self._conn.transaction():
            cur = self._conn.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            old = cur.execute("SELECT sha256 FROM documents WHERE source_key = %s", (doc.source_key,)).fetchone()
            if old is not None and old[0] == doc.sha256:
                return "unchanged"
            status, _ = write_rows(cur, doc, paragraphs, contexts, vectors, postings=postings_enabled(self._conn))
        return status

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
        if not postings_enabled(self._conn):
            raise StoreError(
                "this store keeps no BM25 postings (VANKIEN_PG_POSTINGS=off when it was created)",
                "Kho PostgreSQL này không lưu chỉ mục từ khóa (tạo với VANKIEN_PG_POSTINGS=off); hãy tìm qua dịch vụ "
                "Văn Kiện thay vì truy vấn trực tiếp cơ sở dữ liệu.",
            )
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
        literal = vector_literal(vector)
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
            doc = store.catalog.document(info.doc_id)
            matrix = vectors.vectors([pid for pid, _, _ in rows]) if vectors is not None and rows else None
            paragraphs = [para for _, para, _ in rows]
            counts[pg.write_source(doc, paragraphs, [context for _, _, context in rows], matrix)] += 1
        if progress is not None:
            progress.advance(1)
    if progress is not None:
        progress.finish()
    pg.vacuum()
    return counts
