"""The work a search does depends only on what its caller may see (the timing side channel, checked without a
clock): the paragraphs the lexical index goes through and the vectors the dense side compares are the same whether
or not restricted documents exist above the caller, and so are the results. Timing itself is measured by
tools/side_channel_timing.py (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Filters, Library, Principal

#: Written for this test (sample sentences, not official text).
PUBLIC = {
    "nq-so.md": "# Nghị quyết về chuyển đổi số\n\nSố 91-NQ/TW\n\nPhát triển hạ tầng số và dữ liệu dùng chung.\n\n"
    "Đào tạo kỹ năng số cho cán bộ cấp xã.\n",
    "ct-y-te.md": "# Chỉ thị về y tế cơ sở\n\nSố 17-CT/TW\n\nCủng cố trạm y tế xã, bảo hiểm y tế toàn dân.\n",
}
NOI_BO = {"kh-noi-bo.md": "# Kế hoạch nội bộ\n\nKế hoạch chuyển đổi số của cơ quan, dữ liệu dùng chung.\n"}
HIDDEN = "# Phương án {n}\n\nChuyển đổi số, hạ tầng số, dữ liệu dùng chung và kỹ năng số: phương án mật số {n}.\n"
QUERIES = ["chuyển đổi số", "dữ liệu dùng chung", "y tế cơ sở", "kỹ năng số cấp xã"]


def _library(root: Path, hidden: int) -> Library:
    library = Library(root / "ix", embedder="hash:64")
    for name, files, level in (("pub", PUBLIC, "cong-khai"), ("nb", NOI_BO, "noi-bo")):
        folder = root / name
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")
        library.ingest([folder], level)
    for level in ("mat", "toi-mat")[: 1 if hidden < 2 else 2]:
        if not hidden:
            break
        folder = root / level
        folder.mkdir()
        for n in range(hidden * 10):
            (folder / f"pa-{n}.md").write_text(HIDDEN.format(n=n), encoding="utf-8")
        library.ingest([folder], level)
    return library


@pytest.mark.parametrize("clearance", ["cong-khai", "noi-bo"])
def test_a_search_reads_the_same_whether_or_not_restricted_documents_exist(tmp_path: Path, clearance: str) -> None:
    caller = Principal(name="can-bo", role="reader", clearance=clearance)
    worlds = [_library(tmp_path / f"w{hidden}", hidden) for hidden in (0, 1, 3)]
    try:
        for query in QUERIES:
            for filters in (None, Filters(doc_types=("nghị quyết",))):
                seen = []
                for library in worlds:
                    hits = library.search(query, 5, filters, caller)
                    store = library.store
                    assert store.vectors is not None
                    seen.append(
                        (
                            [(h.paragraph_id, round(h.score, 9)) for h in hits],
                            store.lexical.last_scanned,
                            store.vectors.last_scanned,
                        )
                    )
                assert seen[0] == seen[1] == seen[2], (query, filters, seen)
        # A caller cleared for everything does read the restricted paragraphs (the control).
        top = Principal(name="quan-tri", role="reader", clearance="toi-mat")
        worlds[0].search(QUERIES[0], 5, principal=top)
        worlds[2].search(QUERIES[0], 5, principal=top)
        assert worlds[2].store.lexical.last_scanned > worlds[0].store.lexical.last_scanned
        assert worlds[2].store.vectors is not None and worlds[0].store.vectors is not None
        assert worlds[2].store.vectors.last_scanned > worlds[0].store.vectors.last_scanned
    finally:
        for library in worlds:
            library.close()
