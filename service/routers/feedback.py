"""POST /api/v1/feedback: a rating of an answer, kept append-only for evaluators."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from service.deps import AuditDep, CallerDep, ClientDep, StateDep
from service.schemas import ErrorOut, FeedbackCreated, FeedbackIn

router = APIRouter(tags=["đánh giá"])


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackCreated,
    responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    summary="Gửi đánh giá một câu trả lời",
)
def post_feedback(
    body: FeedbackIn, state: StateDep, caller: CallerDep, audit: AuditDep, client: ClientDep
) -> dict[str, Any]:
    feedback_id = secrets.token_hex(8)
    state.feedback.append(
        {
            "id": feedback_id,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "key": caller.name,
            "role": caller.role,
            "clearance": caller.clearance,
            **body.model_dump(),
        }
    )
    audit.record(
        caller, "POST /api/v1/feedback", status=201, client=client, feedback_id=feedback_id, rating=body.rating
    )
    return {"id": feedback_id}
