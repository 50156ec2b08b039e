"""Every endpoint through real HTTP (TestClient): shapes of the contract, errors in Vietnamese, the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag import StreamEvent
from rag.errors import InvalidRequest
from service.app import create_app
from service.deps import get_pipelines
from tests.service.conftest import (
    DOC_IDS,
    LocalClient,
    add_key,
    audit_lines,
    bearer,
    question_for,
    settings_for,
    sse_events,
)

SEARCH_HIT_FIELDS = {
    "rank",
    "score",
    "doc_id",
    "paragraph_id",
    "title",
    "section",
    "text",
    "number",
    "issued",
    "type",
    "page",
}
CITATION_FIELDS = {
    "marker",
    "doc_id",
    "paragraph_id",
    "title",
    "number",
    "issued",
    "section",
    "quote",
    "text",
    "quote_start",
    "page",
    "type",
    "issuer",
}
DOC_FIELDS = {"doc_id", "title", "number", "type", "issuer", "issued", "classification", "paragraphs"}
PARAGRAPH_FIELDS = {"paragraph_id", "doc_id", "section", "page", "kind", "text", "start", "end"}


@pytest.fixture()
def client(index_dir: Path) -> Iterator[TestClient]:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        yield c


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    # the local demo's anonymous caller: counts of the one public document only (docs/security.md, side channels)
    assert r.json() == {"status": "ready", "documents": 1, "pending_vectors": 0}


def test_readyz_is_503_before_the_index_is_open(index_dir: Path) -> None:
    app = create_app(settings_for(index_dir))
    c = LocalClient(app)  # not entered: the lifespan has not run
    r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready"
    assert c.get("/healthz").status_code == 200
    r = c.get("/api/v1/documents")
    assert r.status_code == 503 and "khởi động" in r.json()["error"]["message"]


def test_search_shape_and_filters(client: TestClient) -> None:
    r = client.get("/api/v1/search", params={"q": "kho lưu trữ văn kiện số", "k": 3})
    assert r.status_code == 200
    data = r.json()
    assert data["query"] == "kho lưu trữ văn kiện số"
    assert 1 <= len(data["hits"]) <= 3
    assert set(data["hits"][0]) >= SEARCH_HIT_FIELDS
    assert [h["rank"] for h in data["hits"]] == list(range(1, len(data["hits"]) + 1))
    # anonymous local callers see public documents only
    assert {h["doc_id"] for h in data["hits"]} == {DOC_IDS["cong-khai"]}
    r = client.get(
        "/api/v1/search",
        params=[
            ("q", "kinh phí"),
            ("type", "nghị quyết"),
            ("from", "2025-01-01"),
            ("to", "2025-12-31"),
            ("doc", DOC_IDS["cong-khai"]),
        ],
    )
    assert r.status_code == 200 and r.json()["hits"]
    r = client.get("/api/v1/search", params={"q": "kinh phí", "type": "không có loại này"})
    assert r.status_code == 400
    assert "Loại văn bản" in r.json()["error"]["message"]
    r = client.get("/api/v1/search", params={"q": "kinh phí", "from": "2025-13-45"})
    assert r.status_code == 400 and "NNNN-TT-NN" in r.json()["error"]["message"]


def test_ask_shape(client: TestClient) -> None:
    r = client.post("/api/v1/ask", json={"question": question_for("cong-khai")})
    assert r.status_code == 200
    data = r.json()
    assert set(data) >= {"question", "answer", "abstained", "citations", "rewritten_question", "nearest"}
    assert data["abstained"] is False
    assert "500 máy chủ" in data["answer"]
    assert set(data["citations"][0]) >= CITATION_FIELDS
    assert data["citations"][0]["doc_id"] == DOC_IDS["cong-khai"]
    assert data["citations"][0]["quote"] in data["citations"][0]["text"]


def test_ask_with_history_and_filters(client: TestClient) -> None:
    first = client.post("/api/v1/ask", json={"question": question_for("cong-khai")}).json()
    r = client.post(
        "/api/v1/ask",
        json={
            "question": "Kinh phí là bao nhiêu?",
            "history": [{"question": first["question"], "answer": first["answer"], "citations": first["citations"]}],
            "filters": {
                "types": ["nghị quyết"],
                "from": "2025-01-01",
                "to": "2025-12-31",
                "doc_ids": [DOC_IDS["cong-khai"]],
            },
            "k": 3,
        },
    )
    assert r.status_code == 200, r.text
    assert "50 tỉ đồng" in r.json()["answer"]


def test_ask_abstains_with_nearest(client: TestClient) -> None:
    r = client.post("/api/v1/ask", json={"question": "Giá vàng hôm nay ở chợ Bến Thành là bao nhiêu?"})
    assert r.status_code == 200
    assert r.json()["abstained"] is True and r.json()["citations"] == []


def test_ask_stream_events_in_order(client: TestClient) -> None:
    with client.stream("POST", "/api/v1/ask/stream", json={"question": question_for("cong-khai")}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = sse_events(text)
    names = [e for e, _ in events]
    assert names[-2:] == ["answer", "done"]
    assert names[0] == "delta" and set(names[:-2]) == {"delta"}
    streamed = "".join(json.loads(d)["text"] for e, d in events if e == "delta")
    answer = json.loads(events[-2][1])
    assert answer["citations"] and set(answer["citations"][0]) >= CITATION_FIELDS
    assert "500 máy chủ" in streamed
    assert json.loads(events[-1][1]) == {}


def test_ask_stream_reports_errors_as_events(client: TestClient) -> None:
    # Input that is wrong before any retrieval is refused like on /ask (a 400 the schema documents); errors that
    # happen once the stream has started are events (test_unexpected_errors_are_generic_500_and_error_events).
    r = client.post("/api/v1/ask/stream", json={"question": "kinh phí", "filters": {"from": "31/12/2025"}})
    assert r.status_code == 400
    assert "NNNN-TT-NN" in r.json()["error"]["message"]


class _BrokenPipeline:
    """A pipeline that fails the way a bug would (to check that no stack trace leaks)."""

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /etc/passwd")

    def ask_stream(self, *args: Any, **kwargs: Any) -> Iterator[StreamEvent]:
        yield StreamEvent("delta", "Đang ")
        raise RuntimeError("secret internal detail /etc/passwd")


class _InvalidPipeline:
    def ask_stream(self, *args: Any, **kwargs: Any) -> Iterator[StreamEvent]:
        raise InvalidRequest("bad", "Câu hỏi không hợp lệ theo thử nghiệm.")
        yield StreamEvent("done")  # pragma: no cover


def test_unexpected_errors_are_generic_500_and_error_events(index_dir: Path) -> None:
    app = create_app(settings_for(index_dir))
    app.dependency_overrides[get_pipelines] = lambda: lambda k: _BrokenPipeline()
    with LocalClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/v1/ask", json={"question": "kinh phí"})
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_error"
        assert "secret" not in r.text and "Traceback" not in r.text
        r = c.post("/api/v1/ask/stream", json={"question": "kinh phí"})
        events = sse_events(r.text)
        assert [e for e, _ in events] == ["delta", "error", "done"]
        assert "secret" not in r.text
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "kinh phí"}], "stream": True})
        assert "secret" not in r.text and r.text.rstrip().endswith("data: [DONE]")
        assert '"error"' in r.text
    app.dependency_overrides[get_pipelines] = lambda: lambda k: _InvalidPipeline()
    with LocalClient(app) as c:
        events = sse_events(c.post("/api/v1/ask/stream", json={"question": "kinh phí"}).text)
        assert events[0][0] == "error"
        assert json.loads(events[0][1]) == {"message": "Câu hỏi không hợp lệ theo thử nghiệm."}


def test_documents_list_and_get(client: TestClient) -> None:
    docs = client.get("/api/v1/documents").json()["documents"]
    assert [d["doc_id"] for d in docs] == [DOC_IDS["cong-khai"]]
    assert set(docs[0]) >= DOC_FIELDS
    assert "path" not in docs[0]
    r = client.get(f"/api/v1/documents/{DOC_IDS['cong-khai']}")
    assert r.status_code == 200
    doc = r.json()
    assert set(doc) >= DOC_FIELDS | {"place", "summary", "paragraph_ids"}
    assert doc["place"] == "Hà Nội" and doc["number"] == "50-NQ/TW" and doc["classification"] == "cong-khai"
    assert doc["paragraph_ids"][0] == f"{DOC_IDS['cong-khai']}/p0000"
    assert len(doc["paragraph_ids"]) == doc["paragraphs"]
    r = client.get("/api/v1/documents/khong-co")
    assert r.status_code == 404
    assert r.json() == {
        "error": {"code": "not_found", "message": "Không tìm thấy tài liệu 'khong-co'.", "type": "not_found"}
    }


def test_hidden_document_answers_exactly_like_a_missing_one(client: TestClient) -> None:
    hidden = client.get(f"/api/v1/documents/{DOC_IDS['mat']}")
    missing = client.get("/api/v1/documents/nq-99-2099")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(DOC_IDS["mat"], "X") == missing.json()["error"]["message"].replace(
        "nq-99-2099", "X"
    )
    hidden = client.get(f"/api/v1/paragraphs/{DOC_IDS['mat']}/p0003")
    missing = client.get("/api/v1/paragraphs/nq-99-2099/p0003")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(DOC_IDS["mat"], "X") == missing.json()["error"]["message"].replace(
        "nq-99-2099", "X"
    )


def test_paragraph_with_neighbours(client: TestClient) -> None:
    pid = f"{DOC_IDS['cong-khai']}/p0003"
    r = client.get(f"/api/v1/paragraphs/{pid}", params={"before": 1, "after": 2})
    assert r.status_code == 200
    data = r.json()
    assert set(data["paragraph"]) >= PARAGRAPH_FIELDS and data["paragraph"]["paragraph_id"] == pid
    assert [p["paragraph_id"] for p in data["before"]] == [f"{DOC_IDS['cong-khai']}/p0002"]
    assert [p["paragraph_id"] for p in data["after"]] == [
        f"{DOC_IDS['cong-khai']}/p0004",
        f"{DOC_IDS['cong-khai']}/p0005",
    ]
    assert set(data["document"]) >= {"doc_id", "title", "number", "type", "issuer", "issued", "place", "classification"}
    first = client.get(f"/api/v1/paragraphs/{DOC_IDS['cong-khai']}/p0000").json()
    assert first["before"] == [] and len(first["after"]) == 2
    assert client.get(f"/api/v1/paragraphs/{DOC_IDS['cong-khai']}/p9999").status_code == 404


def test_full_text_of_a_document_in_pages(client: TestClient) -> None:
    doc_id = DOC_IDS["cong-khai"]
    whole = client.get(f"/api/v1/documents/{doc_id}/paragraphs").json()
    detail = client.get(f"/api/v1/documents/{doc_id}").json()
    assert whole["doc_id"] == doc_id and whole["offset"] == 0
    assert whole["total"] == detail["paragraphs"] == len(whole["paragraphs"])
    assert [p["paragraph_id"] for p in whole["paragraphs"]] == detail["paragraph_ids"]
    assert all(set(p) >= PARAGRAPH_FIELDS for p in whole["paragraphs"])
    # headings come with the text, carrying the section path the viewer's outline is drawn from
    assert any(p["kind"] == "heading" and p["section"] for p in whole["paragraphs"])
    page = client.get(f"/api/v1/documents/{doc_id}/paragraphs", params={"offset": 3, "limit": 2}).json()
    assert page["total"] == whole["total"] and page["offset"] == 3
    assert page["paragraphs"] == whole["paragraphs"][3:5]
    past = client.get(f"/api/v1/documents/{doc_id}/paragraphs", params={"offset": 10_000}).json()
    assert past["paragraphs"] == [] and past["total"] == whole["total"]
    assert client.get(f"/api/v1/documents/{doc_id}/paragraphs", params={"limit": 0}).status_code == 422
    hidden = client.get(f"/api/v1/documents/{DOC_IDS['mat']}/paragraphs")
    missing = client.get("/api/v1/documents/nq-99-2099/paragraphs")
    assert hidden.status_code == missing.status_code == 404


def test_feedback_is_appended(client: TestClient, index_dir: Path) -> None:
    r = client.post(
        "/api/v1/feedback",
        json={
            "question": "Hỏi gì?",
            "answer": "Đáp thế này.",
            "rating": "down",
            "comment": "Thiếu trích dẫn",
            "paragraph_ids": ["a/p0001"],
        },
    )
    assert r.status_code == 201
    fid = r.json()["id"]
    lines = (index_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["id"] == fid and record["rating"] == "down" and record["comment"] == "Thiếu trích dẫn"
    assert record["key"] == "anonymous"
    r = client.post("/api/v1/feedback", json={"question": "q", "answer": "a", "rating": "meh"})
    assert r.status_code == 422
    assert "rating" in r.json()["error"]["message"]


def test_evaluators_review_thumbs_down_feedback_with_its_paragraphs(
    client: TestClient, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vankien feedback --rating down` shows each rejected answer with its question, comment and the text of the
    paragraphs it cited (a paragraph removed since is said to be gone)."""
    from vankien.cli import main as cli

    answer = client.post("/api/v1/ask", json={"question": question_for("cong-khai")}).json()
    cited = [c["paragraph_id"] for c in answer["citations"]]
    assert cited
    body = {"question": answer["question"], "answer": answer["answer"], "rating": "down"}
    client.post(
        "/api/v1/feedback", json={**body, "comment": "Sai số liệu", "paragraph_ids": [*cited, "khong-co/p0001"]}
    )
    client.post("/api/v1/feedback", json={**body, "rating": "up"})
    with (index_dir / "feedback.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{hỏng\n")
    assert cli(["feedback", "--index", str(index_dir), "--rating", "down", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    [record] = out["feedback"]
    assert out["unreadable_lines"] == 1 and record["comment"] == "Sai số liệu"
    assert [p["paragraph_id"] for p in record["paragraphs"]] == [*cited, "khong-co/p0001"]
    assert record["paragraphs"][0]["text"] == answer["citations"][0]["text"]
    assert record["paragraphs"][-1] == {"paragraph_id": "khong-co/p0001", "missing": True}
    assert cli(["feedback", "--index", str(index_dir)]) == 0
    text = capsys.readouterr().out
    assert "chưa đạt" in text and "hữu ích" in text and "Góp ý: Sai số liệu" in text
    assert f"Trích dẫn {cited[0]}" in text and "không còn trong chỉ mục" in text


def test_chat_completions_shape(client: TestClient) -> None:
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "vankien",
            "messages": [
                {"role": "system", "content": "Bạn là trợ lý."},
                {"role": "user", "content": question_for("cong-khai")},
            ],
            "temperature": 0.2,
        },
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["model"] == "vankien" and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and "500 máy chủ" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert data["citations"] and set(data["citations"][0]) >= CITATION_FIELDS
    assert data["vankien"]["abstained"] is False


def test_chat_completions_history_and_stream(client: TestClient) -> None:
    messages = [
        {"role": "user", "content": question_for("cong-khai")},
        {"role": "assistant", "content": "Đến năm 2030 ... [1]"},
        {"role": "user", "content": [{"type": "text", "text": "Kinh phí là bao nhiêu?"}]},
    ]
    r = client.post("/v1/chat/completions", json={"model": "vankien", "messages": messages, "stream": True})
    assert r.status_code == 200
    lines = [line[len("data: ") :] for line in r.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(x) for x in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "50 tỉ đồng" in content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400 and "role 'user'" in r.json()["error"]["message"]
    assert client.get("/v1/models").json()["data"][0]["id"] == "vankien"


def test_chat_completions_honour_model_and_length(client: TestClient) -> None:
    """`model`, `max_tokens` and the sampling fields were accepted and ignored; now an unknown model is a 404, a
    token limit cuts the answer (finish_reason "length", only the citations left in it), bad values are 422."""
    question = [{"role": "user", "content": question_for("cong-khai")}]
    full = client.post("/v1/chat/completions", json={"model": "vankien", "messages": question}).json()
    words = full["choices"][0]["message"]["content"].split()
    assert len(words) > 6 and len(full["citations"]) >= 1
    r = client.post("/v1/chat/completions", json={"model": "vankien", "messages": question, "max_tokens": 4})
    data = r.json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["choices"][0]["message"]["content"].split() == words[:4]
    assert data["usage"]["completion_tokens"] == 4
    cut = data["choices"][0]["message"]["content"]
    assert all(f"[{c['marker']}]" in cut for c in data["citations"])
    big = client.post("/v1/chat/completions", json={"model": "vankien", "messages": question, "max_tokens": 10_000})
    assert big.json()["choices"][0]["finish_reason"] == "stop" and big.json()["citations"] == full["citations"]
    body = {"model": "vankien", "messages": question, "max_completion_tokens": 5, "stream": True}
    lines = [x[len("data: ") :] for x in client.post("/v1/chat/completions", json=body).text.splitlines() if x]
    chunks = [json.loads(x) for x in lines if x.startswith("{")]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed.split() == words[:5] and chunks[-1]["choices"][0]["finish_reason"] == "length"
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": question})
    assert r.status_code == 404 and "'vankien'" in r.json()["error"]["message"]
    for bad in ({"temperature": 3}, {"n": 2}, {"max_tokens": 0}, {"top_p": 1.5}):
        assert client.post("/v1/chat/completions", json={"messages": question, **bad}).status_code == 422, bad


def test_validation_errors_are_vietnamese(client: TestClient) -> None:
    r = client.post("/api/v1/ask", json={"history": []})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "validation_error",
        "message": "Thiếu trường bắt buộc 'question'.",
        "type": "validation_error",
        "fields": [{"field": "question", "message": "Thiếu trường bắt buộc 'question'."}],
    }
    r = client.post("/api/v1/ask", json={"question": "kinh phí", "k": 500})
    assert r.status_code == 422 and "nhỏ hơn hoặc bằng 20" in r.json()["error"]["message"]
    r = client.get("/api/v1/search", params={"q": "kinh phí", "k": "nhiều"})
    assert r.status_code == 422 and "số nguyên" in r.json()["error"]["message"]
    r = client.post("/api/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "Nội dung JSON không hợp lệ."
    r = client.post("/api/v1/ask", json={"question": "   "})
    assert r.status_code == 400 and "trống" in r.json()["error"]["message"]
    r = client.get("/api/v1/khong-co")
    assert r.status_code == 404 and r.json()["error"]["message"] == "Không tìm thấy."
    r = client.put("/api/v1/ask", json={})
    assert r.status_code == 405 and "Phương thức" in r.json()["error"]["message"]


def test_misspelt_request_fields_are_refused_not_ignored(client: TestClient) -> None:
    """`filters.docs` for `filters.doc_ids` used to search every document; now the field is named in a 422."""
    r = client.post("/api/v1/ask", json={"question": "kinh phí", "filters": {"docs": ["nq-1"]}})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [
        {"field": "filters.docs", "message": "Trường 'filters.docs' không được hỗ trợ."}
    ]
    r = client.post("/api/v1/ask", json={"question": "kinh phí", "top_k": 3})
    assert r.status_code == 422 and "'top_k'" in r.json()["error"]["message"]
    r = client.post("/api/v1/ask/stream", json={"questoin": "kinh phí"})
    assert r.status_code == 422
    r = client.post("/api/v1/feedback", json={"question": "a", "answer": "b", "rating": "down", "note": "x"})
    assert r.status_code == 422 and "'note'" in r.json()["error"]["message"]
    # The documented names still work, "from" by its JSON name as well as "from_".
    ok = {"question": "kinh phí", "filters": {"types": ["nghị quyết"], "from": "2020-01-01", "doc_ids": []}}
    assert client.post("/api/v1/ask", json=ok).status_code == 200


def test_chat_page_static_and_openapi(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Văn Kiện" in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    if "<script>" not in r.text:  # the real page (the placeholder has an inline script)
        assert "script-src 'self'" in r.headers["content-security-policy"]
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/ask",
        "/api/v1/ask/stream",
        "/api/v1/search",
        "/api/v1/documents",
        "/api/v1/documents/{doc_id}",
        "/api/v1/documents/{doc_id}/paragraphs",
        "/api/v1/paragraphs/{paragraph_id}",
        "/api/v1/jobs/{job_id}",
        "/api/v1/feedback",
        "/v1/chat/completions",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_audit_log_records_who_asked_what(index_dir: Path) -> None:
    secret = add_key(index_dir, "reader", "noi-bo", "chi-bo-3")
    client_key = bearer(secret)
    with LocalClient(create_app(settings_for(index_dir))) as c:
        data = c.post("/api/v1/ask", json={"question": question_for("noi-bo")}, headers=client_key).json()
        c.get("/api/v1/documents/khong-co", headers=client_key)
        c.get("/api/v1/documents", headers={"Authorization": "Bearer sai"})
    records = audit_lines(index_dir / "audit.jsonl")
    ask = next(r for r in records if r["endpoint"] == "POST /api/v1/ask")
    assert ask["key"] == "chi-bo-3" and ask["role"] == "reader" and ask["clearance"] == "noi-bo"
    assert ask["question"] == question_for("noi-bo")
    assert set(ask["paragraph_ids"]) >= {c["paragraph_id"] for c in data["citations"]}
    assert all("text" not in r and "answer" not in r for r in records)
    missing = next(r for r in records if r.get("path") == "/api/v1/documents/khong-co")
    assert missing["endpoint"] == "GET /api/v1/documents/{doc_id}"
    assert missing["status"] == 404 and missing["key"] == "chi-bo-3"
    denied = next(r for r in records if r["status"] == 401)
    assert denied["key"] is None
    assert oct((index_dir / "audit.jsonl").stat().st_mode & 0o777) == "0o600"
