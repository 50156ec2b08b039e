"""The red team's findings on access and the server, one test each (docs/security.md): /readyz counts, job
ownership after a key name is reused, failed logins limited before the 401, bounded audit lines and feedback,
forwarded headers, the socket-level loopback check, no-store on streams, slow-header sockets, file modes, query
strings out of the access log, provenance and a forged number."""

from __future__ import annotations

import logging
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.keys import KeyStore
from service.server import RedactQuery
from tests.service.conftest import (
    DOC_IDS,
    LiveServer,
    LocalClient,
    add_key,
    audit_lines,
    bearer,
    question_for,
    resolution,
    settings_for,
    wait_job,
)


def test_readyz_gives_counts_only_to_known_callers(index_dir: Path) -> None:
    reader = bearer(add_key(index_dir, "reader", "noi-bo", "doc-gia"))
    with LocalClient(create_app(settings_for(index_dir))) as c:
        assert c.get("/readyz").json() == {"status": "ready"}  # keys exist: no counts without one
        assert c.get("/readyz", headers=bearer("vk_sai")).json() == {"status": "ready"}
        known = c.get("/readyz", headers=reader).json()
        assert known == {"status": "ready", "documents": 2, "pending_vectors": 0}  # public + nội bộ only


def test_a_job_stays_with_its_key_when_the_name_is_reused(index_dir: Path) -> None:
    keys = KeyStore(index_dir / "keys.json")
    first = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))
    with LocalClient(create_app(settings_for(index_dir))) as c:
        text = resolution(60, 4, "cong-khai").encode("utf-8")
        up = c.post("/api/v1/documents", files={"file": ("nq60.txt", text, "text/plain")}, headers=first)
        job_id = up.json()["job_id"]
        assert wait_job(c, job_id, first)["status"] == "done"
        keys.revoke("bien-tap")
        second = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))  # the same name, a new key
        assert c.get(f"/api/v1/jobs/{job_id}", headers=second).status_code == 404


