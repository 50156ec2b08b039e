"""A real uvicorn server on 127.0.0.1: the `openai` client against /v1/chat/completions, and SSE over a socket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import (
    CANARIES,
    DOC_IDS,
    LiveServer,
    add_key,
    audit_lines,
    bearer,
    build_index,
    question_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    index = build_index(tmp_path_factory.mktemp("live"))
    keys = {
        "reader": add_key(index, "reader", "cong-khai", "cong-cu-noi-bo"),
        "cleared": add_key(index, "reader", "mat", "can-bo-mat"),
    }
    with LiveServer(index) as server:
        yield server, keys


def test_openai_client_gets_an_answer_with_citations(live: tuple[LiveServer, dict[str, str]]) -> None:
    openai = pytest.importorskip("openai")
    server, keys = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=keys["reader"], max_retries=0, timeout=30)
    completion = client.chat.completions.create(
        model="vankien",
        messages=[
            {"role": "system", "content": "Trả lời bằng tiếng Việt."},
            {"role": "user", "content": question_for("cong-khai")},
        ],
    )
    assert completion.object == "chat.completion"
    message = completion.choices[0].message
    assert message.role == "assistant" and "500 máy chủ" in (message.content or "")
    extra = completion.model_extra or {}
    citations = extra["citations"]
    assert citations and citations[0]["doc_id"] == "nq-50-2025" and citations[0]["quote"] in citations[0]["text"]
    assert extra["vankien"]["abstained"] is False
    # a restricted document stays out of reach for this key
    hidden = client.chat.completions.create(
        model="vankien", messages=[{"role": "user", "content": question_for("mat")}]
    )
    assert CANARIES["mat"] not in hidden.model_dump_json()


def test_openai_client_streams_and_the_last_chunk_carries_citations(live: tuple[LiveServer, dict[str, str]]) -> None:
    openai = pytest.importorskip("openai")
    server, keys = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=keys["cleared"], max_retries=0, timeout=30)
    stream = client.chat.completions.create(
        model="vankien", messages=[{"role": "user", "content": question_for("mat")}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert CANARIES["mat"] in text  # cleared for "mat"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    citations = (last.model_extra or {})["citations"]
    assert citations and citations[0]["doc_id"] == DOC_IDS["mat"]


def test_openai_client_stop_sequences_and_end_user(live: tuple[LiveServer, dict[str, str]]) -> None:
    """`stop` ends the answer before the stop sequence, streamed or not, and the stream never shows what follows
    it even when the sequence is split across chunks; `user` is written to the audit log."""
    openai = pytest.importorskip("openai")
    server, keys = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=keys["reader"], max_retries=0, timeout=30)
    messages = [{"role": "user", "content": question_for("cong-khai")}]
    whole = client.chat.completions.create(model="vankien", messages=messages).choices[0].message.content or ""
    assert "500 máy chủ" in whole
    cut = client.chat.completions.create(model="vankien", messages=messages, stop=["máy chủ", "KHÔNG-CÓ"], user="cb-42")
    content = cut.choices[0].message.content or ""
    assert cut.choices[0].finish_reason == "stop"
    assert content == whole[: whole.index("máy chủ")] and content.endswith("500 ")
    assert all(f"[{c['marker']}]" in content for c in (cut.model_extra or {})["citations"])

    stream = client.chat.completions.create(model="vankien", messages=messages, stop="máy chủ", stream=True)
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == content and chunks[-1].choices[0].finish_reason == "stop"

    lines = audit_lines(server.settings.audit_path)
    assert any(line.get("end_user") == "cb-42" and line["endpoint"] == "POST /v1/chat/completions" for line in lines)
    with pytest.raises(openai.UnprocessableEntityError):  # OpenAI's own bound: at most four stop sequences
        client.chat.completions.create(model="vankien", messages=messages, stop=["a", "b", "c", "d", "e"])


def test_openai_client_model_length_and_sampling_parameters(live: tuple[LiveServer, dict[str, str]]) -> None:
    """Through the `openai` package: an unknown model is 404 naming the served one, max_tokens cuts the answer
    (finish_reason "length"), sampling settings within OpenAI's ranges are accepted, n above 1 is refused."""
    openai = pytest.importorskip("openai")
    server, keys = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=keys["reader"], max_retries=0, timeout=30)
    messages = [{"role": "user", "content": question_for("cong-khai")}]
    assert [m.id for m in client.models.list().data] == ["vankien"]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    assert "vankien" in str(info.value)
    cut = client.chat.completions.create(model="vankien", messages=messages, max_tokens=4)
    assert cut.choices[0].finish_reason == "length" and len((cut.choices[0].message.content or "").split()) <= 4
    assert cut.usage is not None and cut.usage.completion_tokens <= 4
    same = client.chat.completions.create(model="vankien", messages=messages, temperature=0.2, top_p=0.9, n=1)
    whole = client.chat.completions.create(model="vankien", messages=messages)
    assert same.choices[0].message.content == whole.choices[0].message.content
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="vankien", messages=messages, n=2)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="vankien", messages=messages, temperature=3)


