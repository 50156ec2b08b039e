"""Questions typed the way cadres type them, over tiny documents written for these tests.

Each test is one failure seen on the chat page before the answer layer learned the layout of Party documents
and the way questions are phrased: letterheads, datelines and column names quoted as answers, polite preambles
and acronyms losing an answer, lists cut short and out of order, a follow-up on a new topic answered from the
old one, the same sentence twice from two copies of a text, a sentence that reverses its source accepted.
"""

import pytest

from rag import QAPipeline
from rag.answer.citations import verify
from rag.answer.extractive import SUMMARY_BACKGROUND, summary_rank
from rag.errors import InvalidRequest
from rag.text.layout import is_banner, is_dateline, is_table_header
from tests.samples import library_of

NQ41 = """BAN CHẤP HÀNH TRUNG ƯƠNG
ĐẢNG CỘNG SẢN VIỆT NAM
*
Số 41-NQ/TW
Hà Nội, ngày 12 tháng 5 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển giáo dục nghề nghiệp cho thanh niên
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. TÌNH HÌNH
1. Mạng lưới trường nghề đã phủ khắp các tỉnh; chất lượng đào tạo từng bước được nâng lên.
II. MỤC TIÊU
1. Đến năm 2030
a) 60% thanh niên trong độ tuổi lao động có chứng chỉ nghề.
b) Mỗi tỉnh có ít nhất một trường nghề chất lượng cao.
c) Ứng dụng trí tuệ nhân tạo trong đánh giá kỹ năng nghề ở mọi trường nghề công lập.
d) Tỉ lệ thanh niên thất nghiệp dưới 5%.
2. Tầm nhìn đến năm 2045
Giáo dục nghề nghiệp Việt Nam thuộc nhóm dẫn đầu ASEAN.
III. LỘ TRÌNH
Mốc thời gian | Nội dung
Năm 2027 | Hoàn thành sắp xếp mạng lưới trường nghề công lập
IV. TỔ CHỨC THỰC HIỆN
1. Những vấn đề vượt thẩm quyền, Ban cán sự đảng Chính phủ báo cáo Bộ Chính trị cho ý kiến.
T/M BỘ CHÍNH TRỊ
TỔNG BÍ THƯ
(đã ký)
"""
NQ42 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 42-NQ/TW
Hà Nội, ngày 2 tháng 6 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về nâng cao sức khoẻ người lao động
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, tuổi thọ trung bình của người lao động đạt khoảng 76 tuổi; 95% người lao động tham gia bảo hiểm y tế.
II. NHIỆM VỤ
1. Bộ Y tế chủ trì khám sức khoẻ định kỳ miễn phí cho công nhân khu công nghiệp.
"""
NEWS = """Tỉnh Bắc Ninh quán triệt Nghị quyết 41 về giáo dục nghề nghiệp
20/06/2025 08:15
Sáng 20/6, Tỉnh uỷ Bắc Ninh tổ chức hội nghị quán triệt Nghị quyết số 41-NQ/TW với 2.000 đảng viên tham dự.
Báo cáo viên nhắc lại: Mỗi tỉnh có ít nhất một trường nghề chất lượng cao.
Tài liệu thử nghiệm, không phải văn bản chính thức.
"""


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> QAPipeline:
    texts = {"nq41.txt": NQ41, "nq42.txt": NQ42, "tin-2025-06-20-bac-ninh.txt": NEWS}
    return QAPipeline(library_of(tmp_path_factory.mktemp("cadre"), texts, embedder="none"))


def _lines(text: str) -> list[str]:
    return [line.lstrip("- ").rsplit(" [", 1)[0].strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "question",
    [
        "Nghị quyết số 41-NQ/TW của Bộ Chính trị về vấn đề gì?",
        "Nghị quyết 41 về việc gì?",
        "Nội dung chính của Nghị quyết 41 là gì?",
    ],
)
def test_what_a_resolution_is_about_comes_from_its_subject_line_not_its_letterhead(
    qa: QAPipeline, question: str
) -> None:
    answer = qa.ask(question)
    assert not answer.abstained, answer.text
    first = _lines(answer.text)[0]
    assert "về phát triển giáo dục nghề nghiệp cho thanh niên" in first
    assert not any(is_banner(c.quote) for c in answer.citations), [c.quote for c in answer.citations]


def test_summary_gives_each_main_section_and_no_header_line(qa: QAPipeline) -> None:
    answer = qa.ask("Tóm tắt Nghị quyết 41")
    assert not answer.abstained
    lines = _lines(answer.text)
    assert lines[0].startswith("Nghị quyết số 41-NQ/TW về phát triển giáo dục nghề nghiệp")
    # What the resolution decides leads (its goals), each main section labelled; the account of the situation
    # that led to it (section I) is left out.
    assert lines[1] == "Mục tiêu:" and "60% thanh niên trong độ tuổi lao động có chứng chỉ nghề" in lines[2]
    assert "Tổ chức thực hiện:" in lines
    assert "Mạng lưới trường nghề đã phủ khắp các tỉnh" not in answer.text
    for quote in (c.quote for c in answer.citations):
        assert not is_banner(quote) and "Số 41-NQ/TW" not in quote and "ngày 12 tháng 5" not in quote


def test_a_news_dateline_is_never_the_answer(qa: QAPipeline) -> None:
    answer = qa.ask("Hội nghị quán triệt Nghị quyết 41 ở Bắc Ninh diễn ra hôm nào?")
    assert not answer.abstained, answer.text
    assert not any(is_dateline(c.quote) for c in answer.citations)
    assert "20/6" in answer.text


def test_a_table_header_row_is_never_the_answer(qa: QAPipeline) -> None:
    answer = qa.ask("Lộ trình của Nghị quyết 41 có những mốc thời gian và nội dung gì?")
    assert not answer.abstained, answer.text
    assert not any(is_table_header(c.quote) for c in answer.citations)
    assert "Hoàn thành sắp xếp mạng lưới trường nghề công lập" in answer.text


def test_a_list_comes_whole_in_document_order_with_its_labels(qa: QAPipeline) -> None:
    answer = qa.ask("Nghị quyết 41 đặt những mục tiêu nào?")
    lines = _lines(answer.text)
    items = [
        "60% thanh niên trong độ tuổi lao động có chứng chỉ nghề.",
        "Mỗi tỉnh có ít nhất một trường nghề chất lượng cao.",
        "Ứng dụng trí tuệ nhân tạo trong đánh giá kỹ năng nghề ở mọi trường nghề công lập.",
        "Tỉ lệ thanh niên thất nghiệp dưới 5%.",
        "Giáo dục nghề nghiệp Việt Nam thuộc nhóm dẫn đầu ASEAN.",
    ]
    positions = [lines.index(item) for item in items]
    assert positions == sorted(positions), answer.text
    assert lines.index("Đến năm 2030:") < positions[0] and lines.index("Tầm nhìn đến năm 2045:") < positions[-1]


def test_the_same_sentence_from_two_texts_is_said_once(qa: QAPipeline) -> None:
    answer = qa.ask("Mỗi tỉnh có ít nhất mấy trường nghề chất lượng cao?")
    assert not answer.abstained
    assert answer.text.count("Mỗi tỉnh có ít nhất một trường nghề chất lượng cao") == 1, answer.text


def test_a_polite_preamble_does_not_lose_the_answer(qa: QAPipeline) -> None:
    plain = qa.ask("Ai chủ trì khám sức khoẻ định kỳ miễn phí cho công nhân khu công nghiệp?")
    polite = qa.ask("Đồng chí cho hỏi ai chủ trì khám sức khoẻ định kỳ miễn phí cho công nhân khu công nghiệp ạ?")
    assert not polite.abstained and "Bộ Y tế" in polite.text
    assert polite.text == plain.text
    assert polite.rewritten_question == "Ai chủ trì khám sức khoẻ định kỳ miễn phí cho công nhân khu công nghiệp?"


def test_an_acronym_finds_the_long_form(qa: QAPipeline) -> None:
    answer = qa.ask("Nghị quyết 41 yêu cầu ứng dụng AI vào việc gì?")
    assert not answer.abstained, answer.text
    assert "trí tuệ nhân tạo trong đánh giá kỹ năng nghề" in answer.text


def test_an_authority_question_is_answered_not_refused(qa: QAPipeline) -> None:
    answer = qa.ask("Những vấn đề vượt thẩm quyền thì xử lý thế nào?")
    assert not answer.abstained, answer.text
    assert "báo cáo Bộ Chính trị cho ý kiến" in answer.text


def test_a_follow_up_on_a_new_topic_retrieves_afresh(qa: QAPipeline) -> None:
    history = [{"question": "Nghị quyết 41 đặt mục tiêu gì về chứng chỉ nghề đến năm 2030?"}]
    answer = qa.ask("Còn mục tiêu về bảo hiểm y tế thì sao?", history=history)
    assert not answer.abstained, answer.text
    assert answer.citations[0].hit.doc_id == "nq-42-2025"
    assert "95% người lao động tham gia bảo hiểm y tế" in answer.text
    assert answer.rewritten_question is not None and "41" not in answer.rewritten_question


def test_a_follow_up_on_the_same_document_keeps_it(qa: QAPipeline) -> None:
    history = [{"question": "Nghị quyết 42 đặt mục tiêu gì về tuổi thọ?"}]
    answer = qa.ask("Nghị quyết đó giao ai chủ trì khám sức khoẻ định kỳ?", history=history)
    assert answer.citations and answer.citations[0].hit.doc_id == "nq-42-2025"
    assert "Bộ Y tế" in answer.text


def test_a_sentence_that_reverses_or_rebounds_its_source_is_removed(qa: QAPipeline) -> None:
    hits = qa.library.search("tuổi thọ trung bình của người lao động", k=3)
    n = next(i for i, h in enumerate(hits, start=1) if "76 tuổi" in h.paragraph.text)
    faithful = f"Tuổi thọ trung bình của người lao động đạt khoảng 76 tuổi [{n}]."
    for lie in (
        f"Tuổi thọ trung bình của người lao động không đạt 76 tuổi [{n}].",
        f"Tuổi thọ trung bình của người lao động chưa đạt khoảng 76 tuổi [{n}].",
        f"Tuổi thọ trung bình của người lao động đạt dưới 76 tuổi [{n}].",
        f"Dưới 95% người lao động tham gia bảo hiểm y tế [{n}].",
    ):
        checked = verify(f"{faithful}\n{lie}", hits)
        assert checked.text == "Tuổi thọ trung bình của người lao động đạt khoảng 76 tuổi. [1]", lie
        assert len(checked.dropped) == 1


def test_extractive_stream_sends_exactly_the_verified_answer(qa: QAPipeline) -> None:
    events = list(qa.ask_stream("Nghị quyết 41 đặt những mục tiêu nào?"))
    streamed = "".join(e.text for e in events if e.kind == "delta")
    (final,) = [e.answer for e in events if e.kind == "answer"]
    assert final is not None and streamed == final.text == qa.ask("Nghị quyết 41 đặt những mục tiêu nào?").text
    assert sum(1 for e in events if e.kind == "delta") > 5


def test_who_signed_reads_the_signature_block(qa: QAPipeline) -> None:
    answer = qa.ask("Ai ký Nghị quyết 41?")
    assert not answer.abstained, answer.text
    assert "TỔNG BÍ THƯ" in answer.text and "(đã ký)" not in answer.text


def test_layout_lines_are_recognised() -> None:
    """The layout detectors on their own, on the lines of the test documents."""
    assert is_banner("BAN CHẤP HÀNH TRUNG ƯƠNG") and is_banner("*") and not is_banner("Số 41-NQ/TW")
    assert is_dateline("20/06/2025 08:15") and not is_dateline("Sáng 20/6, Tỉnh uỷ Bắc Ninh tổ chức hội nghị")
    assert is_table_header("Mốc thời gian | Nội dung")
    assert not is_table_header("Năm 2027 | Hoàn thành sắp xếp mạng lưới trường nghề công lập")


@pytest.mark.parametrize("question", ["Đồng chí cho hỏi ạ?", "Xin hỏi", "Cho tôi hỏi", "Nhờ hệ thống cho biết với ạ"])
def test_a_question_of_politeness_only_gets_a_clear_message(qa: QAPipeline, question: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        qa.ask(question)
    assert "chưa có nội dung cần tìm" in info.value.user_message


@pytest.mark.parametrize("question", ["2030", "41", "2030?", "12/5/2025"])
def test_a_question_of_numbers_only_is_not_answered_with_a_guess(qa: QAPipeline, question: str) -> None:
    answer = qa.ask(question)
    assert answer.abstained and not answer.citations
    assert answer.nearest, "the documents the number points to are listed"
    assert f"Câu hỏi mới có con số «{question}»" in answer.text  # and the user is told what is missing


def test_summary_sections_go_goals_viewpoints_tasks_organisation_and_leave_the_situation_last() -> None:
    ranks = [
        summary_rank(h)
        for h in (
            "II. QUAN ĐIỂM CHỈ ĐẠO",
            "I- TÌNH HÌNH VÀ NGUYÊN NHÂN",
            "V. TỔ CHỨC THỰC HIỆN",
            "III. MỤC TIÊU",
            "IV. Nhiệm vụ, giải pháp đột phá",
            "Đánh giá chung",
        )
    ]
    assert ranks == [1, SUMMARY_BACKGROUND, 3, 0, 2, SUMMARY_BACKGROUND]
    assert summary_rank("2. Phát triển nguồn nhân lực") == 2  # no cue: beside the tasks, in document order
