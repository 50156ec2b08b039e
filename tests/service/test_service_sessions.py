"""Chat-page sign-in: a session cookie (HttpOnly, SameSite=Strict) stands for the key it was opened with, sees
only what that key's clearance allows, needs the CSRF header to change anything, survives a restart, and ends with
sign-out, expiry or the key's revocation. The local demo without keys stays open as before."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from service.app import create_app
from service.keys import KeyStore
from service.sessions import COOKIE, CSRF_HEADER
from tests.service.conftest import (
    CANARIES,
    DOC_IDS,
    LocalClient,
    add_key,
    bearer,
    question_for,
    settings_for,
)

CSRF = {CSRF_HEADER: "1"}


def _doc_ids(client: LocalClient) -> set[str]:
    r = client.get("/api/v1/documents")
    assert r.status_code == 200, r.text
    return {d["doc_id"] for d in r.json()["documents"]}


def test_the_local_demo_needs_no_sign_in(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as client:
        assert client.get("/api/v1/session").json() == {
            "mode": "public",
            "name": "anonymous",
            "role": "reader",
            "clearance": "cong-khai",
            "expires_at": None,
            "max_question_chars": 1000,  # the page shows the server's limit before a question is sent
        }
        r = client.post("/api/v1/session", json={"key": "vk_bat-ky"}, headers=CSRF)
        assert r.status_code == 400 and "không cần đăng nhập" in r.json()["error"]["message"]
        assert _doc_ids(client) == {DOC_IDS["cong-khai"]}


def test_sign_in_sets_an_http_only_cookie_and_sees_by_the_keys_clearance(index_dir: Path) -> None:
    public_key = add_key(index_dir, "reader", "cong-khai", "doc-gia")
    mat_key = add_key(index_dir, "reader", "mat", "can-bo-mat")
    with LocalClient(create_app(settings_for(index_dir))) as client:
        r = client.get("/api/v1/documents")
        assert r.status_code == 401 and "Đăng nhập" in r.json()["error"]["message"]
        assert client.get("/api/v1/session").json()["mode"] == "none"

        # without the page's header (a form of another site), with a wrong key: refused, nothing set
        assert client.post("/api/v1/session", json={"key": public_key}).status_code == 403
        wrong = client.post("/api/v1/session", json={"key": "vk_sai"}, headers=CSRF)
        assert wrong.status_code == 401 and "Khóa không đúng" in wrong.json()["error"]["message"]
        assert COOKIE not in client.cookies

        r = client.post("/api/v1/session", json={"key": public_key}, headers=CSRF)
        assert r.status_code == 200, r.text
        assert r.json()["mode"] == "session" and r.json()["name"] == "doc-gia" and r.json()["expires_at"]
        cookie = r.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=28800"):
            assert attribute.lower() in cookie.lower(), cookie
        token = client.cookies[COOKIE]
        assert token and public_key not in cookie
        assert _doc_ids(client) == {DOC_IDS["cong-khai"]}
        assert client.get("/api/v1/session").json()["clearance"] == "cong-khai"

        # signing in again with another key replaces the session: the page now sees the "mat" plan
        assert client.post("/api/v1/session", json={"key": mat_key}, headers=CSRF).status_code == 200
        assert _doc_ids(client) == {DOC_IDS["cong-khai"], DOC_IDS["noi-bo"], DOC_IDS["mat"]}
    # the store keeps digests only
    with sqlite3.connect(index_dir / "sessions.sqlite") as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and public_key not in dump and mat_key not in dump


def test_a_cookie_changes_nothing_without_the_csrf_header(index_dir: Path) -> None:
    key = add_key(index_dir, "reader", "mat", "can-bo-mat")
    with LocalClient(create_app(settings_for(index_dir))) as client:
        assert client.post("/api/v1/session", json={"key": key}, headers=CSRF).status_code == 200
        body = {"question": question_for("mat")}
        refused = client.post("/api/v1/ask", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
        answered = client.post("/api/v1/ask", json=body, headers=CSRF)
        assert answered.status_code == 200 and CANARIES["mat"] in answered.text
        # a key in the request wins over the cookie, without the header (tools, not the page)
        other = add_key(index_dir, "reader", "cong-khai", "cong-cu")
        r = client.post("/api/v1/ask", json=body, headers=bearer(other))
        assert r.status_code == 200 and CANARIES["mat"] not in r.text


def test_a_session_survives_a_restart_and_ends_with_sign_out(index_dir: Path) -> None:
    key = add_key(index_dir, "editor", "noi-bo", "bien-tap")
    with LocalClient(create_app(settings_for(index_dir))) as client:
        assert client.post("/api/v1/session", json={"key": key}, headers=CSRF).status_code == 200
        token = client.cookies[COOKIE]
    with LocalClient(create_app(settings_for(index_dir))) as restarted:  # a new process, the same cookie
        restarted.cookies.set(COOKIE, token)
        assert restarted.get("/api/v1/session").json()["name"] == "bien-tap"
        assert DOC_IDS["noi-bo"] in _doc_ids(restarted)
        out = restarted.delete("/api/v1/session")
        assert out.status_code == 204 and 'vankien_session=""' in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
        restarted.cookies.set(COOKIE, token)  # a copy of the old cookie is worth nothing now
        r = restarted.get("/api/v1/documents")
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"
        assert restarted.delete("/api/v1/session").status_code == 204  # signing out twice is fine


def test_revoking_the_key_or_expiry_ends_its_sessions(index_dir: Path) -> None:
    key = add_key(index_dir, "reader", "noi-bo", "se-thu-hoi")
    with LocalClient(create_app(settings_for(index_dir))) as client:
        assert client.post("/api/v1/session", json={"key": key}, headers=CSRF).status_code == 200
        assert _doc_ids(client)
        KeyStore(index_dir / "keys.json").revoke("se-thu-hoi")
        add_key(index_dir, "reader", "cong-khai", "con-lai")  # keys remain: no fall-back to the public demo
        assert client.get("/api/v1/documents").status_code == 401
        assert client.get("/api/v1/session").json()["mode"] == "none"
    short = add_key(index_dir, "reader", "cong-khai", "ngan-han")
    with LocalClient(create_app(settings_for(index_dir, session_hours=1.5 / 3600))) as client:
        assert client.post("/api/v1/session", json={"key": short}, headers=CSRF).status_code == 200
        assert client.get("/api/v1/documents").status_code == 200
        time.sleep(1.7)  # the cookie lives 2 s in the client; the server ends the session at 1.5 s
        assert client.get("/api/v1/documents").status_code == 401
