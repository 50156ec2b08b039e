"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.deps import presented_secret, resolve_principal
from service.errors import ApiError, error_body
from service.schemas import ErrorOut, Health, Ready
from service.state import ServiceState

router = APIRouter(tags=["sức khỏe dịch vụ"])


@router.get("/healthz", response_model=Health, summary="Tiến trình còn sống")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    response_model_exclude_none=True,
    responses={503: {"model": ErrorOut}},
    summary="Chỉ mục đã mở",
)
def readyz(request: Request) -> Any:
    """Ready or not, for anyone; the counts only for a caller the service knows (a valid key, or the local demo),
    and only of what that caller may see."""
    state: ServiceState | None = getattr(request.app.state, "vankien", None)
    if state is None or not state.ready:
        body = error_body("unavailable", "Dịch vụ chưa sẵn sàng: chỉ mục chưa được mở.")
        body["status"] = "not_ready"
        return JSONResponse(body, status_code=503)
    try:
        principal = resolve_principal(state, presented_secret(request), request.scope)
    except ApiError:
        return {"status": "ready"}
    documents, pending = state.library.store.visible_counts(principal)
    return {
        "status": "ready",
        "documents": documents,
        "pending_vectors": pending,
        "vector_error": state.library.store.vector_error,
    }
