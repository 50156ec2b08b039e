"""SentenceReranker: sentence evidence, context, idf, diacritics, ordering; LexicalIndex.idf."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.index.lexical import LexicalIndex
from rag.retrieve.rerank import (
    PHRASE_WEIGHT,
    UNIGRAM_WEIGHT,
    Candidate,
    RerankParams,
    SentenceReranker,
    _QueryForm,
)
from rag.text.normalize import fold
from rag.text.tokenize import BIGRAM_JOINER, fold_term, phrases

# Hand-written sentences in the style of Party resolutions (not quotations of real texts).
ANSWERING = (
    "Phát triển hạ tầng số là nhiệm vụ trọng tâm. "
    "Đến năm 2030, kinh tế số đạt ít nhất 30% GDP cả nước. "
    "Các bộ, ngành xây dựng kế hoạch thực hiện."
)
SCATTERED = (
    "Kinh tế tư nhân giữ vai trò quan trọng trong năm tới. "
    "Chuyển đổi số được đẩy mạnh ở mọi cấp. "
    "Tỷ trọng đóng góp vào GDP cần được theo dõi đến năm 2030."
)
QUESTION = "Đến năm 2030 kinh tế số đạt bao nhiêu phần trăm GDP?"


def top(reranker: SentenceReranker, query: str, candidates: Sequence[tuple[int, float, str]], k: int = 5) -> int:
    return reranker.rerank(query, candidates, k)[0][0]


# ------------------------------------------------------------------------------------------ behaviour


def test_sentence_that_answers_beats_scattered_terms() -> None:
    rr = SentenceReranker()
    # The first stage prefers the scattered paragraph (bag of words); one sentence of the other holds it all.
    candidates = [(1, 10.0, SCATTERED), (2, 9.0, ANSWERING)]
    assert top(rr, QUESTION, candidates) == 2
    result = rr.rerank(QUESTION, candidates, 2)
    assert [pid for pid, _ in result] == [2, 1]
    assert result[0][1] > result[1][1]


def test_no_evidence_keeps_first_stage_order_and_relative_scores() -> None:
    rr = SentenceReranker()
    candidates = [(7, 8.0, "Đoàn kết là sức mạnh."), (3, 4.0, "Giữ vững quốc phòng, an ninh.")]
    result = rr.rerank("nghị quyết chuyển đổi số", candidates, 5)
    assert result == [(7, pytest.approx(1.0)), (3, pytest.approx(0.5))]


def test_score_formula_by_hand() -> None:
    rr = SentenceReranker()  # no idf: every query term weighs 1.0
    # Query terms: "kinh", "tế", "số", "kinh_tế", "tế_số"; the only sentence holds "kinh tế" but not "số".
    result = rr.rerank("kinh tế số", [(1, 2.0, "Kinh tế tăng trưởng nhanh.")], 1)
    expected = 1.0 + UNIGRAM_WEIGHT * (2 / 3) + PHRASE_WEIGHT * (3 / 5)
    assert result == [(1, pytest.approx(expected))]


def test_context_counts_in_every_sentence() -> None:
    rr = SentenceReranker()
    text = "Đến năm 2030 đạt 30% GDP."
    with_context = Candidate(1, 5.0, text, "Nghị quyết về kinh tế số")
    without = Candidate(2, 5.0, text, "Nghị quyết về văn hóa")
    assert top(rr, "kinh tế số đạt bao nhiêu phần trăm GDP năm 2030", [without, with_context]) == 1


def test_context_alone_counts_for_an_empty_paragraph() -> None:
    form = _QueryForm.of("quyền sử dụng ngôn ngữ mẹ đẻ", None)
    assert form is not None
    assert form.coverage("", "Điều 42. Công dân có quyền sử dụng ngôn ngữ mẹ đẻ.") == (1.0, 1.0)
    assert form.coverage("", "") == (0.0, 0.0)


def test_idf_makes_rare_terms_count_more() -> None:
    common = "Các cấp ủy, tổ chức đảng lãnh đạo thực hiện nghị quyết."
    rare = "Thành lập quỹ đầu tư mạo hiểm quốc gia."
    query = "cấp ủy lãnh đạo thành lập quỹ đầu tư mạo hiểm"
    candidates = [(1, 5.0, common), (2, 5.0, rare)]
    # Every term 1.0: the sentence with more query syllables wins.
    assert top(SentenceReranker(None), query, candidates) == 2
    idf = {"mạo": 0.1, "hiểm": 0.1, "quỹ": 0.1, "đầu": 0.1, "tư": 0.1, "thành": 0.1, "lập": 0.1}

    def weights(terms: Sequence[str]) -> list[float]:
        return [idf.get(t, 0.1 if BIGRAM_JOINER in t else 5.0) for t in terms]

    assert top(SentenceReranker(weights), query, candidates) == 1


def test_bigrams_do_not_cross_punctuation() -> None:
    form = _QueryForm.of("phát triển", None)
    assert form is not None
    together = form.coverage("Phát triển bền vững.", "")
    apart = form.coverage("Phát, triển khai.", "")
    assert together == (1.0, 1.0)
    assert apart == (1.0, pytest.approx(2 / 3))


def test_sentences_are_split_at_ends_and_line_breaks() -> None:
    form = _QueryForm.of("kinh tế số", None)
    assert form is not None
    one = form.coverage("Phát triển kinh tế số.", "")
    split_by_period = form.coverage("Phát triển kinh tế. Số hóa dữ liệu.", "")
    split_by_newline = form.coverage("Phát triển kinh tế\nsố hóa dữ liệu", "")
    assert one == (1.0, 1.0)
    assert split_by_period[0] == pytest.approx(2 / 3)
    assert split_by_newline == split_by_period
    # A decimal or a number inside a sentence is not a sentence end.
    assert form.coverage("Kinh tế số chiếm 2.5% GDP.", "") == (1.0, 1.0)


def test_accentless_query_matches_folded_text() -> None:
    rr = SentenceReranker()
    candidates = [(1, 5.0, SCATTERED), (2, 5.0, ANSWERING)]
    assert top(rr, fold(QUESTION), candidates) == 2


def test_accented_query_keeps_dang_and_dang_apart() -> None:
    form = _QueryForm.of("Đảng lãnh đạo", None)
    assert form is not None
    assert form.coverage("Đảng lãnh đạo toàn diện.", "")[0] == 1.0
    assert form.coverage("Đang lãnh đạo toàn diện.", "")[0] == pytest.approx(2 / 3)


def test_tone_placement_and_case_do_not_matter() -> None:
    form = _QueryForm.of("hòa bình thủy lợi", None)
    assert form is not None
    assert form.coverage("HOÀ BÌNH, thuỷ lợi.", "") == form.coverage("hòa bình, thủy lợi.", "")
    assert form.coverage("Hoà bình và thuỷ lợi.", "")[0] == 1.0


def test_syllable_inside_a_longer_word_does_not_match() -> None:
    form = _QueryForm.of("số", None)
    assert form is not None
    assert form.coverage("Hệ thống sốt ruột.", "") == (0.0, 0.0)
    assert form.coverage("Chuyển đổi số.", "") == (1.0, 1.0)


def test_k_ties_input_order_and_errors() -> None:
    rr = SentenceReranker()
    same = "Xây dựng Đảng trong sạch, vững mạnh."
    candidates = [(5, 3.0, same), (2, 3.0, same), (9, 3.0, same)]
    assert [p for p, _ in rr.rerank("xây dựng Đảng", candidates, 2)] == [5, 2]  # ties keep the given order
    shuffled = [(1, 1.0, SCATTERED), (2, 9.0, ANSWERING), (3, 5.0, "Không liên quan.")]
    assert rr.rerank("văn hóa", shuffled, 3)[0][0] == 2  # sorted by first-stage score first
    assert rr.rerank(QUESTION, [], 3) == []
    with pytest.raises(ValueError):
        rr.rerank(QUESTION, shuffled, 0)


def test_scores_tiny_zero_or_not_finite() -> None:
    rr = SentenceReranker(params=RerankParams(0.0, 0.0))
    assert rr.rerank("Đảng", [(1, 0.0, ""), (2, 5e-324, "")], 2) == [(2, 1.0), (1, 0.0)]
    assert rr.rerank("Đảng", [(1, 0.0, "x"), (2, 0.0, "y")], 2) == [(1, 0.0), (2, 0.0)]
    for bad in (math.inf, math.nan):
        with pytest.raises(ValueError):
            rr.rerank("Đảng", [(1, 1.0, "x"), (2, bad, "y")], 2)


def test_query_without_terms_keeps_order() -> None:
    rr = SentenceReranker()
    assert [p for p, _ in rr.rerank("?!", [(4, 2.0, ANSWERING), (8, 1.0, SCATTERED)], 2)] == [4, 8]


def test_zero_weights_reproduce_the_first_stage() -> None:
    rr = SentenceReranker(params=RerankParams(0.0, 0.0))
    candidates = [(1, 10.0, SCATTERED), (2, 9.0, ANSWERING)]
    assert rr.rerank(QUESTION, candidates, 2) == [(1, pytest.approx(1.0)), (2, pytest.approx(0.9))]


def test_with_lexical_index_end_to_end() -> None:
    paragraphs = {
        1: SCATTERED,
        2: ANSWERING,
        3: "Tăng cường công tác phòng, chống tham nhũng, lãng phí, tiêu cực.",
        4: "Nâng cao chất lượng giáo dục và đào tạo, ưu tiên ngân sách cho giáo dục.",
    }
    idx = LexicalIndex()
    idx.add(list(paragraphs), list(paragraphs.values()))
    hits = idx.search(QUESTION, 10)
    rr = SentenceReranker(idx.idf)
    result = rr.rerank(QUESTION, [(p, s, paragraphs[p]) for p, s in hits], 3)
    assert result[0][0] == 2
    assert len(result) <= 3


# ------------------------------------------------------------------------- equivalence with the tokenizer

_SENTENCE = re.compile(r"(?<=[.!?…])[\"”’»)\]]*\s+|\n+")


def reference(form: _QueryForm, text: str, context: str) -> tuple[float, float]:
    """Coverage computed the slow, obvious way: `rag.text.tokenize` terms of each sentence."""

    def sentence_terms(t: str) -> list[tuple[set[str], set[str]]]:
        out = []
        for s in _SENTENCE.split(t):
            if s and not s.isspace():
                ph = phrases(fold(s) if form.folded else s)
                out.append(({x for p in ph for x in p}, {a + BIGRAM_JOINER + b for p in ph for a, b in pairwise(p)}))
        return out

    ctx_u: set[str] = set()
    ctx_b: set[str] = set()
    for u, b in sentence_terms(context):
        ctx_u |= u
        ctx_b |= b
    best_u = sum(w for t, w in form.unigrams.items() if t in ctx_u)
    best_a = best_u + sum(w for t, w in form.bigrams.items() if t in ctx_b)
    for u, b in sentence_terms(text):
        wu = sum(w for t, w in form.unigrams.items() if t in u | ctx_u)
        wa = wu + sum(w for t, w in form.bigrams.items() if t in b | ctx_b)
        best_u, best_a = max(best_u, wu), max(best_a, wa)
    return (best_u / form.unigram_total if form.unigram_total else 0.0, best_a / form.total)


SYLLABLES = "Đảng đang hòa hoà thủy THUỶ lợi số sốt kinh tế ở y ý 57 2030".split()
SEPARATORS = [" ", " ", " ", ", ", ". ", "\n", "; ", " (", ") ", "? ", "-", "_", ".5 "]

texts = st.lists(st.tuples(st.sampled_from(SYLLABLES), st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda parts: "".join(w + s for w, s in parts)
)
queries = st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(query=queries, text=texts, context=texts, accentless=st.booleans())
def test_fast_matching_equals_tokenizer(query: str, text: str, context: str, accentless: bool) -> None:
    form = _QueryForm.of(fold(query) if accentless else query, lambda terms: [1.0 + len(t) for t in terms])
    if form is None:
        return
    fast = form.coverage(text, context)
    slow = reference(form, text, context)
    assert fast == pytest.approx(slow)


@settings(max_examples=100, deadline=None)
@given(
    query=queries,
    docs=st.lists(st.tuples(st.floats(0.0, 50.0), texts), min_size=1, max_size=12),
    k=st.integers(1, 12),
)
def test_skipping_hopeless_candidates_changes_nothing(query: str, docs: list[tuple[float, str]], k: int) -> None:
    candidates = [(i, score, text) for i, (score, text) in enumerate(docs)]
    rr = SentenceReranker()
    full = rr.rerank(query, candidates, len(candidates))  # k = N: nothing is ever skipped
    assert rr.rerank(query, candidates, k) == full[:k]


# -------------------------------------------------------------------------------------- LexicalIndex.idf


def test_lexical_index_idf() -> None:
    idx = LexicalIndex()
    assert idx.idf(["đảng"]) == [0.0]
    idx.add([1, 2, 3], ["Đảng lãnh đạo.", "Đảng viên gương mẫu.", "Nhân dân làm chủ."])
    n = 3
    values = idx.idf(["đảng", "nhân_dân", fold_term("đảng"), "không có"])
    assert values[0] == pytest.approx(math.log1p((n - 2 + 0.5) / (2 + 0.5)))
    assert values[1] == pytest.approx(math.log1p((n - 1 + 0.5) / (1 + 0.5)))
    assert values[2] == pytest.approx(values[0])  # the folded twin has the same documents
    assert values[3] == pytest.approx(math.log(2 * n + 2))  # absent term
    assert idx.idf([]) == []
    idx.remove([2])
    assert idx.idf(["đảng"])[0] == pytest.approx(math.log1p((2 - 1 + 0.5) / (1 + 0.5)))
