"""Multiple-choice questions over tiny documents: an option counts where the question's subject is, and the
meaning side (cosines of "question + option" to the paragraphs) adds to the words."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag import Library
from rag.answer.mcq import SEMANTIC_WEIGHT, choose_option
from rag.retrieve.retrievers import LexicalRetriever
from rag.types import Paragraph
from tests.samples import library_of

NQ70 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 70-NQ/TW
Hà Nội, ngày 20 tháng 8 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về bảo đảm an ninh năng lượng quốc gia
Tài liệu thử nghiệm, không phải văn bản chính thức.
1. Đến năm 2045, thị trường năng lượng cạnh tranh lành mạnh, minh bạch, hiệu quả.
"""
NQ71 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 71-NQ/TW
Hà Nội, ngày 22 tháng 8 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về đột phá phát triển giáo dục và đào tạo
Tài liệu thử nghiệm, không phải văn bản chính thức.
1. Đến năm 2045, giáo dục đại học dẫn đầu khu vực Đông Nam Á.
"""
QUESTION = "Đến năm 2045, thị trường năng lượng phải đạt yếu tố nào?"
# The first option is written, word for word, in the education resolution: only where the question's subject
# (the energy market) is written does the second one win.
OPTIONS = ["Dẫn đầu khu vực Đông Nam Á", "Cạnh tranh lành mạnh, minh bạch"]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return library_of(tmp_path_factory.mktemp("mcq"), {"nq70.txt": NQ70, "nq71.txt": NQ71}, embedder="none")


def test_an_option_counts_where_the_question_subject_is(library: Library) -> None:
    assert choose_option(LexicalRetriever(library.store), QUESTION, OPTIONS) == 1


def test_the_meaning_side_adds_to_the_words(library: Library) -> None:
    def similarity(text: str, paragraphs: Sequence[Paragraph]) -> list[float | None]:
        # A model that reads the first option as the closer one, by more than the words' margin.
        return [0.9 if OPTIONS[0] in text else 0.9 - 0.5 / SEMANTIC_WEIGHT for _ in paragraphs]

    retriever = LexicalRetriever(library.store)
    assert choose_option(retriever, QUESTION, OPTIONS, similarity=similarity) == 0
    assert choose_option(retriever, QUESTION, OPTIONS, similarity=lambda t, ps: [None] * len(ps)) == 1


def test_no_options_is_an_error(library: Library) -> None:
    with pytest.raises(ValueError):
        choose_option(LexicalRetriever(library.store), QUESTION, [])


QUIZ_PAGE = """# Đáp án cuộc thi tìm hiểu nghị quyết tuần 1
Tài liệu thử nghiệm, không phải văn bản chính thức.

Câu 3: Nghị quyết 72-NQ/TW chọn ngày nào là Ngày Sức khỏe toàn dân?

Ngày 27/2 là Ngày Sức khỏe toàn dân

Ngày 7/4 hằng năm là Ngày Sức khỏe toàn dân
"""
NQ72 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 72-NQ/TW
Hà Nội, ngày 09 tháng 9 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về bảo vệ, chăm sóc và nâng cao sức khỏe Nhân dân
Tài liệu thử nghiệm, không phải văn bản chính thức.
1. Đẩy mạnh truyền thông, vận động xã hội; lấy ngày 7/4 hằng năm là Ngày Sức khỏe toàn dân.
2. Mặt trận Tổ quốc hoạt động theo nguyên tắc hiệp thương dân chủ, phối hợp và thống nhất hành động.
3. Mặt trận Tổ quốc hoạt động theo nguyên tắc tự nguyện.
"""


@pytest.fixture(scope="module")
def quiz_library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    files = {"dap-an.md": QUIZ_PAGE, "nq72.txt": NQ72}
    return library_of(tmp_path_factory.mktemp("quiz"), files, embedder="none")


def test_a_quiz_page_restating_the_question_and_options_is_not_evidence(quiz_library: Library) -> None:
    """The answer page repeats the question and lists the options as paragraphs of their own: word for word they
    cover every option, so only the resolution's own sentence may decide."""
    options = ["Ngày 27/2 là Ngày Sức khỏe toàn dân", "Ngày 7/4 hằng năm là Ngày Sức khỏe toàn dân"]
    question = "Nghị quyết 72-NQ/TW chọn ngày nào là Ngày Sức khỏe toàn dân?"
    assert choose_option(LexicalRetriever(quiz_library.store), question, options) == 1
    assert choose_option(LexicalRetriever(quiz_library.store), question, options[::-1]) == 0


def test_all_of_the_above_only_when_every_other_option_is_borne_out(quiz_library: Library) -> None:
    retriever = LexicalRetriever(quiz_library.store)
    question = "Mặt trận Tổ quốc hoạt động theo nguyên tắc nào?"
    supported = ["Hiệp thương dân chủ", "Tự nguyện", "Phối hợp và thống nhất hành động", "Cả 3 đáp án đều đúng"]
    assert choose_option(retriever, question, supported) == 3
    # One option the documents never say: the conjunction is false, the best supported option wins.
    one_false = ["Hiệp thương dân chủ", "Tự nguyện", "Tập trung quan liêu bao cấp", "Cả 3 đáp án đều đúng"]
    assert choose_option(retriever, question, one_false) in (0, 1)
