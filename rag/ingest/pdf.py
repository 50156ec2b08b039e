"""PDF files (.pdf): one block per text line with its page number; OCR for scanned pages.

Text comes from pypdf page by page. A page that fails is reported in the document's warnings and
skipped; a page with (almost) no text but an image is a scan and goes through OCR when tesseract
with the Vietnamese model is installed (`rag.ingest.ocr`). Running headers and footers, page-number
lines and line-end hyphenation are then removed (`rag.text.pdf_artefacts`); lines broken
mid-sentence are joined later, by `rag.text.cleanup.merge_lines`.

Page images come from the PDF's image objects (`page.images`), not from rendering the page: a scan is
one image per page (sometimes a few strips), and rendering would need a rasteriser (poppler, MuPDF)
that pypdf does not have. Pages whose text is drawn as vector outlines are therefore not read.

Malformed files never crash or hang ingestion: pypdf reads leniently (`strict=False`) within its own
limits, every pypdf call is guarded, and text extraction runs under a time budget. The budget is
checked between pages and between the drawing operators of a page; in the main thread a timer
signal also interrupts a pypdf call stuck in a loop (other threads rely on the checks alone).
"""

from __future__ import annotations

import io
import logging
import signal
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError

from rag.config import MAX_TEXT_CHARS
from rag.errors import ParseError
from rag.ingest import ocr
from rag.ingest.common import make_raw
from rag.text.pdf_artefacts import clean_pages
from rag.types import Block, RawDocument

logger = logging.getLogger(__name__)

#: Pages beyond this number are not read (a warning says so).
MAX_PAGES = 5000
#: Time budget for reading the text layer of a whole document (seconds).
TEXT_TIME_LIMIT_S = 120.0
#: Time budget for OCR of a whole document (seconds); pages left over are reported.
OCR_TIME_LIMIT_S = 1800.0
#: A page with fewer letters and digits than this, and an image, is read as a scan.
MIN_TEXT_CHARS = 16
#: How many bytes at the start of a file may precede the "%PDF-" signature.
SIGNATURE_WINDOW = 1024

_CORRUPT = "Tệp PDF bị hỏng hoặc không đọc được."
_ENCRYPTED = "Tệp PDF được bảo vệ bằng mật khẩu."
_NEEDS_CRYPTO = "Tệp PDF được mã hóa và máy chưa cài thư viện giải mã (cryptography)."
_SCANNED_NO_OCR = "Tệp PDF là bản quét (ảnh) và máy chưa cài OCR (tesseract-ocr, tesseract-ocr-vie)."
_SCANNED_NO_TEXT = "Tệp PDF là bản quét (ảnh) nhưng không nhận dạng được chữ nào."
_NO_TEXT = "Tệp PDF không có nội dung văn bản."
_TOO_SLOW = "Tệp PDF quá phức tạp hoặc bị hỏng (đọc quá thời gian cho phép)."
_TOO_MUCH_TEXT = "Tệp PDF có quá nhiều chữ để xử lý."


class _OutOfTime(BaseException):
    """The time budget is spent. A BaseException, so that pypdf's `except Exception` cannot swallow it."""


class _Budget:
    """A deadline, checked cooperatively (and by a timer signal where one can be used)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, *_args: Any) -> None:
        """Raise `_OutOfTime` once the deadline has passed (usable as a pypdf visitor callback)."""
        if time.monotonic() > self.deadline:
            raise _OutOfTime


@contextmanager
def _interrupt_after(budget: _Budget) -> Iterator[None]:
    """Interrupt the block with `_OutOfTime` when the budget runs out, where a timer signal can.

    Only the main thread receives signals, and the real-time timer must be free; otherwise this does
    nothing and the cooperative checks of `_Budget` are the only guard.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )
    if not usable:
        yield
        return

    def _on_alarm(_signum: int, _frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(budget.left(), 0.001))
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _open(path: Path, data: bytes) -> PdfReader:
    """Open the PDF leniently, decrypting it with the empty password when it is encrypted."""
    head = data[:SIGNATURE_WINDOW]
    if b"%PDF-" not in head:
        raise ParseError(f"{path}: no %PDF- signature", "Tệp không phải là PDF hợp lệ.")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except DependencyError as exc:
        raise ParseError(f"{path}: encrypted, decryption needs a crypto library: {exc}", _NEEDS_CRYPTO) from exc
    except (MemoryError, RecursionError) as exc:
        raise ParseError(f"{path}: {type(exc).__name__} while reading the PDF structure", _CORRUPT) from exc
    except Exception as exc:  # pypdf raises many kinds on malformed files
        raise ParseError(f"{path}: unreadable PDF: {exc!r}", _CORRUPT) from exc
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except DependencyError as exc:
            raise ParseError(f"{path}: encrypted, decryption needs a crypto library: {exc}", _NEEDS_CRYPTO) from exc
        except Exception as exc:
            raise ParseError(f"{path}: broken encryption dictionary: {exc!r}", _CORRUPT) from exc
        if not decrypted:
            raise ParseError(f"{path}: encrypted with a password", _ENCRYPTED)
    return reader


