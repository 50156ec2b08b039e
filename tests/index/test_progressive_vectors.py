"""Progressive vectors: a committed document is searchable lexically at once and joins the dense side when its
vectors are in; the vectors follow their own cursor (foreground in `ingest`, or a background thread), removals
leave both sides together, a stopped run resumes where its last checkpoint was and embeds only what was missing,
and the status (`pending_vectors`) says how many paragraphs still wait."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag import Library
from rag.index import store as store_module
from rag.index.embedders import Embedder, Vectors

DOCS = {
    "nq-so.txt": (
        "NGHỊ QUYẾT\nvề chuyển đổi số quốc gia\nTài liệu mẫu, không phải văn bản chính thức.\n"
        "I. MỤC TIÊU\n1. Đến năm 2030, kinh tế số đạt 30% GDP.\n2. Mọi xã có hạ tầng cáp quang.\n"
        "II. GIẢI PHÁP\n1. Đào tạo kỹ năng số cho cán bộ.\n2. Xây dựng cơ sở dữ liệu dân cư.\n"
        "3. Bảo đảm an toàn thông tin mạng.\n"
    ),
    "kl-y-te.txt": (
        "KẾT LUẬN\nvề chăm sóc sức khỏe nhân dân\nTài liệu mẫu, không phải văn bản chính thức.\n"
        "1. Tuổi thọ trung bình đạt 75 tuổi vào năm 2030.\n2. Bảo hiểm y tế bao phủ toàn dân.\n"
        "3. Mỗi xã có trạm y tế đạt chuẩn.\n"
    ),
}
NEW_DOC = (
    "CHỈ THỊ\nvề phòng chống thiên tai\nTài liệu mẫu, không phải văn bản chính thức.\n"
    "1. Các tỉnh ven biển di dời dân khỏi vùng sạt lở trước mùa mưa bão.\n"
)


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


class GatedEmbedder:
    """Wraps an embedder; `embed_documents` waits until `gate` is set (a slow model), counting what it embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.embedded = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def _dense_docs(library: Library, query: str) -> set[str]:
    return {h.paragraph.doc_id for h in library.search(query, k=20, mode="dense")}


def _lexical_docs(library: Library, query: str) -> set[str]:
    return {h.paragraph.doc_id for h in library.search(query, k=20, mode="lexical")}


def test_foreground_ingest_embeds_everything_before_it_returns(tmp_path: Path) -> None:
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([_write(tmp_path / "docs", DOCS)])
        store = library.store
        total = library.catalog.counts()["paragraphs"]
        assert len(store.vectors or []) == total
        assert library.pending_vectors() == 0 and store.vectors_applied == store.applied
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parts"]["vectors"]["generation"] == manifest["parts"]["lexical"]["generation"]
    with Library(tmp_path / "ix", create=False) as reopened:
        assert reopened.pending_vectors() == 0  # read from the manifest, no index loaded
        assert reopened._store is None


def test_background_document_is_searchable_lexically_at_once_and_densely_later(tmp_path: Path) -> None:
    with Library(tmp_path / "ix", embedder="hash:64", background_vectors=True) as library:
        library.ingest([_write(tmp_path / "docs", DOCS)])
        store = library.store
        assert store._vector_worker is not None
        store._vector_worker.join(30)
        assert library.pending_vectors() == 0
        assert store._vector_part is not None
        gated = GatedEmbedder(store._vector_part.embedder)
        store._vector_part.embedder = gated

        report = library.ingest([_write(tmp_path / "new", {"ct-thien-tai.txt": NEW_DOC})])
        new_id = next(r.doc_id for r in report.results if r.doc_id)
        assert gated.entered.wait(30)  # the worker is inside the (slow) model now
        # Searches are not blocked by it: lexically the new document is there, densely not yet.
        assert new_id in _lexical_docs(library, "di dời dân khỏi vùng sạt lở")
        assert new_id not in _dense_docs(library, "di dời dân khỏi vùng sạt lở")
        # In the fused ranking its lexical evidence stands in for the missing dense score: it is not pushed down.
        assert library.search("di dời dân khỏi vùng sạt lở", k=1)[0].paragraph.doc_id == new_id
        new_paragraphs = library.catalog.paragraph_count(new_id)
        assert library.pending_vectors() == new_paragraphs > 0

        gated.gate.set()
        store._vector_worker.join(30)
        assert library.pending_vectors() == 0 and gated.embedded == new_paragraphs
        assert new_id in _dense_docs(library, "di dời dân khỏi vùng sạt lở")
    # The worker saved the vector snapshot when it finished: a new process has nothing to redo.
    with Library(tmp_path / "ix", create=False) as reopened:
        assert reopened.pending_vectors() == 0