def test_openai_client_sees_errors(live: tuple[LiveServer, dict[str, str]]) -> None:
    openai = pytest.importorskip("openai")
    server, _ = live
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="vk_sai", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="vankien", messages=[{"role": "user", "content": "Kinh phí?"}])
    assert "Khóa API không hợp lệ" in str(info.value)


def test_sse_events_arrive_over_a_real_socket(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = live
    events: list[tuple[str, dict[str, object]]] = []
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        client.stream(
            "POST", "/api/v1/ask/stream", json={"question": question_for("cong-khai")}, headers=bearer(keys["reader"])
        ) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"  # restricted text is never kept by a cache
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                assert name is not None
                events.append((name, json.loads(line[len("data: ") :])))
    kinds = [k for k, _ in events]
    assert kinds[0] == "delta" and kinds[-2:] == ["answer", "done"] and kinds.count("answer") == 1
    answer = events[-2][1]
    assert isinstance(answer, dict) and answer["citations"]
    streamed = "".join(str(d["text"]) for k, d in events if k == "delta")
    assert "500 máy chủ" in streamed
    ready = httpx.get(f"{server.url}/readyz", headers=bearer(keys["cleared"])).json()
    assert (ready["status"], ready["documents"], ready.get("vector_error")) == ("ready", 3, None)  # up to "mat"


def test_questions_keep_being_answered_while_documents_change(tmp_path: Path) -> None:
    """Uploads and deletions take the index's write lock; concurrent questions never fail meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.service.conftest import resolution

    index = build_index(tmp_path)
    editor = bearer(add_key(index, "editor", "cong-khai", "bien-tap"))
    admin = bearer(add_key(index, "admin", "toi-mat", "quan-tri"))
    reader = bearer(add_key(index, "reader", "cong-khai", "doc-gia"))
    with LiveServer(index) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        stop = threading.Event()

        def ask_until_stopped(n: int) -> list[int]:
            statuses = []
            with httpx.Client(base_url=server.url, timeout=60) as own:
                while not stop.is_set():
                    r = own.post("/api/v1/ask", json={"question": question_for("cong-khai")}, headers=reader)
                    statuses.append(r.status_code)
            return statuses

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(ask_until_stopped, n) for n in range(6)]
            for i in range(5):
                body = resolution(60 + i, 12, "cong-khai", topic=f"kho tư liệu số {i}").encode("utf-8")
                r = http.post("/api/v1/documents", files={"file": (f"nq{60 + i}.txt", body)}, headers=editor)
                assert r.status_code == 202
                job_id = r.json()["job_id"]
                while (job := http.get(f"/api/v1/jobs/{job_id}", headers=editor).json())["status"] not in {
                    "done",
                    "failed",
                }:
                    time.sleep(0.05)
                assert job["status"] == "done", job
                assert http.delete(f"/api/v1/documents/{job['files'][0]['doc_id']}", headers=admin).status_code == 204
            stop.set()
            statuses = [s for f in futures for s in f.result()]
    assert statuses and set(statuses) == {200}
