"""What sets the answering sentence apart from its neighbours: a word whose framing syllable is content ("thế giới",
"chỉ tiêu"), the role a role question asks for, one sentence that holds a whole asked list, the groups of a task
section, a follow-up that points back at the document but asks something new, and one that moves a national
question to a province (measured in GRDP there). Over tiny documents written for these tests (not official
texts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Library, QAPipeline
from rag.answer.conversation import rewrite, switch_question
from rag.answer.extractive import score_candidates
from rag.answer.question import analyse_question
from rag.text.places import names_province
from rag.types import Hit, Paragraph
from tests.samples import library_of

NQ93 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 93-NQ/TW
Hà Nội, ngày 9 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về hợp tác xã kiểu mới
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. QUAN ĐIỂM
1. Hợp tác xã kiểu mới là sự nghiệp của toàn dân, của cả hệ thống chính trị, dưới sự lãnh đạo của Đảng.
2. Hợp tác xã kiểu mới là động lực quan trọng để phát triển nông nghiệp, nông thôn bền vững.
II. MỤC TIÊU
1. Mục tiêu đến năm 2030
a) Phấn đấu có 100 hợp tác xã thuộc nhóm 500 doanh nghiệp lớn nhất khu vực Đông Nam Á.
b) Có từ 2 đến 4 hợp tác xã thuộc nhóm 500 doanh nghiệp lớn nhất thế giới.
2. Tầm nhìn đến năm 2045
Kinh tế hợp tác trở thành trụ cột của nông nghiệp hiện đại, có sức cạnh tranh quốc tế.
III. NHIỆM VỤ, GIẢI PHÁP
1. Hoàn thiện thể chế
a) Sửa đổi Luật Hợp tác xã theo hướng giao quyền tự chủ đầy đủ cho hợp tác xã.
b) Sáp nhập, hợp nhất các hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả để nâng cao năng lực cạnh tranh.
2. Bảo đảm nguồn lực
a) Bố trí đủ kinh phí đào tạo cán bộ quản lý hợp tác xã theo tỉ lệ đã xác định.
b) Ưu tiên vốn tín dụng ưu đãi cho hợp tác xã ở vùng đồng bào dân tộc thiểu số và vùng bãi ngang ven biển.
IV. TỔ CHỨC THỰC HIỆN
1. Các tỉnh uỷ, thành uỷ xây dựng chương trình hành động thực hiện Nghị quyết trong quý II năm 2026.
2. Năm 2028 tổ chức sơ kết 2 năm thực hiện Nghị quyết; năm 2030 tổng kết.
"""


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("apart")
    library_of(root, {"nq93.txt": NQ93}, embedder="none").close()
    return root / "ix"


@pytest.fixture(scope="module")
def qa(library_dir: Path) -> QAPipeline:
    return QAPipeline(Library(library_dir, embedder="none"), k=8)


def test_a_framing_syllable_inside_a_word_is_content() -> None:
    info = analyse_question("Có bao nhiêu hợp tác xã thuộc nhóm 500 doanh nghiệp lớn nhất thế giới?")
    assert {"thế", "giới"} <= set(info.terms) and "thế_giới" in info.bigrams
    assert {"chi", "tieu", "viec", "lam"} <= set(analyse_question("chi tieu ve viec lam la gi?").terms)
    # Alone, the syllable still only frames the question.
    assert "thế" not in analyse_question("Hợp tác xã kiểu mới phát triển như thế nào?").terms


def test_the_word_that_differs_decides_between_two_targets(qa: QAPipeline) -> None:
    answer = qa.ask("Nghị quyết 93 phấn đấu có bao nhiêu hợp tác xã thuộc nhóm 500 doanh nghiệp lớn nhất thế giới?")
    assert not answer.abstained
    assert "từ 2 đến 4 hợp tác xã" in answer.citations[0].quote


def test_a_role_question_is_answered_by_the_statement_naming_a_role(qa: QAPipeline) -> None:
    answer = qa.ask("Nghị quyết 93 xác định vai trò của hợp tác xã kiểu mới như thế nào?")
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("Hợp tác xã kiểu mới là động lực quan trọng")


