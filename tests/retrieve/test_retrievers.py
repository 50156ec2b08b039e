"""Retrieval through the real pipeline: ingest tiny documents, search them, check filters and errors."""

import itertools
from pathlib import Path

import pytest

from rag import Library
from rag.errors import InvalidRequest, StoreError
from rag.retrieve.query import asked_refs, doc_refs
from rag.retrieve.retrievers import HybridRetriever
from rag.types import Filters, Principal

RESOLUTION = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 31-NQ/TW
Hà Nội, ngày 10 tháng 3 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển văn hoá đọc trong cán bộ, đảng viên
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, mỗi chi bộ có tủ sách điện tử dùng chung.
2. Hoà mạng thư viện số tới 100% xã, phường.
II. NHIỆM VỤ
1. Ban Tuyên giáo Trung ương chủ trì xây dựng kho sách số.
"""

DIRECTIVE = """THÀNH ỦY HÀ NỘI
Số 08-CT/TU
Hà Nội, ngày 02 tháng 6 năm 2025
CHỈ THỊ
về phòng, chống thiên tai mùa mưa bão
1. Các quận, huyện rà soát phương án sơ tán dân trước ngày 15 tháng 6.
2. Bảo đảm hoà mạng thông tin cảnh báo tới từng tổ dân phố.
"""

SECRET = """VĂN PHÒNG THÀNH ỦY
Số 09-TB/VPTU
Hà Nội, ngày 05 tháng 6 năm 2025
THÔNG BÁO
về phương án sơ tán dân khẩn cấp
1. Phương án sơ tán dân khẩn cấp ở vùng trũng thấp ven sông, mã hiệu CANARY-7731.
"""


@pytest.fixture()
def library(tmp_path: Path) -> Library:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq31.txt").write_text(RESOLUTION, encoding="utf-8")
    (docs / "ct08.txt").write_text(DIRECTIVE, encoding="utf-8")
    lib = Library(tmp_path / "ix")
    lib.ingest([docs])
    secret = tmp_path / "mat"
    secret.mkdir()
    (secret / "tb09.txt").write_text(SECRET, encoding="utf-8")
    lib.ingest([secret], classification="mat")
    return lib


def _ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.paragraph_id for h in hits]


def test_accentless_and_other_tone_style_find_same_paragraph(library: Library) -> None:
    accented = library.search("hòa mạng thư viện số tới xã, phường", k=1)
    old_style = library.search("hoà mạng thư viện số tới xã, phường", k=1)
    plain = library.search("hoa mang thu vien so toi xa phuong", k=1)
    assert _ids(accented) == _ids(old_style) == _ids(plain)
    assert "Hoà mạng thư viện số" in accented[0].paragraph.text


@pytest.mark.parametrize("query", ["NQ 31 mục tiêu", "nghị quyết số 31 mục tiêu", "31-NQ/TW mục tiêu", "nghi quyet 31"])
def test_document_named_by_number_ranks_first(library: Library, query: str) -> None:
    hits = library.search(query, k=3)
    assert hits and hits[0].doc_id == "nq-31-2025"
    assert hits[0].number == "31-NQ/TW" and hits[0].issued == "2025-03-10"


def test_doc_refs_parsing() -> None:
    assert [(r.number, r.symbol) for r in doc_refs("Chỉ thị 08 và NQ 31-NQ/TW")] == [(31, "nq"), (8, "ct")]
    assert doc_refs("mục tiêu đến năm 2030") == []


@pytest.mark.parametrize(
    ("query", "asked"),
    [
        ("Kế hoạch thực hiện Nghị quyết 31 của Thành ủy đặt mục tiêu gì?", []),
        ("Chương trình hành động của Thành ủy Hà Nội thực hiện Nghị quyết số 31-NQ/TW", []),
        ("Kế hoạch 12-KH/TU thực hiện Nghị quyết 31", [(12, "kh")]),
        ("Nghị quyết 31 yêu cầu xây dựng kế hoạch thực hiện Nghị quyết 31", [(31, "nq")]),
        ("Nghị quyết 31 đặt mục tiêu gì?", [(31, "nq")]),
    ],
)
def test_a_resolution_named_as_what_a_plan_carries_out_is_not_the_document_asked_about(
    query: str, asked: list[tuple[int, str]]
) -> None:
    assert [(r.number, r.symbol) for r in asked_refs(query)] == asked
    assert (31, "nq") in [(r.number, r.symbol) for r in doc_refs(query)]  # still named (follow-ups read it)


def test_filters_apply_inside_search(library: Library) -> None:
    query = "phương án sơ tán dân"
    everything = library.search(query, k=10)
    assert {h.doc_id for h in everything} >= {"ct-08-tu-2025", "tb-09-vptu-2025.mat"}
    only_directives = library.search(query, k=10, filters=Filters(doc_types=("chỉ thị",)))
    assert {h.doc_id for h in only_directives} == {"ct-08-tu-2025"}
    by_date = library.search(query, k=10, filters=Filters(issued_from="2025-06-03", issued_to="2025-12-31"))
    assert {h.doc_id for h in by_date} == {"tb-09-vptu-2025.mat"}
    by_doc = library.search("mục tiêu", k=10, filters=Filters(doc_ids=("nq-31-2025",)))
    assert by_doc and {h.doc_id for h in by_doc} == {"nq-31-2025"}
    assert [h.rank for h in everything] == list(range(1, len(everything) + 1))


def test_restricted_paragraph_never_reaches_a_reader_without_clearance(library: Library) -> None:
    reader = Principal("doc-gia", "reader", "noi-bo")
    hits = library.search("phương án sơ tán dân khẩn cấp CANARY-7731", k=50, principal=reader)
    assert all(h.classification in ("cong-khai", "noi-bo") for h in hits)
    assert not any("CANARY" in h.paragraph.text for h in hits)
    cleared = library.search("CANARY-7731", k=5, principal=Principal("lanh-dao", "reader", "mat"))
    assert cleared and "CANARY-7731" in cleared[0].paragraph.text
    nothing = library.search("CANARY", k=5, principal=reader, filters=Filters(doc_ids=("tb-09-vptu-2025.mat",)))
    assert nothing == []


def test_accents_of_an_accentless_question_come_only_from_paragraphs_the_caller_may_see(library: Library) -> None:
    retriever = HybridRetriever(library.store)
    question = "phuong an so tan dan khan cap"
    reader = Principal("doc-gia", "reader", "noi-bo")
    cleared = Principal("lanh-dao", "reader", "mat")
    # "khẩn cấp" is written only in the restricted notice.
    assert retriever.accented(question, principal=cleared) == "phương án sơ tán dân khẩn cấp"
    assert retriever.accented(question, principal=reader) == "phương án sơ tán dân khan cap"
    assert retriever.accented(question, Filters(doc_ids=("khong-co",))) == question  # nothing in scope
    assert retriever.accented("phương án sơ tán", principal=reader) == "phương án sơ tán"


@pytest.mark.parametrize(
    ("query", "k", "filters"),
    [
        ("", 5, None),
        ("   \n ", 5, None),
        ("văn hoá " * 400, 5, None),
        ("văn hoá", 0, None),
        ("văn hoá", -3, None),
        ("văn hoá", 10_000, None),
        ("văn hoá", 5, Filters(doc_types=("thơ",))),
        ("văn hoá", 5, Filters(issued_from="2025-13-40")),
        ("văn hoá", 5, Filters(issued_from="2025-06-01", issued_to="2025-01-01")),
    ],
)
def test_bad_requests_are_clear_errors(library: Library, query: str, k: int, filters: Filters | None) -> None:
    with pytest.raises(InvalidRequest) as err:
        library.search(query, k=k, filters=filters)
    assert err.value.user_message and err.value.user_message != InvalidRequest.default_user_message


def test_new_document_searchable_in_another_process_view_without_restart(tmp_path: Path, library: Library) -> None:
    server_view = Library(library.index_dir, create=False)
    assert not any("lễ hội" in h.paragraph.text for h in server_view.search("lễ hội mùa xuân", k=3))
    extra = tmp_path / "moi.txt"
    extra.write_text("Tin bài thử nghiệm\n12/02/2026\nThành phố tổ chức lễ hội mùa xuân cho thiếu nhi.\n", "utf-8")
    library.ingest([extra])
    hits = server_view.search("lễ hội mùa xuân", k=3)
    assert hits and "lễ hội mùa xuân" in hits[0].paragraph.text
    library.remove(hits[0].doc_id)
    assert not any("lễ hội" in h.paragraph.text for h in server_view.search("lễ hội mùa xuân", k=3))


def test_snapshot_behind_catalog_is_replayed(tmp_path: Path, library: Library) -> None:
    # A change committed to the catalog but never indexed (a crash before the snapshot was written).
    extra = tmp_path / "sau.txt"
    extra.write_text("Tin bài sau sự cố\n13/02/2026\nCông tác bảo tồn di sản Hoàng thành được tăng cường.\n", "utf-8")
    raw = __import__("rag.ingest", fromlist=["parse_file"]).parse_file(extra)[0]
    library.ingest_raw(raw)  # catalog only: no sync, no snapshot
    reopened = Library(library.index_dir, create=False)
    hits = reopened.search("bảo tồn di sản Hoàng thành", k=1)
    assert hits and "Hoàng thành" in hits[0].paragraph.text
    assert reopened.check() == []


def test_hybrid_with_hash_embedder_and_embedder_mismatch(tmp_path: Path) -> None:
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "nq31.txt").write_text(RESOLUTION, encoding="utf-8")
    lib = Library(tmp_path / "ix", embedder="hash:64")
    lib.ingest([docs])
    for mode in ("hybrid", "dense", "lexical"):
        hits = lib.search("tủ sách điện tử chi bộ", k=2, mode=mode)
        assert hits and "tủ sách điện tử" in hits[0].paragraph.text, mode
    lib.close()
    with pytest.raises(StoreError) as err:
        Library(tmp_path / "ix", embedder="hash:128").store  # noqa: B018
    assert "bộ nhúng" in err.value.user_message
    again = Library(tmp_path / "ix")  # the recorded embedder is used when none is asked for
    assert again.search("tủ sách điện tử", k=1, mode="dense")


def test_dense_mode_without_vectors_is_a_clear_error(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq31.txt").write_text(RESOLUTION, encoding="utf-8")
    with Library(tmp_path / "ix", embedder="none") as library:
        library.ingest([docs])
        with pytest.raises(InvalidRequest) as err:
            library.search("văn hoá đọc", mode="dense")
    assert "vectơ" in err.value.user_message


# One paragraph repeats the question's words over short sentences; the other, longer, says it in one sentence.
SCATTERED = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 41-NQ/TW
Hà Nội, ngày 12 tháng 5 năm 2025
NGHỊ QUYẾT
về công tác văn hoá trong các chi bộ
Tài liệu thử nghiệm, không phải văn bản chính thức.
1. Thư viện số dùng chung. Tủ sách chi bộ. Chi bộ có tủ sách. Thư viện số của chi bộ. Tủ sách dùng chung.
2. Công tác văn hoá cơ sở được đẩy mạnh ở mọi địa bàn, gắn với phong trào thi đua yêu nước và nếp sống văn minh; \
các đoàn thể phối hợp tổ chức hội diễn, hội thao, triển lãm ảnh về quê hương, đất nước và con người. Mỗi chi bộ có tủ \
sách thư viện số dùng chung trước năm 2027. Kinh phí lấy từ nguồn xã hội hoá và ngân sách địa phương, được quyết toán \
theo quy định hiện hành của Nhà nước về quản lý tài chính.
"""