def test_a_removed_document_leaves_the_dense_side_at_once(tmp_path: Path) -> None:
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([_write(tmp_path / "docs", DOCS)])
        store = library.store
        doc_id = next(d.doc_id for d in library.documents() if d.path.endswith("kl-y-te.txt"))
        pids = store.pids_of([doc_id])
        assert all(int(p) in store.vectors for p in pids)  # type: ignore[operator]
        library.remove(doc_id)
        assert not any(int(p) in store.vectors for p in pids)  # type: ignore[operator]
        assert doc_id not in _dense_docs(library, "bảo hiểm y tế toàn dân")
        library.refresh()
        assert library.pending_vectors() == 0


def test_a_stopped_run_resumes_from_its_checkpoint_and_embeds_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "VECTOR_BATCH", 2)
    monkeypatch.setattr(store_module, "VECTOR_CHECKPOINT", 2)
    docs = _write(tmp_path / "docs", DOCS)
    with Library(tmp_path / "full", embedder="hash:64") as reference:
        reference.ingest([docs])
        ref_store = reference.store
        assert ref_store.vectors is not None
        expected = {int(p): ref_store.vectors.vectors([int(p)])[0] for p in ref_store.vectors.ids()}

    with Library(tmp_path / "ix", embedder="hash:64", background_vectors=True) as library:
        store = library.store
        monkeypatch.setattr(store, "start_vector_worker", lambda: False)  # no worker: the test drives the vectors
        library.ingest([docs])
        total = library.pending_vectors()
        assert total == library.catalog.counts()["paragraphs"]

        first = library.catalog.changes_since(0)[0]
        assert first.pid_min is not None and first.pid_max is not None
        first_size = first.pid_max - first.pid_min + 1

        def stop_inside_the_second_document(done: int, todo: int) -> None:
            if done > first_size:
                store._stop_vectors.set()  # as a crash after the last checkpoint: nothing is saved at the stop

        store.sync_vectors(stop_inside_the_second_document)
        store._stop_vectors.clear()
        # The cursor moves by whole catalog changes (documents): the checkpoint holds the first one.
        saved = _saved_generation(tmp_path / "ix")
        assert saved == first.seq < library.catalog.last_change()

    with Library(tmp_path / "ix", create=False) as resumed:
        pending = resumed.pending_vectors()
        assert pending == total - first_size > 0
        embedded = resumed.store.sync_vectors()
        assert embedded == resumed.catalog.paragraphs_added_since(saved) == pending
        got = resumed.store.vectors
        assert got is not None and sorted(got.ids().tolist()) == sorted(expected)
        for pid, vector in expected.items():
            np.testing.assert_allclose(got.vectors([pid])[0], vector, atol=1e-6)


def _saved_generation(index_dir: Path) -> int:
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    return int(manifest["parts"]["vectors"]["generation"])


