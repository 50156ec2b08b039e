"""Lines that belong to a document's layout rather than its content: never quoted as an answer.

(Line classifiers only; the labels an answer may carry are in `rag.answer.layout`.)

A Party document opens with a letterhead ("BAN CHẤP HÀNH TRUNG ƯƠNG", "ĐẢNG CỘNG SẢN VIỆT NAM", "*"), the
document type in capitals ("NGHỊ QUYẾT", "CỦA BỘ CHÍNH TRỊ"), and ends with a signature block ("T/M BỘ CHÍNH
TRỊ", "TỔNG BÍ THƯ", "(đã ký)", "Nơi nhận:"); a news article carries a dateline ("25/02/2026 16:24"); a table
starts with a row of column names ("Mốc thời gian | Mục tiêu"). These lines stay in the index (the header gives
the document its number and date, and retrieval matches them), but an answer that quotes them says nothing.

Three header lines are content: the number line ("Số 57-NQ/TW"), the place-and-date line ("Hà Nội, ngày 22
tháng 12 năm 2024") and the subject line, the trích yếu ("về phát triển kinh tế nhà nước"); `header_role`
names them so the answerer can use each for the question that asks it.
"""

from __future__ import annotations

import re

from rag.text.normalize import fold

ROLE_NUMBER = "number"
ROLE_DATE = "date"
ROLE_SUBJECT = "subject"
ROLE_TITLE = "title"

_DATELINE_RE = re.compile(
    r"^\(?(?:(?:thứ\s+\w+|chủ nhật)\s*,?\s*)?\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?"
    r"(?:\s*[-,|]?\s*\d{1,2}(?::|h|giờ\s*)\d{0,2}(?:\s*(?:phút|GMT\+?\d*|\(GMT\+?\d*\)))?)?\)?$",
    re.IGNORECASE,
)
_NUMBER_LINE_RE = re.compile(r"^Số\s*:?\s*\d", re.IGNORECASE)
_PLACE_DATE_RE = re.compile(r"ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4}", re.IGNORECASE)
_SUBJECT_RE = re.compile(r"^(?:về|v/v|thực hiện|triển khai|tiếp tục)\s", re.IGNORECASE)
# "On behalf of" lines that open a signature block ("T/M BỘ CHÍNH TRỊ"): the signer's capacity.
_ON_BEHALF_RE = re.compile(r"^(?:T/M|T/L|K/T|TM\.|TL\.|KT\.)\s", re.IGNORECASE)
# Signature block openers and the line under the signature.
_SIGNATURE_RE = re.compile(
    r"^(?:T/M|T/L|TM\.|TL\.|K/T|KT\.|Q\.|Nơi nhận\s*:?|\(?đã ký\)?|\(?ký tên(?:,? đóng dấu)?\)?)(?:\s|$)", re.IGNORECASE
)
_STARS_RE = re.compile(r"^[\s*•·\-–—_=~.]*$")
_YEAR_RE = re.compile(r"^(?:19|20)\d\d$")
_TABLE_SEP = " | "
#: A line of at most this many words that is (almost) all capitals is a banner or letterhead line.
BANNER_MAX_WORDS = 14
#: A cell of a column-name row has at most this many words.
HEADER_CELL_WORDS = 6


def is_banner(text: str) -> bool:
    """A short line in capitals ("NGHỊ QUYẾT", "BAN CHẤP HÀNH TRUNG ƯƠNG"), or a line of stars and rules."""
    line = text.strip()
    if _STARS_RE.match(line):
        return True
    letters = [c for c in line if c.isalpha()]
    if len(letters) < 2 or len(line.split()) > BANNER_MAX_WORDS:
        return False
    upper = sum(1 for c in letters if c.isupper())
    return upper / len(letters) >= 0.9


def is_dateline(text: str) -> bool:
    """A line that is only a date and time ("25/02/2026 16:24", "Thứ Tư, 25/02/2026")."""
    return bool(_DATELINE_RE.match(text.strip()))


def is_signature(text: str) -> bool:
    """A line of the signature block ("T/M BỘ CHÍNH TRỊ", "(đã ký)", "Nơi nhận:")."""
    return bool(_SIGNATURE_RE.match(text.strip()))


def is_on_behalf(text: str) -> bool:
    """A line that opens a signature block with the signer's capacity ("T/M BỘ CHÍNH TRỊ", "K/T BÍ THƯ")."""
    return bool(_ON_BEHALF_RE.match(text.strip()))


def is_table_header(text: str) -> bool:
    """A table row of column names: every cell short, no figure in it but a year ("Mốc thời gian | Mục tiêu")."""
    if _TABLE_SEP not in text:
        return False
    cells = [c.strip() for c in text.split(_TABLE_SEP)]
    for cell in cells:
        words = cell.split()
        if len(words) > HEADER_CELL_WORDS:
            return False
        if any(any(ch.isdigit() for ch in w) and not _YEAR_RE.match(w.strip("().,:")) for w in words):
            return False
    return True


def is_layout(text: str) -> bool:
    """Whether a line is layout (banner, dateline, signature, column names) and must not be quoted."""
    return is_banner(text) or is_dateline(text) or is_signature(text) or is_table_header(text)


def header_role(line: str, first_line: bool = False) -> str | None:
    """What a line of a document's header says, or None for layout.

    Args:
        line: one line of a header paragraph.
        first_line: whether it is the header's first line (a news article's headline).
    """
    text = line.strip()
    if is_layout(text):
        return None
    if _NUMBER_LINE_RE.match(text):
        return ROLE_NUMBER
    if _PLACE_DATE_RE.search(text):
        return ROLE_DATE
    if _SUBJECT_RE.match(text) or fold(text).lower().startswith(("ve ", "thuc hien ")):
        return ROLE_SUBJECT
    return ROLE_TITLE if first_line else None