def test_second_stage_is_an_option_and_promotes_one_sentence_evidence(tmp_path: Path) -> None:
    from rag.retrieve.retrievers import make_retriever

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq41.txt").write_text(SCATTERED, encoding="utf-8")
    lib = Library(tmp_path / "ix")
    lib.ingest([docs])
    query = "chi bộ có tủ sách thư viện số dùng chung trước năm nào"
    plain = make_retriever("lexical", lib.store).retrieve(query, 5)
    reranked = make_retriever("lexical", lib.store, rerank=True).retrieve(query, 5)
    assert sorted(_ids(plain)) == sorted(_ids(reranked))  # same candidates, reordered
    # BM25 favours the paragraph that repeats the words; the second stage the one sentence that says it all.
    assert plain[0].paragraph.text.startswith("1. Thư viện số dùng chung.")
    assert "trước năm 2027" in reranked[0].paragraph.text
    assert [h.rank for h in reranked] == list(range(1, len(reranked) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(reranked))


def test_hybrid_fuses_complete_scores_of_both_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each candidate of either list is scored by both retrievers: a paragraph the dense side found below the
    lexical cut-off gets its real BM25 score, one the lexical side found gets its real cosine."""
    from rag.retrieve import retrievers
    from rag.retrieve.fusion import z_scores

    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "nq31.txt").write_text(RESOLUTION, encoding="utf-8")
    (docs / "ct08.txt").write_text(DIRECTIVE, encoding="utf-8")
    lib = Library(tmp_path / "ix", embedder="hash:64")
    lib.ingest([docs])
    monkeypatch.setattr(retrievers, "CANDIDATES", 2)  # short lists: their union needs completing
    store = lib.store
    retriever = retrievers.HybridRetriever(store, lexical_weight=0.4)
    query = "thông tin cảnh báo"
    lexical_top = [pid for pid, _ in store.lexical.search(query, 2)]
    vector = store.embedder.embed_query(query).reshape(-1)
    dense_top = [pid for pid, _ in store.vectors.search(vector, 2)]
    union = list(dict.fromkeys(lexical_top + dense_top))
    assert set(union) - set(lexical_top) and set(union) - set(dense_top)  # each list lacks one of the other's
    bm25 = dict(store.lexical.search(query, 100))
    lexical = {pid: bm25.get(pid, 0.0) for pid in union}
    cosine = dict(zip(union, (store.vectors.vectors(union) @ vector).tolist(), strict=True))
    zl, zd = z_scores(lexical), z_scores(cosine)
    expected = sorted(((pid, 0.4 * zl[pid] + 0.6 * zd[pid]) for pid in union), key=lambda kv: -kv[1])
    hits = retriever.retrieve(query, k=2)  # lists of CANDIDATES = 2, the best 2 of their union of 3
    ids = {
        h.paragraph.paragraph_id: pid for pid, h in zip(union, store.hits([(pid, 0.0) for pid in union]), strict=True)
    }
    assert [ids[h.paragraph.paragraph_id] for h in hits] == [pid for pid, _ in expected[:2]]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected[:2]], abs=1e-5)
    # The lexical scores the fusion used for the paragraph only the dense list held are BM25's, not a stand-in.
    (only_dense,) = set(dense_top) - set(lexical_top)
    named = retriever._named_pids(query, None, None)
    assert retriever._lexical_scores(query, [only_dense], named, None)[only_dense] == pytest.approx(lexical[only_dense])
    assert lexical[only_dense] > 0.0
    lib.close()
