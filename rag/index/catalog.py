"""The catalog: documents and paragraphs in SQLite (WAL mode), the single commit point of an index.

Derived indexes (lexical, vectors) are rebuilt or brought up to date from it: every change to the
catalog appends a row to `changes` in the same transaction, and a derived index records the last
change sequence number it applied. A document is therefore either wholly in the catalog or not at
all, and a derived index that lags behind (after a crash) catches up by replaying the changes.

Paragraphs get an integer `pid` (AUTOINCREMENT, never reused) that derived indexes use as their key;
the pids of one document are contiguous, so a change row records them as a range.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import NotFound, StoreError
from rag.index.durable import PRIVATE_FILE, private_dir
from rag.text.ids import doc_id_suffix
from rag.types import DEFAULT_CLASSIFICATION, DocumentInfo, Paragraph, SourceDoc

Int64Array = npt.NDArray[np.int64]

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
#: 2: documents.ingested_by (provenance); 3: restricted documents' ids carry their classification (`doc_id_suffix`).
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source_key TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    fmt TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    number TEXT,
    issuer TEXT,
    issued TEXT,
    place TEXT,
    summary TEXT,
    classification TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    n_paragraphs INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    ingested_by TEXT NOT NULL DEFAULT 'cli'
);
CREATE TABLE IF NOT EXISTS paragraphs (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    paragraph_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    section TEXT NOT NULL,
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_by_doc ON paragraphs(doc_id, n);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    doc_id TEXT NOT NULL,
    pid_min INTEGER,
    pid_max INTEGER
);
"""


def _namespace_restricted_ids(db: sqlite3.Connection) -> int:
    """Give restricted documents whose id predates namespaces (`nq-904-2026` for a mật document) the id of their
    classification's namespace (`nq-904-2026.mat`), with their paragraph ids and change-log entries. Otherwise a
    public upload of the same number would still be numbered around the hidden document (`nq-904-2026-2`),
    revealing that it exists. Returns how many were renamed (their old ids no longer resolve)."""
    db.execute("PRAGMA defer_foreign_keys = ON")  # paragraphs follow their document within this transaction
    taken = {r[0] for r in db.execute("SELECT doc_id FROM documents")}
    renamed = 0
    for old, classification in db.execute(
        "SELECT doc_id, classification FROM documents WHERE classification != ?", (DEFAULT_CLASSIFICATION,)
    ).fetchall():
        suffix = doc_id_suffix(classification)
        if old.endswith(suffix):
            continue
        new, n = old + suffix, 2
        while new in taken:
            new, n = f"{old}-{n}{suffix}", n + 1
        taken.add(new)
        db.execute("UPDATE documents SET doc_id = ? WHERE doc_id = ?", (new, old))
        db.execute(
            "UPDATE paragraphs SET doc_id = ?, paragraph_id = ? || substr(paragraph_id, ?) WHERE doc_id = ?",
            (new, new, len(old) + 1, old),
        )
        db.execute("UPDATE changes SET doc_id = ? WHERE doc_id = ?", (new, old))
        renamed += 1
    return renamed


DOC_COLUMNS = (
    "doc_id, source_key, path, fmt, sha256, title, doc_type, number, issuer, issued, place, summary, "
    "classification, text, metadata, ingested_by"
)
# "end" is quoted: a reserved word in PostgreSQL, whose catalog shares these queries (`rag.index.pg_catalog`).
_INFO_COLUMNS = "doc_id, title, number, doc_type, issuer, issued, classification, n_paragraphs, path, source_key"
_PARA_COLUMNS = 'pid, paragraph_id, doc_id, n, text, section, page, start, "end", kind'


@dataclass(frozen=True, slots=True)
class Change:
    """One catalog change: paragraphs `pid_min..pid_max` of `doc_id` were added or removed."""

    seq: int
    op: str
    doc_id: str
    pid_min: int | None
    pid_max: int | None


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the catalog knows about a source: enough to decide whether re-ingesting changes anything."""

    doc_id: str
    sha256: str
    classification: str


def doc_values(doc: SourceDoc) -> tuple[object, ...]:
    """A document's values in the order of `DOC_COLUMNS` (its metadata as JSON)."""
    metadata = json.dumps(dict(doc.metadata), ensure_ascii=False, sort_keys=True)
    return (
        doc.doc_id, doc.source_key, doc.path, doc.fmt, doc.sha256, doc.title, doc.doc_type, doc.number, doc.issuer,
        doc.issued, doc.place, doc.summary, doc.classification, doc.text, metadata, doc.ingested_by,
    )  # fmt: skip


