"""Exceptions raised by the library.

Each carries an English message for logs and `user_message`, the Vietnamese sentence shown to the
person at the chat page, the API client or the command line. Catch `VanKienError` at the edges.
"""

from __future__ import annotations

from pathlib import Path


class VanKienError(Exception):
    """Base class: every error the library raises on purpose.

    Args:
        message: English, for logs and developers.
        user_message: Vietnamese, for the person using the product. Defaults to a generic sentence.
    """

    default_user_message = "Đã xảy ra lỗi khi xử lý yêu cầu."

    def __init__(self, message: str, user_message: str | None = None) -> None:
        super().__init__(message)
        self.user_message = user_message or self.default_user_message


class ParseError(VanKienError):
    """A file could not be read as a document (corrupt, encrypted, empty, unsupported)."""

    default_user_message = "Không đọc được tệp."


class UnsupportedFormat(ParseError):
    """No parser handles the file's extension."""

    default_user_message = "Định dạng tệp không được hỗ trợ."


class StoreError(VanKienError):
    """The index directory is missing, corrupt, locked, or built differently than asked."""

    default_user_message = "Chỉ mục không dùng được."


class IndexMismatch(StoreError):
    """The index was built differently than asked (other lexical parameters, other embedder): rebuild it into a
    new directory, or ask for what it was built with."""

    default_user_message = "Chỉ mục được xây với cấu hình khác; hãy dùng đúng cấu hình hoặc xây lại chỉ mục."


class EmbedderMismatch(IndexMismatch):
    """The index's vectors were made by another embedder (name, version or dimension) than the one asked for.

    Attributes:
        built_with: the embedder name recorded in the index.
        asked: the embedder name in use.
    """

    def __init__(self, message: str, user_message: str | None = None, *, built_with: str = "", asked: str = "") -> None:
        super().__init__(message, user_message)
        self.built_with = built_with
        self.asked = asked


class NotFound(VanKienError):
    """A document or paragraph does not exist (or the caller may not see it)."""

    default_user_message = "Không tìm thấy."


class InvalidRequest(VanKienError):
    """A query, filter or parameter is not acceptable."""

    default_user_message = "Yêu cầu không hợp lệ."


class InputFileError(InvalidRequest):
    """An input file (configuration, data set, result) is missing or malformed; names the file, line and field.

    Args:
        reason: English description of the problem, for logs.
        path: the file at fault.
        line: 1-based line number, when the problem sits on one line.
        field: the field (JSON key, TSV column, TOML key) at fault.
        user_reason: the problem in Vietnamese, shown to the user.
    """

    default_user_message = "Tệp đầu vào không hợp lệ."

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path,
        line: int | None = None,
        field: str | None = None,
        user_reason: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field {field!r}:" if field else ""
        # "<...>" names a source that is not a file (flags and settings): no "Tệp" before it.
        source = self.path[1:-1].capitalize() if self.path.startswith("<") else f"Tệp {self.path}"
        where_vi = source + (f", dòng {line}" if line is not None else "")
        what_vi = f", trường «{field}»" if field else ""
        super().__init__(f"{where}:{what} {reason}", f"{where_vi}{what_vi}: {user_reason or reason}")


class ConfigError(InputFileError):
    """A pipeline configuration (TOML file, flags, settings) is missing, malformed, or has unknown keys or bad
    values."""

    default_user_message = "Tệp cấu hình không hợp lệ."


class MissingDependency(VanKienError):
    """An optional package (OCR, sentence-transformers, LLM client) is needed but not installed."""

    default_user_message = "Thiếu thành phần tùy chọn cần cho chức năng này."