def test_small_batches_embed_the_same_text_as_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that starts inside a document still embeds each paragraph under its section headings."""
    docs = _write(tmp_path / "docs", DOCS)
    vectors = {}
    for batch in (10_000, 1):
        monkeypatch.setattr(store_module, "VECTOR_BATCH", batch)
        with Library(tmp_path / f"ix{batch}", embedder="hash:64") as library:
            library.ingest([docs])
            index = library.store.vectors
            assert index is not None
            vectors[batch] = index.vectors(sorted(index.ids().tolist()))
    np.testing.assert_array_equal(vectors[1], vectors[10_000])


def test_docs_command_reports_paragraphs_waiting_for_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vankien.cli import main

    with Library(tmp_path / "ix", embedder="hash:64", background_vectors=True) as library:
        library.store.start_vector_worker = lambda: False  # type: ignore[method-assign]
        library.ingest([_write(tmp_path / "docs", DOCS)])
        waiting = library.catalog.counts()["paragraphs"]
    capsys.readouterr()
    assert main(["docs", "--index", str(tmp_path / "ix"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending_vectors"] == waiting
    assert main(["docs", "--index", str(tmp_path / "ix")]) == 0
    assert f"Còn {waiting} đoạn chờ vectơ" in capsys.readouterr().out
    assert main(["ingest", "--index", str(tmp_path / "ix"), str(tmp_path / "docs"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["docs", "--index", str(tmp_path / "ix"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending_vectors"] == 0


class RecordingEmbedder(GatedEmbedder):
    """A gated embedder that also records which document each batch of texts came from (by a marker word)."""

    def __init__(self, inner: Embedder, markers: dict[str, str]) -> None:
        super().__init__(inner)
        self.markers = markers
        self.batches: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        found = [name for name, word in self.markers.items() if any(word in t for t in texts)]
        self.batches.append("+".join(found))
        return super().embed_documents(texts)


def test_vectors_come_lowest_level_and_small_first_and_a_new_upload_does_not_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a large tối-mật document is being embedded, a public note uploaded after it gets its vectors after
    the batch in progress, not after the whole restricted document: how soon a public document is found by meaning
    does not depend on restricted text waiting ahead of it (and a small upload does not wait for a large one)."""
    monkeypatch.setattr(store_module, "VECTOR_BATCH", 4)
    big = "KẾ HOẠCH\nvề phương án zqmat\nTài liệu mẫu.\n" + "".join(
        f"{i}. Nhiệm vụ zqmat số {i} của lực lượng chuyên trách.\n" for i in range(1, 21)
    )
    with Library(tmp_path / "ix", embedder="hash:64", background_vectors=True) as library:
        library.ingest([_write(tmp_path / "docs", DOCS)])
        store = library.store
        assert store._vector_worker is not None
        store._vector_worker.join(30)
        assert store._vector_part is not None
        recorder = RecordingEmbedder(store._vector_part.embedder, {"mat": "zqmat", "public": "sạt lở"})
        store._vector_part.embedder = recorder
        library.ingest([_write(tmp_path / "mat", {"kh-mat.txt": big})], "toi-mat")
        assert recorder.entered.wait(30)  # the worker is inside the restricted document's first batch
        library.ingest([_write(tmp_path / "new", {"ct-thien-tai.txt": NEW_DOC})])
        recorder.gate.set()
        deadline = threading.Event()
        for _ in range(300):
            if library.pending_vectors() == 0:
                break
            deadline.wait(0.1)
        assert library.pending_vectors() == 0
        assert recorder.batches[0] == "mat"  # the batch that was running
        assert recorder.batches[1] == "public"  # then the public note, before the rest of the restricted one
        assert set(recorder.batches[2:]) == {"mat"} and len(recorder.batches) >= 4
        # Nothing was embedded twice, and the cursor caught up with every change.
        assert sum(1 for b in recorder.batches if b == "public") == 1
        assert store.vectors_applied == library.catalog.last_change()


def test_the_vector_sync_turns_a_grown_level_into_an_inverted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `ANN_FROM` vectors a level is rebuilt as an inverted file by the vector sync itself (never a request);
    searches find the same documents, and the snapshot reopens as such."""
    from rag.index import vectors as vectors_module

    monkeypatch.setattr(vectors_module, "ANN_FROM", 12)
    monkeypatch.setattr(store_module, "VECTOR_BATCH", 4)
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([_write(tmp_path / "docs", DOCS)])
        index = library.store.vectors
        assert index is not None and len(index) >= 12
        assert index.kinds()[0].startswith("ivf")
        for query in ("kinh tế số đạt 30% GDP", "bảo hiểm y tế bao phủ toàn dân"):  # as exact search finds them
            exact = index.search(library.store.embedder.embed_query(query), 5, exact=True)
            assert [p for p, _ in index.search(library.store.embedder.embed_query(query), 5)] == [p for p, _ in exact]
    manifest = json.loads((tmp_path / "ix" / "vectors" / "vectors.json").read_text(encoding="utf-8"))
    assert manifest["levels"][0]["kind"] == "ivf"
    with Library(tmp_path / "ix", create=False) as reopened:
        report = reopened.ingest([_write(tmp_path / "more", {"ct-thien-tai.txt": NEW_DOC})])
        new_id = next(r.doc_id for r in report.results if r.doc_id)
        assert reopened.pending_vectors() == 0
        assert new_id in _dense_docs(reopened, "di dời dân khỏi vùng sạt lở")
        assert reopened.store.vectors is not None and reopened.store.vectors.kinds()[0].startswith("ivf")


def test_a_vector_run_that_yields_to_new_commits_reads_each_change_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a .jsonl is committed record by record the vector worker yields after every batch and starts again;
    each start used to re-read every pending change and look up each one's document (quadratic, and it held the
    catalog that searches read). Every change is read once, documents are looked up in a few queries, and every
    paragraph still gets its vector."""
    monkeypatch.setattr(store_module, "VECTOR_BATCH", 2)
    docs = {f"tin-{i:02d}.txt": f"BẢN TIN\nTin số {i} về hạ tầng số\n1. Xã {i} có cáp quang.\n" for i in range(12)}
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([_write(tmp_path / "docs", docs)], commit_only=True)
        store = library.store
        catalog = library.catalog
        read: list[int] = []
        looked_up: list[int] = []
        real_changes, real_classes = catalog.changes_since, catalog.classifications
        monkeypatch.setattr(catalog, "changes_since", lambda seq: read.append(len(c := real_changes(seq))) or c)
        monkeypatch.setattr(catalog, "classifications", lambda ids: looked_up.append(len(ids)) or real_classes(ids))
        late = iter(range(8))

        def commit_another(done: int, todo: int) -> None:  # a record committed while the run embeds
            i = next(late, None) if done else None
            if i is not None:
                library.ingest([_write(tmp_path / f"late{i}", {f"muon-{i}.txt": NEW_DOC.replace("bão", f"bão {i}")})],
                               commit_only=True)  # fmt: skip

        runs = 0
        while library.pending_vectors() and runs < 100:
            store.sync_vectors(commit_another, yield_to_new=True)
            runs += 1
        assert library.pending_vectors() == 0 and runs > 8  # it did yield to the new commits
        changes = catalog.last_change()
        assert sum(read) <= changes + runs  # each change read once (not once per run)
        assert sum(looked_up) == len(docs) + 8  # each document looked up once, in batches
        assert len(looked_up) <= 9
        assert store.vectors_applied == changes
        assert {h.paragraph.doc_id for h in library.search("di dời dân vùng sạt lở", k=20, mode="dense")}


