"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.errors import error_body
from service.schemas import ErrorOut, Health, Ready
from service.state import ServiceState

router = APIRouter(tags=["sức khỏe dịch vụ"])


@router.get("/healthz", response_model=Health, summary="Tiến trình còn sống")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": ErrorOut}}, summary="Chỉ mục đã mở")
def readyz(request: Request) -> Any:
    state: ServiceState | None = getattr(request.app.state, "vankien", None)
    if state is None or not state.ready:
        body = error_body("unavailable", "Dịch vụ chưa sẵn sàng: chỉ mục chưa được mở.")
        body["status"] = "not_ready"
        return JSONResponse(body, status_code=503)
    store = state.library.store
    return {
        "status": "ready",
        "documents": state.library.catalog.counts()["documents"],
        "pending_vectors": store.pending_vectors(),
        "vector_error": store.vector_error,
    }
