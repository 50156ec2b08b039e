"""Line repair (`rag.text.cleanup`) and PDF page artefacts (`rag.text.pdf_artefacts`)."""

from __future__ import annotations

import pytest

from rag.text.cleanup import MARKER_RE, full_line_chars, is_bare_marker, is_upper_line, merge_lines
from rag.text.pdf_artefacts import (
    clean_pages,
    join_hyphenated,
    line_key,
    page_number_in,
    remove_edge_artefacts,
    running_lines,
)
from rag.types import Block

# -- merge_lines -----------------------------------------------------------------------------------


def _texts(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks]


def test_public_helpers() -> None:
    assert is_upper_line("NGHỊ QUYẾT")
    assert not is_upper_line("Nghị quyết")
    assert is_bare_marker("1.") and is_bare_marker("a)") and is_bare_marker("II-") and is_bare_marker("-")
    assert not is_bare_marker("1. Mục tiêu")
    assert MARKER_RE.match("Điều 5. Hiệu lực thi hành")
    assert MARKER_RE.match("b) Đổi mới cơ chế")


def test_merge_lower_case_continuation() -> None:
    blocks = [Block("Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu, là"), Block("động lực chính.")]
    merged = merge_lines(blocks)
    assert _texts(merged) == ["Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu, là động lực chính."]


def test_markdown_blocks_keep_their_behaviour() -> None:
    # Paragraph blocks (no page): a capitalised block after an unfinished one is a new paragraph.
    blocks = [
        Block("Mục tiêu tổng quát", style="heading"),
        Block("Đến năm 2030, tiềm lực khoa học đạt trình độ tiên tiến"),
        Block("Việt Nam thuộc nhóm dẫn đầu khu vực"),
        Block("- Hoàn thiện thể chế"),
        Block("STT | Nhiệm vụ", style="table"),
        Block("1 | Xây dựng đề án", style="table"),
        Block("1."),
        Block("Tăng đầu tư cho nghiên cứu."),
    ]
    assert _texts(merge_lines(blocks)) == [
        "Mục tiêu tổng quát",
        "Đến năm 2030, tiềm lực khoa học đạt trình độ tiên tiến",
        "Việt Nam thuộc nhóm dẫn đầu khu vực",
        "- Hoàn thiện thể chế",
        "STT | Nhiệm vụ",
        "1 | Xây dựng đề án",
        "1. Tăng đầu tư cho nghiên cứu.",
    ]


_FULL = "Các cấp ủy, tổ chức đảng, chính quyền các cấp quán triệt sâu sắc nội dung của Nghị quyết do"


def _paged_doc(continuation: str, last_line: str = _FULL) -> list[Block]:
    filler = [
        Block("Thời gian qua, khoa học, công nghệ và đổi mới sáng tạo đã có bước phát triển quan trọng,", 1),
        Block("đóng góp vào tăng trưởng kinh tế, nâng cao năng lực cạnh tranh và chất lượng cuộc sống.", 1),
        Block("Hạ tầng số được đầu tư mở rộng, phủ sóng rộng khắp; chính phủ số có nhiều chuyển biến tích", 1),
        Block("cực, cung cấp dịch vụ công trực tuyến cho người dân và doanh nghiệp trên phạm vi cả nước.", 1),
        Block("Tuy nhiên, quy mô thị trường khoa học, công nghệ còn nhỏ; nguồn lực đầu tư cho nghiên cứu", 1),
        Block("và phát triển còn hạn chế, chưa tương xứng với yêu cầu phát triển của đất nước hiện nay.", 1),
        Block("Nguồn nhân lực chất lượng cao còn thiếu, nhất là trong các lĩnh vực công nghệ chiến lược.", 1),
        Block("Cơ chế, chính sách đãi ngộ, thu hút nhân tài trong và ngoài nước chưa đủ sức cạnh tranh.", 1),
    ]
    return [*filler, Block(last_line, 1), Block(continuation, 2)]