def test_short_documents_share_a_vector_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The records of a .jsonl are documents of one or two paragraphs: they are embedded VECTOR_BATCH paragraphs
    at a time across documents (one embedder call and one exclusive step per batch, not per record)."""
    monkeypatch.setattr(store_module, "VECTOR_BATCH", 8)
    docs = {f"tin-{i:02d}.txt": f"BẢN TIN\nTin số {i} về hạ tầng số\n1. Xã {i} có cáp quang.\n" for i in range(12)}
    with Library(tmp_path / "ix", embedder="hash:64") as library:
        library.ingest([_write(tmp_path / "docs", docs)], commit_only=True)
        store = library.store
        assert store._vector_part is not None
        embedder = store._vector_part.embedder
        calls: list[int] = []
        real = embedder.embed_documents
        monkeypatch.setattr(embedder, "embed_documents", lambda texts: calls.append(len(texts)) or real(texts))
        waiting = library.pending_vectors()
        assert store.sync_vectors() == waiting
        assert sum(calls) == waiting and max(calls) <= 8
        assert len(calls) <= -(-waiting // 8) + 2  # batches across documents (a batch ends where one would not fit)
        assert library.pending_vectors() == 0 and store.vectors_applied == library.catalog.last_change()
        assert store.vectors is not None
        assert set(store.table.pids.tolist()) <= set(np.asarray(store.vectors.ids()).tolist())  # every paragraph


def test_stopping_the_vector_worker_while_it_is_being_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store closed while a search is starting its vector worker: the stop waits for the start instead of joining
    a thread that was made but not yet started (it raised "cannot join thread before it is started", seen as a rare
    failure of a test that closes a serving library right after catching up)."""
    real_thread = threading.Thread
    starting, release = threading.Event(), threading.Event()

    class SlowToStart(real_thread):
        def start(self) -> None:
            starting.set()
            assert release.wait(10)
            super().start()

    with Library(tmp_path / "ix", embedder="hash:64") as writer:
        writer.ingest([_write(tmp_path / "docs", DOCS)], commit_only=True)  # paragraphs waiting for vectors
        store = writer.store
        errors: list[BaseException] = []

        def stop() -> None:
            try:
                store.stop_vector_worker(timeout=10)
            except BaseException as exc:  # the failure this test looks for
                errors.append(exc)

        monkeypatch.setattr(store_module.threading, "Thread", SlowToStart)  # the store's worker starts slowly
        starter = real_thread(target=store.start_vector_worker)
        starter.start()
        assert starting.wait(10)  # the worker thread is made, not started
        stopper = real_thread(target=stop)
        stopper.start()
        stopper.join(0.3)  # the stop arrives while the start is under way
        release.set()
        starter.join(10)
        stopper.join(10)
        monkeypatch.undo()
        assert errors == []
