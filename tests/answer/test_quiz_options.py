"""A quiz page's answer options are not statements: three of four are false, and a search ranks them high because
they repeat the question's words. The answerer never quotes them; a question's short answer on a page of questions
and answers, and the short items a question in an article introduces, are still quoted. Over documents written for
these tests (not official texts)."""

from __future__ import annotations

import pytest

from rag import Library, QAPipeline
from rag.retrieve.scope import is_quiz_option, looks_like_option
from rag.types import Hit, Paragraph
from tests.samples import library_of

NQ95 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 95-NQ/TW
Hà Nội, ngày 16 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về hợp tác xã kiểu mới
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. NHIỆM VỤ, GIẢI PHÁP
1. Sáp nhập, hợp nhất các hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả để nâng cao năng lực cạnh tranh.
2. Bố trí đủ kinh phí đào tạo cán bộ quản lý hợp tác xã theo tỉ lệ đã xác định.
"""

QUIZ = """Đáp án cuộc thi tìm hiểu Nghị quyết 95 về hợp tác xã kiểu mới
Tài liệu thử nghiệm, không phải văn bản chính thức.
Câu hỏi 1. Chọn đáp án đúng
Nghị quyết 95 yêu cầu xử lý thế nào đối với các hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả?
Cấp thêm vốn ngân sách cho mọi hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả
Sáp nhập, hợp nhất các hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả
Giữ nguyên mọi hợp tác xã quy mô nhỏ để bảo đảm số lượng
Chuyển các hợp tác xã kém hiệu quả thành doanh nghiệp nhà nước
Câu hỏi 2. Chọn đáp án đúng
Nghị quyết 95 bố trí kinh phí đào tạo cho đối tượng nào?
Cán bộ quản lý hợp tác xã
Mọi người lao động ở nông thôn
Học sinh phổ thông
"""

OPTIONS = [line for line in QUIZ.splitlines()[4:8]] + [line for line in QUIZ.splitlines()[10:13]]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    root = tmp_path_factory.mktemp("quiz")
    return library_of(root, {"nq95.txt": NQ95, "dap-an.txt": QUIZ}, embedder="none")


def test_a_quiz_option_is_never_quoted(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    question = "Nghị quyết 95 yêu cầu xử lý thế nào đối với các hợp tác xã quy mô nhỏ, hoạt động kém hiệu quả?"
    answer = QAPipeline(library, k=8).ask(question)
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("Sáp nhập, hợp nhất các hợp tác xã quy mô nhỏ")
    assert all(c.quote not in OPTIONS for c in answer.citations)
    # A false option is no evidence: nothing in the resolution says it, so nothing answers.
    false = "Hợp tác xã kém hiệu quả có được chuyển thành doanh nghiệp nhà nước không?"
    assert QAPipeline(library, k=8).ask(false).abstained
    # Without the rule, the option was quoted as the answer.
    monkeypatch.setattr(QAPipeline, "_without_quiz_options", lambda self, hits, filters, principal: hits)
    before = QAPipeline(library, k=8).ask(false)
    assert before.citations[0].quote == "Chuyển các hợp tác xã kém hiệu quả thành doanh nghiệp nhà nước"


def _para(n: int, text: str) -> Hit:
    paragraph = Paragraph(f"tin/p{n:04d}", "tin", n, text, "", None, 0, len(text))
    return Hit(n, 1.0, paragraph, "Tin", None, None, "tin", None, "cong-khai", "")


def _page(lines: list[str]) -> list[Hit]:
    return [_para(n, line) for n, line in enumerate(lines)]


def test_options_need_a_numbered_question_before_them() -> None:
    quiz = _page(QUIZ.splitlines())
    assert [h.paragraph.n for h in quiz if is_quiz_option(h, quiz)] == [4, 5, 6, 7, 8, 10, 11, 12]
    # An article's question introducing short items: the items are its answer.
    article = _page(
        [
            "Hợp tác xã kiểu mới cần tập trung vào những việc gì?",
            "Đổi mới quản trị hợp tác xã",
            "Ứng dụng công nghệ số trong sản xuất",
            "Liên kết với doanh nghiệp tiêu thụ sản phẩm",
        ]
    )
    assert not any(is_quiz_option(h, article) for h in article)
    # A page of questions and answers: one short answer is an answer, not an option.
    faq = _page(["Câu hỏi 3: Ai chủ trì sơ kết Nghị quyết?", "Ban Thường vụ Tỉnh ủy", "Câu hỏi 4: Khi nào sơ kết?"])
    assert not any(is_quiz_option(h, faq) for h in faq)
    assert not looks_like_option("Sáp nhập các hợp tác xã kém hiệu quả.")
    assert looks_like_option("Sáp nhập các hợp tác xã kém hiệu quả")


def test_the_search_still_finds_the_quiz_page(library: Library) -> None:
    hits = library.search("hợp tác xã quy mô nhỏ hoạt động kém hiệu quả", k=10)
    assert any(h.paragraph.text in OPTIONS for h in hits)
