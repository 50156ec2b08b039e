"""Legacy font encodings (TCVN3, VNI): tables, round trips, detection, and parsing legacy files."""

from __future__ import annotations

import contextlib
import time
import unicodedata
from pathlib import Path

import pytest

from rag.ingest import parse_file
from rag.text import legacy
from rag.text.legacy import (
    LEGACY_ENCODINGS,
    TCVN3_MISSING_CAPITALS,
    TCVN3_TABLE,
    convert_legacy,
    detect_legacy,
    fix_legacy,
    to_tcvn3,
    to_vni,
)
from rag.types import RawDocument
from tests.samples import REPO_ROOT, SAMPLE_CORPUS
from tools import build_legacy_sample

SAMPLE_SOURCE = REPO_ROOT / "tools" / "samples" / "chi-thi-12-ct-tu-tcvn3.source.md"
SAMPLE_FILE = SAMPLE_CORPUS / "chi-thi-12-ct-tu-tcvn3.txt"

_TONE_MARKS = ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _all_letters() -> list[str]:
    """The 134 Vietnamese letters with diacritics: 12 vowels x 5 tones, ă â ê ô ơ ư, đ; both cases."""
    lower = [_nfc(unicodedata.normalize("NFD", v) + t) for v in "aăâeêioôơuưy" for t in _TONE_MARKS]
    lower += [*"ăâêôơư", "đ"]
    return lower + [c.upper() for c in lower]


LETTERS = _all_letters()
ENCODERS = {"tcvn3": to_tcvn3, "vni": to_vni}


def _views(data: bytes) -> dict[str, str]:
    """The ways a legacy file can reach us: decoded as Latin-1, Windows-1252 or Windows-1258."""
    views = {"latin-1": data.decode("latin-1")}
    for codec in ("cp1252", "cp1258"):
        # A byte undefined in the codec: the file reader would fall back to Latin-1.
        with contextlib.suppress(UnicodeDecodeError):
            views[codec] = data.decode(codec)
    return views


def _windows_1258(text: str) -> bytes:
    """Real Windows-1258 bytes: letters with ă/â/ơ... precomposed, tone marks as combining characters."""
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        tones = "".join(c for c in decomposed if c in _TONE_MARKS)
        out.append(_nfc("".join(c for c in decomposed if c not in _TONE_MARKS)) + tones)
    return "".join(out).encode("cp1258")


# Sentences written for these tests, in the register of Party documents.
PARAGRAPH = (
    "Nghị quyết số 05-CT/TU của Ban Thường vụ Thành ủy về đẩy mạnh công tác tuyên truyền được ban hành "
    "ngày 20 tháng 5 năm 1998.\n"
    "Các cấp ủy đảng phải tổ chức quán triệt nghị quyết đến từng chi bộ, bảo đảm 100% đảng viên được học tập "
    "trước ngày 30 tháng 6.\n"
    "Ban Tuyên giáo Thành ủy chủ trì, phối hợp với các ban đảng hướng dẫn, kiểm tra và định kỳ sáu tháng báo cáo "
    "kết quả thực hiện.\n"
    "Đại hội đại biểu Đảng bộ thành phố lần thứ XII đề ra mục tiêu tăng trưởng kinh tế bình quân từ 9% đến 10% "
    "mỗi năm; thu nhập bình quân đầu người năm 2000 gấp đôi năm 1990."
)
HEADER = (
    "BAN CHẤP HÀNH TRUNG ƯƠNG\n"
    "ĐẢNG CỘNG SẢN VIỆT NAM\n"
    "Số 05-CT/TU\n"
    "Hà Nội, ngày 20 tháng 5 năm 1998\n"
    "NGHỊ QUYẾT\n"
    "HỘI NGHỊ LẦN THỨ TƯ BAN CHẤP HÀNH ĐẢNG BỘ THÀNH PHỐ\n"
    "về công tác xây dựng Đảng"
)
SHORT_TEXTS = ["Nghị quyết", "Ban Thường vụ Thành ủy", "Chỉ thị số 12-CT/TU", "đảng viên mới"]


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def test_letter_inventory() -> None:
    assert len(LETTERS) == len(set(LETTERS)) == 134
    assert all(unicodedata.is_normalized("NFC", c) and len(c) == 1 for c in LETTERS)


@pytest.mark.parametrize(
    ("byte", "letter"),
    [
        (0xDE, "ị"),  # "NghÞ quyÕt"
        (0xD5, "ế"),
        (0xB8, "á"),
        (0xB5, "à"),
        (0xA8, "ă"),
        (0xA9, "â"),
        (0xAD, "ư"),  # the soft hyphen of "Th­êng"
        (0xAE, "đ"),
        (0xA7, "Đ"),
        (0xA1, "Ă"),
        (0xAB, "ô"),
        (0xAC, "ơ"),
        (0xF1, "ủ"),
        (0xFD, "ý"),
        (0xFE, "ỵ"),
        (0x80, "À"),
        (0x9E, "Ủ"),
        (0xFF, "Ố"),
    ],
)
def test_tcvn3_table_spot_checks(byte: int, letter: str) -> None:
    assert TCVN3_TABLE[byte] == letter
    assert to_tcvn3(letter) == bytes([byte])


