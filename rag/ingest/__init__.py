"""Parsers: files to `RawDocument`s. One bad file never stops a batch: errors are values here.

Heavy parsers (PDF, DOCX, OCR) are imported only when a file of their kind is met.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from rag.config import MAX_FILE_BYTES
from rag.errors import ParseError, UnsupportedFormat
from rag.ingest.common import KnownSource, Unchanged, sha256_hex, source_key_for
from rag.types import RawDocument

logger = logging.getLogger(__name__)

Parser = Callable[[Path, bytes], list[RawDocument]]

# Extension -> "module:function"; resolved lazily so `import rag` stays light.
_PARSERS: dict[str, str] = {
    ".txt": "rag.ingest.plain:parse_txt",
    ".text": "rag.ingest.plain:parse_txt",
    ".md": "rag.ingest.markdown:parse_md",
    ".markdown": "rag.ingest.markdown:parse_md",
    ".html": "rag.ingest.html:parse_html",
    ".htm": "rag.ingest.html:parse_html",
    ".pdf": "rag.ingest.pdf:parse_pdf",
    ".docx": "rag.ingest.docx:parse_docx",
    ".jsonl": "rag.ingest.jsonl:parse_jsonl",
}


def supported_extensions() -> tuple[str, ...]:
    """File extensions that have a parser, lower case with the dot."""
    return tuple(sorted(_PARSERS))


def parser_for(path: Path) -> Parser:
    """The parser for a file, by extension.

    Raises:
        UnsupportedFormat: if no parser handles the extension.
    """
    target = _PARSERS.get(path.suffix.lower())
    if target is None:
        raise UnsupportedFormat(
            f"{path}: unsupported extension {path.suffix!r}",
            f"Định dạng '{path.suffix or '(không có đuôi)'}' không được hỗ trợ; "
            f"hỗ trợ: {', '.join(supported_extensions())}.",
        )
    module_name, func_name = target.split(":")
    parser: Parser = getattr(importlib.import_module(module_name), func_name)
    return parser


def check_size(path: Path) -> None:
    """Refuse, before reading, a file that cannot be a document: missing, empty or oversized.

    Raises:
        ParseError: with the reason in Vietnamese.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"{path}: {exc}", "Không mở được tệp.") from exc
    if size == 0:
        raise ParseError(f"{path}: empty file", "Tệp rỗng.")
    if size > MAX_FILE_BYTES:
        raise ParseError(
            f"{path}: {size} bytes exceeds {MAX_FILE_BYTES}",
            f"Tệp quá lớn ({size // (1024 * 1024)} MB; tối đa {MAX_FILE_BYTES // (1024 * 1024)} MB).",
        )


def read_source(path: Path) -> bytes:
    """Read a file's bytes, refusing what cannot be a document.

    Raises:
        ParseError: missing, unreadable, empty or oversized files.
    """
    check_size(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: {exc}", "Không đọc được tệp.") from exc


def parse_file(
    path: Path, known: KnownSource | None = None, records: tuple[int, int] | None = None
) -> list[RawDocument | Unchanged | ParseError]:
    """Parse one file into documents.

    Args:
        path: the file.
        known: optional check of (source_key, sha256) against what is stored; a source known
            unchanged is returned as `Unchanged` without being parsed.
        records: only the documents start..stop-1 of the file (a work unit of a .jsonl: the other records are
            not parsed, so the units of a large file together parse it once, not once per unit).

    Returns:
        One entry per document found; an entry is a `ParseError` for a record that could not be
        read (only multi-document formats such as .jsonl have such entries).

    Raises:
        ParseError: when the file as a whole cannot be read.
    """
    parser = parser_for(path)
    data = read_source(path)
    if path.suffix.lower() == ".jsonl":
        from rag.ingest.jsonl import iter_records

        return list(iter_records(path, data, known, records))
    if records is not None and records[0] > 0:
        return []  # a single document is the file's document 0
    if known is not None and known(source_key_for(path), sha256_hex(data)):
        return [Unchanged(source_key_for(path), str(path))]
    try:
        docs: list[RawDocument | Unchanged | ParseError] = list(parser(path, data))
    except ParseError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise ParseError(f"{path}: {type(exc).__name__}", "Tệp quá phức tạp để đọc.") from exc
    except Exception as exc:  # a third-party parser failing on a malformed file
        logger.warning("parser failed on %s: %r", path, exc)
        raise ParseError(f"{path}: {exc!r}", "Tệp bị hỏng hoặc không đọc được.") from exc
    return docs if records is None else docs[records[0] : records[1]]
