"""PDF parsing: pages, artefact removal, NFC, encryption, corrupt files, the whole chain to paragraphs."""

from __future__ import annotations

import io
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ParseError
from rag.ingest import parse_file
from rag.ingest import pdf as pdf_module
from rag.ingest.pdf import parse_pdf
from rag.text.document import analyse
from rag.types import RawDocument

pytest.importorskip("fpdf", reason="fpdf2 builds the test PDFs (pip install fpdf2)")
from fpdf import FPDF

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(not FONT.exists(), reason=f"{FONT} is missing (Debian package fonts-dejavu-core)")

RUNNING_HEADER = "Nghị quyết số 57-NQ/TW của Bộ Chính trị"

PAGE_1 = [
    "BAN CHẤP HÀNH TRUNG ƯƠNG",
    "Số 57-NQ/TW",
    "Hà Nội, ngày 22 tháng 12 năm 2024",
    "NGHỊ QUYẾT",
    "CỦA BỘ CHÍNH TRỊ",
    "về đột phá phát triển khoa học, công nghệ, đổi mới sáng tạo",
    "và chuyển đổi số quốc gia",
    "I. TÌNH HÌNH VÀ NGUYÊN NHÂN",
    "1. Thời gian qua, khoa học, công nghệ và đổi mới sáng tạo đã có bước phát triển,",
    "đóng góp quan trọng vào tăng trưởng kinh tế và nâng cao năng lực cạnh tranh",
    "của nền kinh tế; hạ tầng số được đầu tư mở rộng, phủ sóng rộng khắp cả nước.",
    "2. Tuy nhiên, quy mô thị trường khoa học, công nghệ còn nhỏ; nguồn lực đầu tư",
    "cho nghiên cứu và phát triển còn hạn chế, chưa tương xứng với yêu cầu phát triển",
]
PAGE_2 = [
    "của đất nước trong giai đoạn mới; ứng dụng công nghệ block-",
    "chain còn chậm.",
    "II. QUAN ĐIỂM CHỈ ĐẠO",
    "1. Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu, là động lực",
    "chính để phát triển nhanh lực lượng sản xuất hiện đại.",
    "2. Doanh nghiệp là trung tâm của hệ sinh thái đổi mới sáng tạo quốc gia.",
]
PAGE_3 = [
    "III. TỔ CHỨC THỰC HIỆN",
    "1. Các cấp ủy, tổ chức đảng quán triệt và thực hiện nghiêm Nghị quyết này.",
    "2. Ban Tuyên giáo Trung ương chủ trì hướng dẫn việc học tập, quán triệt Nghị quyết.",
]


def build_pdf(
    pages: Sequence[Sequence[str]],
    *,
    header: Callable[[int], str | None] = lambda n: None,
    footer: Callable[[int], str | None] = lambda n: None,
    encrypt: dict[str, Any] | None = None,
) -> bytes:
    """A PDF with one text line per given line; `header`/`footer` give each page's running lines."""

    class Doc(FPDF):
        def header(self) -> None:
            text = header(self.page_no())
            if text:
                self.set_font("dejavu", size=9)
                self.cell(0, 6, text, align="C", new_x="LMARGIN", new_y="NEXT")
                self.ln(4)

        def footer(self) -> None:
            text = footer(self.page_no())
            if text:
                self.set_y(-15)
                self.set_font("dejavu", size=9)
                self.cell(0, 8, text, align="C")

    doc = Doc()
    doc.add_font("dejavu", fname=str(FONT))
    if encrypt:
        doc.set_encryption(**encrypt)
    for lines in pages:
        doc.add_page()
        doc.set_font("dejavu", size=11)
        for line in lines:
            doc.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def _write(tmp_path: Path, data: bytes, name: str = "nq57.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _only_doc(path: Path) -> RawDocument:
    docs = parse_file(path)
    assert len(docs) == 1
    doc = docs[0]
    assert isinstance(doc, RawDocument)
    return doc


def _resolution(tmp_path: Path) -> RawDocument:
    data = build_pdf(
        [PAGE_1, PAGE_2, PAGE_3],
        header=lambda n: RUNNING_HEADER if n > 1 else None,
        footer=lambda n: f"Trang {n}/3",
    )
    return _only_doc(_write(tmp_path, data))


def test_blocks_carry_pages_and_artefacts_are_gone(tmp_path: Path) -> None:
    raw = _resolution(tmp_path)
    assert raw.fmt == "pdf"
    texts = [b.text for b in raw.blocks]
    assert RUNNING_HEADER not in texts
    assert not any(t.startswith("Trang ") for t in texts)
    pages = {b.text: b.page for b in raw.blocks}
    assert pages["BAN CHẤP HÀNH TRUNG ƯƠNG"] == 1
    assert pages["II. QUAN ĐIỂM CHỈ ĐẠO"] == 2
    assert pages["III. TỔ CHỨC THỰC HIỆN"] == 3
    # The hyphenated word is whole again, on the line that began it.
    assert "của đất nước trong giai đoạn mới; ứng dụng công nghệ blockchain" in texts
    assert "còn chậm." in texts
    assert raw.metadata["pages"] == "3"
    assert "ocr_pages" not in raw.metadata
    assert raw.warnings == ()
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)


