"""Roman numerals, read and written: section headings ("III."), chapters ("Chương IV") and DOCX list numbers."""

from __future__ import annotations

#: Largest number written in standard Roman numerals (MMMCMXCIX).
MAX_ROMAN = 3999

_NUMERALS: tuple[tuple[int, str], ...] = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(value: int) -> str:
    """Upper-case Roman numeral of `value` (14 -> "XIV").

    Raises:
        ValueError: unless 1 <= value <= `MAX_ROMAN`.
    """
    if not 1 <= value <= MAX_ROMAN:
        raise ValueError(f"{value} has no Roman numeral; expected 1..{MAX_ROMAN}")
    out = []
    for number, letters in _NUMERALS:
        while value >= number:
            out.append(letters)
            value -= number
    return "".join(out)


def roman_value(text: str) -> int | None:
    """Value of a well-formed Roman numeral in either case ("XIV", "xiv" -> 14), else None.

    Only the standard form is accepted: "IIII", "IC", "VX" and the empty string are None.
    """
    upper = text.upper()
    total = 0
    prev = 0
    for ch in reversed(upper):
        value = _VALUES.get(ch)
        if value is None:
            return None
        if value < prev:
            total -= value
        else:
            total += value
            prev = value
    if not 1 <= total <= MAX_ROMAN:
        return None
    return total if to_roman(total) == upper else None
