from rag.ingest.markdown import markdown_to_blocks
from rag.text.cleanup import merge_lines
from rag.text.header import read_header, vn_name
from rag.types import Block
from tests.samples import NEWS_SAMPLE, NQ_SAMPLE


def _blocks(text: str) -> list[Block]:
    return merge_lines(markdown_to_blocks(text))


def test_resolution_header_fields() -> None:
    found = read_header(_blocks(NQ_SAMPLE))
    h = found.header
    assert h.number == "99-NQ/TW"
    assert h.issued == "2025-03-05"
    assert h.place == "Hà Nội"
    assert h.doc_type == "nghị quyết"
    assert h.issuer == "Bộ Chính trị"
    assert h.summary == "về phát triển thư viện số trong hệ thống chính trị"
    assert h.headline is None


def test_issuer_from_top_block_and_number_with_colon() -> None:
    text = """ĐẢNG BỘ THÀNH PHỐ HÀ NỘI
THÀNH ỦY
Số: 05 - CTr/TU
Hà Nội, ngày 10 tháng 10 năm 2025
CHƯƠNG TRÌNH HÀNH ĐỘNG
thực hiện Nghị quyết số 71-NQ/TW ngày 22/8/2025 của Bộ Chính trị
Căn cứ Nghị quyết số 71-NQ/TW, Ban Thường vụ Thành ủy ban hành chương trình này.
"""
    h = read_header(_blocks(text)).header
    assert h.number == "05-CTr/TU"
    assert h.issuer == "Thành ủy Hà Nội"
    assert h.doc_type == "chương trình"
    assert h.issued == "2025-10-10"
    assert h.summary == "thực hiện Nghị quyết số 71-NQ/TW ngày 22/8/2025 của Bộ Chính trị"


def test_government_resolution_date_not_taken_from_summary() -> None:
    text = """# CHÍNH PHỦ CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Số: 07/NQ-CP
Hà Nội, ngày 09 tháng 02 năm 2025
# NGHỊ QUYẾT
## Ban hành Chương trình hành động thực hiện Nghị quyết số 57-NQ/TW ngày 22 tháng 12 năm 2024
# CHÍNH PHỦ
Căn cứ Luật Tổ chức Chính phủ;
"""
    h = read_header(_blocks(text)).header
    assert (h.number, h.issued, h.issuer, h.doc_type) == ("07/NQ-CP", "2025-02-09", "Chính phủ", "nghị quyết")


def test_official_letter_without_type_line() -> None:
    text = """ĐẢNG ỦY CHÍNH PHỦ
VĂN PHÒNG
Số 12-CV/VPĐU
V/v góp ý dự thảo báo cáo
Hà Nội, ngày 25 tháng 5 năm 2025
Kính gửi: Các đồng chí Ủy viên Ban Thường vụ.
"""
    h = read_header(_blocks(text)).header
    assert h.doc_type == "công văn"
    assert h.issuer == "Văn phòng Đảng ủy Chính phủ"
    assert h.summary == "góp ý dự thảo báo cáo"


def test_news_article_headline_and_date() -> None:
    found = read_header(_blocks(NEWS_SAMPLE))
    h = found.header
    assert h.headline == "Hà Nội khai trương kho văn kiện số của Đảng bộ thành phố"
    assert h.issued == "2025-04-12"
    assert h.number is None
    assert found.end == 3  # headline, by-line, date line


def test_crawled_date_prefix() -> None:
    blocks = [Block("date 2026-02-25 Hội nghị quán triệt nghị quyết"), Block("Nội dung bài viết dài ...")]
    h = read_header(blocks).header
    assert h.issued == "2026-02-25"
    assert h.headline == "Hội nghị quán triệt nghị quyết"


def test_date_inside_sentence_does_not_date_article() -> None:
    blocks = [
        Block("Mức lương tối thiểu vùng mới"),
        Block("Theo quy định, từ ngày 1/1/2026 mức lương tối thiểu vùng tăng 7,2% so với năm trước đó."),
    ]
    assert read_header(blocks).header.issued is None


def test_vn_name_spelling() -> None:
    assert vn_name("BAN CHẤP HÀNH TRUNG ƯƠNG") == "Ban Chấp hành Trung ương"
    assert vn_name("ĐẢNG ĐOÀN QUỐC HỘI") == "Đảng đoàn Quốc hội"


def test_place_names_capitalised() -> None:
    assert vn_name("TỈNH UỶ NGHỆ AN") == "Tỉnh uỷ Nghệ An"
    assert vn_name("ĐẢNG BỘ TỈNH QUẢNG NINH") == "Đảng bộ tỉnh Quảng Ninh"
    assert vn_name("THÀNH ỦY HÀ NỘI") == "Thành ủy Hà Nội"


def test_number_and_place_on_one_line() -> None:
    text = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 59-NQ/TW Hà Nội, ngày 24 tháng 01 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về hội nhập quốc tế trong tình hình mới
"""
    h = read_header(_blocks(text)).header
    assert (h.number, h.place, h.issued) == ("59-NQ/TW", "Hà Nội", "2025-01-24")


def test_body_sentence_is_not_summary() -> None:
    text = """ĐẢNG BỘ THÀNH PHỐ HÀ NỘI
THÀNH ỦY
Số 05-CTr/TU
Hà Nội, ngày 10 tháng 10 năm 2025
CHƯƠNG TRÌNH HÀNH ĐỘNG
thực hiện Nghị quyết số 71-NQ/TW của Bộ Chính trị
Thực hiện Nghị quyết số 71-NQ/TW, Ban Thường vụ Thành ủy ban hành Chương trình hành động như sau.
"""
    h = read_header(_blocks(text)).header
    assert h.summary == "thực hiện Nghị quyết số 71-NQ/TW của Bộ Chính trị"


def test_dateline_in_lead_paragraph() -> None:
    blocks = [
        Block("Phiên họp thứ hai của Ban Chỉ đạo"),
        Block("Chiều 4/3/2025, tại Trụ sở Trung ương Đảng, Ban Chỉ đạo đã họp."),
    ]
    assert read_header(blocks).header.issued == "2025-03-04"
    blocks = [
        Block("Lương tối thiểu vùng"),
        Block(
            "Mức lương tối thiểu mới áp dụng từ ngày 1/1/2026 cho người lao động làm việc theo hợp đồng trong cả nước."
        ),
    ]
    assert read_header(blocks).header.issued is None
