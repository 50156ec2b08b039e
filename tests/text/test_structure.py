import pytest

from rag.ingest.markdown import markdown_to_blocks
from rag.text.document import analyse
from rag.text.roman import roman_value
from rag.text.structure import find_marker, structure
from rag.types import Block, RawDocument
from tests.samples import NQ_SAMPLE


def _raw(text: str) -> RawDocument:
    return RawDocument("k", "x.md", "md", tuple(markdown_to_blocks(text)), "0")


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("I- QUAN ĐIỂM CHỈ ĐẠO", "I"),
        ("IV. TỔ CHỨC THỰC HIỆN", "IV"),
        ("2. Tầm nhìn đến năm 2045", "2"),
        ("1.2. Nhiệm vụ cụ thể", "1.2"),
        ("b) Bảo đảm an toàn thông tin", "b)"),
        ("Điều 5. Phạm vi điều chỉnh", "Điều 5"),
        ("Chương II QUY ĐỊNH CHUNG", "Chương II"),
        ("Phần thứ nhất", "Phần thứ nhất"),
    ],
)
def test_markers(line: str, label: str) -> None:
    marker = find_marker(line)
    assert marker is not None and marker.label == label


@pytest.mark.parametrize(
    "line", ["Mục tiêu đến năm 2030", "2030 là mốc quan trọng", "V.I. Lênin đã viết", "- gạch đầu dòng"]
)
def test_not_markers(line: str) -> None:
    assert find_marker(line) is None


def test_roman_values() -> None:
    assert roman_value("XIV") == 14 and roman_value("IIII") is None and roman_value("IC") is None


def test_section_paths_follow_resolution_layout() -> None:
    doc = analyse(_raw(NQ_SAMPLE))
    paras = [(doc.text[s.start : s.end], s.section, s.kind) for s in doc.spans]
    by_text = {t.split("\n")[0][:30]: (section, kind) for t, section, kind in paras}
    assert by_text["I- QUAN ĐIỂM"] == ("I", "heading")
    assert by_text["1. Thư viện số là hạ tầng tri "] == ("I > 1", "body")
    assert by_text["1. Đến năm 2030"] == ("II > 1", "heading")
    assert by_text["- 100% cấp uỷ cấp tỉnh có kho "] == ("II > 1", "body")
    assert by_text["b) Bảo đảm an toàn thông tin; "] == ("III > 1 > b)", "body")
    assert by_text["Văn phòng Trung ương Đảng chủ "] == ("IV", "body")


def test_broken_line_is_joined_into_one_paragraph() -> None:
    doc = analyse(_raw(NQ_SAMPLE))
    texts = [doc.text[s.start : s.end] for s in doc.spans]
    assert "- Ít nhất 80% văn kiện lưu trữ từ năm 1945 được số hoá và gắn siêu dữ liệu chuẩn." in texts


def test_spans_cover_text_exactly() -> None:
    doc = analyse(_raw(NQ_SAMPLE))
    assert doc.spans[0].start == 0 and doc.spans[-1].end == len(doc.text)
    for a, b in zip(doc.spans, doc.spans[1:], strict=False):
        assert doc.text[a.end : b.start] == "\n\n"
    assert doc.spans[0].kind == "header"
    assert doc.title == "Nghị quyết về phát triển thư viện số trong hệ thống chính trị"
    assert doc.base_id == "nq-99-2025"


def test_legal_layout() -> None:
    blocks = [
        Block("Chương I", style="heading"),
        Block("Điều 1. Phạm vi"),
        Block("1. Quy định này áp dụng cho các cơ quan đảng."),
        Block("a) Cấp tỉnh;"),
        Block("Điều 2. Đối tượng"),
    ]
    sections = [s.section for s in structure(blocks)]
    assert sections == [
        "Chương I",
        "Chương I > Điều 1",
        "Chương I > Điều 1 > 1",
        "Chương I > Điều 1 > 1 > a)",
        "Chương I > Điều 2",
    ]
