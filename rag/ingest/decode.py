"""Turning the bytes of a text file into text: encodings, byte-order marks, binary detection."""

from __future__ import annotations

import codecs

from rag.errors import ParseError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Vietnamese letters that exist in Windows-1258 but are rare in other 8-bit texts.
_CP1258_HINTS = set("ăâêôơưđĂÂÊÔƠƯĐ")


def looks_binary(data: bytes) -> bool:
    """True when the bytes are clearly not text (NUL bytes or many control characters)."""
    sample = data[:65536]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(sample) > 0.05


def _plausible_text(text: str) -> bool:
    """Whether text decoded from UTF-16/32 reads as text: few control characters, and mostly Latin letters
    (Vietnamese is written in Latin script; binary bytes read as UTF-16 come out as CJK and other scripts)."""
    sample = text[:32768]
    if not sample:
        return True
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\n\f\r\x1b")
    if controls / len(sample) > 0.05:
        return False
    letters = [ch for ch in sample if ch.isalpha()]
    latin = sum(1 for ch in letters if ch < "\u0250" or "\u1e00" <= ch <= "\u1eff")
    return not letters or latin >= 0.5 * len(letters)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file.

    Tries a byte-order mark, then UTF-8, then Windows-1258 (Vietnamese) and finally Windows-1252 /
    Latin-1, which keeps legacy-font text (TCVN3, VNI) in the form `rag.text.legacy` converts.

    Returns:
        The text and the name of the encoding used.

    Raises:
        ParseError: if the bytes are binary rather than text.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(name)
            except UnicodeDecodeError as exc:
                raise ParseError(f"bad {name} text: {exc}", "Tệp văn bản bị hỏng (mã hóa không hợp lệ).") from exc
            if name != "utf-8-sig" and not _plausible_text(text):
                # Two bytes of anything pass for a UTF-16 mark, and any even-length bytes then decode.
                raise ParseError(f"{name} mark but no readable text", "Tệp không phải văn bản (nội dung nhị phân).")
            return text, name
    if looks_binary(data):
        raise ParseError("binary content in a text file", "Tệp không phải văn bản (nội dung nhị phân).")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    cp1258 = data.decode("cp1258", errors="replace")
    if sum(ch in _CP1258_HINTS for ch in cp1258) > len(data) * 0.01 and "\ufffd" not in cp1258:
        return cp1258, "cp1258"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
