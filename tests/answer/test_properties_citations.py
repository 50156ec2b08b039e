"""Property tests of the citation check: `verify` never raises and every quote is exact."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.answer.citations import best_quote, parse_claims, verify
from rag.answer.sentences import Span
from rag.types import Hit, Paragraph

PARAGRAPHS = [
    "a) Đến năm 2030, kinh tế số đạt tối thiểu 30% GDP; tỉ lệ dịch vụ công trực tuyến đạt trên 80%.",
    "2. Ban Tuyên giáo Trung ương chủ trì hướng dẫn việc học tập, quán triệt Nghị quyết.",
    "Các cấp ủy, tổ chức đảng quán triệt và thực hiện nghiêm Nghị quyết này; báo cáo kết quả hằng năm.",
    "- Hoàn thiện thể chế; tháo gỡ điểm nghẽn. Ưu tiên nguồn lực cho khoa học, công nghệ.",
]
PIECES = [
    *PARAGRAPHS,
    "Kinh tế số đạt 30% GDP",
    "Ban Tuyên giáo chủ trì",
    "Nghị quyết yêu cầu xây sân bay",
    ". ",
    "; ",
    "\n",
    "\n- ",
    "? ",
    "… ",
    " ",
    "[1]",
    "[2]",
    "[3]",
    "[4]",
    "[0]",
    "[9]",
    "[999]",
    "[12345]",
    "[",
    "]",
    "[1][2]",
    "2030",
    "30%",
    "TP.",
    "v.v.",
]
ANSWERS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=20).map("".join),
    st.text(max_size=120),
    st.lists(st.one_of(st.text(max_size=15), st.sampled_from(PIECES)), max_size=12).map("".join),
)
PARAGRAPH_TEXTS = st.one_of(st.sampled_from(PARAGRAPHS), st.text(min_size=0, max_size=120))


def _hit(n: int, text: str) -> Hit:
    paragraph = Paragraph(f"nq-1-2025/p{n:04d}", "nq-1-2025", n, text, "II", None, 0, len(text))
    return Hit(n, 1.0, paragraph, "Nghị quyết thử", "1-NQ/TW", "2025-01-01", "nghị quyết", "Bộ Chính trị", "cong-khai")


def _check(answer: str, texts: list[str], mark_unsupported: bool) -> None:
    hits = [_hit(i + 1, t) for i, t in enumerate(texts)]
    checked = verify(answer, hits, mark_unsupported=mark_unsupported)
    markers = [c.marker for c in checked.citations]
    assert markers == list(range(1, len(markers) + 1))
    for citation in checked.citations:
        text = citation.hit.paragraph.text
        assert 0 <= citation.quote_start <= len(text)
        assert text[citation.quote_start : citation.quote_start + len(citation.quote)] == citation.quote
        assert citation.quote in text


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(ANSWERS, st.lists(PARAGRAPH_TEXTS, min_size=0, max_size=4), st.booleans())
def test_verify_never_raises_and_quotes_are_exact(answer: str, texts: list[str], mark_unsupported: bool) -> None:
    _check(answer, texts, mark_unsupported)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6)), min_size=1, max_size=6), st.booleans())
def test_sentences_copied_from_paragraphs_are_cited_exactly(picks: list[tuple[int, int]], bullets: bool) -> None:
    # Supported claims: sentences copied from the paragraphs, cited by a (sometimes wrong) marker.
    parts = []
    for paragraph, marker in picks:
        parts.append(("- " if bullets else "") + PARAGRAPHS[paragraph] + f" [{marker}]")
    _check(("\n" if bullets else " ").join(parts), PARAGRAPHS, False)


@SETTINGS
@given(st.text(max_size=80), PARAGRAPH_TEXTS)
def test_best_quote_is_a_span_of_the_paragraph(sentence: str, paragraph: str) -> None:
    span = best_quote(sentence, paragraph)
    assert isinstance(span, Span)
    assert paragraph[span.start : span.end] == span.text


@SETTINGS
@given(ANSWERS)
def test_parse_claims_never_raises(answer: str) -> None:
    for claim in parse_claims(answer):
        assert any(ch.isalnum() for ch in claim.text)
        assert all(m >= 0 for m in claim.markers)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, st.lists(PARAGRAPH_TEXTS, min_size=1, max_size=4))
def test_verify_many(answer: str, texts: list[str]) -> None:
    _check(answer, texts, False)
