"""The authorization matrix: every endpoint x caller (anonymous, bad key, anonymous local demo, each role at each
clearance) x document classification.

Restricted documents carry canary strings. For every case: the status is exactly the expected one (never an
unauthorized 2xx), no canary above the caller's clearance appears in the response body, in any streamed event,
or in the audit lines the request wrote, and (positive control) a caller cleared for a document does see its
canary where the endpoint shows text, so the absence of leaks is not the absence of results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.types import CLASSIFICATIONS
from service.app import create_app
from service.keys import ROLES
from service.state import ServiceState
from tests.service.conftest import (
    CANARIES,
    DOC_IDS,
    NUMBERS,
    LocalClient,
    add_key,
    bearer,
    build_index,
    forbidden_canaries,
    question_for,
    resolution,
    settings_for,
    wait_job,
)

pytestmark = pytest.mark.slow

JOB_OWNER = "editor-toi-mat"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: not authenticated (expects 401 everywhere)
    clearance: str | None
    headers: dict[str, str]
    local: bool = False  # the anonymous demo app (no keys, loopback)


@dataclass
class World:
    keyed: TestClient
    local: TestClient
    callers: dict[str, Caller]
    jobs: dict[str, str]  # classification -> job id (uploaded by JOB_OWNER)
    audit_paths: dict[bool, Path]
    sources: Path

    def client(self, caller: Caller) -> TestClient:
        return self.local if caller.local else self.keyed

    def state(self) -> ServiceState:
        state: ServiceState = self.keyed.app.state.vankien  # type: ignore[attr-defined]
        return state


CALLER_NAMES = ["anonymous", "bad-key", "anonymous-local"] + [f"{r}-{c}" for r in ROLES for c in CLASSIFICATIONS]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("matrix")
    index = build_index(root)
    callers = {
        "anonymous": Caller("anonymous", None, None, {}),
        "bad-key": Caller("bad-key", None, None, bearer("vk_not-a-real-key")),
        "anonymous-local": Caller("anonymous-local", "reader", "cong-khai", {}, local=True),
    }
    for role in ROLES:
        for clearance in CLASSIFICATIONS:
            name = f"{role}-{clearance}"
            secret = add_key(index, role, clearance, name)
            # half of the callers send X-API-Key instead of a bearer token
            headers = bearer(secret) if clearance in {"cong-khai", "mat"} else {"X-API-Key": secret}
            callers[name] = Caller(name, role, clearance, headers)
    keyed_settings = settings_for(index)
    local_settings = settings_for(
        index, keys_file=root / "no-keys" / "keys.json", audit_log=root / "local-audit.jsonl", uploads_dir=root / "up2"
    )
    sources = root / "extra"
    sources.mkdir()
    with (
        LocalClient(create_app(keyed_settings)) as keyed,
        LocalClient(create_app(local_settings)) as local,
    ):
        owner = callers[JOB_OWNER].headers
        jobs = {}
        for i, classification in enumerate(CLASSIFICATIONS):
            content = resolution(70 + i, 10 + i, classification, topic="kho dữ liệu cán bộ").encode("utf-8")
            r = keyed.post(
                "/api/v1/documents",
                files={"file": (f"nq{70 + i}.txt", content, "text/plain")},
                data={"classification": classification},
                headers=owner,
            )
            assert r.status_code == 202, r.text
            jobs[classification] = r.json()["job_id"]
            assert wait_job(keyed, jobs[classification], owner)["status"] == "done"
        yield World(
            keyed, local, callers, jobs, {False: keyed_settings.audit_path, True: local_settings.audit_path}, sources
        )


# -- the endpoints, each a request for one document classification ---------------------------------------------------

Request = Callable[[World, TestClient, Caller, str], httpx.Response]


def _ask_body(classification: str) -> dict[str, Any]:
    return {"question": question_for(classification)}


def _search(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get(
        "/api/v1/search", params={"q": f"kho lưu trữ văn kiện số nghị quyết {NUMBERS[cls]}"}, headers=who.headers
    )


def _search_doc(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    params = {"q": "kho lưu trữ văn kiện số mục tiêu kinh phí", "doc": DOC_IDS[cls]}
    return c.get("/api/v1/search", params=params, headers=who.headers)


def _search_canary(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    # the canary's own words, without writing the canary (the query is echoed back)
    words = CANARIES.get(cls, "CANARY-CONG-0000").replace("-", " ").lower()
    return c.get("/api/v1/search", params={"q": words, "mode": "lexical"}, headers=who.headers)


def _ask(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.post("/api/v1/ask", json=_ask_body(cls), headers=who.headers)


def _ask_filtered(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    body = {"question": "Kinh phí cho kho lưu trữ văn kiện số là bao nhiêu?", "filters": {"doc_ids": [DOC_IDS[cls]]}}
    return c.post("/api/v1/ask", json=body, headers=who.headers)


def _ask_followup(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    # a follow-up whose history names the restricted document: the rewrite must not open it up
    history = [
        {"question": question_for(cls), "citations": [{"doc_id": DOC_IDS[cls], "number": f"{NUMBERS[cls]}-NQ/TW"}]}
    ]
    body = {"question": "Kinh phí là bao nhiêu?", "history": history}
    return c.post("/api/v1/ask", json=body, headers=who.headers)


def _ask_stream(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.post("/api/v1/ask/stream", json=_ask_body(cls), headers=who.headers)


def _chat(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    body = {"model": "vankien", "messages": [{"role": "user", "content": question_for(cls)}]}
    return c.post("/v1/chat/completions", json=body, headers=who.headers)


def _chat_stream(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    body = {"model": "vankien", "messages": [{"role": "user", "content": question_for(cls)}], "stream": True}
    return c.post("/v1/chat/completions", json=body, headers=who.headers)


def _models(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get("/v1/models", headers=who.headers)


def _documents(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get("/api/v1/documents", headers=who.headers)


def _document(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get(f"/api/v1/documents/{DOC_IDS[cls]}", headers=who.headers)


def _paragraph(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    # p0005 is "1. Đến năm 2030 ..." (carries the canary); neighbours cover the rest of the document
    return c.get(f"/api/v1/paragraphs/{DOC_IDS[cls]}/p0005", params={"before": 10, "after": 10}, headers=who.headers)


def _document_text(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get(f"/api/v1/documents/{DOC_IDS[cls]}/paragraphs", headers=who.headers)


def _export(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    turn = {"question": question_for(cls), "answer": "Mục tiêu [1]", "citations": [
        {"marker": 1, "paragraph_id": f"{DOC_IDS[cls]}/p0005"}]}  # fmt: skip
    return c.post("/api/v1/export", json={"format": "docx", "turns": [turn]}, headers=who.headers)


def _keys(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get("/api/v1/keys", headers=who.headers)


def _feedback_review(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get("/api/v1/feedback", headers=who.headers)


def _upload(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    content = resolution(80 + CLASSIFICATIONS.index(cls), 20, cls, topic="kho tư liệu ảnh").encode("utf-8")
    r = c.post(
        "/api/v1/documents",
        files={"file": ("../../tai-len.txt", content, "text/plain")},
        data={"classification": cls},
        headers=who.headers,
    )
    if r.status_code == 202:  # let the ingestion finish before the next case
        wait_job(c, r.json()["job_id"], who.headers)
    return r


def _delete(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    number = 90 + CLASSIFICATIONS.index(cls)
    source = w.sources / f"xoa-{cls}.txt"
    source.write_text(resolution(number, 25, cls, topic="kho hồ sơ tạm"), encoding="utf-8")
    state = w.state()
    with state.gate.write():
        result = state.library.ingest([source], cls).results[0]
    assert result.doc_id is not None and result.status in {"ok", "unchanged"}
    return c.delete(f"/api/v1/documents/{result.doc_id}", headers=who.headers)


def _job(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    return c.get(f"/api/v1/jobs/{w.jobs[cls]}", headers=who.headers)


def _feedback(w: World, c: TestClient, who: Caller, cls: str) -> httpx.Response:
    body = {"question": question_for(cls), "answer": "…", "rating": "up", "paragraph_ids": [f"{DOC_IDS[cls]}/p0005"]}
    return c.post("/api/v1/feedback", json=body, headers=who.headers)


ENDPOINTS: dict[str, Request] = {
    "search": _search,
    "search_doc_filter": _search_doc,
    "search_canary_words": _search_canary,
    "ask": _ask,
    "ask_doc_filter": _ask_filtered,
    "ask_followup": _ask_followup,
    "ask_stream": _ask_stream,
    "chat_completions": _chat,
    "chat_completions_stream": _chat_stream,
    "models": _models,
    "documents_list": _documents,
    "document_get": _document,
    "paragraph_get": _paragraph,
    "document_text": _document_text,
    "export": _export,
    "keys_list": _keys,
    "feedback_review": _feedback_review,
    "upload": _upload,
    "delete": _delete,
    "job_get": _job,
    "feedback": _feedback,
}
#: Endpoints that show document text: a cleared caller must see the canary of the document asked about.
SHOWS_TEXT = {"search", "search_doc_filter", "ask", "ask_doc_filter", "ask_stream", "chat_completions", "chat_completions_stream", "document_get", "paragraph_get", "document_text"}  # fmt: skip


def _visible(who: Caller, cls: str) -> bool:
    assert who.clearance is not None
    return CLASSIFICATIONS.index(cls) <= CLASSIFICATIONS.index(who.clearance)


def expected_status(endpoint: str, who: Caller, cls: str) -> int:
    if who.role is None:
        return 401
    visible = _visible(who, cls)
    if endpoint in {"document_get", "paragraph_get", "document_text", "export"}:
        return 200 if visible else 404
    if endpoint == "upload":
        if who.role == "reader":
            return 403
        return 202 if visible else 403
    if endpoint == "delete":
        if who.role != "admin":
            return 403
        return 204 if visible else 404
    if endpoint == "job_get":
        if who.role == "reader":
            return 403
        if who.role == "admin":
            return 200 if visible else 404
        return 200 if who.name == JOB_OWNER else 404
    if endpoint == "feedback":
        return 201
    if endpoint in {"keys_list", "feedback_review"}:
        return 200 if who.role == "admin" else 403
    return 200


def _audit_size(w: World, who: Caller) -> int:
    path = w.audit_paths[who.local]
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize("cls", CLASSIFICATIONS)
@pytest.mark.parametrize("caller_name", CALLER_NAMES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_authorization_matrix(world: World, endpoint: str, caller_name: str, cls: str) -> None:
    who = world.callers[caller_name]
    client = world.client(who)
    audit_path = world.audit_paths[who.local]
    before = _audit_size(world, who)

    r = ENDPOINTS[endpoint](world, client, who, cls)

    want = expected_status(endpoint, who, cls)
    assert r.status_code == want, f"{endpoint} as {caller_name} on {cls}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        error = r.json()["error"]
        assert error["message"] and error["code"]
        assert "Traceback" not in r.text
    body = r.text
    with audit_path.open("rb") as fh:
        fh.seek(before)
        written = fh.read().decode("utf-8")
    assert written, "every request leaves an audit line"
    for canary in forbidden_canaries(who.clearance):
        assert canary not in body, f"{canary} leaked to {caller_name} via {endpoint}"
        assert canary not in written, f"{canary} leaked into the audit log via {endpoint}"
    if endpoint in SHOWS_TEXT and cls in CANARIES and who.role is not None and _visible(who, cls):
        assert CANARIES[cls] in body, f"{caller_name} should see {cls} text via {endpoint}"
    if endpoint in {"ask_stream", "chat_completions_stream"} and r.status_code == 200:
        assert body.rstrip().endswith("data: {}") or body.rstrip().endswith("data: [DONE]")


def test_lists_show_exactly_the_visible_documents(world: World) -> None:
    for name, who in world.callers.items():
        r = world.client(who).get("/api/v1/documents", headers=who.headers)
        if who.role is None:
            assert r.status_code == 401
            continue
        seen = {d["classification"] for d in r.json()["documents"]}
        assert seen == {c for c in CLASSIFICATIONS if _visible(who, c)}, name


def test_streams_carry_no_restricted_event(world: World) -> None:
    """Event by event (not only the whole body): no delta, answer or error event holds a restricted canary."""
    who = world.callers["reader-noi-bo"]
    for cls in CLASSIFICATIONS:
        r = world.keyed.post(
            "/api/v1/ask/stream", json={"question": f"mục tiêu {CANARIES.get(cls, '')}"}, headers=who.headers
        )
        for line in r.text.splitlines():
            if line.startswith("data:"):
                payload = json.loads(line[5:])
                text = json.dumps(payload, ensure_ascii=False)
                for canary in forbidden_canaries("noi-bo"):
                    assert canary not in text.replace(f"mục tiêu {canary}", "")  # the question itself is echoed
