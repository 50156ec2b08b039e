"""The OpenAPI document, made exact: every status an operation can return, and the rules the routers enforce.

FastAPI's generated schema misses what the service checks beyond pydantic: a question or query must hold a letter
or a digit and stay within the configured length, dates are `YYYY-MM-DD` days, document types come from a fixed
list. It also misses the statuses every route can answer (401 without a key, 429 over the rate, 413 over the body
limit, 503 while starting) and describes 422 with FastAPI's body rather than ours. Clients and contract tests
(schemathesis, tests/reliability/test_rel_api_hostile.py) rely on the document, so it is refined here, once per
app; the runtime checks themselves are unchanged (a rule broken still answers 400 with a Vietnamese message).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rag import CLASSIFICATIONS, DOC_TYPES, MAX_QUERY_CHARS
from service.settings import Settings

#: A question or query must contain a letter or a digit (`rag.retrieve.query.check_query`, Python's `isalnum`).
#: JSON Schema patterns are ECMA-262 regular expressions, where `\w` is ASCII only: Unicode property classes say
#: "any letter or number" as `isalnum` does. A pattern matches anywhere in the string.
HAS_WORD = r"[\p{L}\p{N}]"
#: Dates are calendar days written YYYY-MM-DD (`rag.index.store.validate_filters`).
DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_VALIDATION_REF = {"$ref": "#/components/schemas/ValidationErrorOut"}
_DESCRIPTIONS = {
    "400": "Yêu cầu không hợp lệ",
    "401": "Thiếu khóa API hoặc khóa không hợp lệ",
    "413": "Nội dung gửi lên quá lớn",
    "422": "Dữ liệu không đúng lược đồ",
    "429": "Gửi quá nhiều yêu cầu",
    "500": "Lỗi nội bộ",
    "503": "Dịch vụ chưa sẵn sàng",
}
_METHODS = ("get", "post", "put", "patch", "delete")


#: How responses lead to other operations (OpenAPI links: documentation for clients, and the paths a stateful
#: contract test follows): (source path, method, status, link name, target path, method, parameters).
LINKS: tuple[tuple[str, str, str, str, str, str, dict[str, str]], ...] = (
    (
        "/api/v1/documents",
        "post",
        "202",
        "JobStatus",
        "/api/v1/jobs/{job_id}",
        "get",
        {"job_id": "$response.body#/job_id"},
    ),
    (
        "/api/v1/documents/{doc_id}",
        "get",
        "200",
        "FirstParagraph",
        "/api/v1/paragraphs/{paragraph_id}",
        "get",
        {"paragraph_id": "$response.body#/paragraph_ids/0"},
    ),
    (
        "/api/v1/search",
        "get",
        "200",
        "HitParagraph",
        "/api/v1/paragraphs/{paragraph_id}",
        "get",
        {"paragraph_id": "$response.body#/hits/0/paragraph_id"},
    ),
    (
        "/api/v1/search",
        "get",
        "200",
        "HitDocument",
        "/api/v1/documents/{doc_id}",
        "get",
        {"doc_id": "$response.body#/hits/0/doc_id"},
    ),
    (
        "/api/v1/ask",
        "post",
        "200",
        "CitedParagraph",
        "/api/v1/paragraphs/{paragraph_id}",
        "get",
        {"paragraph_id": "$response.body#/citations/0/paragraph_id"},
    ),
    (
        "/api/v1/paragraphs/{paragraph_id}",
        "get",
        "200",
        "ParagraphDocument",
        "/api/v1/documents/{doc_id}",
        "get",
        {"doc_id": "$response.body#/document/doc_id"},
    ),
    (
        "/api/v1/documents/{doc_id}",
        "delete",
        "204",
        "DeletedDocument",
        "/api/v1/documents/{doc_id}",
        "get",
        {"doc_id": "$request.path.doc_id"},
    ),
)


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for src, method, status, name, dst, dst_method, parameters in LINKS:
        response = paths.get(src, {}).get(method, {}).get("responses", {}).get(status)
        target = paths.get(dst, {}).get(dst_method, {})
        if response is None or "operationId" not in target:
            continue
        response.setdefault("links", {})[name] = {"operationId": target["operationId"], "parameters": parameters}


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def _error_response(status: str) -> dict[str, Any]:
    ref = _VALIDATION_REF if status == "422" else _ERROR_REF
    return {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": ref}}}


def _question(schema: dict[str, Any], limit: int) -> None:
    schema["maxLength"] = min(int(schema.get("maxLength", limit)), limit)
    schema["pattern"] = HAS_WORD


def _property(schema: dict[str, Any], component: str, name: str) -> dict[str, Any] | None:
    props = schema.get("components", {}).get("schemas", {}).get(component, {}).get("properties", {})
    found: dict[str, Any] | None = props.get(name)
    return found


def _nullable(inner: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [inner, {"type": "null"}]}


def refine(schema: dict[str, Any], settings: Settings, *, dense: bool = True) -> dict[str, Any]:
    """Add the service's own rules and statuses to FastAPI's generated `schema` (changed in place, returned).

    Args:
        dense: whether the open index has vectors; without them `mode=dense` is refused, so it is not offered.
    """
    limit = min(settings.max_question_chars, MAX_QUERY_CHARS)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ValidationErrorOut"] = {
        "title": "ValidationErrorOut",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            }
        },
    }
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)

    for component, props in components.items():  # the upload form: classification is one of four levels
        if component.startswith("Body_upload") and "classification" in props.get("properties", {}):
            props["properties"]["classification"]["enum"] = list(CLASSIFICATIONS)
    chat = components.get("ChatCompletionRequest", {}).get("properties")
    if chat is not None:  # an extra field the OpenAI format does not have, read by the service
        chat["filters"] = {**_nullable({"$ref": "#/components/schemas/FiltersIn"}), "default": None}
    question = _property(schema, "AskRequest", "question")
    if question is not None:
        _question(question, limit)
    filters = components.get("FiltersIn", {}).get("properties", {})
    if "types" in filters:
        filters["types"]["items"] = {"type": "string", "enum": list(DOC_TYPES)}
    for name in ("from", "to"):
        if name in filters:
            filters[name] = {**_nullable(DATE_SCHEMA), "default": None, "description": filters[name].get("description")}

    for path, method, operation in _operations(schema):
        responses = operation.setdefault("responses", {})
        for parameter in operation.get("parameters", []):
            p_schema = parameter.get("schema", {})
            if path.endswith("/search") and parameter["name"] == "q":
                _question(p_schema, limit)
            elif path.endswith("/search") and parameter["name"] == "type":
                parameter["schema"] = _nullable({"type": "array", "items": {"type": "string", "enum": list(DOC_TYPES)}})
            elif path.endswith("/search") and parameter["name"] in {"from", "to"}:
                parameter["schema"] = _nullable(DATE_SCHEMA)
            elif path.endswith("/search") and parameter["name"] == "mode" and not dense:
                p_schema["enum"] = [m for m in p_schema.get("enum", []) if m != "dense"]
        if not (path.startswith("/api/") or path.startswith("/v1/")):
            continue
        statuses = ["401", "429", "500", "503"]
        if operation.get("parameters") or method in {"post", "put", "patch"}:
            statuses.append("422")
        if method in {"post", "put", "patch"}:
            statuses += ["400", "413"]
        for status in statuses:
            responses.setdefault(status, _error_response(status))
        if "422" in responses:
            responses["422"] = _error_response("422")
    _add_links(schema)
    return schema


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the refined document at /openapi.json (built on first request, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            state = getattr(app.state, "vankien", None)
            dense = state is None or state.library.store.vectors is not None
            app.openapi_schema = refine(generated, settings, dense=dense)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