def _page_count(path: Path, reader: PdfReader) -> int:
    try:
        return len(reader.pages)
    except Exception as exc:
        raise ParseError(f"{path}: cannot read the page tree: {exc!r}", _CORRUPT) from exc


def _text_lines(text: str) -> list[str]:
    """NFC lines of extracted text, spaces collapsed, empty lines dropped."""
    text = unicodedata.normalize("NFC", text)
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines


def _content_chars(lines: list[str]) -> int:
    return sum(ch.isalnum() for line in lines for ch in line)


def _has_images(page: PageObject) -> bool:
    try:
        return len(page.images) > 0
    except Exception as exc:
        logger.debug("cannot list images of a page: %r", exc)
        return False


def _dpi(page: PageObject, image_width: int, rotation: int) -> float | None:
    """Resolution of a full-page image, from the page width in points (an estimate)."""
    try:
        box = page.mediabox
        width_pt = float(box.height if rotation in (90, 270) else box.width)
    except Exception:
        return None
    if width_pt <= 0:
        return None
    return image_width / (width_pt / 72.0)


def _ocr_page(page: PageObject, number: int, budget: _Budget) -> tuple[list[str], list[str]]:
    """OCR every image of a page; returns the lines and warnings."""
    lines: list[str] = []
    warnings: list[str] = []
    try:
        rotation = int(page.rotation) % 360
    except Exception:
        rotation = 0
    try:
        images = list(page.images)
    except Exception as exc:
        return [], [f"page {number}: cannot read its images for OCR ({type(exc).__name__}: {exc})"]
    for image_file in images:
        left = budget.left()
        if left <= 1:
            warnings.append(f"page {number}: OCR stopped, time budget of {budget.seconds:.0f} s spent")
            break
        try:
            image = image_file.image
        except Exception as exc:
            warnings.append(f"page {number}: cannot decode image {image_file.name} ({type(exc).__name__}: {exc})")
            continue
        if image is None:
            continue
        if rotation:
            # /Rotate turns the page clockwise; Pillow rotates counter-clockwise.
            image = image.rotate(-rotation, expand=True)
        try:
            lines.extend(
                ocr.ocr_image(
                    image,
                    dpi=_dpi(page, image.width, rotation),
                    timeout_s=min(ocr.OCR_IMAGE_TIMEOUT_S, left),
                )
            )
        except Exception as exc:  # tesseract failures and time-outs lose this image only
            warnings.append(f"page {number}: OCR failed on image {image_file.name} ({exc})")
    return lines, warnings


