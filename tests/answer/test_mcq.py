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