def test_a_list_held_by_one_sentence_is_that_sentence(qa: QAPipeline) -> None:
    # "những địa bàn nào" asks for the places one task names, not for every task of the section, though the
    # sentence says neither "yêu cầu" nor "địa bàn".
    answer = qa.ask("Nghị quyết 93 yêu cầu ưu tiên vốn tín dụng ưu đãi cho những địa bàn nào?")
    assert not answer.abstained
    assert len(answer.citations) == 1
    assert "vùng bãi ngang ven biển" in answer.citations[0].quote


def test_the_tasks_of_a_document_are_its_task_groups(qa: QAPipeline) -> None:
    answer = qa.ask("Nêu các nhiệm vụ, giải pháp của Nghị quyết 93")
    assert not answer.abstained
    assert [c.quote for c in answer.citations] == ["Hoàn thiện thể chế", "Bảo đảm nguồn lực"]
    assert answer.text.splitlines()[0].startswith("- Hoàn thiện thể chế [1]")


def test_the_targets_of_a_document_are_not_its_date_headings(qa: QAPipeline) -> None:
    # "2. Tầm nhìn đến năm 2045" labels targets; it is not one.
    answer = qa.ask("Nêu các mục tiêu của Nghị quyết 93")
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert any("từ 2 đến 4 hợp tác xã" in q for q in quotes)
    assert all("Tầm nhìn" not in q for q in quotes)


def test_a_purpose_is_the_topic_when_what_is_asked_names_nothing(qa: QAPipeline) -> None:
    # "cần thực hiện những công việc nào" asks for tasks without naming any: the purpose clause places the answer,
    # not a sentence that says "thực hiện".
    info = analyse_question("Theo Nghị quyết 93, để nâng cao năng lực cạnh tranh, cần thực hiện những công việc nào?")
    assert not {"thực", "hiện", "việc"} & set(info.terms)
    answer = qa.ask(
        "Theo Nghị quyết 93, để nâng cao năng lực cạnh tranh của hợp tác xã, cần thực hiện những công việc nào?"
    )
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert any(q.startswith("Sáp nhập, hợp nhất các hợp tác xã") for q in quotes[:3])
    assert not any("chương trình hành động" in q for q in quotes)


def test_a_follow_up_about_the_same_document_retrieves_what_it_asks_now() -> None:
    history = [{"question": "Nghị quyết 93-NQ/TW đặt mục tiêu gì về hợp tác xã lớn nhất thế giới?"}]
    # The document comes from the previous turn; its question's words would pull back the targets.
    assert rewrite("Nghị quyết đó bao giờ sơ kết?", history) == "Nghị quyết đó bao giờ sơ kết? (93-NQ/TW)"
    # A follow-up that brings nothing new still carries the previous question.
    assert "lớn nhất thế giới" in rewrite("Còn nghị quyết đó thì sao?", history)


def test_a_follow_up_pointing_back_is_answered_from_the_same_document(library_dir: Path) -> None:
    # Two paragraphs only: the previous question's words would fill them with the targets.
    qa = QAPipeline(Library(library_dir, embedder="none"), k=2)
    history = [{"question": "Nghị quyết 93-NQ/TW đặt mục tiêu gì về hợp tác xã lớn nhất thế giới?"}]
    answer = qa.ask("Nghị quyết đó bao giờ sơ kết?", history)
    assert not answer.abstained
    assert "Năm 2028 tổ chức sơ kết" in answer.citations[0].quote


