"""Checking queries and reading the document numbers they name ("NQ 57", "nghị quyết số 57", "57-NQ/TW")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag.errors import InvalidRequest
from rag.text.doctypes import QUERY_NAMES
from rag.text.normalize import clean, fold

#: Longest query accepted (characters). Longer texts are documents, not questions.
MAX_QUERY_CHARS = 2000
#: Largest k accepted: nobody reads more hits, and a huge k would only cost time.
MAX_K = 200

# Names of document types as typed in questions (folded) -> the symbol of their ký hiệu (folded, lower).
_TYPE_SYMBOLS: dict[str, str] = dict(QUERY_NAMES)
_NAMED_RE = re.compile(
    r"\b(" + "|".join(re.escape(name) for name, _ in QUERY_NAMES) + r")\s*(?:so\s*)?(\d{1,5})(?![\d/-])"
)
_NUMBER_RE = re.compile(r"\b(\d{1,5})\s*[-/]\s*([a-z]{1,6})(?:\s*[-/]\s*[a-z0-9]{1,12})?\b")


@dataclass(frozen=True, slots=True)
class DocRef:
    """A document named in a query: its number and, when said, the symbol of its type ("nq")."""

    number: int
    symbol: str | None


def check_query(query: str) -> str:
    """Return the cleaned query, or raise `InvalidRequest` (empty, whitespace-only, too long)."""
    if not isinstance(query, str):
        raise InvalidRequest("query is not a string", "Câu hỏi phải là văn bản.")
    text = " ".join(clean(query).split())
    if not text:
        raise InvalidRequest("empty query", "Câu hỏi đang trống; hãy nhập nội dung cần tìm.")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidRequest(
            f"query of {len(text)} characters", f"Câu hỏi quá dài ({len(text)} ký tự; tối đa {MAX_QUERY_CHARS})."
        )
    if not any(c.isalnum() for c in text):
        raise InvalidRequest("query without letters or digits", "Câu hỏi cần có chữ hoặc số.")
    return text


def check_k(k: int) -> int:
    """Return k, or raise `InvalidRequest` unless 1 <= k <= MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > MAX_K:
        raise InvalidRequest(f"k={k!r} out of range", f"Số kết quả k phải từ 1 đến {MAX_K}.")
    return k


# "Kế hoạch thực hiện Nghị quyết 57 của Tỉnh ủy Nghệ An", "chương trình hành động triển khai Nghị quyết 72": the
# query names the plan that carries a resolution out, whose title repeats the resolution's number; the resolution
# itself is not the document asked about (folded text just before the mention).
_IMPLEMENTING_RE = re.compile(
    r"\b(?:ke hoach|chuong trinh)(?: hanh dong)?(?: (?:so )?\d[\w/-]*)?(?: cua [^,.;:?!]{1,60}?)?"
    r" (?:thuc hien|trien khai|quan triet)\s*(?:(?:nghi quyet|ket luan|chi thi|nq|kl|ct)\s*(?:so\s*)?)?$"
)


def doc_refs(query: str) -> list[DocRef]:
    """Documents a query names by number, full ký hiệu first, in order of mention (without repeats)."""
    return _unique([ref for _, ref, _ in _mentions(query)])


def asked_refs(query: str) -> list[DocRef]:
    """The documents a query asks about: those it names (`doc_refs`) except a resolution named only as what a
    plan carries out ("kế hoạch thực hiện Nghị quyết 57" asks about the plan, whose title repeats the number)."""
    mentions = _mentions(query)
    asked = {ref for _, ref, carried_out in mentions if not carried_out}
    carried = {ref for _, ref, carried_out in mentions if carried_out}
    return _unique([ref for _, ref, _ in mentions if ref in asked or ref not in carried])


def _mentions(query: str) -> list[tuple[int, DocRef, bool]]:
    """(offset, reference, named only as what a plan carries out) of each mention: full ký hiệu ("31-NQ/TW")
    first, then type and number ("Chỉ thị 08"), each in order of mention."""
    folded = fold(query).lower()
    found = [(m.start(), DocRef(int(m.group(1)), m.group(2))) for m in _NUMBER_RE.finditer(folded)]
    found += [(m.start(), DocRef(int(m.group(2)), _TYPE_SYMBOLS[m.group(1)])) for m in _NAMED_RE.finditer(folded)]
    return [(start, ref, bool(_IMPLEMENTING_RE.search(folded[:start]))) for start, ref in found]


def _unique(refs: list[DocRef]) -> list[DocRef]:
    unique: list[DocRef] = []
    for ref in refs:
        if ref not in unique and not any(u.number == ref.number and u.symbol == ref.symbol for u in unique):
            unique.append(ref)
    return unique


def number_key(number: str) -> tuple[int, str] | None:
    """(number, symbol) of a document's ký hiệu ("57-NQ/TW" -> (57, "nq")), or None when unreadable."""
    m = re.match(r"\s*(\d{1,5})\s*[-/]\s*([A-Za-zĐđ]{1,6})", number)
    if not m:
        return None
    return int(m.group(1)), fold(m.group(2)).lower()


def matches(ref: DocRef, key: tuple[int, str]) -> bool:
    """Whether a document with ký hiệu `key` is the one `ref` names."""
    number, symbol = key
    if number != ref.number:
        return False
    if ref.symbol is None:
        return True
    # Hà Nội numbers its chương trình "CTr" but people write "CT" too.
    same = {ref.symbol} | ({"ct", "ctr"} if ref.symbol in ("ct", "ctr") else set())
    return symbol in same


def referenced_docs(query: str, numbered: Iterable[tuple[str, str]]) -> list[str]:
    """Ids of the documents among `numbered` ((doc_id, ký hiệu) pairs) that the query asks about (`asked_refs`)."""
    refs = asked_refs(query)
    if not refs:
        return []
    out: list[str] = []
    for doc_id, number in numbered:
        key = number_key(number)
        if key is not None and any(matches(r, key) for r in refs):
            out.append(doc_id)
    return out
