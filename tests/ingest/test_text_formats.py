"""Plain text, markdown and JSON Lines parsers through `parse_file`."""

import json
import unicodedata
from pathlib import Path

import pytest

from rag.errors import ParseError, UnsupportedFormat
from rag.ingest import parse_file
from rag.ingest.jsonl import RecordError
from rag.ingest.markdown import markdown_to_blocks
from rag.types import RawDocument


def _only(path: Path) -> RawDocument:
    docs = parse_file(path)
    assert len(docs) == 1 and isinstance(docs[0], RawDocument)
    return docs[0]


def test_txt_nfd_becomes_nfc(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(unicodedata.normalize("NFD", "Nghị quyết số 71-NQ/TW\nvề giáo dục"), encoding="utf-8")
    doc = _only(path)
    assert [b.text for b in doc.blocks] == ["Nghị quyết số 71-NQ/TW", "về giáo dục"]
    assert doc.source_key == str(path.resolve())


def _to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: base letters precomposed, tone marks as combining characters."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out.append(base + "".join(c for c in parts if c in tones))
    return "".join(out).encode("cp1258")


def test_txt_windows_1258_and_bom(tmp_path: Path) -> None:
    # Windows-1258 writes tone marks as combining characters after the base letter.
    path = tmp_path / "cp1258.txt"
    path.write_bytes(_to_cp1258("Thành ủy Hà Nội ban hành chỉ thị về công tác cán bộ"))
    assert _only(path).blocks[0].text == "Thành ủy Hà Nội ban hành chỉ thị về công tác cán bộ"
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + "Đảng ủy".encode())
    assert _only(bom).blocks[0].text == "Đảng ủy"


def test_binary_with_txt_name_rejected(tmp_path: Path) -> None:
    path = tmp_path / "fake.txt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ParseError) as err:
        parse_file(path)
    assert "nhị phân" in err.value.user_message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_mark_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "u.txt"
    text = "Thành ủy Hà Nội ban hành Chỉ thị số 05-CT/TU"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    assert _only(path).blocks[0].text == text


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe\x00\x01binary", b"\xfe\xff" + bytes(range(0x40, 0x80)) * 8, b"\xff\xfe" + bytes([7, 0, 8, 0]) * 50],
)
def test_binary_behind_a_utf16_mark_is_rejected(tmp_path: Path, data: bytes) -> None:
    # Two bytes of anything pass for a UTF-16 mark; what follows decodes to CJK or control characters.
    path = tmp_path / "gia.txt"
    path.write_bytes(data)
    with pytest.raises(ParseError) as err:
        parse_file(path)
    assert "nhị phân" in err.value.user_message


def test_empty_and_unsupported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    with pytest.raises(ParseError, match="empty"):
        parse_file(empty)
    other = tmp_path / "x.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(UnsupportedFormat) as err:
        parse_file(other)
    assert ".xlsx" in err.value.user_message


def test_markdown_markup_removed_and_styles_kept() -> None:
    md = (
        "# Tiêu đề lớn\n**NGHỊ QUYẾT**\nSố 57\\-NQ/TW, xem [cổng thông tin](http://example.invalid)\n"
        "| TT | Chỉ tiêu |\n|---|---|\n| 1 | 80% dịch vụ công trực tuyến |\n* mục một\n---\n`mã`"
    )
    blocks = markdown_to_blocks(md)
    assert [(b.text, b.style) for b in blocks] == [
        ("Tiêu đề lớn", "heading"),
        ("NGHỊ QUYẾT", "bold"),
        ("Số 57-NQ/TW, xem cổng thông tin", ""),
        ("TT | Chỉ tiêu", "table"),
        ("1 | 80% dịch vụ công trực tuyến", "table"),
        ("- mục một", ""),
        ("mã", ""),
    ]


def _write_jsonl(path: Path, rows: list[object]) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")


def test_jsonl_records_metadata_and_boilerplate(tmp_path: Path) -> None:
    path = tmp_path / "bai.jsonl"
    _write_jsonl(
        path,
        [
            {
                "doc_id": "a1",
                "title": "Tỉnh ủy triển khai Nghị quyết 68",
                "text": "# Tỉnh ủy triển khai Nghị quyết 68\n**Mới: Cập nhật bảng giá**\n**>> Xem thêm tin khác**\n"
                "Ngày 5/5, Tỉnh ủy tổ chức hội nghị.\n|\n",
                "party_doc_refs": ["68-NQ/TW"],
                "n_chars": 120,
            },
            "{not json",
            {"doc_id": "a3", "title": "Không có nội dung"},
            {"title": "Chỉ có tiêu đề", "text": "Chỉ có tiêu đề"},
        ],
    )
    docs = parse_file(path)
    assert len(docs) == 4
    first, bad_json, no_text, title_only = docs
    assert isinstance(first, RawDocument)
    assert [b.text for b in first.blocks] == ["Tỉnh ủy triển khai Nghị quyết 68", "Ngày 5/5, Tỉnh ủy tổ chức hội nghị."]
    assert first.metadata["party_doc_refs"] == "68-NQ/TW" and first.metadata["n_chars"] == "120"
    assert first.source_key.endswith("bai.jsonl#a1")
    assert isinstance(bad_json, RecordError) and "Dòng 2" in bad_json.user_message
    assert isinstance(no_text, RecordError) and "text" in no_text.user_message
    assert isinstance(title_only, RawDocument) and title_only.source_key.endswith("#line4")
    assert [b.text for b in title_only.blocks] == ["Chỉ có tiêu đề"]


def test_jsonl_unchanged_records_skip_parsing(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    _write_jsonl(
        path, [{"id": 1, "title": "A", "text": "Nội dung một"}, {"id": 2, "title": "B", "text": "Nội dung hai"}]
    )
    first = parse_file(path)
    known = {(d.source_key, d.sha256) for d in first if isinstance(d, RawDocument)}
    again = parse_file(path, lambda key, sha: (key, sha) in known)
    assert [type(d).__name__ for d in again] == ["Unchanged", "Unchanged"]
