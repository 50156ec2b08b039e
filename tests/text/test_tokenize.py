"""Tokeniser for lexical search: syllables in matching form, bigrams inside phrases, folded twins."""

from __future__ import annotations

from rag.text.tokenize import FOLDED_MARK, fold_term, phrases, query_terms, tokenize


def test_syllables_are_lower_case_matching_form_with_bigrams() -> None:
    assert tokenize("Nghị quyết Đại hội") == ["nghị", "quyết", "đại", "hội", "nghị_quyết", "quyết_đại", "đại_hội"]


def test_tone_placement_is_unified() -> None:
    # Old style ("hoà", "thuỷ", "Uỷ") and new style ("hòa", "thủy", "Ủy") give the same terms.
    assert tokenize("Hoà bình, thuỷ lợi, Uỷ ban") == tokenize("Hòa bình, thủy lợi, Ủy ban")
    assert "hòa" in tokenize("hoà")


def test_decomposed_input_matches_precomposed() -> None:
    decomposed = "Nghi\u0323 quyê\u0301t"
    assert tokenize(decomposed) == tokenize("Nghị quyết")


def test_one_letter_syllables_are_kept() -> None:
    terms = tokenize("Ngành y tế ở tỉnh, ý kiến")
    assert "y" in terms and "ở" in terms and "ý" in terms
    assert "y_tế" in terms and "ý_kiến" in terms
    assert "y" != "ý"  # "y tế" (health) is not "ý" (idea)


def test_bigrams_do_not_cross_punctuation() -> None:
    terms = tokenize("phòng, chống tham nhũng; lãng phí")
    assert "phòng_chống" not in terms
    assert "chống_tham" in terms and "tham_nhũng" in terms
    assert "nhũng_lãng" not in terms


def test_numbers_and_codes_split_into_alphanumeric_syllables() -> None:
    assert tokenize("Số 57-NQ/TW") == ["số", "57", "số_57", "nq", "tw"]
    assert phrases("Số 57-NQ/TW") == [["số", "57"], ["nq"], ["tw"]]


def test_empty_and_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize(" ... --- !!! ") == []


def test_folded_twin_is_marked() -> None:
    assert fold_term("nghị_quyết") == FOLDED_MARK + "nghi_quyet"
    assert fold_term("đảng") == fold_term("đang")  # the reason exact terms are kept beside folded ones


def test_query_terms_use_the_matching_form() -> None:
    assert query_terms("Hoà bình, Uỷ ban").exact == query_terms("hòa bình, ủy ban").exact
    assert query_terms("Hoà bình").exact == tuple(tokenize("hòa bình"))


def test_query_terms_drop_question_scaffolding() -> None:
    qt = query_terms("Chủ tịch nước do ai bầu, đúng hay sai?")
    assert qt.accented
    assert "ai" not in qt.exact and "sai" not in qt.exact and "đúng_hay" not in qt.exact
    assert "chủ_tịch" in qt.exact and "bầu" in qt.exact
    assert qt.folded == tuple(fold_term(t) for t in qt.exact)


def test_query_of_only_scaffolding_keeps_its_terms() -> None:
    assert query_terms("Gì?").exact == ("gì",)
    assert query_terms("Là gì?").exact == ("là_gì",)  # only single scaffolding words are dropped


def test_accentless_query_is_flagged_and_folded_scaffolding_dropped() -> None:
    qt = query_terms("chu tich nuoc do ai bau")
    assert not qt.accented
    assert "ai" not in qt.exact and "chu_tich" in qt.exact
    assert query_terms("chủ tịch nước").folded == query_terms("chu tich nuoc").folded
