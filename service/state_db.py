"""Where the service keeps what must outlive a request: a private SQLite file per store on one machine, or the shared
PostgreSQL database when several API replicas serve one archive (`Settings.store`, docs/scale.md).

Conversations, sign-in sessions, ingest jobs and rate-limit buckets are then rows every replica reads and writes:
a follow-up asked through another replica continues its conversation, a signed-in cadre stays signed in whichever
replica answers, a job's status is seen everywhere, and a caller's request rate is counted once, not once per
replica. The stores keep one SQL text: `StateDb` runs it on SQLite as written and on PostgreSQL with its
placeholders (`?` -> `%s`) and the few type names that differ (an autoincrement key, a double) translated.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag import StoreError, pg_connect

#: The advisory lock replicas take while creating the service's tables (an arbitrary constant: "vk", 17, 2).
_SCHEMA_LOCK = 0x766B_1702
_DDL = (
    (re.compile(r"INTEGER PRIMARY KEY AUTOINCREMENT", re.I), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
)
_PG_MESSAGE = "Không truy cập được cơ sở dữ liệu PostgreSQL dùng chung của dịch vụ; hãy thử lại sau."


def open_private_db(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """A SQLite file only the service user can read (0600), in WAL mode, with `schema` applied; `what` names it in
    the Vietnamese error ("kho phiên đăng nhập")."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(schema)
        return db
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"cannot open {path}: {exc}", f"Không mở được {what} (kiểm tra quyền ghi thư mục chỉ mục)."
        ) from exc


def pg_sql(sql: str) -> str:
    """SQLite's SQL as PostgreSQL reads it: `?` placeholders become `%s` (a literal `%` doubles)."""
    return sql.replace("%", "%%").replace("?", "%s")


def pg_ddl(schema: str) -> str:
    for pattern, replacement in _DDL:
        schema = pattern.sub(replacement, schema)
    return schema


class StateDb:
    """One connection to the service's state (thread-safe when callers hold their own lock around each use, as the
    stores do).

    Args:
        path: the private SQLite file used on one machine (created 0600); None: in memory (tests).
        schema: the tables, in SQLite's SQL (`CREATE TABLE IF NOT EXISTS ...`).
        what: how the Vietnamese error names it ("kho phiên đăng nhập").
        store: a postgresql:// URI: the tables live there instead, shared by every replica.
    """

    def __init__(self, path: Path | None, schema: str, what: str, store: str | None = None) -> None:
        self.path = path
        self.what = what
        self.store = store or None
        self._lock = threading.RLock()
        if self.store is None:
            if path is None:
                self._sqlite: sqlite3.Connection | None = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
                self._sqlite.executescript(schema)
            else:
                self._sqlite = open_private_db(path, schema, what)
            self._sqlite.row_factory = sqlite3.Row
            self._pg: Any = None
            return
        self._sqlite = None
        self._pg = self._connect()
        with self._pg.transaction():
            self._pg.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            self._pg.execute(pg_ddl(schema))

    @property
    def postgres(self) -> bool:
        return self._pg is not None

    def _connect(self) -> Any:
        return pg_connect(str(self.store))

    def _conn(self) -> Any:
        if self._pg.closed or self._pg.broken:
            self._pg = self._connect()
        return self._pg

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (`fetchone`, `fetchall`, `rowcount`)."""
        if self._sqlite is not None:
            return self._sqlite.execute(sql, params)
        import psycopg

        with self._lock:
            try:
                return self._conn().execute(pg_sql(sql), params)
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL ({self.what}): {exc}", _PG_MESSAGE) from exc

    @contextmanager
    def transaction(self) -> Iterator[StateDb]:
        """One transaction (SQLite: `BEGIN IMMEDIATE`, so two writers queue instead of failing mid-way)."""
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            else:
                self._sqlite.execute("COMMIT")
            return
        import psycopg

        with self._lock:
            try:
                with self._conn().transaction():
                    yield self
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL ({self.what}): {exc}", _PG_MESSAGE) from exc

    def columns(self, table: str) -> set[str]:
        """The column names of a table."""
        if self._sqlite is not None:
            return {row[1] for row in self._sqlite.execute(f"PRAGMA table_info({table})")}
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        ).fetchall()
        return {row[0] for row in rows}

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
            else:
                self._pg.close()
