"""Accents put back on an accent-less question from the vocabulary of the paragraphs found for it."""

from __future__ import annotations

import pytest

from rag.text.accents import needs_accents, restore_accents

PARAGRAPHS = [
    "Nghị quyết số 57-NQ/TW đặt mục tiêu chi cho nghiên cứu và phát triển đạt 2% GDP đến năm 2030.",
    "Khuyến khích doanh nghiệp đầu tư vào nghiên cứu; miền Nam có nhiều khu công nghệ cao.",
    "Ưu tiên đầu tư hạ tầng số cho vùng sâu, vùng xa.",
]


def test_words_take_the_accents_of_the_paragraphs() -> None:
    assert (
        restore_accents("nghi quyet 57 dat muc tieu chi cho nghien cuu den nam 2030", PARAGRAPHS)
        == "nghị quyết 57 đặt mục tiêu chi cho nghiên cứu đến năm 2030"
    )


def test_a_pair_of_words_decides_before_the_word_alone() -> None:
    # "dau" alone is most often "đâu" in a question, but next to "tu" the paragraphs write "đầu tư".
    assert restore_accents("uu tien dau tu o dau", PARAGRAPHS) == "ưu tiên đầu tư ở đâu"


def test_question_phrases_come_from_the_table_not_from_the_paragraphs() -> None:
    texts = ["Có nhiều vị trí đứng đầu; cần bao nhiều năm nữa?"]
    assert restore_accents("can bao nhieu nam, dung hay sai", texts) == "cần bao nhiêu năm, đúng hay sai"


def test_case_spaces_and_punctuation_are_kept() -> None:
    assert restore_accents("Nghi quyet  57-NQ/TW: mien NAM?", PARAGRAPHS) == "Nghị quyết  57-NQ/TW: miền NAM?"


def test_unknown_words_stay_as_typed() -> None:
    assert restore_accents("xyz quyet abc", PARAGRAPHS) == "xyz quyết abc"
    assert restore_accents("nghi quyet", []) == "nghi quyet"


@pytest.mark.parametrize("question", ["Nghị quyet 57 dat muc tieu gi", "2030", "", "  ?"])
def test_questions_with_any_diacritic_or_no_letters_are_unchanged(question: str) -> None:
    assert not needs_accents(question)
    assert restore_accents(question, PARAGRAPHS) == question
