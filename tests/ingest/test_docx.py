"""DOCX parsing: body order, style hints, tables, numbering, broken packages and decompression bombs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ParseError
from rag.ingest import docx as docx_module
from rag.ingest import parse_file
from rag.ingest.docx import parse_docx
from rag.text.document import analyse
from rag.types import Block, RawDocument

docx = pytest.importorskip("docx", reason="python-docx builds the test documents")
from docx.oxml import parse_xml  # noqa: E402
from docx.oxml.ns import nsdecls  # noqa: E402

BROKEN = "Tệp DOCX bị hỏng."


def _save(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _parse(tmp_path: Path, data: bytes) -> RawDocument:
    path = tmp_path / "van-ban.docx"
    path.write_bytes(data)
    docs = parse_file(path)
    assert len(docs) == 1 and isinstance(docs[0], RawDocument)
    return docs[0]


def _programme() -> Any:
    document = docx.Document()
    document.core_properties.title = "Chương trình hành động thực hiện Nghị quyết 57"
    section = document.sections[0]
    section.header.paragraphs[0].text = "ĐẦU TRANG: TÀI LIỆU NỘI BỘ"
    section.footer.paragraphs[0].text = "Chân trang 1"
    document.add_heading("Chương trình hành động", level=0)
    document.add_heading("I. MỤC TIÊU", level=1)
    bold = document.add_paragraph()
    bold.add_run("Mục tiêu chung").bold = True
    mixed = document.add_paragraph()
    mixed.add_run("Phát triển ").bold = True
    mixed.add_run("khoa học, công nghệ là đột phá quan trọng hàng đầu.")
    document.add_paragraph("Hoàn thiện thể chế cho đổi mới sáng tạo", style="List Bullet")
    document.add_paragraph("Tăng đầu tư cho nghiên cứu và phát triển", style="List Bullet")
    document.add_paragraph("Rà soát văn bản pháp luật", style="List Number")
    document.add_paragraph("Xây dựng cơ sở dữ liệu quốc gia", style="List Number")
    table = document.add_table(rows=3, cols=3)
    rows = [
        ["STT", "Nhiệm vụ", "Cơ quan chủ trì"],
        ["1", "Xây dựng đề án chuyển đổi số", "Bộ Khoa học và Công nghệ"],
        ["2", "Đào tạo nhân lực số", ""],
    ]
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            table.cell(i, j).text = text
    broken = document.add_paragraph("Thời hạn hoàn thành")
    broken.runs[0].add_break()
    broken.add_run("trong năm 2025.")
    return document


def test_body_in_order_with_style_hints(tmp_path: Path) -> None:
    raw = _parse(tmp_path, _save(_programme()))
    assert raw.fmt == "docx"
    assert raw.title_hint == "Chương trình hành động thực hiện Nghị quyết 57"
    assert list(raw.blocks) == [
        Block("Chương trình hành động", None, "heading"),
        Block("I. MỤC TIÊU", None, "heading"),
        Block("Mục tiêu chung", None, "bold"),
        Block("Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu.", None, ""),
        Block("- Hoàn thiện thể chế cho đổi mới sáng tạo", None, ""),
        Block("- Tăng đầu tư cho nghiên cứu và phát triển", None, ""),
        Block("1. Rà soát văn bản pháp luật", None, ""),
        Block("2. Xây dựng cơ sở dữ liệu quốc gia", None, ""),
        Block("STT | Nhiệm vụ | Cơ quan chủ trì", None, "table"),
        Block("1 | Xây dựng đề án chuyển đổi số | Bộ Khoa học và Công nghệ", None, "table"),
        Block("2 | Đào tạo nhân lực số", None, "table"),
        Block("Thời hạn hoàn thành", None, ""),
        Block("trong năm 2025.", None, ""),
    ]
    texts = " ".join(b.text for b in raw.blocks)
    assert "ĐẦU TRANG" not in texts and "Chân trang" not in texts


def test_whole_chain(tmp_path: Path) -> None:
    analysed = analyse(_parse(tmp_path, _save(_programme())))
    paragraphs = [analysed.text[s.start : s.end] for s in analysed.spans]
    assert "Thời hạn hoàn thành trong năm 2025." in paragraphs
    section = {analysed.text[s.start : s.end]: s.section for s in analysed.spans}
    assert section["2. Xây dựng cơ sở dữ liệu quốc gia"] == "I > 2"


def test_header_layout_table_is_read_cell_by_cell(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    left.text = "BAN CHẤP HÀNH TRUNG ƯƠNG"
    left.add_paragraph("*")
    left.add_paragraph("Số 57-NQ/TW")
    right.text = "ĐẢNG CỘNG SẢN VIỆT NAM"
    right.add_paragraph("Hà Nội, ngày 22 tháng 12 năm 2024")
    document.add_paragraph("NGHỊ QUYẾT")
    document.add_paragraph("về đột phá phát triển khoa học, công nghệ")
    document.add_paragraph("I. TÌNH HÌNH")
    raw = _parse(tmp_path, _save(document))
    assert [b.text for b in raw.blocks][:5] == [
        "BAN CHẤP HÀNH TRUNG ƯƠNG",
        "*",
        "Số 57-NQ/TW",
        "ĐẢNG CỘNG SẢN VIỆT NAM",
        "Hà Nội, ngày 22 tháng 12 năm 2024",
    ]
    header = analyse(raw).header
    assert header.number == "57-NQ/TW" and header.issued == "2024-12-22" and header.doc_type == "nghị quyết"


def test_tracked_changes_links_and_letter_numbering(tmp_path: Path) -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("Nghị quyết ")
    paragraph._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="a"><w:r><w:t>đã được</w:t></w:r></w:ins>'))
    paragraph._p.append(
        parse_xml(f'<w:del {nsdecls("w")} w:id="2" w:author="a"><w:r><w:delText>bị xóa</w:delText></w:r></w:del>')
    )
    paragraph._p.append(
        parse_xml(f'<w:hyperlink {nsdecls("w")}><w:r><w:t xml:space="preserve"> ban hành</w:t></w:r></w:hyperlink>')
    )
    numbering = document.part.numbering_part.element
    numbering.append(
        parse_xml(
            f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
            '<w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%1)"/></w:lvl></w:abstractNum>'
        )
    )
    numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    for text in ("Đổi mới cơ chế quản lý", "Phát triển hạ tầng số"):
        item = document.add_paragraph(text)
        item._p.get_or_add_pPr().append(
            parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="0"/><w:numId w:val="90"/></w:numPr>')
        )
    raw = _parse(tmp_path, _save(document))
    assert [b.text for b in raw.blocks] == [
        "Nghị quyết đã được ban hành",
        "a) Đổi mới cơ chế quản lý",
        "b) Phát triển hạ tầng số",
    ]


def test_bold_through_paragraph_style(tmp_path: Path) -> None:
    document = docx.Document()
    style = document.styles.add_style("Nhấn mạnh", 1)  # WD_STYLE_TYPE.PARAGRAPH
    style.font.bold = True
    document.add_paragraph("NHIỆM VỤ VÀ GIẢI PHÁP", style="Nhấn mạnh")
    plain = document.add_paragraph("Nội dung thường", style="Nhấn mạnh")
    plain.runs[0].bold = False
    raw = _parse(tmp_path, _save(document))
    assert [(b.text, b.style) for b in raw.blocks] == [("NHIỆM VỤ VÀ GIẢI PHÁP", "bold"), ("Nội dung thường", "")]


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04 this is not a zip file at all",
        b"Not a zip, just text saved as .docx",
    ],
)
def test_not_a_zip_is_broken(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, data)
    assert caught.value.user_message == BROKEN


def test_truncated_docx_is_broken(tmp_path: Path) -> None:
    data = _save(_programme())
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, data[: len(data) // 2])
    assert caught.value.user_message == BROKEN


def test_zip_without_document_xml_is_broken(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/styles.xml", "<styles/>")
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, buffer.getvalue())
    assert caught.value.user_message == BROKEN


def test_invalid_document_xml_is_broken(tmp_path: Path) -> None:
    source = zipfile.ZipFile(io.BytesIO(_save(_programme())))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "word/document.xml":
                content = content[: len(content) // 2]
            archive.writestr(info, content)
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, buffer.getvalue())
    assert caught.value.user_message == BROKEN


def test_main_part_under_another_name(tmp_path: Path) -> None:
    source = zipfile.ZipFile(io.BytesIO(_save(_programme())))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            name = info.filename.replace("document.xml", "document2.xml")
            if name in ("[Content_Types].xml", "_rels/.rels"):
                content = content.replace(b"word/document.xml", b"word/document2.xml")
            archive.writestr(name, content)
    raw = _parse(tmp_path, buffer.getvalue())
    assert raw.blocks[0] == Block("Chương trình hành động", None, "heading")


def _bomb(document_xml_bytes: int) -> bytes:
    """A valid package whose word/document.xml is mostly spaces: tiny compressed, huge uncompressed."""
    source = zipfile.ZipFile(io.BytesIO(_save(_programme())))
    original = source.read("word/document.xml")
    head, tail = original.split(b"<w:body>", 1)
    chunk = b" " * (1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                archive.writestr(info, source.read(info))
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head + b"<w:body>")
            for _ in range(document_xml_bytes // len(chunk)):
                member.write(chunk)
            member.write(tail)
    return buffer.getvalue()


def test_zip_bomb_over_the_size_limit(tmp_path: Path) -> None:
    data = _bomb(docx_module.MAX_DOCUMENT_XML_BYTES + 5 * 1024 * 1024)
    assert len(data) < 2 * 1024 * 1024
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, data)
    assert "giải nén" in caught.value.user_message


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    data = _bomb(docx_module.RATIO_CHECK_BYTES + 2 * 1024 * 1024)
    with pytest.raises(ParseError) as caught:
        parse_docx(tmp_path / "x.docx", data)
    assert "giải nén" in caught.value.user_message


def test_empty_document(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        _parse(tmp_path, _save(docx.Document()))
    assert caught.value.user_message == "Tệp DOCX không có nội dung văn bản."
