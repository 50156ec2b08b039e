"""Scanned PDFs: OCR with tesseract's Vietnamese model, and what happens when OCR is not installed."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.errors import MissingDependency, ParseError
from rag.ingest import ocr, parse_file
from rag.ingest.pdf import parse_pdf
from rag.text.document import analyse
from rag.types import RawDocument

fpdf = pytest.importorskip("fpdf", reason="fpdf2 builds the test PDFs (pip install fpdf2)")
PIL_Image = pytest.importorskip("PIL.Image", reason="Pillow draws the scanned pages (pip install Pillow)")
from PIL import ImageDraw, ImageFont  # noqa: E402

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(not FONT.exists(), reason=f"{FONT} is missing (Debian package fonts-dejavu-core)")
needs_ocr = pytest.mark.skipif(
    not ocr.ocr_available(),
    reason=f"OCR not available: {ocr.ocr_unavailable_reason()} (apt-get install tesseract-ocr tesseract-ocr-vie)",
)

SCANNED_LINES = [
    "CHƯƠNG TRÌNH HÀNH ĐỘNG",
    "Phát triển khoa học và công nghệ",
    "là đột phá quan trọng hàng đầu.",
    "Đẩy mạnh chuyển đổi số quốc gia.",
]
TEXT_LINES = [
    "Các cấp ủy, tổ chức đảng quán triệt Nghị quyết.",
    "Doanh nghiệp là trung tâm của hệ sinh thái đổi mới sáng tạo.",
]


def render_scan(lines: Sequence[str], *, rotate: int = 0) -> bytes:
    """A PNG of black text on white, as a scanner would give (A5 at about 200 dpi)."""
    font = ImageFont.truetype(str(FONT), 44)
    image = PIL_Image.new("L", (1200, 1650), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((80, 100 + i * 80), line, font=font, fill=0)
    if rotate:
        image = image.rotate(rotate, expand=True)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build_pdf(pages: Sequence[Sequence[str] | bytes]) -> bytes:
    """Pages of text lines, or of one PNG image filling the page (a scan without a text layer)."""
    doc = fpdf.FPDF(format=(148, 210))  # A5
    doc.add_font("dejavu", fname=str(FONT))
    doc.set_font("dejavu", size=11)
    for page in pages:
        doc.add_page()
        if isinstance(page, bytes):
            doc.image(io.BytesIO(page), x=0, y=0, w=doc.w, h=doc.h)
        else:
            for line in page:
                doc.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def _folded(raw: RawDocument) -> str:
    return " ".join(b.text for b in raw.blocks).casefold()


@pytest.fixture
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "ocr_unavailable_reason", lambda: "the tesseract program is not installed")


def test_scan_without_ocr_is_refused_with_the_install_hint(tmp_path: Path, no_ocr: None) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(build_pdf([render_scan(SCANNED_LINES)]))
    with pytest.raises(ParseError) as caught:
        parse_file(path)
    assert caught.value.user_message == (
        "Tệp PDF là bản quét (ảnh) và máy chưa cài OCR (tesseract-ocr, tesseract-ocr-vie)."
    )


def test_scanned_pages_without_ocr_are_reported(tmp_path: Path, no_ocr: None) -> None:
    data = build_pdf([TEXT_LINES, render_scan(SCANNED_LINES), render_scan(SCANNED_LINES[:2])])
    raw = parse_pdf(tmp_path / "mixed.pdf", data)[0]
    assert [b.text for b in raw.blocks] == TEXT_LINES
    assert "ocr_pages" not in raw.metadata
    assert len(raw.warnings) == 1
    warning = raw.warnings[0]
    assert warning.startswith("pages 2, 3: no text layer") and "OCR is not available" in warning
    assert "tesseract-ocr-vie" in warning


def test_ocr_image_needs_ocr(no_ocr: None) -> None:
    with pytest.raises(MissingDependency) as caught:
        ocr.ocr_image(PIL_Image.new("L", (100, 100), 255))
    assert "tesseract" in caught.value.user_message


@pytest.mark.ocr
@needs_ocr
def test_scanned_pdf_is_read_with_ocr(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(build_pdf([TEXT_LINES, render_scan(SCANNED_LINES)]))
    docs = parse_file(path)
    raw = docs[0]
    assert isinstance(raw, RawDocument)
    assert raw.metadata["ocr_pages"] == "2"
    assert raw.metadata["ocr_language"] == "vie"
    assert raw.warnings == ()
    text = _folded(raw)
    for words in ("chương trình hành động", "khoa học và công nghệ", "đột phá", "chuyển đổi số"):
        assert words in text
    assert all(b.page == 1 for b in raw.blocks if "doanh nghiệp" in b.text.casefold())
    assert all(b.page == 2 for b in raw.blocks if "đột phá" in b.text)
    assert all(unicodedata.is_normalized("NFC", b.text) for b in raw.blocks)
    # Through the text layer: the OCR'd sentence broken over two lines is one paragraph on page 2.
    analysed = analyse(raw)
    paragraphs = [(analysed.text[s.start : s.end], s.page) for s in analysed.spans]
    joined = [(t, p) for t, p in paragraphs if "đột phá" in t]
    assert joined and joined[0][1] == 2 and "công nghệ là đột phá" in joined[0][0]


@pytest.mark.ocr
@needs_ocr
def test_rotated_scan_is_turned_upright(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    # The image lies on its side; the page's /Rotate shows it upright, as scanners often do.
    reader = PdfReader(io.BytesIO(build_pdf([render_scan(SCANNED_LINES, rotate=90)])))
    writer = PdfWriter()
    writer.add_page(reader.pages[0])
    writer.pages[0].rotate(90)
    buffer = io.BytesIO()
    writer.write(buffer)
    raw = parse_pdf(tmp_path / "rotated.pdf", buffer.getvalue())[0]
    assert raw.metadata["ocr_pages"] == "1"
    assert "chuyển đổi số" in _folded(raw)


@pytest.mark.ocr
@needs_ocr
def test_ocr_image_returns_nfc_lines() -> None:
    image = PIL_Image.open(io.BytesIO(render_scan(SCANNED_LINES[1:3])))
    lines = ocr.ocr_image(image, dpi=100)  # low resolution: enlarged before reading
    assert " ".join(lines).casefold() == "phát triển khoa học và công nghệ là đột phá quan trọng hàng đầu."
    assert all(unicodedata.is_normalized("NFC", line) for line in lines)
    assert ocr.ocr_image(PIL_Image.new("L", (10, 10), 255)) == []