def test_tcvn3_table_holds_each_letter_once() -> None:
    letters = [c for c in TCVN3_TABLE.values() if c != "\u00a0"]
    assert len(letters) == len(set(letters))
    assert set(letters) == set(LETTERS) - set(TCVN3_MISSING_CAPITALS)
    assert len(TCVN3_MISSING_CAPITALS) == 12
    # Bytes 0xB0-0xB4 are not letters: "°" and "±" survive.
    assert not set(range(0xB0, 0xB5)) & set(TCVN3_TABLE)


@pytest.mark.parametrize("letter", LETTERS)
def test_tcvn3_round_trip_every_letter(letter: str) -> None:
    data = to_tcvn3(letter)
    assert len(data) == 1
    # VN3 has no code for 12 capitals: they are stored, like the .VnTimeH fonts do, as the lower case.
    expected = letter.lower() if letter in TCVN3_MISSING_CAPITALS else letter
    for view, text in _views(data).items():
        assert convert_legacy(text, "tcvn3") == expected, view
    # Inside a word in capitals the capital comes back.
    word = "TH" + letter + "C"
    if letter.isupper():
        assert convert_legacy(to_tcvn3(word).decode("latin-1"), "tcvn3") == word


@pytest.mark.parametrize("letter", LETTERS)
def test_vni_round_trip_every_letter(letter: str) -> None:
    data = to_vni(letter)
    assert 1 <= len(data) <= 2
    for view, text in _views(data).items():
        assert convert_legacy(text, "vni") == letter, view
    word = ("TH" + letter + "C") if letter.isupper() else ("th" + letter + "c")
    assert convert_legacy(to_vni(word).decode("cp1252"), "vni") == word


@pytest.mark.parametrize(
    ("mojibake", "encoding", "expected"),
    [
        ("NghÞ quyÕt", "tcvn3", "Nghị quyết"),
        ("Ban Th\u00adêng vô Thµnh ñy", "tcvn3", "Ban Thường vụ Thành ủy"),
        ("§¶ng bé", "tcvn3", "Đảng bộ"),
        ("Nghò quyeát", "vni", "Nghị quyết"),
        ("Ban Thöôøng vuï Thaønh uûy", "vni", "Ban Thường vụ Thành ủy"),
        ("Ñaûng boä", "vni", "Đảng bộ"),
        ("NGHÒ QUYEÁT", "vni", "NGHỊ QUYẾT"),
        ("ÑAÛNG COÄNG SAÛN VIEÄT NAM", "vni", "ĐẢNG CỘNG SẢN VIỆT NAM"),
        ("THÖÔØNG VUÏ", "vni", "THƯỜNG VỤ"),
        ("Ñaûng", "vni", "Đảng"),
        ("ÑAûNG", "vni", "ĐẢNG"),  # a lower-case mark on a capital: the base letter decides
        ("khuyeán khích", "vni", "khuyến khích"),
        ("kyõ thuaät, tyû leä", "vni", "kỹ thuật, tỷ lệ"),
    ],
)
def test_known_mojibake(mojibake: str, encoding: str, expected: str) -> None:
    assert convert_legacy(mojibake, encoding) == expected


# --------------------------------------------------------------------------------------------------
# Capitals in TCVN3
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # Capitals typed with the lower-case toned glyphs of .VnTime, the common practice.
        ("NGHÞ QUYÕT", "NGHỊ QUYẾT"),
        ("CHØ THÞ", "CHỈ THỊ"),
        ("Hµ NéI", "HÀ NỘI"),
        ("CñA BAN TH¦êNG Vô THµNH ñY", "CỦA BAN THƯỜNG VỤ THÀNH ỦY"),
        ("Hµ Néi, ngµy 15", "Hà Nội, ngày 15"),
        # Nothing says these are capitals: left as they are.
        ("Bé Hµ", "Bộ Hà"),
        ("Sè 12-CT/TU", "Số 12-CT/TU"),
        ("ñy ban", "ủy ban"),
        ("UBND tØnh", "UBND tỉnh"),
    ],
)
def test_tcvn3_capitals_restored_from_context(typed: str, expected: str) -> None:
    assert convert_legacy(typed, "tcvn3") == expected


