"""What a question asks, apart from what frames it: the place a document gives a thing ("tầm quan trọng",
"vị trí", "vai trò" of X) is answered by the sentence that says what X is, found in the document even where the
search ranks it low; and a purpose clause ("... nào để thúc đẩy ...") says why, not what, so a sentence that only
repeats it does not answer. Over a tiny document written for these tests (not an official text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Library, QAPipeline
from rag.answer.extractive import FITTED_CONTEXT_CREDIT, score_candidates, states_subject
from rag.answer.question import analyse_question, defined_subject, purpose_aside
from rag.types import Hit, Paragraph
from tests.samples import library_of

NQ91 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 91-NQ/TW
Hà Nội, ngày 5 tháng 3 năm 2026
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về chuyển đổi số trong các cơ quan đảng
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. QUAN ĐIỂM
1. Chuyển đổi số trong các cơ quan đảng là đột phá hàng đầu, là động lực chính để đổi mới phương thức lãnh đạo.
2. Các cấp uỷ nhận thức đầy đủ tầm quan trọng, ý nghĩa và vị trí của công tác tuyên truyền trong các cơ quan \
đảng; quán triệt sâu sắc và xác định rõ trách nhiệm của người đứng đầu.
3. Người đứng đầu cấp uỷ trực tiếp chỉ đạo, kiểm tra việc thực hiện; cán bộ, đảng viên là chủ thể thực hiện.
II. NHIỆM VỤ, GIẢI PHÁP
1. Nhà nước tạo điều kiện thuận lợi nhất, thúc đẩy tinh thần sáng tạo của cán bộ trong các cơ quan đảng.
2. Đổi mới cách xây dựng quy định, loại bỏ tư duy "không quản được thì cấm" trong các cơ quan đảng.
3. Bảo đảm an toàn thông tin, bí mật nhà nước trên môi trường số của các cơ quan đảng.
"""

IMPORTANCE = "Nghị quyết 91 xác định tầm quan trọng của việc chuyển đổi số trong các cơ quan đảng như thế nào?"
MINDSET = "Theo Nghị quyết 91, cần xóa bỏ tư duy nào để thúc đẩy tinh thần sáng tạo, tạo điều kiện thuận lợi nhất?"


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("focus")
    library_of(root, {"nq91.txt": NQ91}, embedder="none").close()
    return root


def _qa(root: Path, k: int) -> QAPipeline:
    return QAPipeline(Library(root / "ix", embedder="none"), k=k)


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        (IMPORTANCE, ("chuyển", "đổi", "số", "trong", "các", "cơ", "quan", "đảng")),
        (
            "Vị trí của văn hoá trong phát triển bền vững như thế nào?",
            ("văn", "hóa", "trong", "phát", "triển", "bền", "vững"),
        ),
        (
            "Nghị quyết 68 xác định vai trò của kinh tế tư nhân đối với nền kinh tế ra sao?",
            ("kinh", "tế", "tư", "nhân", "đối", "với", "nền", "kinh", "tế"),
        ),
        ("Ý nghĩa của sự phát triển văn hoá đọc như thế nào?", ("phát", "triển", "văn", "hóa", "đọc")),
        ("Chuyển đổi số trong cơ quan đảng là gì?", ("chuyển", "đổi", "số", "trong", "cơ", "quan", "đảng")),
    ],
)
def test_the_place_given_to_a_thing_asks_what_the_thing_is(question: str, subject: tuple[str, ...]) -> None:
    assert defined_subject(question)[0] == subject


def test_a_statement_does_not_run_across_a_clause() -> None:
    assert states_subject(("văn", "hóa"), "1. Văn hoá là nền tảng tinh thần của xã hội.")
    assert states_subject(("văn", "hóa"), "Văn hoá thực sự là nền tảng.")
    assert not states_subject(("văn", "hóa"), "Nhân dân hưởng thụ văn hoá; Nhà nước giữ vai trò kiến tạo.")
    # The subject may hold commas, as the document writes it.
    subject = ("khoa", "học", "công", "nghệ", "và", "chuyển", "đổi", "số")
    assert states_subject(subject, "Khoa học, công nghệ và chuyển đổi số là đột phá hàng đầu.")
    # Where a role holds ("trong ...", "đối với ...") need not be said again.
    private = ("kinh", "tế", "tư", "nhân", "trong", "nền", "kinh", "tế")
    assert states_subject(private, "Kinh tế tư nhân là một động lực quan trọng nhất của nền kinh tế.")
    assert states_subject(private, "Kinh tế tư nhân trong nền kinh tế là một động lực quan trọng.")
    assert not states_subject(("văn", "hóa", "đọc"), "Văn hoá là nền tảng.")


