import sqlite3
from pathlib import Path

import pytest

from rag.errors import NotFound, StoreError
from rag.index.catalog import Catalog
from rag.types import Paragraph, SourceDoc


def _doc(doc_id: str, source_key: str, texts: list[str], sha: str = "s1") -> tuple[SourceDoc, list[Paragraph]]:
    text = "\n\n".join(texts)
    paragraphs, offset = [], 0
    for n, t in enumerate(texts):
        paragraphs.append(Paragraph(f"{doc_id}/p{n:04d}", doc_id, n, t, "I", 1, offset, offset + len(t)))
        offset += len(t) + 2
    doc = SourceDoc(
        doc_id,
        source_key,
        "/x.md",
        "md",
        sha,
        "Tiêu đề",
        "nghị quyết",
        "1-NQ/TW",
        "Bộ Chính trị",
        "2025-01-01",
        "Hà Nội",
        None,
        "cong-khai",
        text,
        {"k": "v"},
    )
    return doc, paragraphs


def test_put_get_remove_and_changes(tmp_path: Path) -> None:
    with Catalog.open(tmp_path) as cat:
        doc, paras = _doc("nq-1-2025", "/a.md", ["Đoạn một.", "Đoạn hai."])
        assert cat.put_document(doc, paras) == "ok"
        assert cat.document("nq-1-2025").metadata == {"k": "v"}
        assert [p.text for p in cat.paragraphs("nq-1-2025")] == ["Đoạn một.", "Đoạn hai."]
        assert cat.paragraph("nq-1-2025/p0001").text == "Đoạn hai."
        changes = cat.changes_since(0)
        assert [(c.op, c.pid_max - c.pid_min + 1) for c in changes] == [("add", 2)]
        # replacing: old paragraphs removed, new pids never reuse old ones
        doc2, paras2 = _doc("nq-1-2025", "/a.md", ["Đoạn mới."], sha="s2")
        assert cat.put_document(doc2, paras2) == "replaced"
        ops = [(c.op, c.pid_min, c.pid_max) for c in cat.changes_since(changes[-1].seq)]
        assert ops[0] == ("remove", changes[0].pid_min, changes[0].pid_max)
        assert ops[1][0] == "add" and ops[1][1] > changes[0].pid_max
        cat.remove_document("nq-1-2025")
        assert cat.counts() == {"documents": 0, "paragraphs": 0}
        with pytest.raises(NotFound):
            cat.document("nq-1-2025")
        with pytest.raises(NotFound):
            cat.remove_document("nq-1-2025")
        assert cat.integrity_problems() == []


def test_failed_put_leaves_nothing(tmp_path: Path) -> None:
    with Catalog.open(tmp_path) as cat:
        doc, paras = _doc("d", "/a.md", ["Một.", "Hai."])
        broken = [paras[0], Paragraph("d/p0000", "d", 1, "Hai.", "", None, 6, 10)]  # duplicate paragraph id
        with pytest.raises(sqlite3.IntegrityError):
            cat.put_document(doc, broken)
        assert cat.counts() == {"documents": 0, "paragraphs": 0}
        assert cat.changes_since(0) == []
        bad_span = [Paragraph("d/p0000", "d", 0, "Khác", "", None, 0, 4)]
        with pytest.raises(ValueError):
            cat.put_document(doc, bad_span)


def test_free_doc_id(tmp_path: Path) -> None:
    with Catalog.open(tmp_path) as cat:
        assert cat.free_doc_id("nq-57-2024") == "nq-57-2024"
        cat.put_document(*_doc("nq-57-2024", "/a.md", ["A."]))
        cat.put_document(*_doc("nq-57-2024-2", "/b.md", ["B."]))
        assert cat.free_doc_id("nq-57-2024") == "nq-57-2024-3"
        assert cat.free_doc_id("nq-57") == "nq-57"


def test_missing_and_corrupt_catalog(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        Catalog.open(tmp_path / "none", create=False)
    assert "vankien ingest" in err.value.user_message
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "catalog.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError):
        Catalog.open(bad)


def _legacy(index: Path, restricted: dict[str, str], schema: str) -> None:
    """Make a catalog look like one written before id namespaces: restricted documents under plain ids."""
    db = sqlite3.connect(index / "catalog.sqlite")
    with db:
        db.execute("PRAGMA defer_foreign_keys = ON")
        for new, old in restricted.items():
            db.execute("UPDATE documents SET doc_id = ? WHERE doc_id = ?", (old, new))
            db.execute(
                "UPDATE paragraphs SET doc_id = ?, paragraph_id = ? || substr(paragraph_id, ?) WHERE doc_id = ?",
                (old, old, len(new) + 1, new),
            )
            db.execute("UPDATE changes SET doc_id = ? WHERE doc_id = ?", (old, new))
        if schema == "1":
            db.execute("ALTER TABLE documents DROP COLUMN ingested_by")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (schema,))
    db.close()


@pytest.mark.parametrize("schema", ["1", "2"])
def test_restricted_documents_of_an_older_catalog_move_to_their_namespace(tmp_path: Path, schema: str) -> None:
    """A mật document stored as `nq-904-2026` by an older version becomes `nq-904-2026.mat` on open (with its
    paragraphs), so a public upload numbered 904 gets the plain id, as if the hidden one did not exist."""
    from rag import Library, Principal

    def resolution(number: int, extra: str) -> str:
        return (
            f"BỘ CHÍNH TRỊ\nSố {number}-NQ/TW\nHà Nội, ngày 5 tháng 3 năm 2026\n\nNGHỊ QUYẾT\n"
            f"về thử nghiệm số {number}\n\nTài liệu mẫu, không phải văn bản chính thức. {extra}\n"
        )

    folder = tmp_path / "mat"
    folder.mkdir()
    (folder / "nq904.txt").write_text(resolution(904, "Phương án zqbimat."), encoding="utf-8")
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        [doc_id] = [r.doc_id for r in library.ingest([folder], "mat").results]
    assert doc_id == "nq-904-2026.mat"
    _legacy(tmp_path / "ix", {doc_id: "nq-904-2026"}, schema)
    with Catalog.open(tmp_path / "ix", create=False) as migrated:  # opening migrates
        assert migrated.document_info("nq-904-2026") is None
    public = tmp_path / "cong-khai"
    public.mkdir()
    (public / "nq904.txt").write_text(resolution(904, "Bản công khai."), encoding="utf-8")
    with Library(tmp_path / "ix", create=False) as library:
        info = library.catalog.document_info("nq-904-2026.mat")
        assert info is not None and info.classification == "mat"
        assert library.catalog.integrity_problems() == []
        hits = library.search("zqbimat", 5, principal=Principal(name="a", role="reader", clearance="mat"))
        assert hits and hits[0].paragraph_id.startswith("nq-904-2026.mat/p")
        [public_id] = [r.doc_id for r in library.ingest([public]).results]
        assert public_id == "nq-904-2026"