@pytest.mark.parametrize("line", ["THỨ TỰ ƯU TIÊN", "KỸ THUẬT SỐ", "T/M BAN THƯỜNG VỤ", "PHÓ BÍ THƯ THƯỜNG TRỰC"])
def test_tcvn3_missing_capitals_in_lines_of_capitals(line: str) -> None:
    assert convert_legacy(to_tcvn3(line).decode("latin-1"), "tcvn3") == line


def test_tcvn3_capitals_font() -> None:
    # .VnTimeH draws lower-case codes as capitals; a parser that knows the font says so.
    assert convert_legacy("®¶ng bé thµnh phè", "tcvn3", capitals=True) == "ĐẢNG BỘ THÀNH PHỐ"


# --------------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
@pytest.mark.parametrize("text", [PARAGRAPH, HEADER, PARAGRAPH + "\n" + HEADER])
def test_text_round_trip_and_detection_in_every_view(encoding: str, text: str) -> None:
    data = ENCODERS[encoding](text)
    views = _views(data)
    assert "latin-1" in views
    for view, decoded in views.items():
        assert detect_legacy(decoded) == encoding, view
        assert convert_legacy(decoded, encoding) == text, view
        assert fix_legacy(decoded) == (text, encoding)


@pytest.mark.parametrize("encoding", LEGACY_ENCODINGS)
@pytest.mark.parametrize("text", SHORT_TEXTS)
def test_short_texts_detected(encoding: str, text: str) -> None:
    for view, decoded in _views(ENCODERS[encoding](text)).items():
        assert detect_legacy(decoded) == encoding, view
        assert convert_legacy(decoded, encoding) == text


def test_crlf_and_line_by_line_conversion() -> None:
    text = PARAGRAPH.replace("\n", "\r\n")
    decoded = to_tcvn3(text).decode("cp1258")
    assert detect_legacy(decoded) == "tcvn3"
    assert "\n".join(convert_legacy(line, "tcvn3") for line in decoded.split("\n")) == text


FALSE_POSITIVES = {
    "vi-nfc": PARAGRAPH + "\n" + HEADER,
    "vi-nfd": unicodedata.normalize("NFD", PARAGRAPH),
    "vi-short": "Hà Nội",
    "vi-short-2": "Đảng bộ Hà Nội",
    "vi-symbols": "Số liệu năm 2025: 48.000 hồ sơ (±5%), nhiệt độ kho 20°C, giá 25 tỷ đồng.",
    "vi-windows-1258": _windows_1258(PARAGRAPH).decode("cp1258"),
    "vi-no-diacritics": "Nghi quyet so 05-CT/TU cua Ban Thuong vu Thanh uy",
    "english": (
        "The Party committee approved the plan on 15 March 2026. Records from 1990 to 2005 will be scanned, "
        "and 60% of all files must be digitised by the end of next year. The archive's café is closed."
    ),
    "french": (
        "Le comité a adopté le plan à l'unanimité. Où en sommes-nous ? Les archives déjà numérisées "
        "représentent 35 % du fonds ; le reste sera traité l'été prochain, après la fête de Noël. "
        "Côté hôpital, la réunion aura lieu bientôt : une idée naïve, peut-être, mais où est le problème ?"
    ),
    "french-short": "Où ça ? Là-bas, à côté.",
    "german": (
        "Die Größe der Archive ist beachtlich: Über 48.000 Akten müssen bis nächstes Jahr digitalisiert "
        "werden. Schön wäre es, wenn die Mitarbeiter früher anfangen könnten. Grüße aus der Straße."
    ),
    "spanish": "El señor Muñoz presentó la información del año pasado en la reunión del corazón de la ciudad.",
    "stray-symbols": "Copyright © 2024 Công ty Văn Kiện®. Giá: 10 € — café, naïve, résumé. All rights reserved ™.",
    "symbols-only": "© ® ° ± ½ ¼ « » § ¶ µ",
    "ascii": "Nghi quyet 05-CT/TU (1998) - ban hanh 20/5/1998.",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(FALSE_POSITIVES))
def test_no_false_positives(name: str) -> None:
    text = FALSE_POSITIVES[name]
    assert detect_legacy(text) is None
    assert fix_legacy(text) == (text, None)


def test_tcvn3_and_vni_are_told_apart() -> None:
    assert detect_legacy(to_tcvn3(PARAGRAPH).decode("cp1252")) == "tcvn3"
    assert detect_legacy(to_vni(PARAGRAPH).decode("cp1252")) == "vni"


def test_detection_reads_a_bounded_sample() -> None:
    big = to_tcvn3((PARAGRAPH + "\n") * 3000).decode("cp1258")
    assert len(big) > 10 * legacy.SAMPLE_CHARS
    assert len(legacy._sample(big)) <= 3 * legacy.SAMPLE_CHARS + 2
    start = time.perf_counter()
    assert detect_legacy(big) == "tcvn3"
    assert time.perf_counter() - start < 5  # generous: it takes well under a second


