"""Errors on the wire: `{"error": {"code", "message", "type"}}` with a Vietnamese message and the right status.

Library errors keep their own `user_message`; validation errors are translated field by field; anything
unexpected becomes a 500 with a generic sentence (the details go to the server log, never to the client).
Failed requests are written to the audit log too.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from rag import InvalidRequest, MissingDependency, NotFound, ParseError, StoreError, VanKienError

logger = logging.getLogger(__name__)

_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Yêu cầu không hợp lệ."),
    401: ("unauthorized", "Cần khóa API hợp lệ để dùng dịch vụ này."),
    403: ("forbidden", "Bạn không có quyền thực hiện thao tác này."),
    404: ("not_found", "Không tìm thấy."),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ cho địa chỉ này."),
    413: ("payload_too_large", "Nội dung gửi lên quá lớn."),
    415: ("unsupported_media_type", "Kiểu nội dung không được hỗ trợ."),
    422: ("validation_error", "Dữ liệu gửi lên không hợp lệ."),
    429: ("rate_limited", "Bạn gửi quá nhiều yêu cầu; hãy thử lại sau ít phút."),
    500: ("internal_error", "Đã xảy ra lỗi nội bộ; hãy thử lại sau."),
    503: ("unavailable", "Dịch vụ chưa sẵn sàng; hãy thử lại sau."),
}


BODY_UNREADABLE = "Không đọc được nội dung gửi lên (JSON hoặc biểu mẫu không hợp lệ)."


class ApiError(HTTPException):
    """An error with a stable `code` and a Vietnamese `message` for the client.

    It is a Starlette `HTTPException`, so FastAPI passes it through untouched even when raised while the
    request body is being read (the upload size limit relies on this).
    """

    def __init__(self, status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=dict(headers) if headers else None)
        self.code = code
        self.message = message


def not_found(what: str, ident: str) -> ApiError:
    """The 404 for a missing object, also used for one the caller may not see (same words, same code)."""
    return ApiError(404, "not_found", f"Không tìm thấy {what} '{ident}'.")


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": code}}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers) if headers else None)


def library_error_status(exc: VanKienError) -> tuple[int, str]:
    """HTTP status and code for a library error."""
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, InvalidRequest | ParseError):
        return 400, "invalid_request"
    if isinstance(exc, StoreError | MissingDependency):
        return 503, "unavailable"
    return 500, "internal_error"


# -- validation errors in Vietnamese --------------------------------------------------------------------------

_LOCATION_PARTS = {"body", "query", "path", "header", "cookie"}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATION_PARTS:
        parts = parts[1:]
    return ".".join(parts) or "nội dung"


def translate(error: Mapping[str, Any]) -> str:
    """One pydantic error as a Vietnamese sentence (never quoting the rejected value)."""
    kind = str(error.get("type", ""))
    field = _field(error.get("loc", ()))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"Thiếu trường bắt buộc '{field}'."
    if kind == "json_invalid":
        return "Nội dung JSON không hợp lệ."
    if kind in {"string_too_long", "too_long"}:
        unit = "ký tự" if kind == "string_too_long" else "phần tử"
        return f"Trường '{field}' quá dài (tối đa {ctx.get('max_length')} {unit})."
    if kind in {"string_too_short", "too_short"}:
        return f"Trường '{field}' quá ngắn hoặc đang trống."
    if kind == "string_type":
        return f"Trường '{field}' phải là văn bản."
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"Trường '{field}' phải là số nguyên."
    if kind in {"float_parsing", "float_type"}:
        return f"Trường '{field}' phải là số."
    if kind in {"bool_parsing", "bool_type"}:
        return f"Trường '{field}' phải là true hoặc false."
    if kind == "greater_than_equal":
        return f"Trường '{field}' phải lớn hơn hoặc bằng {ctx.get('ge')}."
    if kind == "greater_than":
        return f"Trường '{field}' phải lớn hơn {ctx.get('gt')}."
    if kind == "less_than_equal":
        return f"Trường '{field}' phải nhỏ hơn hoặc bằng {ctx.get('le')}."
    if kind == "less_than":
        return f"Trường '{field}' phải nhỏ hơn {ctx.get('lt')}."
    if kind in {"literal_error", "enum"}:
        return f"Trường '{field}' phải là một trong: {ctx.get('expected')}."
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"Trường '{field}' phải là một đối tượng JSON."
    if kind in {"list_type", "tuple_type"}:
        return f"Trường '{field}' phải là một danh sách."
    if kind == "extra_forbidden":
        return f"Trường '{field}' không được hỗ trợ."
    if kind in {"date_from_datetime_parsing", "date_parsing", "date_type"}:
        return f"Trường '{field}' phải là ngày dạng NNNN-TT-NN."
    return f"Giá trị của trường '{field}' không hợp lệ."


# -- handlers --------------------------------------------------------------------------------------------------


#: Characters of a failed request's path kept in the audit log (the route template is kept whole).
PATH_CHARS = 200


def _audit_failure(request: Request, status: int, code: str) -> None:
    path = request.url.path
    if not (path.startswith("/api/") or path.startswith("/v1/")):
        return
    audit = getattr(request.app.state, "audit", None)
    if audit is None:
        return
    client = request.client.host if request.client else None
    # the route's template ("/api/v1/documents/{doc_id}") when one matches: short, and not the caller's bytes
    template = next((t for t in request.app.openapi().get("paths", {}) if _template_regex(t).fullmatch(path)), None)
    audit.record(
        getattr(request.state, "principal", None),
        f"{request.method} {template or path}",
        status=status,
        client=client,
        error=code,
        path=path[:PATH_CHARS],
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the app answers at the request's path, plus HEAD with GET.

    Starlette's 405 names only the methods of the first route that matched the path, so a resource with GET and
    POST routes would advertise one of them. The router itself is asked, method by method, so each route matches
    with its own pattern (`{doc_id}` takes no slash, `{paragraph_id:path}` does; the OpenAPI templates no
    longer tell them apart).
    """
    methods: set[str] = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


@functools.lru_cache(maxsize=256)
def _template_regex(template: str) -> re.Pattern[str]:
    """`/documents/{doc_id}` as a regular expression; the last parameter may hold slashes (paragraph ids do)."""
    parts = re.split(r"(\{[^}]+\})", template)
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            out.append(".+" if i == len(parts) - 2 and not parts[-1] else "[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if isinstance(exc, ApiError):
        code, message = exc.code, exc.message
    else:
        code, message = _STATUS_CODES.get(exc.status_code, ("error", "Yêu cầu không thực hiện được."))
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            message = BODY_UNREADABLE  # FastAPI's words for a body it could not decode
    if exc.status_code == 405:
        methods = allowed_methods(request)
        if methods:
            headers["Allow"] = ", ".join(methods)
    _audit_failure(request, exc.status_code, code)
    return error_response(exc.status_code, code, message, headers or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    messages = [translate(e) for e in errors] or ["Dữ liệu gửi lên không hợp lệ."]
    _audit_failure(request, 422, "validation_error")
    body = error_body("validation_error", messages[0])
    body["error"]["fields"] = [
        {"field": _field(e.get("loc", ())), "message": m} for e, m in zip(errors, messages, strict=True)
    ]
    return JSONResponse(body, status_code=422)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VanKienError)
    status, code = library_error_status(exc)
    if status >= 500:
        logger.error("library error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    _audit_failure(request, status, code)
    return error_response(status, code, exc.user_message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    _audit_failure(request, 500, "internal_error")
    code, message = _STATUS_CODES[500]
    return error_response(500, code, message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(VanKienError, _library_error)
    app.add_exception_handler(Exception, _unexpected)
