"""LexicalIndex: ranking, diacritics, updates, filtering inside the search, persistence."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreError
from rag.index import lexical
from rag.index.lexical import MANIFEST, LexicalIndex, bm25_idf, bm25_tf, top_k

# Hand-written paragraphs in the style of Party documents (not quotations of real texts).
PARAS: dict[int, str] = {
    1: "Nghị quyết về đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số quốc gia.",
    2: "Tăng cường sự lãnh đạo của Đảng đối với công tác phòng, chống tham nhũng, lãng phí, tiêu cực.",
    3: "Giữ vững môi trường hòa bình, ổn định để phát triển kinh tế - xã hội của đất nước.",
    4: "Nâng cao chất lượng hệ thống y tế cơ sở, chăm sóc sức khỏe ban đầu cho Nhân dân ở vùng sâu, vùng xa.",
    5: "Phát huy ý chí tự lực, tự cường và khát vọng phát triển đất nước phồn vinh, hạnh phúc.",
    6: "Ủy ban Kiểm tra Trung ương giám sát việc thực hiện nghị quyết ở các tỉnh ủy, thành ủy.",
    7: "Đổi mới công tác xây dựng, thi hành pháp luật đáp ứng yêu cầu phát triển đất nước trong kỷ nguyên mới.",
    8: "Đầu tư cho giáo dục và đào tạo là đầu tư cho phát triển; ưu tiên ngân sách cho giáo dục phổ thông.",
}


def make(paras: dict[int, str] = PARAS) -> LexicalIndex:
    idx = LexicalIndex()
    idx.add(list(paras), list(paras.values()))
    return idx


def first(idx: LexicalIndex, query: str, **kw: object) -> int | None:
    hits = idx.search(query, 3, **kw)  # type: ignore[arg-type]
    return hits[0][0] if hits else None


# --------------------------------------------------------------------------------------------- scoring


def test_bm25_functions_on_hand_values() -> None:
    # df = 1 of N = 3: log(1 + 2.5 / 1.5); a term in every document still adds a little.
    assert bm25_idf(np.array([1.0]), 3)[0] == pytest.approx(np.log(1 + 2.5 / 1.5))
    assert bm25_idf(np.array([3.0]), 3)[0] > 0
    # tf = 1 at average length: (k1 + 1) / (1 + k1) = 1; saturation: tf 10 < 10 x tf 1.
    one = bm25_tf(np.array([1]), np.array([5.0]), 5.0, np.array([1.2]), 0.75)[0]
    ten = bm25_tf(np.array([10]), np.array([5.0]), 5.0, np.array([1.2]), 0.75)[0]
    assert one == pytest.approx(1.0)
    assert one < ten < 2.2
    # Longer documents weigh a term less.
    long_ = bm25_tf(np.array([1]), np.array([10.0]), 5.0, np.array([1.2]), 0.75)[0]
    assert long_ < one


def test_top_k_orders_by_score_then_pid_and_skips_zero() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, 1.0])
    pids = np.array([10, 40, 20, 30, 50], dtype=np.int64)
    assert top_k(scores, pids, 3) == [(20, 5.0), (30, 2.0), (40, 2.0)]
    assert top_k(scores, pids, 10) == [(20, 5.0), (30, 2.0), (40, 2.0), (50, 1.0)]


# --------------------------------------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("phát triển khoa học công nghệ và chuyển đổi số", 1),
        ("phòng chống tham nhũng", 2),
        ("môi trường hòa bình ổn định", 3),
        ("y tế cơ sở", 4),
        ("ý chí tự lực tự cường", 5),
        ("ủy ban kiểm tra giám sát", 6),
        ("thi hành pháp luật", 7),
        ("ngân sách cho giáo dục", 8),
    ],
)
def test_ranking_on_hand_made_paragraphs(query: str, expected: int) -> None:
    assert first(make(), query) == expected


def test_scores_are_descending_and_positive() -> None:
    hits = make().search("phát triển đất nước", 10)
    assert len(hits) >= 3
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)
    assert {p for p, _ in hits} <= set(PARAS)


def test_bigram_prefers_the_phrase_over_scattered_syllables() -> None:
    idx = make({1: "Học sinh được hỗ trợ khi có nhu cầu học tập.", 2: "Hỗ trợ học sinh vùng khó khăn."})
    assert first(idx, "học sinh") == 2 or first(idx, "hỗ trợ học sinh") == 2
    assert first(idx, "hỗ trợ học sinh") == 2


# ------------------------------------------------------------------------------------------ diacritics


@pytest.mark.parametrize(
    "query",
    ["môi trường hòa bình", "môi trường hoà bình", "MÔI TRƯỜNG HÒA BÌNH", "moi truong hoa binh", "Moi truong hoa binh"],
)
def test_tone_style_case_and_missing_diacritics_find_the_same_paragraph(query: str) -> None:
    assert first(make(), query) == 3


@pytest.mark.parametrize("query", ["uỷ ban kiểm tra", "ủy ban kiểm tra", "uy ban kiem tra"])
def test_uy_spellings(query: str) -> None:
    assert first(make(), query) == 6


def test_other_tone_placement_gives_identical_scores() -> None:
    idx = make()
    assert idx.search("môi trường hoà bình", 5) == idx.search("môi trường hòa bình", 5)
    assert idx.search("Uỷ ban kiểm tra", 5) == idx.search("ủy ban kiểm tra", 5)


def test_partly_accented_query_still_matches() -> None:
    # "lang phi" (lãng phí) typed without marks inside an accented query: only the folded twins can match it.
    idx = make({1: "Phát triển kinh tế số.", 2: "Phát triển kinh tế, chống lãng phí trong đầu tư công và mua sắm."})
    assert first(idx, "phát triển kinh tế lang phi") == 2


def test_exact_diacritics_beat_folded_collisions() -> None:
    idx = make({1: "Công tác xây dựng Đảng trong sạch, vững mạnh.", 2: "Công trình đang xây dựng dở dang."})
    assert first(idx, "xây dựng Đảng") == 1
    assert first(idx, "đang xây dựng") == 2


def test_one_letter_syllables_are_searchable() -> None:
    idx = make({1: "Phát triển y tế dự phòng.", 2: "Lắng nghe ý kiến của Nhân dân.", 3: "Nhân dân ở vùng cao."})
    assert first(idx, "y tế") == 1
    assert first(idx, "ý kiến") == 2
    assert first(idx, "ở") == 3


# --------------------------------------------------------------------------------------------- updates


def test_add_remove_readd() -> None:
    idx = make()
    assert len(idx) == len(PARAS)
    idx.remove([3])
    assert len(idx) == len(PARAS) - 1
    assert 3 not in idx
    assert all(p != 3 for p, _ in idx.search("môi trường hòa bình ổn định", 10))
    idx.add([3], [PARAS[3]])
    assert first(idx, "môi trường hòa bình ổn định") == 3
    idx.remove([999, 3, 3])  # unknown and repeated pids are ignored
    assert 3 not in idx


def test_adding_an_existing_pid_replaces_its_text() -> None:
    idx = make()
    idx.add([3], ["Bảo vệ chủ quyền biển, đảo."])
    assert len(idx) == len(PARAS)
    assert all(p != 3 for p, _ in idx.search("môi trường hòa bình ổn định", 10))
    assert first(idx, "chủ quyền biển đảo") == 3


def test_new_document_is_searchable_immediately() -> None:
    idx = make()
    assert idx.search("kinh tế tuần hoàn", 5) == [] or first(idx, "kinh tế tuần hoàn") != 42
    idx.add([42], ["Phát triển kinh tế tuần hoàn, kinh tế xanh."])
    assert first(idx, "kinh tế tuần hoàn") == 42


def test_bad_add_arguments() -> None:
    idx = LexicalIndex()
    with pytest.raises(ValueError):
        idx.add([1, 2], ["một"])
    with pytest.raises(ValueError):
        idx.add([1, 1], ["một", "hai"])
    with pytest.raises(ValueError):
        idx.add([1], ["một"], titles=["a", "b"])
    idx.add([], [])
    idx.add(np.array([], dtype=np.int64), [])
    assert len(idx) == 0
    idx.add(np.array([5, 6], dtype=np.int64), ["Nghị quyết", "Kết luận"])  # numpy pids are fine
    assert first(idx, "kết luận") == 6


def test_titles_count_towards_the_match() -> None:
    idx = LexicalIndex()
    idx.add([1, 2], ["Điều khoản thi hành chung.", "Điều khoản thi hành chung."], titles=["Luật Đất đai", "Luật Nhà ở"])
    assert first(idx, "thi hành luật đất đai") == 1
    assert first(idx, "thi hành luật nhà ở") == 2


def test_removal_updates_document_frequencies() -> None:
    idx = make({1: "kinh tế số", 2: "kinh tế biển", 3: "văn hóa"})
    before = dict(idx.search("kinh tế", 5))[1]
    idx.remove([2])
    after = dict(idx.search("kinh tế", 5))[1]
    assert after > before  # "kinh tế" became rarer, so its idf rose


def _random_ops(seed: int, n_ops: int = 120) -> tuple[LexicalIndex, dict[int, str]]:
    rng = random.Random(seed)
    words = " ".join(PARAS.values()).replace(",", "").replace(".", "").split()
    idx = LexicalIndex()
    truth: dict[int, str] = {}
    for _ in range(n_ops):
        if truth and rng.random() < 0.35:
            gone = rng.sample(sorted(truth), k=min(len(truth), rng.randint(1, 3)))
            idx.remove(gone)
            for p in gone:
                del truth[p]
        else:
            pids = rng.sample(range(200), k=rng.randint(1, 4))
            texts = [" ".join(rng.choices(words, k=rng.randint(3, 15))) for _ in pids]
            idx.add(pids, texts)
            truth.update(zip(pids, texts, strict=True))
    return idx, truth


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_sequence_of_updates_matches_a_fresh_build(seed: int) -> None:
    idx, truth = _random_ops(seed)
    assert len(idx) == len(truth)
    assert [p for p in range(200) if p in idx] == sorted(truth)  # found by binary search in each segment's pids
    assert len(idx._segments) <= lexical.SEGMENTS_PER_TIER + 1  # merges kept the segment count bounded
    fresh = LexicalIndex()
    fresh.add(sorted(truth), [truth[p] for p in sorted(truth)])
    queries = ["phát triển đất nước", "công tác", "giáo dục", "nghị quyết ủy ban", "y tế cơ sở"]
    for q in queries:
        got, want = idx.search(q, 50), fresh.search(q, 50)
        assert {p for p, _ in got} <= set(truth)  # nothing removed comes back
        # Statistics (idf, average length) are computed at query time: the scores after any sequence of adds and
        # removes are those of a fresh build, without merging first.
        assert [p for p, _ in got] == [p for p, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
    idx.optimize()  # one segment: the same scores again
    for q in queries:
        got, want = idx.search(q, 50), fresh.search(q, 50)
        assert [p for p, _ in got] == [p for p, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)


# ---------------------------------------------------------------------------------------- allowed mask


def test_allowed_mask_excludes_the_best_match_before_ranking() -> None:
    idx = make()
    query = "công tác phòng chống tham nhũng của Đảng"
    assert first(idx, query) == 2
    allowed = np.array([p for p in PARAS if p != 2], dtype=np.int64)
    hits = idx.search(query, 1, allowed=allowed)
    assert hits and hits[0][0] != 2  # k = 1: the place goes to an allowed paragraph, not to nothing
    assert all(p in allowed for p, _ in idx.search("phát triển", 10, allowed=allowed))


def test_allowed_mask_edge_cases() -> None:
    idx = make()
    assert idx.search("phát triển", 5, allowed=np.array([], dtype=np.int64)) == []
    assert [p for p, _ in idx.search("phát triển", 5, allowed=np.array([5], dtype=np.int64))] == [5]
    unsorted = np.array([8, 1, 5], dtype=np.int64)
    assert {p for p, _ in idx.search("phát triển", 5, allowed=unsorted)} == {1, 5, 8}
    idx.remove([5])
    assert idx.search("ý chí tự lực", 5, allowed=np.array([5], dtype=np.int64)) == []


# --------------------------------------------------------------------------------------- k and empties


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(k: int) -> None:
    with pytest.raises(ValueError):
        make().search("phát triển", k)
    with pytest.raises(ValueError):
        LexicalIndex().search("phát triển", k)


def test_empty_index_and_empty_queries() -> None:
    assert LexicalIndex().search("phát triển", 5) == []
    idx = make()
    assert idx.search("", 5) == []
    assert idx.search("?!...", 5) == []
    assert idx.search("từkhôngtồntại", 5) == []
    idx.remove(list(PARAS))
    assert len(idx) == 0
    assert idx.search("phát triển", 5) == []


def test_k_limits_the_result() -> None:
    assert len(make().search("phát triển", 2)) == 2


# ----------------------------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path: Path) -> None:
    idx = make()
    idx.remove([4])
    idx.add([9], ["Chương trình hành động của Chính phủ thực hiện nghị quyết."])
    idx.save(tmp_path, 7)
    assert idx.generation == 7
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.generation == 7
    assert len(loaded) == len(idx)
    for q in ("phát triển đất nước", "y tế cơ sở", "chương trình hành động", "hoa binh"):
        assert loaded.search(q, 5) == idx.search(q, 5)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["version"] == lexical.FORMAT_VERSION and manifest["generation"] == 7
    for f in tmp_path.glob("*.npy"):
        np.load(f, allow_pickle=False)  # plain arrays only


def test_saving_again_updates_and_cleans_old_files(tmp_path: Path) -> None:
    idx = make()
    idx.save(tmp_path, 1)
    for i in range(lexical.SEGMENTS_PER_TIER + 2):  # enough single adds to force merges
        idx.add([100 + i], [f"Văn bản bổ sung số {i} về chuyển đổi số."])
    idx.remove([1])
    idx.save(tmp_path, 2)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    names = {s["name"] for s in manifest["segments"]}
    for f in tmp_path.iterdir():
        assert f.name == MANIFEST or f.name.split(".")[0] in names, f"stale file {f.name}"
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.generation == 2 and len(loaded) == len(idx)
    assert 1 not in loaded
    assert loaded.search("văn bản bổ sung số 3", 3) == idx.search("văn bản bổ sung số 3", 3)
    loaded.add([500], ["Kết luận của Bộ Chính trị về tổng kết."])
    loaded.save(tmp_path, 3)
    assert first(LexicalIndex.load(tmp_path), "kết luận bộ chính trị") == 500


def test_a_save_rewrites_only_the_live_masks_that_changed(tmp_path: Path) -> None:
    idx = make()
    idx.add([100, 101], ["Văn bản bổ sung về hợp tác xã.", "Tin bổ sung về y tế."], maintain=False)
    idx.save(tmp_path, 1)

    def masks() -> dict[str, str]:
        manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
        return {e["name"]: e["live"] for e in manifest["segments"]}

    first_masks = masks()
    assert len(first_masks) == 2
    idx.save(tmp_path, 2)
    assert masks() == first_masks  # nothing removed: no mask written again
    idx.remove([101], maintain=False)
    idx.save(tmp_path, 3)
    changed = {name for name, file in masks().items() if first_masks[name] != file}
    assert changed == {idx._segments[1].name}  # only the segment that lost a paragraph
    reopened = LexicalIndex.load(tmp_path)
    assert 101 not in reopened and 100 in reopened and len(reopened) == len(idx)
    before = masks()
    reopened.save(tmp_path, 4)
    assert masks() == before  # the loaded masks are reused as they are
    assert sorted(p.name for p in tmp_path.glob("*.live.*")) == sorted(masks().values())  # old masks deleted


def _is_mapped(array: np.ndarray) -> bool:
    """Whether `array` reads a file mapping (somewhere along its chain of bases)."""
    base = array
    while base is not None:
        if isinstance(base, np.memmap) or type(base).__name__ == "mmap":
            return True
        base = getattr(base, "base", None)
    return False


def test_a_saved_segment_is_read_from_its_files_like_a_reopened_one(tmp_path: Path) -> None:
    idx = make()
    idx.add([100, 101], ["Văn bản bổ sung về hợp tác xã kiểu mới.", "Tin bổ sung về y tế cơ sở."], maintain=False)
    queries = ("hợp tác xã", "y tế cơ sở", "phát triển đất nước", "hoa binh")
    before = [idx.search(q, 5) for q in queries]
    assert not any(_is_mapped(seg.docs) for seg in idx._segments)  # built here: in memory
    idx.save(tmp_path / "a", 1)
    for seg in idx._segments:
        assert seg.mapped and all(_is_mapped(getattr(seg, part)) for part in ("docs", "tf", "pids", "dl"))
    assert [idx.search(q, 5) for q in queries] == before
    # Still removable, mergeable and savable elsewhere; a later merge's segment is mapped by the next save.
    idx.remove([101], maintain=False)
    idx.add([102], ["Nghị quyết về hợp tác xã và kinh tế tập thể."])
    idx.optimize()
    assert not idx._segments[0].mapped
    idx.save(tmp_path / "a", 2)
    idx.save(tmp_path / "b", 2)
    assert all(seg.mapped for seg in idx._segments)
    assert first(idx, "kinh tế tập thể") == 102 and 101 not in idx
    for copy in ("a", "b"):
        reopened = LexicalIndex.load(tmp_path / copy)
        assert [reopened.search(q, 5) for q in queries] == [idx.search(q, 5) for q in queries]


def test_empty_index_round_trip(tmp_path: Path) -> None:
    LexicalIndex().save(tmp_path, 1)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 0 and loaded.search("phát triển", 3) == []


def test_missing_index_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        LexicalIndex.load(tmp_path / "nowhere")
    assert "chỉ mục" in err.value.user_message.lower()


@pytest.mark.parametrize(
    "damage",
    [
        "garbage",
        "not-an-object",
        "other-format",
        "other-version",
        "other-tokenizer",
        "missing-file",
        "truncated",
        "wrong-count",
    ],
)
def test_corrupt_index_raises_store_error(tmp_path: Path, damage: str) -> None:
    make().save(tmp_path, 1)
    path = tmp_path / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    seg = manifest["segments"][0]["name"]
    if damage == "garbage":
        path.write_bytes(b"{not json")
    elif damage == "not-an-object":
        path.write_text("[1, 2]", encoding="utf-8")
    elif damage == "other-format":
        manifest["format"] = "something-else"
    elif damage == "other-version":
        manifest["version"] = lexical.FORMAT_VERSION + 1
    elif damage == "other-tokenizer":
        manifest["tokenizer"] = -1
    elif damage == "missing-file":
        (tmp_path / f"{seg}.tf.npy").unlink()
    elif damage == "truncated":
        f = tmp_path / f"{seg}.docs.npy"
        f.write_bytes(f.read_bytes()[:-7])
    elif damage == "wrong-count":
        manifest["n_live"] += 1
    if damage in ("other-format", "other-version", "other-tokenizer", "wrong-count"):
        path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError) as err:
        LexicalIndex.load(tmp_path)
    assert err.value.user_message != StoreError.default_user_message  # a specific Vietnamese sentence


def test_crash_while_saving_keeps_the_previous_generation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = make()
    idx.save(tmp_path, 1)
    idx.add([77], ["Nội dung mới chưa được lưu xong."])
    idx.remove([2])
    real_replace = os.replace

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(dst).endswith(MANIFEST):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(lexical.os, "replace", failing_replace)
    with pytest.raises(OSError):
        idx.save(tmp_path, 2)
    monkeypatch.setattr(lexical.os, "replace", real_replace)
    old = LexicalIndex.load(tmp_path)
    assert old.generation == 1
    assert len(old) == len(PARAS) and 77 not in old and 2 in old
    assert first(old, "phòng chống tham nhũng") == 2


def test_merges_are_built_while_searches_go_on_and_keep_later_removals(monkeypatch: pytest.MonkeyPatch) -> None:
    """A merge is built outside the lock: searches answer meanwhile, and a paragraph removed (or replaced) while
    the merge was being built stays removed (or replaced) once the merged segment is in."""
    import threading

    idx = LexicalIndex()
    texts = [f"Nghị quyết số {i} về chuyển đổi số ở cấp xã" for i in range(40)]
    for i in range(8):  # one segment per add, merges left for later
        idx.add(list(range(i * 5, i * 5 + 5)), texts[i * 5 : i * 5 + 5], maintain=False)
    idx.add([100], ["Kế hoạch chuyển đổi số của tỉnh"], maintain=False)
    assert len(idx._segments) == 9
    building, release = threading.Event(), threading.Event()
    real = lexical._merged_segment

    def slow(*args: object, **kwargs: object) -> object:
        building.set()
        assert release.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lexical, "_merged_segment", slow)
    adder = threading.Thread(target=idx.maintain)
    adder.start()  # nine small segments of one level: they are merged
    assert building.wait(10)
    assert idx.search("chuyển đổi số", 50)  # not blocked by the merge in progress
    idx.remove([3], maintain=False)  # removed while the merge is built
    idx.add([7], ["Văn bản thay thế về y tế thôn bản"], maintain=False)  # replaced meanwhile
    release.set()
    adder.join(10)
    assert len(idx._segments) <= lexical.SEGMENTS_PER_TIER + 1  # merged; the replacement came after
    found = {pid for pid, _ in idx.search("chuyển đổi số", 50)}
    assert 3 not in found and 7 not in found and {0, 1, 2, 4, 100} <= found
    assert [pid for pid, _ in idx.search("y tế thôn bản", 5)] == [7]
    assert len(idx) == 40  # 40 + 1 added - 1 removed


# ------------------------------------------------------------------------------------- merges at scale


def _segment_arrays(seg: object) -> dict[str, list[object]]:
    return {part: np.asarray(getattr(seg, part)).tolist() for part in ("hashes", "bigram", "indptr", "docs", "tf")}


@pytest.mark.parametrize("seed", [4, 5])
def test_a_merge_in_small_slices_equals_a_fresh_build_of_the_live_paragraphs(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merging copies each input's sorted postings to their place, a few at a time (no global sort): the result
    must be exactly the segment a fresh build of the same live paragraphs gives, whatever the slice size."""
    monkeypatch.setattr(lexical, "_POSTINGS_PER_SLICE", 7)  # many slices, rows cut at their boundaries
    rng = random.Random(seed)
    words = " ".join(PARAS.values()).replace(",", "").replace(".", "").split()
    idx = LexicalIndex()
    truth: dict[int, str] = {}
    pid = 0
    for _ in range(6):
        texts = [" ".join(rng.choices(words, k=rng.randint(2, 12))) for _ in range(rng.randint(1, 6))]
        pids = list(range(pid, pid + len(texts)))
        pid += len(texts)
        idx.add(pids, texts, maintain=False)
        truth.update(zip(pids, texts, strict=True))
    gone = rng.sample(sorted(truth), k=len(truth) // 3)
    idx.remove(gone, maintain=False)
    for p in gone:
        del truth[p]
    assert len(idx._segments) == 6
    idx.optimize()
    fresh = LexicalIndex()
    fresh.add(sorted(truth), [truth[p] for p in sorted(truth)])
    (merged,), (want,) = idx._segments, fresh._segments
    assert np.asarray(merged.pids).tolist() == sorted(truth)
    assert _segment_arrays(merged) == _segment_arrays(want)
    np.testing.assert_array_equal(merged.dl, want.dl)
    assert merged.df.tolist() == want.df.tolist() and merged.n_live == len(truth)


def test_a_bulk_load_keeps_few_segments_and_rewrites_each_paragraph_a_few_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tiered policy: many equal batches end in a few segments per size tier, and merges copy each paragraph
    about log(batches) / log(MERGE_FACTOR) times, not once per batch as a rebuild of everything would."""
    monkeypatch.setattr(lexical, "FLOOR_SEGMENT", 10)  # tiers of 10-39, 40-159, 160-639, 640-2559 paragraphs
    copied: list[int] = []
    real = lexical._merged_segment

    def counting(snapshot: list[tuple[object, np.ndarray]], name: str) -> object:
        copied.append(sum(int(live.sum()) for _, live in snapshot))
        return real(snapshot, name)  # type: ignore[arg-type]

    monkeypatch.setattr(lexical, "_merged_segment", counting)
    idx = LexicalIndex()
    batches, size = 64, 10
    for b in range(batches):
        pids = list(range(b * size, (b + 1) * size))
        idx.add(pids, [f"Văn bản số {p} của đợt {b} về chuyển đổi số" for p in pids])
    total = batches * size
    assert len(idx) == total
    assert len(idx._segments) <= lexical.SEGMENTS_PER_TIER * 4  # tiers of 10, 40, 160, 640 paragraphs
    assert sum(copied) <= 3.5 * total  # log4(64) = 3 rewrites a paragraph; a rebuild per batch would be ~32
    assert first(idx, "văn bản số 345") == 345


def test_a_small_addition_never_merges_the_large_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merges join segments of similar size: single documents added to an index of large segments are merged
    among themselves, and the large segments are never rewritten for them."""
    monkeypatch.setattr(lexical, "FLOOR_SEGMENT", 2)
    copied: list[int] = []
    real = lexical._merged_segment

    def counting(snapshot: list[tuple[object, np.ndarray]], name: str) -> object:
        copied.append(sum(int(live.sum()) for _, live in snapshot))
        return real(snapshot, name)  # type: ignore[arg-type]

    idx = LexicalIndex()
    for b in range(lexical.SEGMENTS_PER_TIER):  # four segments of 40 paragraphs: tier 2 of (8, 32, 128, ...)
        pids = list(range(b * 40, (b + 1) * 40))
        idx.add(pids, [f"Văn bản số {p} về chuyển đổi số" for p in pids])
    assert len(idx._segments) == lexical.SEGMENTS_PER_TIER
    monkeypatch.setattr(lexical, "_merged_segment", counting)
    for i in range(30):
        idx.add([1000 + i], [f"Tin bổ sung số {i} về hợp tác xã"])
        assert first(idx, f"tin bổ sung số {i}") == 1000 + i
    assert copied and max(copied) < 40  # the 40-paragraph segments stayed as they were
    assert sum(len(s.pids) == 40 for s in idx._segments) == lexical.SEGMENTS_PER_TIER
    assert len(idx) == 190


def test_a_reopened_index_maps_its_postings_instead_of_reading_them(tmp_path: Path) -> None:
    make().save(tmp_path, 1)
    loaded = LexicalIndex.load(tmp_path)
    (seg,) = loaded._segments
    for part in ("docs", "tf", "pids", "dl"):
        arr = getattr(seg, part)
        assert not arr.flags.owndata and not arr.flags.writeable, part  # a read-only view of the file's mapping
    assert loaded.search("y tế cơ sở", 3) == make().search("y tế cơ sở", 3)
    loaded.remove([4])  # the live mask is the segment's own copy: removing writes nothing into the files
    assert 4 not in {p for p, _ in loaded.search("y tế cơ sở", 8)}
    assert 4 in {p for p, _ in LexicalIndex.load(tmp_path).search("y tế cơ sở", 8)}


def test_an_index_of_the_previous_format_is_read_and_upgraded_by_the_next_save(tmp_path: Path) -> None:
    """Version 2 stored precomputed weights per posting; they are ignored on load and dropped on the next save."""
    idx = make()
    idx.save(tmp_path, 1)
    path = tmp_path / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["version"] = 2
    for entry in manifest["segments"]:
        entry["avgdl_ref"] = 12.5
        np.save(tmp_path / f"{entry['name']}.weight.npy", np.zeros(entry["nnz"], dtype=np.float32))
    path.write_text(json.dumps(manifest), encoding="utf-8")
    old = LexicalIndex.load(tmp_path)
    assert old.search("phòng chống tham nhũng", 3) == idx.search("phòng chống tham nhũng", 3)
    old.save(tmp_path, 2)
    assert not list(tmp_path.glob("*.weight.npy"))
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == lexical.FORMAT_VERSION


@pytest.mark.parametrize("seed", [6, 7])
@pytest.mark.parametrize("segments", [1, 4])
def test_skipping_the_long_lists_of_common_terms_gives_the_full_result(
    seed: int, segments: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pruned search (`_pruned_top`) must return exactly the top k of the full computation, with filters
    and removed paragraphs too; a small first-pass budget makes it apply on a small index."""
    monkeypatch.setattr(lexical, "_ESSENTIAL_POSTINGS", 12)
    rng = random.Random(seed)
    common = "của và các trong công tác phát triển".split()
    rare = [w for w in " ".join(PARAS.values()).replace(",", "").replace(".", "").split() if w not in common]
    texts = {p: " ".join(rng.choices(common, k=rng.randint(4, 10)) + rng.choices(rare, k=rng.randint(1, 4)))
             for p in range(400)}  # fmt: skip
    idx = LexicalIndex()
    # One segment, or several of different sizes: the k-th score of the larger ones prunes the smaller ones.
    cuts = [0, 400] if segments == 1 else [0, 220, 330, 380, 400]
    for lo, hi in itertools.pairwise(cuts):
        idx.add(list(range(lo, hi)), [texts[p] for p in range(lo, hi)], maintain=False)
    assert len(idx._segments) == segments
    idx.remove(rng.sample(sorted(texts), k=40), maintain=False)
    applied = []
    real = lexical._pruned_top

    def spy(*args: object) -> object:
        result = real(*args)  # type: ignore[arg-type]
        applied.append(result is not None)
        return result

    monkeypatch.setattr(lexical, "_pruned_top", spy)
    allowed = np.array(sorted(rng.sample(sorted(texts), k=200)), dtype=np.int64)
    queries = ["công tác phát triển y tế cơ sở", "của và các giáo dục", "nghị quyết ủy ban trong công tác", "hòa bình"]
    queries += [" ".join(rng.choices(common, k=3) + rng.choices(rare, k=2)) for _ in range(12)]
    for q in queries:
        for kw in ({}, {"allowed": allowed}):
            for k in (1, 5, 20):
                monkeypatch.setattr(lexical, "PRUNE", True)
                got = idx.search(q, k, **kw)  # type: ignore[arg-type]
                monkeypatch.setattr(lexical, "PRUNE", False)
                want = idx.search(q, k, **kw)  # type: ignore[arg-type]
                assert [p for p, _ in got] == [p for p, _ in want], (q, k, kw)
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
    assert sum(applied) >= 4  # the shortcut did apply (not only fallbacks)


@pytest.mark.parametrize("segments", [1, 3])
def test_a_search_over_a_few_allowed_paragraphs_looks_them_up_and_gives_the_full_result(
    segments: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A named document or a narrow filter allows a few paragraphs of a large index: they are looked up in the
    query's lists (`_scores_locked`), and the result is the full computation's, order and scores."""
    rng = random.Random(11)
    common = "mục tiêu phát triển kinh tế xã hội chuyển đổi số".split()
    texts = [" ".join(rng.choices(common, k=rng.randint(6, 14))) for _ in range(600)]
    texts[17] += " Nghị quyết 57 về khoa học công nghệ"
    idx = LexicalIndex()
    for lo, hi in itertools.pairwise([0, 600] if segments == 1 else [0, 300, 500, 600]):
        idx.add(list(range(lo, hi)), texts[lo:hi], maintain=False)
    idx.remove([3, 18], maintain=False)
    looked_up = []
    real = LexicalIndex._scores_locked

    def spy(self: LexicalIndex, *args: object) -> object:
        looked_up.append(True)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(LexicalIndex, "_scores_locked", spy)
    allowed = np.array([3, 15, 16, 17, 18, 19, 250, 420, 599], dtype=np.int64)
    for q in ["Nghị quyết 57 mục tiêu", "chuyển đổi số", "kinh tế xã hội", "khoa học công nghệ"]:
        for k in (1, 3, 20):
            monkeypatch.setattr(lexical, "PRUNE", True)
            got = idx.search(q, k, allowed=allowed)
            monkeypatch.setattr(lexical, "PRUNE", False)
            want = idx.search(q, k, allowed=allowed)
            assert [p for p, _ in got] == [p for p, _ in want], (q, k)
            np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
            assert not {3, 18} & {p for p, _ in got}  # removed paragraphs stay out
    # The three queries of common terms looked the paragraphs up; the rare one read its short lists whole.
    assert len(looked_up) == 9


@pytest.mark.parametrize("n", [7, 500, 5000])
def test_kth_largest_is_exact_with_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in (rng.random(n), rng.integers(0, 4, n).astype(np.float64), np.zeros(n)):
        for k in {1, 2, 5, min(n, 50), n}:
            assert lexical.kth_largest(values, k) == np.sort(values)[::-1][k - 1]


def test_scores_of_given_paragraphs_equal_the_search_scores_at_any_rank() -> None:
    ix = LexicalIndex()
    texts = [
        "Nghị quyết về phát triển khoa học, công nghệ và đổi mới sáng tạo.",
        "Phát triển kinh tế tư nhân trở thành động lực quan trọng nhất.",
        "Khoa học và công nghệ là đột phá quan trọng hàng đầu.",
        "Bảo vệ môi trường sinh thái ở đồng bằng sông Cửu Long.",
        "Đổi mới sáng tạo ở doanh nghiệp nhỏ và vừa.",
    ]
    ix.add([10, 11, 12], texts[:3], levels=[0, 0, 1])
    ix.add([13, 14], texts[3:])  # a second segment
    query = "khoa học công nghệ đổi mới sáng tạo"
    full = dict(ix.search(query, 10))
    assert 11 not in full  # no query term, not even a folded one
    scores = ix.scores(query, [14, 12, 11, 13, 99])
    assert set(scores) == {11, 12, 13, 14}  # 99 is not indexed
    assert scores[11] == 0.0
    for pid in (12, 13, 14):
        assert scores[pid] == pytest.approx(full[pid], rel=1e-5)
    assert ix.scores("khoa học", [12], level=0) == {}  # above the level: left out
    assert ix.scores("khoa học", [10], level=0)[10] == pytest.approx(dict(ix.search("khoa học", 5, level=0))[10])
    ix.remove([14])
    assert 14 not in ix.scores(query, [14])
    assert ix.scores(query, []) == {}