def _page_list(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def parse_pdf(path: Path, data: bytes) -> list[RawDocument]:
    """Read a PDF file: one block per line with its 1-based page number.

    Returns:
        One document. Its metadata holds "pages" (the page count) and, when OCR was used,
        "ocr_pages" ("2,3"); its warnings list the pages that could not be read.

    Raises:
        ParseError: for a file that is not a PDF, corrupt, protected by a password, too slow to read,
            or without any text (a scan without OCR installed gets its own message).
    """
    budget = _Budget(TEXT_TIME_LIMIT_S)
    warnings: list[str] = []
    pages: list[list[str]] = []
    scanned: list[int] = []  # 0-based indexes of pages without a text layer but with an image
    crypto_missing = 0
    failed = 0
    total_chars = 0
    try:
        with _interrupt_after(budget):
            reader = _open(path, data)
            n_pages = _page_count(path, reader)
            if n_pages > MAX_PAGES:
                warnings.append(f"only the first {MAX_PAGES} of {n_pages} pages were read")
            for index in range(min(n_pages, MAX_PAGES)):
                if budget.left() <= 0:
                    raise _OutOfTime
                lines: list[str] = []
                page: PageObject | None = None
                try:
                    page = reader.pages[index]
                    lines = _text_lines(page.extract_text(visitor_operand_before=budget.check))
                    if _content_chars(lines) < MIN_TEXT_CHARS and _has_images(page):
                        scanned.append(index)
                except DependencyError as exc:
                    crypto_missing += 1
                    failed += 1
                    warnings.append(f"page {index + 1}: skipped ({exc})")
                except Exception as exc:  # one bad page never loses the others
                    failed += 1
                    warnings.append(f"page {index + 1}: text extraction failed ({type(exc).__name__}: {exc})")
                    if page is not None and _has_images(page):
                        scanned.append(index)  # its image may still be read
                total_chars += sum(len(line) for line in lines)
                if total_chars > MAX_TEXT_CHARS:
                    raise ParseError(f"{path}: more than {MAX_TEXT_CHARS} characters of text", _TOO_MUCH_TEXT)
                pages.append(lines)
    except _OutOfTime:
        if not pages:
            raise ParseError(f"{path}: reading took longer than {budget.seconds:.0f} s", _TOO_SLOW) from None
        warnings.append(f"reading stopped after {len(pages)} pages: time budget of {budget.seconds:.0f} s spent")
        scanned = [i for i in scanned if i < len(pages)]
    except (MemoryError, RecursionError) as exc:
        raise ParseError(f"{path}: {type(exc).__name__} while reading the PDF", _CORRUPT) from exc

    metadata = {"pages": str(len(pages))}
    ocr_pages: list[int] = []
    if scanned:
        numbers = [i + 1 for i in scanned]
        reason = ocr.ocr_unavailable_reason()
        if reason is None:
            ocr_budget = _Budget(OCR_TIME_LIMIT_S)
            for index in scanned:
                try:
                    lines, page_warnings = _ocr_page(reader.pages[index], index + 1, ocr_budget)
                except Exception as exc:
                    lines, page_warnings = [], [f"page {index + 1}: OCR failed ({type(exc).__name__}: {exc})"]
                warnings.extend(page_warnings)
                # OCR reads the few characters of the text layer too; a logo read as noise must not
                # replace a short title, so OCR wins only when it finds more.
                if _content_chars(lines) > _content_chars(pages[index]):
                    pages[index] = lines
                    ocr_pages.append(index + 1)
            empty = [n for n in numbers if n not in ocr_pages]
            if empty:
                warnings.append(f"pages {_page_list(empty)}: little or no text layer and OCR found no more text")
            if ocr_pages:
                metadata["ocr_pages"] = ",".join(str(n) for n in ocr_pages)
                metadata["ocr_language"] = ocr.OCR_LANGUAGE
        else:
            warnings.append(
                f"pages {_page_list(numbers)}: no text layer (scanned images) and OCR is not available "
                f"({reason}; install tesseract-ocr and tesseract-ocr-vie); these pages were skipped"
            )

    cleaned = clean_pages(pages)
    blocks = [Block(line, index + 1) for index, lines in enumerate(cleaned) for line in lines]
    if not any(_content_chars([b.text]) for b in blocks):
        if crypto_missing:
            raise ParseError(f"{path}: encrypted content needs a crypto library", _NEEDS_CRYPTO)
        if scanned and not ocr_pages:
            if ocr.ocr_unavailable_reason() is not None:
                raise ParseError(f"{path}: scanned PDF and OCR is not available", _SCANNED_NO_OCR)
            raise ParseError(f"{path}: scanned PDF and OCR found no text", _SCANNED_NO_TEXT)
        if failed and failed >= len(pages):
            raise ParseError(f"{path}: no page could be read: {warnings[0]}", _CORRUPT)
        raise ParseError(f"{path}: no text in the PDF", _NO_TEXT)
    for warning in warnings:
        logger.info("%s: %s", path, warning)
    title = _title(reader)
    if title:
        # Kept aside, not as a title hint: PDF titles are too often a file name or a template's title.
        metadata["pdf_title"] = title
    return [make_raw(path, data, "pdf", blocks, metadata=metadata, warnings=warnings)]


def _title(reader: PdfReader) -> str | None:
    """The document title from the PDF's information dictionary, when it looks like one."""
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:
        return None
    if not title or not isinstance(title, str):
        return None
    title = " ".join(unicodedata.normalize("NFC", title).split())
    # Converters often fill in a file name or "Microsoft Word - x.doc" instead of a title.
    lowered = title.casefold()
    if len(title) < 4 or lowered.endswith((".doc", ".docx", ".pdf", ".odt")) or "microsoft word" in lowered:
        return None
    return title