NATIONAL = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 94-NQ/TW
Hà Nội, ngày 12 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển kinh tế biển
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Kinh tế biển đóng góp khoảng 10% GDP vào năm 2030.
"""

PROVINCE = """Thái Bình quán triệt Nghị quyết về phát triển kinh tế biển
12/03/2026 09:00
Tài liệu thử nghiệm, không phải văn bản chính thức.
Tại hội nghị, báo cáo viên nhắc lại Nghị quyết đặt mục tiêu kinh tế biển đóng góp khoảng 10% GDP vào năm 2030.
Tỉnh đặt mục tiêu đến năm 2030 kinh tế biển đóng góp khoảng 30% GRDP của tỉnh.
"""


@pytest.mark.parametrize(
    ("question", "previous", "rewritten"),
    [
        (
            "Thế còn Thái Bình?",
            "Nghị quyết 94 đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GDP?",
            "Thái Bình: đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GRDP?",
        ),
        (
            "Còn cả nước thì sao?",
            "Thái Bình đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GRDP?",
            "cả nước: thái Bình đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GDP?",
        ),
        (
            "Còn cho giáo dục thì sao?",
            "Nghị quyết 80 yêu cầu chi ngân sách cho văn hóa tối thiểu bao nhiêu phần trăm GDP?",
            "yêu cầu chi ngân sách cho giáo dục tối thiểu bao nhiêu phần trăm GDP?",
        ),
    ],
)
def test_a_province_is_measured_in_grdp(question: str, previous: str, rewritten: str) -> None:
    assert switch_question(question, previous) == rewritten


@pytest.mark.parametrize(
    ("question", "previous", "rewritten"),
    [
        # Typed without accents, the follow-up is read as with them: framing, document name and subject's end.
        (
            "the con thai binh?",
            "nghi quyet 94 dat muc tieu kinh te bien dong gop bao nhieu phan tram GDP?",
            "thai binh: dat muc tieu kinh te bien dong gop bao nhieu phan tram GRDP?",
        ),
        (
            "con cho giao duc thi sao?",
            "NQ 80 yeu cau chi ngan sach cho van hoa toi thieu bao nhieu?",
            "yeu cau chi ngan sach cho giao duc toi thieu bao nhieu?",
        ),
        # With accents, folded words are not read into other words: "Côn Đảo" is not "còn".
        ("Còn Côn Đảo thì sao?", "Nghị quyết 80 đặt mục tiêu gì?", "Côn Đảo: đặt mục tiêu gì?"),
    ],
)
def test_a_switch_typed_without_accents_is_read_as_with_them(question: str, previous: str, rewritten: str) -> None:
    assert switch_question(question, previous) == rewritten


def test_province_names_with_and_without_accents() -> None:
    assert names_province("Còn ở Nghệ An thì sao?") and names_province("con tinh nghe an thi sao")
    assert names_province("Thủ đô") and not names_province("Còn cho giáo dục thì sao?")


def test_a_province_after_the_country_is_answered_with_its_own_share(tmp_path: Path) -> None:
    library_of(tmp_path, {"nq94.txt": NATIONAL, "tin-thai-binh.txt": PROVINCE}, embedder="none").close()
    qa = QAPipeline(Library(tmp_path / "ix", embedder="none"), k=8)
    history = [{"question": "Nghị quyết 94 đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GDP?"}]
    answer = qa.ask("Thế còn Thái Bình?", history)
    assert not answer.abstained
    # The province's own sentence says "Tỉnh", not its name; the national target it quotes is not its answer.
    assert "30% GRDP" in answer.citations[0].quote


def test_a_topic_set_before_the_question_is_kept() -> None:
    assert analyse_question("Hà Nội: đặt mục tiêu kinh tế biển đóng góp bao nhiêu phần trăm GRDP?").topic == (
        "hà",
        "nội",
    )
    assert analyse_question("Câu 3: Nghị quyết 94 đặt mục tiêu gì?").topic == ()
    # A place is a name: without accents "noi" is not the framing word "nói".
    assert analyse_question("ha noi: dat muc tieu kinh te bien dong gop bao nhieu phan tram GRDP?").topic == (
        "ha",
        "noi",
    )


def _news(n: int, text: str) -> Hit:
    paragraph = Paragraph(f"tin-ha-noi/p{n:04d}", "tin-ha-noi", n, text, "", None, 0, len(text))
    title = "Hà Nội quán triệt Nghị quyết về phát triển văn hóa"
    return Hit(n, 1.0, paragraph, title, None, "2026-03-12", "tin", "Báo điện tử", "cong-khai", "")


def test_a_topic_is_said_by_the_sentence_not_by_its_headline() -> None:
    info = analyse_question("Hà Nội: công nghiệp văn hóa đóng góp bao nhiêu phần trăm?")
    hits = [
        _news(1, "Công nghiệp văn hóa đóng góp khoảng 7%."),
        _news(2, "Hà Nội phấn đấu công nghiệp văn hóa đóng góp khoảng 8%."),
        _news(3, "Thủ đô phấn đấu công nghiệp văn hóa đóng góp khoảng 8%."),
    ]
    focus = {e.hit_index: e.cov_focus for e in score_candidates(info, hits)}
    # The headline names Hà Nội for all three; the national figure does not speak of it, "Thủ đô" does.
    assert focus[1] == focus[2] > focus[0]
