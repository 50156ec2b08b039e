"""Reading the header of a Vietnamese administrative or Party document, or the top of a news article.

A Party document opens with the issuing body (top left), the national or Party motto (top right),
"Số 57-NQ/TW", "Hà Nội, ngày 22 tháng 12 năm 2024", the document type ("NGHỊ QUYẾT"), an optional
"CỦA BỘ CHÍNH TRỊ" and the trích yếu ("về đột phá phát triển ..."). A news article opens with its
headline and a date line. `read_header` finds these in the first lines and says where the header ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from rag.text.cleanup import is_upper_line
from rag.text.doctypes import HEADER_WORDS, type_for_symbol
from rag.text.normalize import fold
from rag.types import Block, DocHeader

HEADER_SCAN_LINES = 30

_MOTTOS = (
    "ĐẢNG CỘNG SẢN VIỆT NAM",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "ĐỘC LẬP - TỰ DO - HẠNH PHÚC",
    "ĐỘC LẬP – TỰ DO – HẠNH PHÚC",
)
# Sub-units written under their parent body ("ĐẢNG ỦY CHÍNH PHỦ / VĂN PHÒNG").
_SUBUNITS = (
    "VĂN PHÒNG",
    "BAN THƯỜNG VỤ",
    "THƯỜNG TRỰC",
    "BAN CHẤP HÀNH",
    "THÀNH ỦY",
    "TỈNH ỦY",
    "THÀNH UỶ",
    "TỈNH UỶ",
)
# Proper spellings restored after lower-casing an upper-case name.
_PROPER = (
    "Ban Chấp hành Trung ương",
    "Ban Thường vụ",
    "Thành ủy",
    "Thành uỷ",
    "Tỉnh ủy",
    "Tỉnh uỷ",
    "Bộ Chính trị",
    "Ban Bí thư",
    "Trung ương",
    "Quốc hội",
    "Chính phủ",
    "Nhà nước",
    "Đảng",
    "Mặt trận Tổ quốc Việt Nam",
    "Việt Nam",
    "Hà Nội",
    "Hồ Chí Minh",
    "Đà Nẵng",
    "Hải Phòng",
    "Cần Thơ",
    "Huế",
    "Ủy ban nhân dân",
    "Hội đồng nhân dân",
)

_NUMBER_RE = re.compile(
    r"^(?:số|so)\s*[:.]?\s*(\d{1,5}[a-zA-Z]?\s*[-/]\s*[A-ZĐa-zđ]{1,8}(?:\s*[-/]\s*[A-ZĐa-zđ0-9]{1,12}){0,3})",
    re.IGNORECASE,
)
_BARE_NUMBER_RE = re.compile(r"^(\d{1,5}[a-zA-Z]?\s*[-/]\s*[A-ZĐ][A-ZĐa-zđ]{0,7}(?:\s*[-/]\s*[A-ZĐ0-9]{1,12}){1,3})$")
_PLACE_DATE_RE = re.compile(
    r"(?:^|[\s(])(?:(?P<place>[^\W\d_][^,\n]{0,40}?)\s*,\s*)?ngày\s+(?P<d>\d{1,2})\s*tháng\s*(?P<m>\d{1,2})\s*năm\s*(?P<y>\d{4})",
    re.IGNORECASE,
)
_ISO_DATE_RE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})-(?P<m>\d{2})-(?P<d>\d{2})(?!\d)")
_DMY_RE = re.compile(r"(?<![\d/])(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})\s*[/.-]\s*(?P<y>(?:19|20)\d{2})(?![\d/])")
_CRAWL_DATE_PREFIX_RE = re.compile(r"^\s*date\s+\d{4}-\d{2}-\d{2}\s*")
_ISSUER_OF_RE = re.compile(r"^(?:CỦA|của)\s+(.+)$")


# After these words comes a place name, written with capitals: "Tỉnh ủy Nghệ An", "Đảng bộ tỉnh Quảng Ninh".
_BEFORE_PLACE_RE = re.compile(
    r"^((?:ban thường vụ |ban chấp hành |văn phòng )?(?:đảng bộ |ủy ban nhân dân |uỷ ban nhân dân |hội đồng nhân dân )?"
    r"(?:tỉnh ủy|tỉnh uỷ|thành ủy|thành uỷ|huyện ủy|huyện uỷ|quận ủy|quận uỷ|thị ủy|thị uỷ"
    r"|tỉnh|thành phố|huyện|quận|thị xã)"
    r")\s+(.+)$"
)


def vn_name(upper: str) -> str:
    """Spell an upper-case Vietnamese name the usual way ("BỘ CHÍNH TRỊ" -> "Bộ Chính trị")."""
    text = " ".join(upper.split()).lower()
    place = _BEFORE_PLACE_RE.match(text)
    if place and not any(place.group(2).startswith(p.lower()) for p in _PROPER):
        text = place.group(1) + " " + " ".join(w[:1].upper() + w[1:] for w in place.group(2).split())
    for proper in _PROPER:
        text = re.sub(rf"(?<!\w){re.escape(proper.lower())}(?!\w)", proper, text)
    return text[:1].upper() + text[1:] if text else text


def _iso(y: str, m: str, d: str) -> str | None:
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


_is_upper_line = is_upper_line


def _strip_mottos(text: str) -> str:
    upper = text.upper()
    for motto in _MOTTOS:
        while motto in upper:
            i = upper.index(motto)
            text = text[:i] + " " + text[i + len(motto) :]
            upper = text.upper()
    return " ".join(text.replace("*", " ").split()).strip(" -–—|")


def match_type_line(text: str) -> str | None:
    """The document type when `text` is a type line ("NGHỊ QUYẾT", "CHƯƠNG TRÌNH HÀNH ĐỘNG ...")."""
    if not _is_upper_line(text):
        return None
    upper = " ".join(text.upper().split())
    upper_folded = fold(upper)
    for word, doc_type in HEADER_WORDS:
        if upper == word or upper.startswith(word + " ") or upper_folded == fold(word):
            return doc_type
    return None


def parse_number(number: str) -> tuple[str, list[str]]:
    """Split a số/ký hiệu into its number and symbols ("03/NQ-CP" -> ("03", ["NQ", "CP"]))."""
    parts = [p for p in re.split(r"[-/\s]+", number) if p]
    return parts[0], parts[1:]


def normalise_number(raw: str) -> str:
    """Remove spaces inside a ký hiệu ("57 - NQ/TW" -> "57-NQ/TW")."""
    return re.sub(r"\s+", "", raw)


def type_from_number(number: str) -> str | None:
    _, symbols = parse_number(number)
    if not symbols:
        return None
    return type_for_symbol(symbols[0])


@dataclass(frozen=True, slots=True)
class HeaderResult:
    """The header fields and how many leading blocks belong to the header (0 for none)."""

    header: DocHeader
    end: int


def _find_date(blocks: list[Block], limit: int) -> tuple[str | None, str | None, int]:
    """Place and date of issue from a "<place>, ngày d tháng m năm y" line; (None, None, -1) if absent."""
    for i, block in enumerate(blocks[:limit]):
        m = _PLACE_DATE_RE.search(block.text)
        if not m:
            continue
        # A date inside a trích yếu ("Nghị quyết số 57-NQ/TW ngày 22 tháng 12 năm 2024") has no place.
        place = m.group("place")
        if place is None and i > 0 and blocks[i - 1].text.rstrip().endswith(","):
            place = blocks[i - 1].text.rstrip(" ,")
        if place is None and m.start() > 2:
            continue
        issued = _iso(m.group("y"), m.group("m"), m.group("d"))
        if issued:
            clean_place = place.strip(" *_") if place else None
            if clean_place:
                # Two-column layouts put the number and the place on one line: "Số 59-NQ/TW Hà Nội".
                number_prefix = _NUMBER_RE.match(clean_place)
                if number_prefix:
                    clean_place = clean_place[number_prefix.end() :].strip(" *_,") or None
            return clean_place, issued, i
    return None, None, -1


# A dateline in a lead paragraph: "Chiều 4/3/2025, ...", "(ngày 22/12/2024)"; not "từ ngày 1/1/2026".
_DATELINE_RE = re.compile(
    r"(?<!từ )(?<!đến )(?<!trước )(?<!sau )(?:\(|\b(?:ngày|sáng|chiều|trưa|tối|hôm nay)\s+)(?:ngày\s+)?"
    r"(?P<d>\d{1,2})\s*/\s*(?P<m>\d{1,2})\s*/\s*(?P<y>(?:19|20)\d{2})(?!\d)",
    re.IGNORECASE,
)


def _dateline_date(blocks: list[Block]) -> str | None:
    """The date of a news article from a dateline in its lead paragraph, or None."""
    for block in blocks:
        m = _DATELINE_RE.search(block.text)
        if m:
            found = _iso(m.group("y"), m.group("m"), m.group("d"))
            if found:
                return found
    return None


def _find_number(blocks: list[Block], limit: int) -> tuple[str | None, int]:
    for i, block in enumerate(blocks[:limit]):
        text = block.text.strip()
        m = _NUMBER_RE.match(text)
        if m:
            return normalise_number(m.group(1)), i
        if fold(text).lower().rstrip(" :.") in ("so",) and i + 1 < len(blocks):
            nxt = blocks[i + 1].text.strip()
            m2 = _BARE_NUMBER_RE.match(nxt.split(" ")[0]) if nxt else None
            if m2:
                return normalise_number(m2.group(1)), i + 1
    return None, -1


def _issuer_from_top(lines: list[str]) -> str | None:
    """The issuing body from the upper-case lines at the top left."""
    orgs: list[str] = []
    for line in lines:
        if not _is_upper_line(line) or match_type_line(line) or _NUMBER_RE.match(line.strip(" *")):
            continue
        stripped = _strip_mottos(line)
        if stripped and any(c.isalpha() for c in stripped) and len(stripped) < 80:
            orgs.append(stripped.upper())
    if not orgs:
        return None
    last = orgs[-1]
    if len(orgs) >= 2 and any(last.startswith(s) for s in _SUBUNITS):
        parent = orgs[-2]
        if last in ("THÀNH ỦY", "TỈNH ỦY", "THÀNH UỶ", "TỈNH UỶ"):
            place = re.sub(r"^ĐẢNG BỘ\s+(THÀNH PHỐ|TỈNH|TP\.?)\s+", "", parent)
            return vn_name(f"{last} {place}")
        return vn_name(f"{last} {parent}")
    return vn_name(last)


def _official_header(
    blocks: list[Block],
    number: str | None,
    number_at: int,
    place: str | None,
    issued: str | None,
    date_at: int,
    doc_type: str | None,
    type_at: int,
) -> HeaderResult:
    """Header of a formal document: issuer, number, place/date, type and trích yếu."""
    issuer = None
    summary_lines: list[str] = []
    anchor = type_at if type_at >= 0 else max(number_at, date_at)
    end = anchor + 1
    if type_at >= 0:
        # "NGHỊ QUYẾT CỦA BỘ CHÍNH TRỊ" on one line, or "CỦA BỘ CHÍNH TRỊ" on the next.
        m_of = re.search(r"\bCỦA\s+(.+)$", blocks[type_at].text)
        if m_of:
            issuer = vn_name(m_of.group(1))
    while end < len(blocks) and end <= anchor + 8:
        block = blocks[end]
        text = block.text.strip()
        m_issuer = _ISSUER_OF_RE.match(text)
        if m_issuer and _is_upper_line(text) and not summary_lines and type_at >= 0:
            issuer = vn_name(m_issuer.group(1))
            end += 1
            continue
        if text.startswith(("Căn cứ", "Kính gửi", "Ngày ")) or len(text) > 300:
            break
        if _is_upper_line(text) and (summary_lines or type_at < 0):
            break
        if type_at < 0:
            # Documents without a type line (công văn) carry "V/v ..." as their trích yếu.
            if not text.startswith(("V/v", "v/v", "Về việc")):
                break
        elif not (
            block.style in ("heading", "bold")
            or text[:1].islower()
            or text.startswith(("Về ", "V/v", "Ban hành", "Thực hiện", "Triển khai"))
        ):
            break
        elif block.style not in ("heading", "bold") and text.endswith((".", ";")):
            # A full sentence ("Thực hiện Nghị quyết ..., Ban Thường vụ ban hành ...") opens the body.
            break
        summary_lines.append(text)
        end += 1
    end = max(end, number_at + 1, date_at + 1)
    if issuer is None:
        first_field = min(i for i in (number_at, date_at, anchor) if i >= 0)
        issuer = _issuer_from_top([b.text for b in blocks[:first_field]])
    if doc_type is None and number:
        doc_type = type_from_number(number)
    if type_at < 0 and not summary_lines:
        # The "V/v ..." line of a công văn usually sits under its number, before the date.
        for block in blocks[: end + 3]:
            if block.text.startswith(("V/v", "v/v", "Về việc")):
                summary_lines.append(block.text)
                break
    summary = " ".join(summary_lines) or None
    if summary and summary.startswith(("V/v ", "v/v ")):
        summary = summary[4:].strip()
    elif summary and summary.startswith("Về việc "):
        summary = summary[len("Về việc ") :].strip()
    return HeaderResult(
        DocHeader(issuer=issuer, number=number, place=place, issued=issued, doc_type=doc_type, summary=summary),
        end,
    )


def read_header(blocks: list[Block], title_hint: str | None = None) -> HeaderResult:
    """Read the header fields from the first blocks of a document.

    Args:
        blocks: the document's logical lines, in order.
        title_hint: a title given by the container (jsonl title, HTML <title>), used for articles.

    Returns:
        The fields found and the number of leading blocks that form the header. For an official
        document the header runs to the end of the trích yếu; for an article it is the headline
        and the date line.
    """
    limit = min(len(blocks), HEADER_SCAN_LINES)
    number, number_at = _find_number(blocks, min(limit, 15))
    place, issued, date_at = _find_date(blocks, limit)

    type_at = -1
    doc_type: str | None = None
    for i, block in enumerate(blocks[: min(limit, 21)]):
        t = match_type_line(block.text)
        if t and (i == 0 or number_at >= 0 or date_at >= 0 or block.style in ("heading", "bold")):
            type_at, doc_type = i, t
            break

    has_number_and_date = 0 <= number_at < 12 and 0 <= date_at < 14
    official = (type_at >= 0 and (number_at >= 0 or date_at >= 0)) or has_number_and_date
    if official:
        return _official_header(blocks, number, number_at, place, issued, date_at, doc_type, type_at)

    # Not a formal header: a news article or a loose text. Headline, then a date line.
    start = 0
    headline = title_hint
    first = blocks[0].text if blocks else ""
    crawl = _CRAWL_DATE_PREFIX_RE.match(first)
    article_date: str | None = None
    if crawl:
        iso = _ISO_DATE_RE.search(first)
        article_date = _iso(iso.group("y"), iso.group("m"), iso.group("d")) if iso else None
        first = first[crawl.end() :].strip()
    if not headline and first:
        headline = first
        start = 1
    elif headline and first and " ".join(first.split()).casefold() == headline.casefold():
        start = 1
    end = start
    for i, block in enumerate(blocks[start : start + 6], start=start):
        found = _DMY_RE.search(block.text) or _ISO_DATE_RE.search(block.text)
        if not found:
            continue
        found_date = _iso(found.group("y"), found.group("m"), found.group("d"))
        # Only a by-line or date line dates the article, not a sentence that mentions a date.
        if found_date is None or len(block.text) >= 80:
            continue
        article_date = article_date or found_date
        end = i + 1
        break
    if article_date is None:
        article_date = _dateline_date(blocks[start : start + 3])
    if article_date is None and issued:
        article_date = issued
    doc_type = doc_type if type_at >= 0 else None
    if doc_type is None and number:
        doc_type = type_from_number(number)
    return HeaderResult(
        DocHeader(
            number=number if number_at >= 0 and number_at < 6 else None,
            place=place,
            issued=article_date,
            doc_type=doc_type,
            headline=headline,
        ),
        end if headline else 0,
    )
