"""Ratings of answers (`feedback.jsonl`, append-only) and the reviews evaluators make of them.

A review is appended to `feedback-reviews.jsonl` beside the log (the latest review of a rating wins), so the
ratings themselves are never rewritten. A reviewed rating with the answer it should have had (or "should have
refused") becomes a question of an eval QA file (`docs/DESIGN` format: {id, question, answers[], answerable}), so
a complaint turns into a regression case for `vankien eval qa`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag import CLASSIFICATIONS
from service.audit import JsonLines

REVIEWS_FILE = "feedback-reviews.jsonl"


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSON-lines file, oldest first, and how many lines could not be read."""
    records: list[dict[str, Any]] = []
    bad = 0
    if not path.is_file():
        return records, bad
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
    return records, bad


def visible_to(record: dict[str, Any], clearance: str) -> bool:
    """Whether a rating may be shown to a reviewer with `clearance`: the rater's own clearance must not be above
    it (the rated answer and comment may hold anything the rater could see)."""
    rater = record.get("clearance")
    if rater not in CLASSIFICATIONS:
        rater = CLASSIFICATIONS[-1]  # unknown: treat as the most restricted
    return CLASSIFICATIONS.index(rater) <= CLASSIFICATIONS.index(clearance)


class Reviews:
    """The review log beside a feedback log."""

    def __init__(self, feedback_path: Path) -> None:
        self.path = feedback_path.with_name(REVIEWS_FILE)
        self._log = JsonLines(self.path)

    def add(
        self, feedback_id: str, reviewer: str, *, expected: str, answerable: bool, note: str, reviewed: bool = True
    ) -> dict[str, Any]:
        review = {
            "feedback_id": feedback_id,
            "reviewed": reviewed,
            "reviewer": reviewer,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "expected": expected,
            "answerable": answerable,
            "note": note,
        }
        self._log.append(review)
        return review

    def latest(self) -> dict[str, dict[str, Any]]:
        """The latest review of each rating, by feedback id."""
        records, _ = read_jsonl(self.path)
        return {str(r.get("feedback_id")): r for r in records}


def qa_items(records: Iterable[dict[str, Any]], reviews: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Reviewed ratings as eval QA questions: those with the answer they should have had, or marked as questions
    the documents cannot answer (the system should have refused)."""
    items = []
    for record in records:
        review = reviews.get(str(record.get("id")))
        if not review or not review.get("reviewed"):
            continue
        expected = str(review.get("expected") or "").strip()
        answerable = bool(review.get("answerable", True))
        if answerable and not expected:
            continue  # a reviewed complaint without the right answer cannot be scored
        item: dict[str, Any] = {
            "id": f"fb-{record.get('id')}",
            "question": record.get("question", ""),
            "answers": [expected] if answerable else [],
            "answerable": answerable,
            "tags": ["feedback", str(record.get("rating", ""))],
            "rated_answer": record.get("answer", ""),
        }
        if record.get("comment"):
            item["comment"] = record["comment"]
        items.append(item)
    return items
