import pytest

from rag.text.roman import MAX_ROMAN, roman_value, to_roman


@pytest.mark.parametrize(
    ("value", "numeral"),
    [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (40, "XL"), (90, "XC"), (399, "CCCXCIX"), (400, "CD"),
     (1994, "MCMXCIV"), (2025, "MMXXV"), (MAX_ROMAN, "MMMCMXCIX")],
)  # fmt: skip
def test_round_trip(value: int, numeral: str) -> None:
    assert to_roman(value) == numeral
    assert roman_value(numeral) == value


def test_every_value_round_trips() -> None:
    assert all(roman_value(to_roman(n)) == n for n in range(1, MAX_ROMAN + 1))


def test_lower_and_mixed_case_are_read() -> None:
    assert roman_value("xiv") == 14 and roman_value("Iii") == 3


@pytest.mark.parametrize("text", ["", "IIII", "IC", "VX", "IIV", "XM", "LL", "VV", "MMMM", "I.", " I", "IĐ", "12", "A"])
def test_malformed_numerals_are_none(text: str) -> None:
    assert roman_value(text) is None


@pytest.mark.parametrize("value", [0, -1, MAX_ROMAN + 1])
def test_values_without_a_numeral_raise(value: int) -> None:
    with pytest.raises(ValueError, match="no Roman numeral"):
        to_roman(value)
