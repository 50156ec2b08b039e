"""The citation gate: markers checked, unsupported sentences dropped, quotes exact."""

from rag.answer.citations import parse_claims, support, verify
from rag.types import Hit, Paragraph

P1 = "a) Đến năm 2030, kinh tế số đạt tối thiểu 30% GDP; tỉ lệ dịch vụ công trực tuyến đạt trên 80%."
P2 = "2. Ban Tuyên giáo Trung ương chủ trì hướng dẫn việc học tập, quán triệt Nghị quyết."


def _hit(n: int, text: str) -> Hit:
    paragraph = Paragraph(f"nq-1-2025/p{n:04d}", "nq-1-2025", n, text, "II", None, 0, len(text))
    return Hit(n, 1.0, paragraph, "Nghị quyết thử", "1-NQ/TW", "2025-01-01", "nghị quyết", "Bộ Chính trị", "cong-khai")


HITS = [_hit(1, P1), _hit(2, P2)]


def test_parse_claims_keeps_markers_with_their_sentence() -> None:
    claims = parse_claims("Kinh tế số đạt 30% GDP. [1] Ban Tuyên giáo chủ trì [2].\n- Dịch vụ công đạt 80% [1]")
    assert [(c.text, c.markers, c.bullet) for c in claims] == [
        ("Kinh tế số đạt 30% GDP.", (1,), False),
        ("Ban Tuyên giáo chủ trì.", (2,), False),
        ("Dịch vụ công đạt 80%", (1,), True),
    ]


def test_verify_renumbers_drops_invalid_and_unsupported() -> None:
    answer = (
        "Ban Tuyên giáo Trung ương chủ trì hướng dẫn học tập Nghị quyết [2]. "
        "Kinh tế số đạt tối thiểu 30% GDP đến năm 2030 [1][7]. "
        "Nghị quyết yêu cầu xây dựng sân bay quốc tế mới ở mọi tỉnh [1]. "
        "Câu không có trích dẫn."
    )
    checked = verify(answer, HITS)
    assert checked.text.splitlines() == [
        "Ban Tuyên giáo Trung ương chủ trì hướng dẫn học tập Nghị quyết. [1]",
        "Kinh tế số đạt tối thiểu 30% GDP đến năm 2030. [2]",
    ]
    assert [c.marker for c in checked.citations] == [1, 2]
    assert [c.hit.paragraph_id for c in checked.citations] == ["nq-1-2025/p0002", "nq-1-2025/p0001"]
    assert len(checked.dropped) == 2
    for c in checked.citations:
        assert c.hit.paragraph.text[c.quote_start : c.quote_start + len(c.quote)] == c.quote
    assert "30% GDP" in checked.citations[1].quote


def test_mark_unsupported_instead_of_dropping() -> None:
    checked = verify("Nghị quyết yêu cầu xây sân bay ở mọi tỉnh [1].", HITS, mark_unsupported=True)
    assert checked.text == "Nghị quyết yêu cầu xây sân bay ở mọi tỉnh. (chưa kiểm chứng)" and checked.citations == ()


def test_support_is_folded() -> None:
    assert support("kinh te so dat toi thieu 30% GDP", P1) == 1.0
    assert support("xây dựng sân bay quốc tế", P1) < 0.5