@pytest.mark.parametrize("k", [1, 8])
def test_the_importance_of_a_thing_is_answered_by_what_the_document_says_it_is(library_dir: Path, k: int) -> None:
    # With k = 1 the search gives only the paragraph that says "tầm quan trọng" (of something else): the
    # statement is found in the document the question names.
    qa = _qa(library_dir, k)
    answer = qa.ask(IMPORTANCE)
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("Chuyển đổi số trong các cơ quan đảng là đột phá hàng đầu")


@pytest.mark.parametrize(
    ("question", "aside"),
    [
        (MINDSET, ("thúc", "đẩy", "tinh", "thần", "sáng", "tạo", "điều", "kiện", "thuận", "lợi", "nhất")),
        ("Để thúc đẩy nghiên cứu, Nghị quyết 57 đưa ra yêu cầu gì?", ("thúc", "đẩy", "nghiên", "cứu")),
        ("can xoa bo tu duy nao nham thuc day sang tao?", ("thuc", "day", "sang", "tao")),
        # A purpose that is asked is no aside.
        ("Kế hoạch 48 ban hành để làm gì?", ()),
        ("Nghị quyết nhằm mục đích gì?", ()),
        # No asking word: nothing to set apart.
        ("Nghị quyết 57 được ban hành để thúc đẩy đổi mới sáng tạo", ()),
    ],
)
def test_a_purpose_clause_is_set_apart_from_what_is_asked(question: str, aside: tuple[str, ...]) -> None:
    assert tuple(purpose_aside(question)) == aside


def test_the_purpose_words_are_not_content_words_of_the_asked_part() -> None:
    info = analyse_question(MINDSET)
    assert {"xóa", "bỏ", "tư", "duy"} <= set(info.terms) and not {"xóa", "bỏ", "tư", "duy"} & set(info.aside)


def test_a_sentence_repeating_the_purpose_does_not_answer_what_is_asked(library_dir: Path) -> None:
    answer = _qa(library_dir, 8).ask(MINDSET)
    assert not answer.abstained
    assert "không quản được thì cấm" in answer.citations[0].quote


def _hit(n: int, text: str, headings: str) -> Hit:
    paragraph = Paragraph(f"nq-92-2026/p{n:04d}", "nq-92-2026", n, text, "II", None, 0, len(text))
    return Hit(
        n,
        1.0,
        paragraph,
        "Nghị quyết thử",
        "92-NQ/TW",
        "2026-03-09",
        "nghị quyết",
        "Bộ Chính trị",
        "cong-khai",
        headings,
    )


def test_a_heading_that_repeats_the_question_counts_less_than_the_sentence_saying_it() -> None:
    # Every item under "... xoá bỏ mọi tư tưởng, rào cản ..." shares the heading; the sentence that says "loại bỏ
    # tư duy" itself names what is asked.
    info = analyse_question("Cần xóa bỏ tư duy nào trong các cơ quan đảng?")
    under = _hit(1, "Rà soát các quy định chồng chéo trong các cơ quan đảng.", "II. NHIỆM VỤ > 1. Xoá bỏ tư duy cũ")
    says = _hit(2, "Xoá bỏ tư duy cũ trong các cơ quan đảng.", "I. QUAN ĐIỂM")
    scored = {e.hit_index: e for e in score_candidates(info, [under, says])}
    assert scored[0].cov_focus < scored[1].cov_focus
    # The abstention reads the evidence as it was fitted: a heading's words count in full there.
    fitted = {e.hit_index: e for e in score_candidates(info, [under, says], "", FITTED_CONTEXT_CREDIT)}
    assert fitted[0].cov_focus == fitted[1].cov_focus