def test_whole_chain_gives_paragraphs_with_pages(tmp_path: Path) -> None:
    analysed = analyse(_resolution(tmp_path))
    assert analysed.header.number == "57-NQ/TW"
    assert analysed.doc_type == "nghị quyết"
    paragraphs = {analysed.text[s.start : s.end]: s for s in analysed.spans}
    across = next(p for p in paragraphs if p.startswith("2. Tuy nhiên"))
    # The sentence broken across pages 1 and 2 is one paragraph, cited at the page where it starts.
    assert across == (
        "2. Tuy nhiên, quy mô thị trường khoa học, công nghệ còn nhỏ; nguồn lực đầu tư cho nghiên cứu và "
        "phát triển còn hạn chế, chưa tương xứng với yêu cầu phát triển của đất nước trong giai đoạn mới; "
        "ứng dụng công nghệ blockchain còn chậm."
    )
    assert paragraphs[across].page == 1
    assert paragraphs[across].section == "I > 2"
    quan_diem = next(s for p, s in paragraphs.items() if p.startswith("1. Phát triển khoa học"))
    assert quan_diem.page == 2 and quan_diem.section == "II > 1"
    assert paragraphs["III. TỔ CHỨC THỰC HIỆN"].page == 3
    assert RUNNING_HEADER not in analysed.text
    assert "Trang 2/3" not in analysed.text


def test_bare_page_numbers_and_dash_numbers(tmp_path: Path) -> None:
    for footer in (lambda n: str(n), lambda n: f"- {n} -"):
        data = build_pdf([PAGE_1, PAGE_2, PAGE_3], footer=footer)
        raw = parse_pdf(tmp_path / "x.pdf", data)[0]
        last_lines = [[b.text for b in raw.blocks if b.page == n][-1] for n in (1, 2, 3)]
        assert last_lines == [PAGE_1[-1], PAGE_2[-1], PAGE_3[-1]]


def test_nfd_text_comes_out_nfc(tmp_path: Path) -> None:
    lines = [unicodedata.normalize("NFD", line) for line in PAGE_3]
    data = build_pdf([lines])
    from pypdf import PdfReader

    extracted = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert not unicodedata.is_normalized("NFC", extracted)  # the case this test is about
    raw = _only_doc(_write(tmp_path, data))
    assert [b.text for b in raw.blocks] == PAGE_3
    assert all(unicodedata.is_normalized("NFC", b.text) for b in raw.blocks)


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    from fpdf.enums import EncryptionMethod

    data = build_pdf(
        [PAGE_3],
        encrypt={
            "owner_password": "chu-so-huu",
            "user_password": "mat-khau",
            "encryption_method": EncryptionMethod.RC4,
        },
    )
    with pytest.raises(ParseError) as caught:
        parse_file(_write(tmp_path, data))
    assert caught.value.user_message == "Tệp PDF được bảo vệ bằng mật khẩu."


def test_owner_only_encryption_reads_with_empty_password(tmp_path: Path) -> None:
    from fpdf.enums import EncryptionMethod

    data = build_pdf([PAGE_3], encrypt={"owner_password": "chu-so-huu", "encryption_method": EncryptionMethod.RC4})
    assert [b.text for b in _only_doc(_write(tmp_path, data)).blocks] == PAGE_3


def test_aes_owner_only_encryption(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="AES-encrypted PDFs need the cryptography package")
    from fpdf.enums import EncryptionMethod

    data = build_pdf([PAGE_3], encrypt={"owner_password": "chu", "encryption_method": EncryptionMethod.AES_256})
    assert [b.text for b in _only_doc(_write(tmp_path, data)).blocks] == PAGE_3


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.99])
def test_truncated_pdf_is_a_parse_error(tmp_path: Path, keep: float) -> None:
    data = build_pdf([PAGE_1, PAGE_2, PAGE_3])
    with pytest.raises(ParseError) as caught:
        parse_file(_write(tmp_path, data[: int(len(data) * keep)]))
    assert caught.value.user_message == "Tệp PDF bị hỏng hoặc không đọc được."


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>not a pdf</body></html>",
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\nxref\n0 1\nbroken\ntrailer << /Root 1 0 R >>"
        b"\nstartxref\n9\n%%EOF",
    ],
)
def test_garbage_is_a_parse_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_file(_write(tmp_path, data))
    assert caught.value.user_message  # Vietnamese, for the person


def test_a_failing_page_is_skipped_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    original = PageObject.extract_text
    calls = {"n": 0}

    def flaky(self: PageObject, *args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("broken content stream")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", flaky)
    raw = parse_pdf(tmp_path / "x.pdf", build_pdf([PAGE_1, PAGE_2, PAGE_3]))[0]
    assert {b.page for b in raw.blocks} == {1, 3}
    assert len(raw.warnings) == 1 and raw.warnings[0].startswith("page 2:")


def test_no_text_at_all(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        parse_pdf(tmp_path / "x.pdf", build_pdf([[], []]))
    assert caught.value.user_message == "Tệp PDF không có nội dung văn bản."


def test_a_stuck_reader_is_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def loop_forever(*_args: Any, **_kwargs: Any) -> Any:
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(pdf_module, "PdfReader", loop_forever)
    monkeypatch.setattr(pdf_module, "TEXT_TIME_LIMIT_S", 0.3)
    started = time.monotonic()
    with pytest.raises(ParseError) as caught:
        parse_pdf(tmp_path / "x.pdf", build_pdf([PAGE_3]))
    assert time.monotonic() - started < 5
    assert "quá thời gian" in caught.value.user_message


def test_time_budget_stops_between_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    original = PageObject.extract_text

    def slow(self: PageObject, *args: Any, **kwargs: Any) -> str:
        time.sleep(0.5)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", slow)
    monkeypatch.setattr(pdf_module, "TEXT_TIME_LIMIT_S", 0.8)
    raw = parse_pdf(tmp_path / "x.pdf", build_pdf([PAGE_1, PAGE_2, PAGE_3]))[0]
    assert {b.page for b in raw.blocks} == {1}
    assert any("time budget" in w for w in raw.warnings)