def test_full_line_continues_with_capital_across_pages() -> None:
    blocks = _paged_doc("Bộ Chính trị ban hành và tổ chức thực hiện nghiêm túc, hiệu quả.")
    assert full_line_chars(blocks) is not None
    merged = merge_lines(blocks)
    assert merged[-1].text == f"{_FULL} Bộ Chính trị ban hành và tổ chức thực hiện nghiêm túc, hiệu quả."
    assert merged[-1].page == 1


def test_short_line_or_marker_does_not_continue() -> None:
    merged = merge_lines(_paged_doc("Bộ Chính trị ban hành.", last_line="Mục tiêu tổng quát"))
    assert _texts(merged)[-2:] == ["Mục tiêu tổng quát", "Bộ Chính trị ban hành."]
    merged = merge_lines(_paged_doc("2. Nhiệm vụ và giải pháp"))
    assert merged[-1].text == "2. Nhiệm vụ và giải pháp"
    merged = merge_lines(_paged_doc("NHIỆM VỤ VÀ GIẢI PHÁP"))
    assert merged[-1].text == "NHIỆM VỤ VÀ GIẢI PHÁP"


def test_full_line_rule_ignores_unpaged_blocks() -> None:
    blocks = [Block(b.text) for b in _paged_doc("Bộ Chính trị ban hành.")]
    assert full_line_chars(blocks) is None
    assert merge_lines(blocks)[-1].text == "Bộ Chính trị ban hành."


# -- page numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("3", (3, False)),
        ("- 3 -", (3, True)),
        ("– 12 –", (12, True)),
        ("Trang 3", (3, True)),
        ("trang 3/12", (3, True)),
        ("Tr. 7", (7, True)),
        ("3/12", (3, True)),
        ("Page 4 of 9", (4, True)),
        ("(5)", (5, True)),
        ("3. Nhiệm vụ", None),
        ("Năm 2025", None),
        ("57-NQ/TW", None),
    ],
)
def test_page_number_in(line: str, expected: tuple[int, bool] | None) -> None:
    assert page_number_in(line) == expected


def test_line_key_ignores_case_spacing_and_digits() -> None:
    assert line_key("Nghị quyết  57-NQ/TW   Trang 3") == line_key("NGHỊ QUYẾT 58-NQ/TW trang 4")


# -- running headers and footers -------------------------------------------------------------------

_BODY = [
    [
        "Đảng ta luôn xác định khoa học và công nghệ là quốc sách hàng đầu.",
        "Đổi mới sáng tạo là động lực chính của tăng trưởng.",
    ],
    ["Chuyển đổi số được triển khai mạnh mẽ ở các bộ, ngành.", "Hạ tầng số phủ rộng khắp cả nước."],
    ["Nguồn nhân lực số còn thiếu về số lượng.", "Thể chế còn nhiều điểm nghẽn cần tháo gỡ."],
    ["Đầu tư cho nghiên cứu còn thấp so với khu vực.", "Doanh nghiệp chưa thực sự là trung tâm."],
]


def test_running_header_and_numbered_footer_removed() -> None:
    pages = [
        ["Nghị quyết số 57-NQ/TW của Bộ Chính trị", *body, f"Nghị quyết 57 - Trang {i + 1}/4"]
        for i, body in enumerate(_BODY)
    ]
    assert remove_edge_artefacts(pages) == _BODY


def test_bare_page_numbers_with_offset_removed_but_table_cell_kept() -> None:
    # The cover page is not numbered: printed numbers are page index + 0, not + 1.
    pages = [[*body, str(i)] for i, body in enumerate(_BODY)]
    pages[0] = [*_BODY[0], "7"]  # a table cell "7" at the foot of the first page is text
    cleaned = remove_edge_artefacts(pages)
    assert cleaned[0] == [*_BODY[0], "7"]
    assert cleaned[1:] == _BODY[1:]


def test_explicit_page_number_forms_removed_at_edges_only() -> None:
    pages = [["- 1 -", *_BODY[0]], [*_BODY[1], "Trang 2"]]
    assert remove_edge_artefacts(pages) == _BODY[:2]
    inside = [[_BODY[0][0], _BODY[0][0], "- 1 -", _BODY[0][1], _BODY[0][1], _BODY[0][1], _BODY[0][1]]]
    assert remove_edge_artefacts(inside) == inside


