"""Limits: question length (400/422), body and upload size (413), request rate per key (429), in Vietnamese."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from service.app import create_app
from service.limits import RateLimiter
from tests.service.conftest import LocalClient, add_key, bearer, settings_for


def test_long_question_is_refused_everywhere(index_dir: Path) -> None:
    long_question = "Kinh phí cho kho lưu trữ văn kiện số là bao nhiêu " * 3  # ~150 characters
    with LocalClient(create_app(settings_for(index_dir, max_question_chars=100))) as c:
        for r in (
            c.post("/api/v1/ask", json={"question": long_question}),
            c.post("/api/v1/ask/stream", json={"question": long_question}),
            c.get("/api/v1/search", params={"q": long_question}),
            c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": long_question}]}),
        ):
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "question_too_long"
            assert "quá dài" in error["message"] and "tối đa 100 ký tự" in error["message"]
        r = c.post("/api/v1/ask", json={"question": "x" * 20_001})
        assert r.status_code == 422
        assert r.json()["error"]["message"] == "Trường 'question' quá dài (tối đa 20000 ký tự)."
        assert c.post("/api/v1/ask", json={"question": "Kinh phí là bao nhiêu?"}).status_code == 200


def test_upload_over_the_size_limit_is_413(index_dir: Path) -> None:
    secret = add_key(index_dir, "editor", "cong-khai")
    settings = settings_for(index_dir, max_upload_mb=0.01)  # about 10 KB
    with LocalClient(create_app(settings)) as c:
        big = ("Đoạn văn thử nghiệm về kho lưu trữ. " * 1000).encode("utf-8")  # ~38 KB
        r = c.post("/api/v1/documents", files={"file": ("lon.txt", big, "text/plain")}, headers=bearer(secret))
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert "quá lớn" in r.json()["error"]["message"] and "MB" in r.json()["error"]["message"]
        # just under the multipart margin but over the file limit: caught while saving
        medium = b"a" * (settings.max_upload_bytes + 100)
        r = c.post("/api/v1/documents", files={"file": ("vua.txt", medium, "text/plain")}, headers=bearer(secret))
        assert r.status_code == 413
    uploads = settings.uploads_path
    assert not uploads.exists() or not any(uploads.iterdir()), "nothing is left behind"


def test_json_body_over_the_limit_is_413_even_when_chunked(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir, max_body_kb=1))) as c:
        history = [{"question": "Câu hỏi trước " * 20, "answer": "Trả lời " * 50}] * 5
        r = c.post("/api/v1/ask", json={"question": "Kinh phí?", "history": history})
        assert r.status_code == 413 and "quá lớn" in r.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:
            yield b'{"question": "Kinh ph\\u00ed?", "history": ['
            for _ in range(40):
                yield b'{"question": "' + b"x" * 100 + b'"},'
            yield b'{"question": "y"}]}'

        r = c.post("/api/v1/ask", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_rate_limit_per_key(index_dir: Path) -> None:
    first = add_key(index_dir, "reader", "cong-khai", "mot")
    second = add_key(index_dir, "reader", "cong-khai", "hai")
    with LocalClient(create_app(settings_for(index_dir, rate_limit_per_minute=3))) as c:
        for _ in range(3):
            assert c.get("/api/v1/documents", headers=bearer(first)).status_code == 200
        r = c.get("/api/v1/search", params={"q": "kinh phí"}, headers=bearer(first))
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        error = r.json()["error"]
        assert error["code"] == "rate_limited"
        assert "quá 3 yêu cầu mỗi phút" in error["message"] and "giây" in error["message"]
        assert c.get("/api/v1/documents", headers=bearer(second)).status_code == 200  # another key is unaffected
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_rate_limit_for_anonymous_callers_is_per_address(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir, rate_limit_per_minute=2))) as c:
        assert c.get("/api/v1/documents").status_code == 200
        assert c.get("/api/v1/documents").status_code == 200
        assert c.get("/api/v1/documents").status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, burst=2, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") > 0
    now[0] += 1.0  # one token per second at 60/min
    assert limiter.hit("a") == 0
    assert limiter.hit("b") == 0
    assert RateLimiter(0).hit("a") == 0  # disabled