def _row_to_doc(row: Any) -> SourceDoc:
    """A documents row (`DOC_COLUMNS` and `added_at`; the text may be left out of the query)."""
    return SourceDoc(
        doc_id=row["doc_id"],
        source_key=row["source_key"],
        path=row["path"],
        fmt=row["fmt"],
        sha256=row["sha256"],
        title=row["title"],
        doc_type=row["doc_type"],
        number=row["number"],
        issuer=row["issuer"],
        issued=row["issued"],
        place=row["place"],
        summary=row["summary"],
        classification=row["classification"],
        text=row["text"] if "text" in row.keys() else "",  # noqa: SIM118 (sqlite3.Row has no __contains__)
        metadata=json.loads(row["metadata"]),
        ingested_by=row["ingested_by"],
        added_at=_iso(row["added_at"]),
    )


def _iso(value: object) -> str | None:
    """A commit time as ISO text in UTC (SQLite stores the text; PostgreSQL returns a datetime)."""
    if value is None or isinstance(value, str):
        return value
    assert isinstance(value, datetime)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _row_to_info(r: Any) -> DocumentInfo:
    """A listing row of `_INFO_COLUMNS`."""
    return DocumentInfo(
        doc_id=r["doc_id"],
        title=r["title"],
        number=r["number"],
        doc_type=r["doc_type"],
        issuer=r["issuer"],
        issued=r["issued"],
        classification=r["classification"],
        paragraphs=r["n_paragraphs"],
        path=r["path"],
        source_key=r["source_key"],
    )


def _row_to_paragraph(row: Any) -> Paragraph:
    return Paragraph(
        paragraph_id=row["paragraph_id"],
        doc_id=row["doc_id"],
        n=row["n"],
        text=row["text"],
        section=row["section"],
        page=row["page"],
        start=row["start"],
        end=row["end"],
        kind=row["kind"],
    )


