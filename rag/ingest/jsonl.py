"""JSON Lines files: one document per line, at least `title` and `text`; other fields kept as metadata.

Made for bulk loads of crawled articles, whose text is usually markdown and whose first lines carry
site boilerplate (promotion lines, navigation, copyright notices) that is removed here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from rag.errors import ParseError
from rag.ingest.common import KnownSource, Unchanged, drop_surrogates, make_raw, source_key_for
from rag.ingest.decode import decode_text
from rag.ingest.markdown import markdown_to_blocks
from rag.types import Block, RawDocument

logger = logging.getLogger(__name__)

_ID_FIELDS = ("doc_id", "id", "_id", "url")

# Lines that crawled pages carry around the article; matched against the text with markup removed.
_BOILERPLATE_RES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^mới\s*:",
        r"^>>",
        r"^(xem thêm|tham khảo thêm|đọc thêm|tin liên quan|bài liên quan)\b",
        r"^bài viết này cần thêm chú thích nguồn gốc",
        r"^(nội dung chính|mục lục|giao diện|tải về|chia sẻ|in bài|đang tải văn bản\.*)\s*:?$",
        r"thư viện pháp luật.*(quyền sở hữu|sao chép|copyright|vi phạm)",
        r"^(bản dịch này thuộc quyền sở hữu|click vào phần bôi vàng|các nội dung của vb này)",
        r"^(lưu trữ|ghi chú|ý kiến|facebook|email|in|x)$",
        r"has the copyright on this translation|is a violation against the law",
    )
]


# A JSON escape of a UTF-16 surrogate ("\\ud800"): the decoded record may hold a lone one.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


class RecordError(ParseError):
    """One line of a .jsonl file is not a usable record."""

    default_user_message = "Dòng dữ liệu không hợp lệ."


def _is_boilerplate(text: str) -> bool:
    if not any(c.isalpha() for c in text):
        return True
    return any(r.search(text) for r in _BOILERPLATE_RES)


def clean_crawled_blocks(blocks: list[Block], title: str | None) -> list[Block]:
    """Drop boilerplate lines and a leading repetition of the title."""
    kept = [b for b in blocks if not _is_boilerplate(b.text)]
    if title:
        norm = " ".join(title.split()).casefold()
        # A repeated title goes, unless it is all the record has to say.
        while len(kept) > 1 and kept[0].text.casefold() == norm and kept[1].text.casefold() == norm:
            kept.pop(0)
    return kept


def _scrub(record: object) -> object:
    """Replace lone surrogates in every string (keys included) of a decoded JSON value, without recursion."""
    root: list[object] = [record]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        value = container[key]
        if isinstance(value, str):
            container[key] = drop_surrogates(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            fixed = {drop_surrogates(k): v for k, v in value.items()}
            container[key] = fixed
            stack.extend((fixed, k) for k in fixed)
    return root[0]


def _metadata_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def parse_record(path: Path, line_no: int, line: str, known: KnownSource | None = None) -> RawDocument | Unchanged:
    """Parse one line of a .jsonl file.

    Args:
        known: tells whether a (source_key, sha256) is already stored unchanged; such a record is
            returned as `Unchanged` without the cost of converting its text.

    Raises:
        RecordError: if the line is not a JSON object with non-empty `title`/`text` strings.
    """
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, integers of over 4,300 digits, deep nesting
        raise RecordError(
            f"line {line_no}: invalid JSON: {type(exc).__name__}: {str(exc)[:200]}",
            f"Dòng {line_no}: không phải JSON hợp lệ.",
        ) from exc
    if _SURROGATE_ESCAPE_RE.search(line):
        record = _scrub(record)
    if not isinstance(record, dict):
        raise RecordError(f"line {line_no}: not an object", f"Dòng {line_no}: không phải đối tượng JSON.")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RecordError(f"line {line_no}: no text", f"Dòng {line_no}: thiếu trường 'text'.")
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise RecordError(f"line {line_no}: title not a string", f"Dòng {line_no}: 'title' phải là chuỗi.")
    record_id = next((str(record[f]) for f in _ID_FIELDS if record.get(f) not in (None, "")), f"line{line_no}")
    canonical = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
    source_key = f"{source_key_for(path)}#{record_id}"
    sha256 = hashlib.sha256(canonical).hexdigest()
    if known is not None and known(source_key, sha256):
        return Unchanged(source_key, str(path))
    metadata = {k: _metadata_value(v) for k, v in record.items() if k not in ("text", "title")}
    metadata["record"] = record_id
    title_hint = " ".join(title.split()) if title and any(c.isalpha() for c in title) else None
    blocks = clean_crawled_blocks(markdown_to_blocks(text), title_hint)
    return make_raw(
        path,
        canonical,
        "jsonl",
        blocks,
        title_hint=title_hint,
        metadata=metadata,
        source_key=source_key,
        sha256=sha256,
    )


def iter_records(
    path: Path, data: bytes, known: KnownSource | None = None, records: tuple[int, int] | None = None
) -> list[RawDocument | Unchanged | RecordError]:
    """Parse every line (or the non-empty lines start..stop-1 given as `records`); a bad line yields its
    `RecordError` instead of stopping the file."""
    text, _ = decode_text(data)
    start, stop = records if records is not None else (0, None)
    out: list[RawDocument | Unchanged | RecordError] = []
    record = -1
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record += 1
        if record < start:
            continue
        if stop is not None and record >= stop:
            break
        try:
            out.append(parse_record(path, line_no, line, known))
        except RecordError as exc:
            logger.warning("%s: %s", path, exc)
            out.append(exc)
    return out


def parse_jsonl(path: Path, data: bytes) -> list[RawDocument]:
    """Parse a .jsonl file, skipping bad lines (see `iter_records` to get their errors)."""
    return [r for r in iter_records(path, data) if isinstance(r, RawDocument)]
