import pytest

from rag.answer.sentences import split_clauses, split_sentences, trim_marker


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "TP. Hồ Chí Minh đạt 2,5% vào ngày 25/2. Hà Nội đạt 3%.",
            ["TP. Hồ Chí Minh đạt 2,5% vào ngày 25/2.", "Hà Nội đạt 3%."],
        ),
        (
            "Theo Nghị quyết số 57-NQ/TW, PGS.TS. Lê A phát biểu. Hết.",
            ["Theo Nghị quyết số 57-NQ/TW, PGS.TS. Lê A phát biểu.", "Hết."],
        ),
        (
            "Khoa học, công nghệ, v.v. là động lực. Đó là chủ trương.",
            ["Khoa học, công nghệ, v.v. là động lực.", "Đó là chủ trương."],
        ),
        (
            "1. Phát triển nhanh và bền vững. 2. Tự chủ công nghệ.",
            ["1. Phát triển nhanh và bền vững.", "2. Tự chủ công nghệ."],
        ),
        ("II. MỤC TIÊU đến năm 2030! Kết thúc", ["II. MỤC TIÊU đến năm 2030!", "Kết thúc"]),
        ("Số 57-NQ/TW\nHà Nội, ngày 22 tháng 12 năm 2024", ["Số 57-NQ/TW", "Hà Nội, ngày 22 tháng 12 năm 2024"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    spans = split_sentences(text)
    assert [s.text for s in spans] == expected
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_clauses_and_markers() -> None:
    (sentence,) = split_sentences("- Kinh phí R&D đạt 2% GDP; bố trí ít nhất 3% tổng chi ngân sách; tăng dần.")
    clauses = [trim_marker(c) for c in split_clauses(sentence)]
    assert [c.text for c in clauses] == ["Kinh phí R&D đạt 2% GDP", "bố trí ít nhất 3% tổng chi ngân sách", "tăng dần."]
    source = "- Kinh phí R&D đạt 2% GDP; bố trí ít nhất 3% tổng chi ngân sách; tăng dần."
    assert all(source[c.start : c.end] == c.text for c in clauses)