class CatalogReads:
    """The catalog's reads, in SQL that SQLite (`Catalog`) and PostgreSQL (`rag.index.pg_catalog.PgCatalog`) both
    run: `?` placeholders, rows readable by column name. A subclass gives `_all` / `_one` and the few spellings
    that differ (`_COMMIT_ORDER`, `_BY_DOC`, `_ID_ORDER`); `primary=True` marks the reads a write depends on (a
    catalog with a read replica sends them to the primary)."""

    #: A column that grows with commit order (SQLite's rowid; PostgreSQL: the change that added the document).
    _COMMIT_ORDER = "rowid"
    #: How `doc_pids` reaches the paragraphs by document (SQLite needs to be told to use the index).
    _BY_DOC = "INDEXED BY paragraphs_by_doc"
    #: How document ids sort (byte order in both engines).
    _ID_ORDER = "doc_id"

    def _all(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> list[Any]:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> Any:
        raise NotImplementedError

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        """The first column of the first row as an int (0 for NULL)."""
        row = self._one(sql, params)
        return int(row[0] or 0) if row is not None else 0

    def source_state(self, source_key: str) -> SourceState | None:
        """The stored fingerprint of a source, or None when it was never ingested."""
        row = self._one(
            "SELECT doc_id, sha256, classification FROM documents WHERE source_key = ?", (source_key,), primary=True
        )
        return None if row is None else SourceState(row["doc_id"], row["sha256"], row["classification"])

    def free_doc_id(self, base: str, suffix: str = "") -> str:
        """`base + suffix` if no document holds it, else the first free `base-2 + suffix`, `base-3 + suffix`, ...

        `suffix` is the classification's namespace (`doc_id_suffix`): ids of different classifications never
        collide, so the id a document gets depends only on documents of its own classification.
        """
        pattern = base.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
        rows = self._all("SELECT doc_id FROM documents WHERE doc_id LIKE ? ESCAPE '\\'", (pattern,), primary=True)
        taken = {r[0] for r in rows}
        if base + suffix not in taken:
            return base + suffix
        n = 2
        while f"{base}-{n}{suffix}" in taken:
            n += 1
        return f"{base}-{n}{suffix}"

    # -- reads ------------------------------------------------------------------------------------

    def document(self, doc_id: str) -> SourceDoc:
        """A whole document.

        Raises:
            NotFound: if there is no such document.
        """
        row = self._one(f"SELECT {DOC_COLUMNS}, added_at FROM documents WHERE doc_id = ?", (doc_id,))
        if row is None:
            raise NotFound(f"no document {doc_id!r}", f"Không có tài liệu '{doc_id}'.")
        return _row_to_doc(row)

    def documents(self) -> list[DocumentInfo]:
        """All documents, newest issue date first, then by id."""
        rows = self._all(
            f"SELECT {_INFO_COLUMNS} FROM documents ORDER BY issued IS NULL, issued DESC, {self._ID_ORDER}"
        )
        return [_row_to_info(r) for r in rows]

    def earlier_with_number(self, number: str, doc_id: str) -> list[SourceDoc]:
        """The documents committed before `doc_id` that carry the số/ký hiệu `number` (compared without case and
        spaces), oldest first; without their text. Commit order is `_COMMIT_ORDER`'s (a replaced document is
        inserted anew, so it counts as committed when it was replaced)."""
        key = number.replace(" ", "").upper()
        rows = self._all(
            f"SELECT {DOC_COLUMNS.replace('text, ', '')}, added_at FROM documents "
            "WHERE REPLACE(UPPER(number), ' ', '') = ? "
            f"AND {self._COMMIT_ORDER} < (SELECT {self._COMMIT_ORDER} FROM documents WHERE doc_id = ?) "
            f"ORDER BY {self._COMMIT_ORDER}",
            (key, doc_id),
        )
        return [_row_to_doc(r) for r in rows]

    def paragraphs(self, doc_id: str) -> list[Paragraph]:
        """The paragraphs of a document in order (empty when there is no such document)."""
        rows = self._all(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE doc_id = ? ORDER BY n", (doc_id,))
        return [_row_to_paragraph(r) for r in rows]

    def headings(self, doc_id: str) -> list[tuple[str, str]]:
        """(section, text) of a document's heading paragraphs, in order."""
        rows = self._all(
            "SELECT section, text FROM paragraphs WHERE doc_id = ? AND kind = 'heading' ORDER BY n", (doc_id,)
        )
        return [(r[0], r[1]) for r in rows]

    def paragraph_count(self, doc_id: str) -> int:
        row = self._one("SELECT n_paragraphs FROM documents WHERE doc_id = ?", (doc_id,))
        return 0 if row is None else int(row[0])

    def paragraph(self, paragraph_id: str) -> Paragraph:
        """One paragraph by id.

        Raises:
            NotFound: if there is no such paragraph.
        """
        row = self._one(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE paragraph_id = ?", (paragraph_id,))
        if row is None:
            raise NotFound(f"no paragraph {paragraph_id!r}", f"Không có đoạn '{paragraph_id}'.")
        return _row_to_paragraph(row)

    def paragraphs_by_pid(self, pids: Sequence[int]) -> dict[int, Paragraph]:
        """Paragraphs by numeric id; ids that no longer exist are absent from the result."""
        out: dict[int, Paragraph] = {}
        for i in range(0, len(pids), 500):
            chunk = [int(p) for p in pids[i : i + 500]]
            marks = ",".join("?" * len(chunk))
            for row in self._all(f"SELECT {_PARA_COLUMNS} FROM paragraphs WHERE pid IN ({marks})", chunk):
                out[int(row["pid"])] = _row_to_paragraph(row)
        return out

    def paragraph_texts(self) -> list[tuple[str, str]]:
        """(paragraph_id, text) of every paragraph, in pid order."""
        return [(r[0], r[1]) for r in self._all("SELECT paragraph_id, text FROM paragraphs ORDER BY pid")]

    def pid_docs(self) -> list[tuple[int, str]]:
        """(pid, doc_id) of every paragraph, in pid order."""
        return [(int(r[0]), r[1]) for r in self._all("SELECT pid, doc_id FROM paragraphs ORDER BY pid")]

    def document_attributes(self) -> list[tuple[str, str, str | None, str, str | None, str | None, str]]:
        """(doc_id, title, number, doc_type, issuer, issued, classification) of every document, unordered.

        Only columns stored before `text`: SQLite then never reads the documents' full texts (at 15,000 documents,
        0.05 s instead of 0.2 s with a warm cache and ~0.9 s with a cold one)."""
        rows = self._all("SELECT doc_id, title, number, doc_type, issuer, issued, classification FROM documents")
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]

    def doc_pids(self) -> list[tuple[str, Int64Array]]:
        """(doc_id, its paragraph ids in increasing order) of every document that has paragraphs.

        Read from the index on (doc_id, n), not the paragraphs table: one row per document when its ids are one
        run (what an ingest writes), so opening a million-paragraph index reads ~12,000 rows, not a million rows
        and their texts. A document whose ids are not one run has them listed."""
        out: list[tuple[str, Int64Array]] = []
        scattered: list[str] = []
        rows = self._all(f"SELECT doc_id, MIN(pid), MAX(pid), COUNT(*) FROM paragraphs {self._BY_DOC} GROUP BY doc_id")
        for doc_id, lo, hi, n in rows:
            if hi - lo + 1 == n:
                out.append((doc_id, np.arange(lo, hi + 1, dtype=np.int64)))
            else:
                scattered.append(doc_id)
        for doc_id in scattered:
            pids = self._all("SELECT pid FROM paragraphs WHERE doc_id = ? ORDER BY pid", (doc_id,))
            out.append((doc_id, np.fromiter((r[0] for r in pids), dtype=np.int64, count=len(pids))))
        return out

    def paragraph_rows(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, str, str, str, str]]:
        """(pid, doc_id, text, section, kind) of the paragraphs in the pid ranges, in pid order."""
        out: list[tuple[int, str, str, str, str]] = []
        for lo, hi in ranges:
            rows = self._all(
                "SELECT pid, doc_id, text, section, kind FROM paragraphs WHERE pid BETWEEN ? AND ? ORDER BY pid",
                (lo, hi),
            )
            out.extend((int(r[0]), r[1], r[2], r[3], r[4]) for r in rows)
        return out

    def classifications(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id -> classification of those of `doc_ids` that exist, in a few queries (not one per document)."""
        out: dict[str, str] = {}
        for i in range(0, len(doc_ids), 500):
            chunk = list(doc_ids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._all(f"SELECT doc_id, classification FROM documents WHERE doc_id IN ({marks})", chunk)
            out.update((r[0], r[1]) for r in rows)
        return out

    def document_info(self, doc_id: str) -> DocumentInfo | None:
        """A document's listing row, or None."""
        r = self._one(f"SELECT {_INFO_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,))
        return None if r is None else _row_to_info(r)

    def all_pids(self) -> list[int]:
        return [int(r[0]) for r in self._all("SELECT pid FROM paragraphs ORDER BY pid")]

    def last_change(self) -> int:
        return self._scalar("SELECT MAX(seq) FROM changes")

    def changes_since(self, seq: int) -> list[Change]:
        rows = self._all("SELECT seq, op, doc_id, pid_min, pid_max FROM changes WHERE seq > ? ORDER BY seq", (seq,))
        return [Change(r["seq"], r["op"], r["doc_id"], r["pid_min"], r["pid_max"]) for r in rows]

    def paragraphs_added_since(self, seq: int) -> int:
        """Paragraph ids allocated by the additions logged after change `seq` (removed ones included)."""
        return self._scalar(
            "SELECT COALESCE(SUM(pid_max - pid_min + 1), 0) FROM changes "
            "WHERE seq > ? AND op = 'add' AND pid_min IS NOT NULL AND pid_max IS NOT NULL",
            (seq,),
        )

    def counts(self) -> dict[str, int]:
        return {
            "documents": self._scalar("SELECT COUNT(*) FROM documents"),
            "paragraphs": self._scalar("SELECT COUNT(*) FROM paragraphs"),
        }

    def _invariant_problems(self) -> list[str]:
        """The catalog's own invariants: each document's paragraph count, each paragraph's span in its text."""
        mismatched = self._all(
            "SELECT d.doc_id FROM documents d LEFT JOIN paragraphs p ON p.doc_id = d.doc_id "
            "GROUP BY d.doc_id, d.n_paragraphs HAVING COUNT(p.pid) != d.n_paragraphs"
        )
        problems = [f"paragraph count differs for {r[0]}" for r in mismatched]
        for row in self._all(
            "SELECT p.paragraph_id FROM paragraphs p JOIN documents d ON d.doc_id = p.doc_id "
            'WHERE substr(d.text, p.start + 1, p."end" - p.start) != p.text LIMIT 20'
        ):
            problems.append(f"span mismatch for {row[0]}")
        return problems


class Catalog(CatalogReads):
    """Documents and paragraphs of one index directory.

    One `Catalog` object per thread; several processes may open the same file (SQLite serialises
    writers; readers see the last committed state thanks to WAL).
    """

    #: A local catalog has no identity: the snapshots beside it are its own (`PgCatalog.identity` has one).
    identity = ""
    #: Vectors live in the index's own snapshot, not in the catalog (`PgCatalog` shares them between replicas).
    shares_vectors = False

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if not path.exists() and not create:
            raise StoreError(
                f"no catalog at {path}",
                f"Chưa có chỉ mục tại '{path.parent}'. Hãy nạp tài liệu trước: vankien ingest <tệp/thư mục>.",
            )
        # The index directory and the catalog are private to their owner (0700 / 0600): they hold restricted text.
        # SQLite gives its -wal and -shm files the catalog's mode.
        private_dir(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
        if path.stat().st_mode & 0o777 != PRIVATE_FILE:
            os.chmod(path, PRIVATE_FILE)
        # One connection shared by the threads of a process: every use holds this lock.
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"catalog {path} unusable: {exc}", f"Tệp danh mục '{path}' bị hỏng hoặc không phải danh mục."
            ) from exc

    @classmethod
    def open(cls, index_dir: Path, *, create: bool = True) -> Catalog:
        """Open (and by default create) the catalog of an index directory."""
        return cls(index_dir / CATALOG_FILE, create=create)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_schema(self) -> None:
        row = self._one("SELECT value FROM meta WHERE key = 'schema_version'")
        if row is None:
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            return
        version = int(row["value"])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"catalog schema {row['value']} != {SCHEMA_VERSION}",
                "Chỉ mục được tạo bởi phiên bản khác của Văn Kiện; hãy xây lại chỉ mục.",
            )
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            if version < 2:  # provenance; documents ingested before were the operator's
                columns = {r["name"] for r in db.execute("PRAGMA table_info(documents)")}
                if "ingested_by" not in columns:
                    db.execute("ALTER TABLE documents ADD COLUMN ingested_by TEXT NOT NULL DEFAULT 'cli'")
            if version < 3:
                renamed = _namespace_restricted_ids(db)
                if renamed:
                    logger.warning("%d restricted documents got ids in their classification's namespace", renamed)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two writers queue instead of failing mid-way.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _all(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[object] = (), *, primary: bool = False) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return row

    # -- metadata ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, value, value),
            )

    # -- writes -----------------------------------------------------------------------------------

    def put_document(self, doc: SourceDoc, paragraphs: Sequence[Paragraph]) -> str:
        """Store a document with its paragraphs in one transaction, replacing any earlier version.

        The earlier version is the document with the same `source_key`; it keeps its doc_id only if
        `doc.doc_id` equals it (the caller decides).

        Returns:
            "ok" for a new document, "replaced" when an earlier version was removed.
        """
        for p in paragraphs:
            if p.doc_id != doc.doc_id or doc.text[p.start : p.end] != p.text:
                raise ValueError(f"paragraph {p.paragraph_id} does not match document {doc.doc_id}")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction() as db:
            old = db.execute("SELECT doc_id FROM documents WHERE source_key = ?", (doc.source_key,)).fetchone()
            status = "ok"
            if old is not None:
                self._delete(db, old["doc_id"])
                status = "replaced"
            db.execute(
                f"INSERT INTO documents ({DOC_COLUMNS}, n_paragraphs, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*doc_values(doc), len(paragraphs), now),
            )
            pids = []
            for p in paragraphs:
                cur = db.execute(
                    "INSERT INTO paragraphs (paragraph_id, doc_id, n, text, section, page, start, end, kind) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (p.paragraph_id, p.doc_id, p.n, p.text, p.section, p.page, p.start, p.end, p.kind),
                )
                pids.append(int(cur.lastrowid or 0))
            if pids and pids != list(range(pids[0], pids[0] + len(pids))):
                raise StoreError(f"non-contiguous pids for {doc.doc_id}")
            db.execute(
                "INSERT INTO changes (op, doc_id, pid_min, pid_max) VALUES ('add', ?, ?, ?)",
                (doc.doc_id, pids[0] if pids else None, pids[-1] if pids else None),
            )
        return status

    def _delete(self, db: sqlite3.Connection, doc_id: str) -> None:
        row = db.execute("SELECT MIN(pid) AS lo, MAX(pid) AS hi FROM paragraphs WHERE doc_id = ?", (doc_id,)).fetchone()
        db.execute("DELETE FROM paragraphs WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        db.execute(
            "INSERT INTO changes (op, doc_id, pid_min, pid_max) VALUES ('remove', ?, ?, ?)",
            (doc_id, row["lo"], row["hi"]),
        )

    def remove_document(self, doc_id: str) -> None:
        """Delete a document and its paragraphs.

        Raises:
            NotFound: if there is no such document.
        """
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone() is None:
                raise NotFound(f"no document {doc_id!r}", f"Không có tài liệu '{doc_id}'.")
            self._delete(db, doc_id)

    def integrity_problems(self) -> list[str]:
        """Problems found by SQLite's integrity check and the catalog's own invariants (empty = sound)."""
        problems = [r[0] for r in self._all("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key violation: {tuple(r)}" for r in self._all("PRAGMA foreign_key_check")]
        return problems + self._invariant_problems()
