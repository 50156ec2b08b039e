"""Exceptions raised by the library.

Each carries an English message for logs and `user_message`, the Vietnamese sentence shown to the
person at the chat page, the API client or the command line. Catch `VanKienError` at the edges.
"""

from __future__ import annotations


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


class NotFound(VanKienError):
    """A document or paragraph does not exist (or the caller may not see it)."""

    default_user_message = "Không tìm thấy."


class InvalidRequest(VanKienError):
    """A query, filter or parameter is not acceptable."""

    default_user_message = "Yêu cầu không hợp lệ."


class MissingDependency(VanKienError):
    """An optional package (OCR, sentence-transformers, LLM client) is needed but not installed."""

    default_user_message = "Thiếu thành phần tùy chọn cần cho chức năng này."
