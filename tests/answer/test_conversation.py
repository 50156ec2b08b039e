import pytest

from rag.answer.conversation import focus


@pytest.mark.parametrize(
    ("previous", "named"),
    [
        ("Nghị quyết số 57 nói gì về khoa học?", "Nghị quyết 57"),
        ("NQ 57 nói gì về khoa học?", "Nghị quyết 57"),
        ("Chương trình hành động số 05 giao việc gì?", "Chương trình 5"),
        ("Quyết định 12 giao việc gì?", "Quyết định 12"),
    ],
)
def test_a_follow_up_gets_the_document_named_before(previous: str, named: str) -> None:
    assert focus("Còn về y tế thì sao?", [{"question": previous}]) == f"Còn về y tế thì sao? ({named})"
