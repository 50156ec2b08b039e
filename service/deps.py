"""Dependencies shared by the routers, as `Annotated` aliases.

`StateDep` is the running application's `ServiceState` (503 until the lifespan has opened the index);
`CallerDep` is the authenticated, rate-limited caller; `EditorDep` and `AdminDep` add a role check.
Tests replace any of the underlying functions through `app.dependency_overrides`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from rag import Library, Principal, QAPipeline
from service.audit import AuditLog
from service.errors import ApiError
from service.keys import key_id, role_rank
from service.limits import refuse_while
from service.sessions import COOKIE, CSRF_HEADER
from service.settings import Settings
from service.state import ServiceState

#: Who calls without a key, on a loopback address with no keys configured (the local demo).
ANONYMOUS = Principal(name="anonymous", role="reader", clearance="cong-khai")

_bearer = HTTPBearer(auto_error=False, description="Khóa API: Authorization: Bearer <khóa>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Khóa API (cách gửi thay thế)")


def get_state(request: Request) -> ServiceState:
    state: ServiceState | None = getattr(request.app.state, "vankien", None)
    if state is None or not state.ready:
        raise ApiError(503, "unavailable", "Dịch vụ đang khởi động hoặc đang dừng; hãy thử lại sau.")
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_library(state: StateDep) -> Library:
    return state.library


def get_audit(state: StateDep) -> AuditLog:
    return state.audit


SettingsDep = Annotated[Settings, Depends(get_settings)]
LibraryDep = Annotated[Library, Depends(get_library)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]


def resolve_principal(state: ServiceState, secret: str | None, scope: Scope | None = None) -> Principal:
    """The caller a presented key (or none) stands for.

    With no key configured, on a loopback address, everyone is `ANONYMOUS` (a presented key is ignored: none can
    be valid). Loopback means the configured host *and* the socket the request came in on (`scope["server"]`):
    started some other way (`uvicorn --factory ... --host 0.0.0.0`), the service serves no anonymous caller.
    Otherwise a valid, unrevoked key is required.

    Raises:
        ApiError: 401 without a valid key where one is required.
    """
    if state.keys.is_empty():
        if state.settings.is_loopback and (scope is None or socket_is_loopback(scope)):
            return ANONYMOUS
        # the lifespan refuses a non-loopback host without keys; keys revoked while running end up here
        raise ApiError(401, "unauthorized", "Dịch vụ chưa được cấu hình khóa API; liên hệ quản trị viên.")
    if not secret:
        raise ApiError(
            401,
            "unauthorized",
            "Cần đăng nhập: trên trang hỏi đáp, bấm 'Đăng nhập' và nhập khóa đơn vị đã cấp; công cụ gọi API "
            "gửi tiêu đề 'Authorization: Bearer <khóa>' hoặc 'X-API-Key: <khóa>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = state.keys.verify(secret.strip())
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "Khóa API không hợp lệ hoặc đã bị thu hồi.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(name=key.name, role=key.role, clearance=key.clearance, key_id=key_id(key))


def resolve_session(state: ServiceState, token: str) -> tuple[Principal, float] | None:
    """The caller a chat-page session cookie stands for, and the session's expiry; None when the session is
    unknown, expired or signed out, or its key was revoked (a revoked key ends its sessions at once)."""
    if state.sessions is None:
        return None
    found = state.sessions.lookup(token)
    if found is None:
        return None
    ident, expires = found
    key = state.keys.find(ident)
    if key is None:
        return None
    return Principal(name=key.name, role=key.role, clearance=key.clearance, key_id=ident), expires


def socket_is_loopback(scope: Scope) -> bool:
    """Whether the request arrived on a loopback socket (127.0.0.0/8, ::1) or a Unix socket."""
    server = scope.get("server")
    if not server:
        return False
    host = str(server[0])
    if host.startswith("/"):  # a Unix domain socket: local by construction
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_after_failures(state: ServiceState, bucket: str) -> None:
    """429 for an address that presented more wrong keys than `auth_failures_per_minute` (sign-in included)."""
    refuse_while(
        state.auth_failures.waiting(bucket), "too_many_failures", "Quá nhiều lần xác thực thất bại từ địa chỉ này"
    )


def _auth_failure_bucket(request: Request) -> str:
    return "auth-failures@" + (request.client.host if request.client else "?")


def presented_secret(request: Request) -> str | None:
    """The key a request presents (`Authorization: Bearer` or `X-API-Key`), if any."""
    auth = request.headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


def get_principal(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>` (`resolve_principal`), else from the
    chat page's session cookie (`service.sessions`; with a method that changes anything, only together with the
    `X-Vankien-Csrf` header).

    An address that presented a wrong key more than `auth_failures_per_minute` times gets 429 for any key before
    it is even checked, so guessing keys is slow and a flood of bad keys costs almost nothing."""
    secret = (bearer.credentials if bearer else None) or api_key
    token = request.cookies.get(COOKIE)
    if not secret and token and not state.keys.is_empty():
        found = resolve_session(state, token)
        if found is not None:
            if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get(CSRF_HEADER) != "1":
                raise ApiError(
                    403, "csrf", "Yêu cầu phải gửi từ trang hỏi đáp của dịch vụ (thiếu tiêu đề X-Vankien-Csrf)."
                )
            request.state.principal = found[0]
            return found[0]
        raise ApiError(
            401,
            "session_expired",
            "Phiên đăng nhập đã hết hạn hoặc khóa đã bị thu hồi; hãy đăng nhập lại.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    bucket = _auth_failure_bucket(request)
    if secret:
        refuse_after_failures(state, bucket)
    try:
        principal = resolve_principal(state, secret, request.scope)
    except ApiError:
        if secret:  # a wrong key is a guess; no key at all (a page before sign-in) is not
            state.auth_failures.hit(bucket)
        raise
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_caller(request: Request, state: StateDep, principal: PrincipalDep) -> Principal:
    """The authenticated caller, within their request rate (per key; per address for anonymous callers)."""
    if principal is ANONYMOUS:
        bucket = "anonymous@" + (request.client.host if request.client else "?")
    else:
        bucket = "key:" + principal.name
    state.limiter.check(bucket)
    return principal


CallerDep = Annotated[Principal, Depends(get_caller)]


def require_editor(caller: CallerDep) -> Principal:
    if role_rank(caller.role) < role_rank("editor"):
        raise ApiError(403, "forbidden", "Chỉ biên tập viên hoặc quản trị viên mới được tải tài liệu lên.")
    return caller


def require_admin(caller: CallerDep) -> Principal:
    if role_rank(caller.role) < role_rank("admin"):
        raise ApiError(403, "forbidden", "Chỉ quản trị viên mới được làm việc này.")
    return caller


EditorDep = Annotated[Principal, Depends(require_editor)]
AdminDep = Annotated[Principal, Depends(require_admin)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


ClientDep = Annotated[str | None, Depends(client_address)]


#: Returns the pipeline for a given k (None: the default one).
PipelineFactory = Callable[[int | None], QAPipeline]


def get_pipelines(state: StateDep) -> PipelineFactory:
    return state.pipeline


PipelinesDep = Annotated[PipelineFactory, Depends(get_pipelines)]