def test_structural_lines_opening_pages_are_not_headers() -> None:
    pages = [[f"Điều {i + 1}. Quy định chung", *body] for i, body in enumerate(_BODY)]
    assert remove_edge_artefacts(pages) == pages
    pages = [[f"{i + 1}. Nhiệm vụ", *body] for i, body in enumerate(_BODY)]
    assert remove_edge_artefacts(pages) == pages


def test_alternating_headers_and_ocr_noise() -> None:
    even = "Văn kiện Đảng toàn tập"
    odd = "Nghị quyết về khoa học, công nghệ và chuyển đổi số"
    noisy = ["Nghị quyết về khoa học, công nghệ và chuyển đổi số", "Nghi quyết về khoa học, công nghệ và chuyến đổi số"]
    pages = []
    for i, body in enumerate(_BODY):
        header = even if i % 2 else noisy[i // 2 % 2]
        pages.append([header, *body])
    assert odd in [line for page in pages for line in page]
    assert remove_edge_artefacts(pages) == _BODY


def test_unique_first_lines_are_kept() -> None:
    assert running_lines(_BODY) == {}
    assert remove_edge_artefacts(_BODY) == _BODY
    single = [["ĐẢNG CỘNG SẢN VIỆT NAM", "Số 57-NQ/TW", "1"]]
    assert remove_edge_artefacts(single) == [["ĐẢNG CỘNG SẢN VIỆT NAM", "Số 57-NQ/TW"]]


def test_peeling_stops_at_body_text() -> None:
    pages = [["Văn kiện", body[0], "Văn kiện", body[1]] for body in _BODY]
    assert remove_edge_artefacts(pages) == [[body[0], "Văn kiện", body[1]] for body in _BODY]


# -- hyphenation -----------------------------------------------------------------------------------


def test_hyphenated_latin_word_joined() -> None:
    pages = [["ứng dụng công nghệ block-", "chain trong quản lý nhà nước."]]
    assert join_hyphenated(pages) == [["ứng dụng công nghệ blockchain", "trong quản lý nhà nước."]]


def test_soft_hyphen_joined_across_pages() -> None:
    pages = [["phát triển hệ sinh thái inno\u00ad"], ["vation quốc gia."]]
    assert join_hyphenated(pages) == [["phát triển hệ sinh thái innovation"], ["quốc gia."]]


def test_vietnamese_compounds_keep_their_hyphen() -> None:
    pages = [["phát triển kinh tế-", "xã hội bền vững"], ["nước Ma-lai-", "xi-a và Xin-ga-", "po"]]
    assert join_hyphenated(pages) == [["phát triển kinh tế-xã", "hội bền vững"], ["nước Ma-lai-xi-a", "và Xin-ga-po"]]


def test_dash_before_new_phrase_not_joined() -> None:
    pages = [["thực hiện trong năm -", "đột phá"], ["giai đoạn 2021-", "2025"], ["chủ trì-", "Hà Nội"]]
    assert join_hyphenated(pages) == pages


def test_clean_pages_all_together() -> None:
    pages = [
        ["Nghị quyết 57-NQ/TW", "Phát triển công nghệ bán dẫn, block-", "- 1 -"],
        ["Nghị quyết 57-NQ/TW", "chain và trí tuệ nhân tạo.", "- 2 -"],
        ["Nghị quyết 57-NQ/TW", "Doanh nghiệp là trung tâm.", "- 3 -"],
    ]
    assert clean_pages(pages) == [
        ["Phát triển công nghệ bán dẫn, blockchain"],
        ["và trí tuệ nhân tạo."],
        ["Doanh nghiệp là trung tâm."],
    ]


def test_semicolon_clause_continues_across_page_break() -> None:
    from rag.text.cleanup import merge_lines as merge
    from rag.types import Block as B

    merged = merge([B("- Tăng đầu tư cho giáo dục;", page=1), B("bảo đảm chi ít nhất 20% ngân sách.", page=2)])
    assert [m.text for m in merged] == ["- Tăng đầu tư cho giáo dục; bảo đảm chi ít nhất 20% ngân sách."]
    items = merge([B("a) Một;"), B("b) Hai.")])
    assert len(items) == 2