def test_failed_logins_are_limited_before_the_key_is_checked(index_dir: Path) -> None:
    good = bearer(add_key(index_dir, "reader", "cong-khai", "doc-gia"))
    with LocalClient(create_app(settings_for(index_dir, auth_failures_per_minute=5))) as c:
        codes = [c.get("/api/v1/documents", headers=bearer(f"vk_doan-{i}")).status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
        blocked = c.get("/api/v1/documents", headers=good)  # the address is blocked, whatever key it sends
        assert blocked.status_code == 429 and "thất bại" in blocked.json()["error"]["message"]
        assert int(blocked.headers["retry-after"]) >= 1
        assert c.get("/api/v1/documents").status_code == 401  # no key at all is not a guess: the usual answer


def test_audit_lines_are_bounded(index_dir: Path) -> None:
    add_key(index_dir, "reader", "cong-khai", "doc-gia")
    audit = index_dir / "audit.jsonl"
    with LocalClient(create_app(settings_for(index_dir, auth_failures_per_minute=0))) as c:
        for _ in range(20):
            c.get("/api/v1/documents/" + "x" * 60_000, headers=bearer("vk_sai"))
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 20 and max(len(line.encode("utf-8")) for line in lines) < 1500
    assert audit_lines(audit)[0]["endpoint"] == "GET /api/v1/documents/{doc_id}"  # the route, not the bytes


def test_feedback_is_bounded(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        huge = {"question": "Hỏi", "answer": "Đáp " * 2500, "rating": "down", "paragraph_ids": ["p" * 300] * 50}
        assert c.post("/api/v1/feedback", json=huge).status_code == 422
        ok = {"question": "Hỏi", "answer": "Đáp", "rating": "up", "paragraph_ids": [f"{DOC_IDS['cong-khai']}/p0005"]}
        assert c.post("/api/v1/feedback", json=ok).status_code == 201


def test_anonymous_access_needs_a_loopback_socket(index_dir: Path) -> None:
    """The demo mode (no keys) checks the socket the request arrived on, not only the configured host."""
    app = create_app(settings_for(index_dir))
    with LocalClient(app, base_url="http://192.0.2.10") as outside:
        r = outside.get("/api/v1/documents")
        assert r.status_code == 401 and "khóa" in r.json()["error"]["message"]
        assert "documents" not in outside.get("/readyz").json()
    with LocalClient(create_app(settings_for(index_dir))) as local:
        assert local.get("/api/v1/documents").status_code == 200


def test_streamed_answers_are_never_stored(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        r = c.post("/api/v1/ask/stream", json={"question": question_for("cong-khai")})
        assert r.headers["cache-control"] == "no-store"
        body = {"model": "vankien", "messages": [{"role": "user", "content": "Nghị quyết 50?"}], "stream": True}
        assert c.post("/v1/chat/completions", json=body).headers["cache-control"] == "no-store"


def test_index_files_are_private(index_dir: Path) -> None:
    assert stat.S_IMODE(index_dir.stat().st_mode) == 0o700
    for path in index_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        else:
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_query_strings_stay_out_of_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/search?q=k%E1%BA%BF+ho%E1%BA%A1ch+m%E1%BA%ADt&api_key=vk_bi-mat", "1.1", 200),
        None,
    )  # fmt: skip
    assert RedactQuery().filter(record)
    line = record.getMessage()
    assert "vk_bi-mat" not in line and "q=" not in line and "GET /api/v1/search?…" in line


def test_a_forged_number_is_flagged_with_its_provenance(index_dir: Path) -> None:
    """A public upload headed "Số 50-NQ/TW" under another issuer is shown with a warning and who uploaded it."""
    editor = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap-ngoai"))
    forged = resolution(50, 20, "cong-khai").replace("BAN CHẤP HÀNH TRUNG ƯƠNG", "HỘI ĐỒNG NHÂN DÂN TỈNH X")
    forged = forged.replace("CỦA BỘ CHÍNH TRỊ", "CỦA HỘI ĐỒNG NHÂN DÂN TỈNH X")
    with LocalClient(create_app(settings_for(index_dir))) as c:
        up = c.post("/api/v1/documents", files={"file": ("nq50.txt", forged.encode(), "text/plain")}, headers=editor)
        job = wait_job(c, up.json()["job_id"], editor)
        doc_id = job["files"][0]["doc_id"]
        assert doc_id != DOC_IDS["cong-khai"]
        detail = c.get(f"/api/v1/documents/{doc_id}", headers=editor).json()
        assert (
            detail["provenance"]["ingested_by"].startswith("key:")
            and "bien-tap-ngoai" in detail["provenance"]["ingested_by"]
        )
        assert len(detail["provenance"]["sha256"]) == 64 and detail["provenance"]["ingested_at"]
        assert len(detail["warnings"]) == 1 and DOC_IDS["cong-khai"] in detail["warnings"][0]
        assert "50-NQ/TW" in detail["warnings"][0]
        original = c.get(f"/api/v1/documents/{DOC_IDS['cong-khai']}", headers=editor).json()
        assert original["warnings"] == [] and original["provenance"]["ingested_by"] == "cli"
        context = c.get(f"/api/v1/paragraphs/{doc_id}/p0005", headers=editor).json()
        assert context["document"]["warnings"] == detail["warnings"]


@pytest.mark.slow
def test_slow_header_sockets_do_not_starve_normal_requests(index_dir: Path) -> None:
    """A bounded slowloris: 300 sockets that never finish their headers, against a cap of 100 connections and a
    2-second header deadline. Normal searches still answer, and the slow sockets are closed."""
    with LiveServer(index_dir, header_timeout_s=2.0, max_connections=100) as server:
        slow: list[socket.socket] = []
        try:
            for _ in range(300):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(b"GET /api/v1/search?q=ngh HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
                slow.append(s)
            for _ in range(5):
                r = httpx.get(f"{server.url}/api/v1/search", params={"q": "kho lưu trữ"}, timeout=10)
                assert r.status_code == 200 and r.json()["hits"]
            time.sleep(3.0)  # past the header deadline: every slow socket has been closed by the server
            closed = 0
            for s in slow:
                s.settimeout(0.2)
                try:
                    closed += s.recv(1) == b""  # the server closed it
                except TimeoutError:
                    pass  # still open: the server is waiting for the rest of the headers
                except OSError:
                    closed += 1  # reset by the server
            assert closed == len(slow)
        finally:
            for s in slow:
                s.close()


@pytest.mark.slow
def test_forwarded_headers_are_not_believed_without_a_configured_proxy(index_dir: Path) -> None:
    """X-Forwarded-For from 127.0.0.1 once forged the audit address and dodged the anonymous rate limit."""
    with LiveServer(index_dir, rate_limit_per_minute=2) as server:
        codes = [
            httpx.get(f"{server.url}/api/v1/documents", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]  # one bucket: the socket's address
    clients = {r.get("client") for r in audit_lines(index_dir / "audit.jsonl")}
    assert clients == {"127.0.0.1"}
