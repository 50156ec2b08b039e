"""What a question asks for, read closely: "what is X / what role has X" (X may be the document's own subject),
and what a "how many" question counts (money, a share, a noun), over a tiny document written for these tests."""

from __future__ import annotations

import pytest

from rag import QAPipeline
from rag.answer.extractive import kind_match
from rag.answer.question import (
    KIND_NUMBER,
    KIND_WHO,
    UNIT_AMOUNT,
    UNIT_MONEY,
    UNIT_PERCENT,
    analyse_question,
    asked_unit,
    defined_subject,
)
from tests.samples import library_of

NQ43 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 43-NQ/TW
Hà Nội, ngày 3 tháng 7 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển văn hoá đọc trong Nhân dân
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. QUAN ĐIỂM
1. Các cấp uỷ xác định chỉ tiêu về văn hoá đọc trong nghị quyết đại hội của mình.
2. Văn hoá đọc là nền tảng của học tập suốt đời và của một xã hội học tập.
II. MỤC TIÊU
1. 100% học sinh phổ thông được đọc sách tại thư viện trường ít nhất một buổi mỗi tuần.
2. Năm 2026 dành ít nhất 12 tỷ đồng cho thư viện số của các tỉnh miền núi.
"""


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> QAPipeline:
    return QAPipeline(library_of(tmp_path_factory.mktemp("kinds"), {"nq43.txt": NQ43}, embedder="none"))


@pytest.mark.parametrize(
    ("question", "subject", "framing"),
    [
        ("Nghị quyết 43 xác định văn hoá đọc là gì?", ("văn", "hóa", "đọc"), ("xác", "định")),
        ("nghi quyet 43 xac dinh van hoa doc la gi", ("van", "hoa", "doc"), ("xac", "dinh")),
        (
            "Nghị quyết 68 xác định vai trò của kinh tế tư nhân như thế nào?",
            ("kinh", "tế", "tư", "nhân"),
            ("xác", "định"),
        ),
        ("Theo Nghị quyết 57-NQ/TW, đột phá chiến lược là gì?", ("đột", "phá", "chiến", "lược"), ()),
        ("Kinh tế nhà nước giữ vai trò gì?", ("kinh", "tế", "nhà", "nước"), ()),
        ("Nghị quyết 57 là gì?", (), ()),
        ("Chi cho nghiên cứu bao nhiêu?", (), ()),
    ],
)
def test_what_a_definition_question_asks_about(
    question: str, subject: tuple[str, ...], framing: tuple[str, ...]
) -> None:
    assert defined_subject(question) == (subject, framing)


def test_the_framing_verb_is_not_a_content_word() -> None:
    info = analyse_question("Nghị quyết 43 xác định văn hoá đọc là gì?")
    assert info.subject == ("văn", "hóa", "đọc") and "xác" not in info.terms and "định" not in info.terms


@pytest.mark.parametrize(
    ("question", "unit"),
    [
        ("Năm 2026 dành bao nhiêu tiền cho thư viện số?", UNIT_MONEY),
        ("Kim ngạch đạt bao nhiêu tỉ USD?", UNIT_MONEY),
        ("Tỉ lệ đạt bao nhiêu phần trăm?", UNIT_PERCENT),
        ("Có bao nhiêu học sinh được đọc sách?", "hoc"),
        ("Hội nghị có bao nhiêu đồng chí dự?", "dong"),
        ("Giá vé là bao nhiêu đồng?", UNIT_MONEY),
        ("Chi cho nghiên cứu là bao nhiêu?", ""),
        ("Tổng vốn đầu tư cho trung tâm dữ liệu là bao nhiêu?", UNIT_AMOUNT),
        ("kinh phi thuc hien de an la bao nhieu", UNIT_AMOUNT),
        ("Số lượng hồ sơ được số hóa là bao nhiêu?", ""),
    ],
)
def test_what_a_how_many_question_counts(question: str, unit: str) -> None:
    assert asked_unit(question) == unit
    assert analyse_question(question).unit == unit


@pytest.mark.parametrize(
    ("question", "text", "holds"),
    [
        ("Dành bao nhiêu tiền?", "Năm 2026 dành ít nhất 12 tỷ đồng cho thư viện số.", True),
        ("Dành bao nhiêu tiền?", "100% học sinh phổ thông được đọc sách.", False),
        ("Có bao nhiêu học sinh?", "100% học sinh phổ thông được đọc sách.", False),
        ("Có bao nhiêu học sinh?", "Cả tỉnh có 12.500 học sinh phổ thông.", True),
        ("Đạt bao nhiêu phần trăm?", "100% học sinh phổ thông được đọc sách.", True),
        ("Có bao nhiêu doanh nghiệp?", "Phấn đấu có 2 triệu doanh nghiệp.", True),
        # An amount of money named before "bao nhiêu": a sum or a share of one answers, a head count does not.
        ("Tổng vốn đầu tư là bao nhiêu?", "Đưa trung tâm vào vận hành và đào tạo 50.000 kỹ sư.", False),
        ("Tổng vốn đầu tư là bao nhiêu?", "Tổng vốn đầu tư của dự án khoảng 9.000 tỷ đồng.", True),
        ("Kinh phí chi cho khoa học là bao nhiêu?", "Bảo đảm chi ít nhất 3% tổng chi ngân sách hằng năm.", True),
    ],
)
def test_a_number_answers_a_how_many_question_only_with_what_it_counts(question: str, text: str, holds: bool) -> None:
    info = analyse_question(question)
    assert info.kind == KIND_NUMBER and kind_match(info, text, header_line=False) is holds


@pytest.mark.parametrize(
    "question", ["Nghị quyết 43 xác định văn hoá đọc là gì?", "nghi quyet 43 xac dinh van hoa doc la gi"]
)
def test_a_definition_is_answered_by_the_sentence_that_states_it(qa: QAPipeline, question: str) -> None:
    answer = qa.ask(question)
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("Văn hoá đọc là nền tảng")


def test_a_how_much_money_question_is_answered_with_the_amount(qa: QAPipeline) -> None:
    answer = qa.ask("Năm 2026 dành bao nhiêu tiền cho thư viện số?")
    assert not answer.abstained and "12 tỷ đồng" in answer.citations[0].quote


def test_a_count_the_documents_do_not_give_is_missing_its_kind(qa: QAPipeline) -> None:
    # The only figure about pupils is a share, not a number of pupils.
    prepared = qa.prepare("Có bao nhiêu học sinh phổ thông được đọc sách tại thư viện trường?")
    assert prepared.decision.features["kind_missing"] == 1.0


@pytest.mark.parametrize(
    ("question", "person"),
    [
        ("Bí thư Tỉnh ủy Đồng Nai tên là gì?", True),
        ("Ai là Chủ tịch Ủy ban Mặt trận Tổ quốc tỉnh?", True),
        ("Đồng chí nào chủ trì hội nghị?", True),
        ("bi thu tinh uy ten gi", True),
        ("Ai chủ trì hội nghị?", False),  # a body may preside
        ("Tên của nghị quyết là gì?", False),
        ("Cơ quan nào chủ trì?", False),
    ],
)
def test_a_question_asking_for_a_person_by_name(question: str, person: bool) -> None:
    info = analyse_question(question)
    assert info.person is person
    if person:
        assert info.kind == KIND_WHO and "tên" not in info.terms


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("Đồng chí Vũ Hồng Văn, Bí thư Tỉnh ủy, phát biểu chỉ đạo.", True),
        ("TỔNG BÍ THƯ\nTô Lâm", True),
        ("Bí thư Tỉnh uỷ yêu cầu người đứng đầu các sở chịu trách nhiệm.", False),
        ("Hội nghị diễn ra tại Hà Nội, Lâm Đồng và Thành phố Hồ Chí Minh.", False),
        ("Ban Thường vụ Tỉnh ủy chủ trì hội nghị.", False),
    ],
)
def test_a_person_is_answered_by_a_name_not_by_a_body_or_a_place(text: str, holds: bool) -> None:
    info = analyse_question("Bí thư Tỉnh ủy tên là gì?")
    assert kind_match(info, text, header_line=False) is holds
