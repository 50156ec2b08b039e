"""Questions answered through the real pipeline over tiny documents written for the tests."""

import json
from pathlib import Path

import pytest

from rag import Library, QAPipeline, answer_to_dict
from tests.samples import REPO_ROOT, SAMPLE_CORPUS, library_of

NQ31 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 31-NQ/TW
Hà Nội, ngày 10 tháng 3 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển văn hoá đọc trong cán bộ, đảng viên
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, mỗi chi bộ có tủ sách điện tử dùng chung.
2. Đến năm 2030, 80% cán bộ, đảng viên đọc ít nhất 6 cuốn sách mỗi năm.
II. NHIỆM VỤ
1. Ban Tuyên giáo Trung ương chủ trì xây dựng kho sách số của Đảng.
2. Văn phòng Trung ương Đảng bố trí kinh phí 50 tỉ đồng cho kho sách số trong năm 2026.
"""
NQ32 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 32-NQ/TW
Hà Nội, ngày 20 tháng 4 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về chăm sóc sức khoẻ người cao tuổi
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, 100% người cao tuổi được khám sức khoẻ định kỳ miễn phí mỗi năm một lần.
II. NHIỆM VỤ
1. Bộ Y tế chủ trì lập sổ sức khoẻ điện tử cho người cao tuổi.
"""


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> QAPipeline:
    library = library_of(tmp_path_factory.mktemp("qa"), {"nq31.txt": NQ31, "nq32.txt": NQ32})
    return QAPipeline(library)


def _quotes_are_verbatim(answer_json: dict) -> bool:  # type: ignore[type-arg]
    return all(c["quote"] and c["quote"] in c["text"] for c in answer_json["citations"])


@pytest.mark.parametrize(
    ("question", "expected", "doc_id"),
    [
        ("Nghị quyết 31 đặt mục tiêu bao nhiêu phần trăm cán bộ đọc ít nhất 6 cuốn sách?", "80%", "nq-31-2025"),
        ("Ai chủ trì xây dựng kho sách số của Đảng?", "Ban Tuyên giáo Trung ương", "nq-31-2025"),
        ("Nghị quyết 31 ban hành ngày nào?", "ngày 10 tháng 3 năm 2025", "nq-31-2025"),
        ("kinh phi cho kho sach so la bao nhieu", "50 tỉ đồng", "nq-31-2025"),
        ("Người cao tuổi được khám sức khoẻ định kỳ mấy lần mỗi năm?", "mỗi năm một lần", "nq-32-2025"),
    ],
)
def test_answers_cite_the_paragraph_that_says_it(qa: QAPipeline, question: str, expected: str, doc_id: str) -> None:
    answer = qa.ask(question)
    data = answer_to_dict(answer)
    assert not answer.abstained, answer.text
    assert expected in answer.text
    assert data["citations"][0]["doc_id"] == doc_id
    assert expected in data["citations"][0]["text"]
    assert "[1]" in answer.text and _quotes_are_verbatim(data)
    assert set(data) >= {"question", "answer", "abstained", "citations"}
    assert set(data["citations"][0]) >= {
        "marker",
        "doc_id",
        "paragraph_id",
        "title",
        "number",
        "issued",
        "section",
        "quote",
        "text",
    }


@pytest.mark.parametrize(
    "question",
    ["Cách nấu phở bò ngon?", "Đội tuyển bóng đá nữ thắng mấy trận ở vòng bảng?", "Giá vàng hôm nay thế nào?"],
)
def test_off_topic_questions_abstain_with_nearest_documents(qa: QAPipeline, question: str) -> None:
    answer = qa.ask(question)
    assert answer.abstained and answer.citations == ()
    assert answer.text.startswith("Không tìm thấy thông tin")


def test_follow_up_uses_the_document_of_the_previous_turn(qa: QAPipeline) -> None:
    first = qa.ask("Nghị quyết 32 đặt mục tiêu gì cho người cao tuổi đến năm 2030?")
    assert not first.abstained and first.citations[0].hit.doc_id == "nq-32-2025"
    history = [{"question": first.question, "answer": first.text, "citations": answer_to_dict(first)["citations"]}]
    follow_up = qa.ask("Nghị quyết đó ban hành ngày nào?", history=history)
    assert not follow_up.abstained
    assert follow_up.citations[0].hit.doc_id == "nq-32-2025"
    assert "20 tháng 4 năm 2025" in follow_up.text
    # Without citations in the history, the previous question itself tells which document it was about.
    bare = qa.ask("Nghị quyết đó ban hành ngày nào?", history=[{"question": first.question}])
    assert bare.citations and bare.citations[0].hit.doc_id == "nq-32-2025"


def test_stream_ends_with_the_verified_answer(qa: QAPipeline) -> None:
    events = list(qa.ask_stream("Ai chủ trì lập sổ sức khoẻ điện tử cho người cao tuổi?"))
    kinds = [e.kind for e in events]
    assert kinds[-2:] == ["answer", "done"] and kinds.count("delta") >= 2
    streamed = "".join(e.text for e in events if e.kind == "delta")
    final = events[-2].answer
    assert final is not None and streamed == final.text and "Bộ Y tế" in final.text


def test_every_quote_is_verbatim_over_the_team_qa_set(tmp_path: Path) -> None:
    """The citation invariant over a whole run: our QA set (eval/data) against the sample corpus."""
    library = Library(tmp_path / "ix")
    library.ingest([SAMPLE_CORPUS])
    qa = QAPipeline(library)
    checked = 0
    for line in (REPO_ROOT / "eval/data/corpus_qa.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        answer = qa.ask(item["question"], history=item.get("history"))
        for c in answer.citations:
            assert c.hit.paragraph.text[c.quote_start : c.quote_start + len(c.quote)] == c.quote
            checked += 1
    assert checked > 50
