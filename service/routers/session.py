"""/api/v1/session: sign-in, who-am-I and sign-out for the chat page (`service.sessions`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from rag import Principal
from service.deps import (
    ANONYMOUS,
    AuditDep,
    ClientDep,
    StateDep,
    refuse_after_failures,
    resolve_session,
    socket_is_loopback,
)
from service.errors import ApiError
from service.keys import ApiKey, key_id
from service.schemas import ErrorOut, SessionIn, SessionOut
from service.sessions import COOKIE, CSRF_HEADER

router = APIRouter(tags=["đăng nhập"])

_CSRF_MISSING = "Yêu cầu đăng nhập phải gửi từ trang hỏi đáp của dịch vụ (thiếu tiêu đề X-Vankien-Csrf)."


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _set_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get(
    "/session",
    response_model=SessionOut,
    summary="Phiên đăng nhập hiện tại của trang hỏi đáp",
)
def who_am_i(request: Request, state: StateDep, response: Response) -> dict[str, Any]:
    """Never an error: says whether the page is signed in, and as whom, and the longest question the service takes
    (the page shows it before a question is sent)."""
    limits = {"max_question_chars": state.settings.max_question_chars}
    if state.keys.is_empty() and state.settings.is_loopback and socket_is_loopback(request.scope):
        return {"mode": "public", **_who(ANONYMOUS.name, ANONYMOUS.role, ANONYMOUS.clearance), **limits}
    token = request.cookies.get(COOKIE)
    found = resolve_session(state, token) if token else None
    if found is None:
        if token:
            response.delete_cookie(COOKIE, path="/")
        return {"mode": "none", **limits}
    principal, expires = found
    who = _who(principal.name, principal.role, principal.clearance)
    return {"mode": "session", **who, "expires_at": _iso(expires), **limits}


def _who(name: str, role: str, clearance: str) -> dict[str, str]:
    return {"name": name, "role": role, "clearance": clearance}


@router.post(
    "/session",
    response_model=SessionOut,
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    summary="Đăng nhập trang hỏi đáp bằng khóa được cấp",
)
def sign_in(
    body: SessionIn, request: Request, response: Response, state: StateDep, audit: AuditDep, client: ClientDep
) -> dict[str, Any]:
    """Opens a session and sets it as an HttpOnly, SameSite=Strict cookie; the key is not kept by the page."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise ApiError(403, "csrf", _CSRF_MISSING)
    if state.keys.is_empty():
        raise ApiError(400, "no_keys", "Dịch vụ đang mở công khai, chưa cấu hình khóa: không cần đăng nhập.")
    bucket = "auth-failures@" + (client or "?")
    refuse_after_failures(state, bucket)
    key = state.keys.verify(body.key.strip())
    if key is None:
        state.auth_failures.hit(bucket)
        raise ApiError(401, "unauthorized", "Khóa không đúng hoặc đã bị thu hồi; kiểm tra lại khóa đơn vị đã cấp.")
    assert state.sessions is not None
    token, expires = state.sessions.create(key_id(key))
    _set_cookie(response, request, token, math.ceil(state.sessions.lifetime_s))
    audit.record(_principal_of(key), "POST /api/v1/session", status=200, client=client)
    return {"mode": "session", **_who(key.name, key.role, key.clearance), "expires_at": _iso(expires)}


def _principal_of(key: ApiKey) -> Principal:
    return Principal(name=key.name, role=key.role, clearance=key.clearance, key_id=key_id(key))


@router.delete(
    "/session",
    status_code=204,
    summary="Đăng xuất trang hỏi đáp",
)
def sign_out(request: Request, state: StateDep) -> Response:
    """Ends the session (if any) and clears the cookie. Needs no sign-in: signing out always works."""
    token = request.cookies.get(COOKIE)
    if token and state.sessions is not None:
        state.sessions.delete(token)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