def test_conversion_of_a_large_text() -> None:
    text = (PARAGRAPH + "\n" + HEADER + "\n") * 2000
    for encoding, encode in ENCODERS.items():
        decoded = encode(text).decode("latin-1")
        assert convert_legacy(decoded, encoding) == text


# --------------------------------------------------------------------------------------------------
# Edges of the conversion
# --------------------------------------------------------------------------------------------------


def test_unknown_encoding_rejected() -> None:
    with pytest.raises(ValueError, match="unknown legacy encoding"):
        convert_legacy("abc", "viscii")


def test_unicode_lines_left_alone() -> None:
    mixed = "Nghị quyết số 05 (bản Unicode)\nNghÞ quyÕt sè 05"
    assert convert_legacy(mixed, "tcvn3") == "Nghị quyết số 05 (bản Unicode)\nNghị quyết số 05"


def test_output_is_nfc() -> None:
    for encoding, encode in ENCODERS.items():
        out = convert_legacy(encode(PARAGRAPH).decode("cp1258"), encoding)
        assert unicodedata.is_normalized("NFC", out)


def test_vni_stray_marks_stay() -> None:
    # A diacritic character after a letter that cannot take it is left as it is.
    assert convert_legacy("xù caùc", "vni") == "xù các"
    assert convert_legacy("eê", "vni") == "eê"


def test_vni_keeps_windows_punctuation() -> None:
    text = "“Đảng ta” – 2026…"
    data = to_vni(text)
    assert b"\x93" in data
    assert convert_legacy(data.decode("cp1252"), "vni") == text
    assert convert_legacy(data.decode("latin-1"), "vni") == text


def test_to_tcvn3_punctuation_and_errors() -> None:
    assert to_tcvn3("“Đảng” – 2026…") == b'"\xa7\xb6ng" - 2026...'
    assert to_tcvn3("Ðảng") == to_tcvn3("Đảng")
    assert to_tcvn3(unicodedata.normalize("NFD", "Nghị quyết")) == to_tcvn3("Nghị quyết")
    assert to_tcvn3("20°C ±5") == b"20\xb0C \xb15"
    with pytest.raises(UnicodeEncodeError):
        to_tcvn3("garçon")
    assert to_tcvn3("garçon", errors="replace") == b"gar?on"
    assert to_tcvn3("garçon", errors="ignore") == b"garon"
    with pytest.raises(ValueError, match="errors mode"):
        to_tcvn3("a", errors="xmlcharrefreplace")


def test_to_vni_errors() -> None:
    with pytest.raises(UnicodeEncodeError):
        to_vni("München")  # VNI uses the byte of "ü" as a diacritic
    assert to_vni("garçon") == b"gar\xe7on"  # a byte VNI leaves alone


# --------------------------------------------------------------------------------------------------
# Parsing legacy files
# --------------------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _parse_one(path: Path) -> RawDocument:
    [doc] = parse_file(path)
    assert isinstance(doc, RawDocument)
    return doc


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("tcvn3", PARAGRAPH),  # no capitals in 0x80-0x9F: read as Windows-1258
        ("tcvn3", HEADER + "\n" + PARAGRAPH),  # capitals in 0x80-0x9F: read as Latin-1
        ("vni", PARAGRAPH),
        ("vni", HEADER + "\n" + PARAGRAPH),
    ],
)
def test_parse_legacy_txt_file(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / f"van-ban-{encoding}.txt"
    path.write_bytes(ENCODERS[encoding](text.replace("\n", "\r\n")))
    doc = _parse_one(path)
    assert doc.metadata["legacy_encoding"] == encoding
    assert [b.text for b in doc.blocks] == _lines(text)
    assert all(unicodedata.is_normalized("NFC", b.text) for b in doc.blocks)


def test_parse_unicode_txt_file_is_not_converted(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_text(HEADER + "\n" + PARAGRAPH, encoding="utf-8")
    doc = _parse_one(path)
    assert "legacy_encoding" not in doc.metadata
    assert [b.text for b in doc.blocks] == _lines(HEADER + "\n" + PARAGRAPH)


def test_corpus_sample_reads_back_as_its_source() -> None:
    source = SAMPLE_SOURCE.read_text(encoding="utf-8")
    assert "Tài liệu mẫu do nhóm phát triển Văn Kiện soạn để minh họa, không phải văn bản chính thức." in source
    doc = _parse_one(SAMPLE_FILE)
    assert doc.metadata["legacy_encoding"] == "tcvn3"
    assert [b.text for b in doc.blocks] == _lines(source)


def test_corpus_sample_is_up_to_date() -> None:
    assert build_legacy_sample.build() == SAMPLE_FILE.read_bytes()
    assert not SAMPLE_FILE.read_bytes().isascii()  # really legacy bytes, not UTF-8 text
