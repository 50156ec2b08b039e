"""Uploads: ingested in the background, searchable without a restart, deletable, never trusting file names."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rag import Library
from service.app import create_app
from service.uploads import display_name
from tests.service.conftest import LocalClient, add_key, bearer, resolution, settings_for, wait_job

NEW_DOC = """# Nghị quyết thử nghiệm về vườn ươm sáng kiến số

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

## I. Mục tiêu

1. Đến năm 2028, mỗi xã có một vườn ươm sáng kiến số do đoàn thanh niên quản lý.

2. Vườn ươm sáng kiến số được cấp 7 tỉ đồng mỗi năm.
"""


@pytest.fixture()
def keys(index_dir: Path) -> dict[str, dict[str, str]]:
    return {
        "editor": bearer(add_key(index_dir, "editor", "noi-bo", "bien-tap")),
        "admin": bearer(add_key(index_dir, "admin", "toi-mat", "quan-tri")),
        "reader": bearer(add_key(index_dir, "reader", "noi-bo", "doc-gia")),
    }


def test_upload_then_search_then_delete_without_restart(index_dir: Path, keys: dict[str, dict[str, str]]) -> None:
    settings = settings_for(index_dir)
    with LocalClient(create_app(settings)) as c:
        q = {"q": "vườn ươm sáng kiến số"}
        before = c.get("/api/v1/search", params=q, headers=keys["reader"]).json()["hits"]
        assert all("vườn ươm" not in h["text"] for h in before)
        r = c.post(
            "/api/v1/documents",
            files={"file": ("vuon-uom.md", NEW_DOC.encode("utf-8"), "text/markdown")},
            data={"classification": "noi-bo"},
            headers=keys["editor"],
        )
        assert r.status_code == 202
        accepted = r.json()
        assert accepted["status"] == "queued" and accepted["filename"] == "vuon-uom.md"
        job = wait_job(c, accepted["job_id"], keys["editor"])
        assert job["status"] == "done" and job["error"] is None
        [result] = job["files"]
        assert result["status"] == "ok" and result["path"] == "vuon-uom.md" and result["paragraphs"] > 0
        doc_id = result["doc_id"]
        hits = c.get("/api/v1/search", params=q, headers=keys["reader"]).json()["hits"]
        assert hits and hits[0]["doc_id"] == doc_id
        answer = c.post(
            "/api/v1/ask", json={"question": "Vườn ươm sáng kiến số được cấp bao nhiêu tiền?"}, headers=keys["reader"]
        )
        assert "7 tỉ đồng" in answer.json()["answer"]
        doc = c.get(f"/api/v1/documents/{doc_id}", headers=keys["reader"]).json()
        assert doc["classification"] == "noi-bo"
        # the same file again is recognised
        again = c.post(
            "/api/v1/documents",
            files={"file": ("ban-sao.md", NEW_DOC.encode("utf-8"), "text/markdown")},
            data={"classification": "noi-bo"},
            headers=keys["editor"],
        ).json()
        assert wait_job(c, again["job_id"], keys["editor"])["files"][0]["status"] == "unchanged"
        # only admins delete
        assert c.delete(f"/api/v1/documents/{doc_id}", headers=keys["editor"]).status_code == 403
        assert c.delete(f"/api/v1/documents/{doc_id}", headers=keys["admin"]).status_code == 204
        assert c.get(f"/api/v1/documents/{doc_id}", headers=keys["reader"]).status_code == 404
        assert all(
            h["doc_id"] != doc_id for h in c.get("/api/v1/search", params=q, headers=keys["reader"]).json()["hits"]
        )
        assert c.delete(f"/api/v1/documents/{doc_id}", headers=keys["admin"]).status_code == 404
    assert [p.name for p in settings.uploads_path.iterdir()] == [], "the deleted upload's file is removed"


@pytest.mark.parametrize(
    "filename",
    ["../../../evil.md", "..\\..\\evil.md", "/etc/evil.md", "uploads/../../evil.md", "....//evil.md", ".evil.md"],
)
def test_path_traversal_in_the_file_name_is_harmless(
    index_dir: Path, keys: dict[str, dict[str, str]], filename: str
) -> None:
    settings = settings_for(index_dir)
    outside_before = set(index_dir.parent.rglob("*evil*"))
    with LocalClient(create_app(settings)) as c:
        r = c.post(
            "/api/v1/documents",
            files={"file": (filename, NEW_DOC.encode("utf-8"), "text/markdown")},
            headers=keys["editor"],
        )
        assert r.status_code == 202, r.text
        assert r.json()["filename"] == "evil.md"
        job = wait_job(c, r.json()["job_id"], keys["editor"])
        assert job["status"] == "done"
    saved = list(settings.uploads_path.iterdir())
    assert len(saved) == 1 and saved[0].parent == settings.uploads_path
    assert "evil" not in saved[0].name and saved[0].suffix == ".md"
    assert set(index_dir.parent.rglob("*evil*")) == outside_before == set()
    assert not Path("/etc/evil.md").exists()


def test_upload_rules(index_dir: Path, keys: dict[str, dict[str, str]]) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        editor = keys["editor"]
        r = c.post(
            "/api/v1/documents", files={"file": ("virus.exe", b"MZ...", "application/octet-stream")}, headers=editor
        )
        assert r.status_code == 400 and "Định dạng tệp không được hỗ trợ" in r.json()["error"]["message"]
        r = c.post("/api/v1/documents", files={"file": ("khong-duoi", b"abc", "text/plain")}, headers=editor)
        assert r.status_code == 400
        r = c.post("/api/v1/documents", files={"file": ("rong.txt", b"", "text/plain")}, headers=editor)
        assert r.status_code == 400 and "rỗng" in r.json()["error"]["message"]
        r = c.post(
            "/api/v1/documents",
            files={"file": ("a.txt", b"abc", "text/plain")},
            data={"classification": "tuyet-mat"},
            headers=editor,
        )
        assert r.status_code == 400 and "Mức phân loại" in r.json()["error"]["message"]
        r = c.post(
            "/api/v1/documents",
            files={"file": ("a.txt", b"abc", "text/plain")},
            data={"classification": "mat"},
            headers=editor,
        )
        assert r.status_code == 403 and "mức phân loại cao hơn" in r.json()["error"]["message"]
        r = c.post("/api/v1/documents", files={"file": ("a.txt", b"abc", "text/plain")}, headers=keys["reader"])
        assert r.status_code == 403 and "biên tập viên" in r.json()["error"]["message"]
        r = c.post("/api/v1/documents", data={"classification": "cong-khai"}, headers=editor)
        assert r.status_code == 422 and "file" in r.json()["error"]["message"]
        # a broken PDF: accepted, then the job fails with the reason in Vietnamese
        r = c.post(
            "/api/v1/documents", files={"file": ("hong.pdf", b"%PDF-1.4 garbage", "application/pdf")}, headers=editor
        )
        assert r.status_code == 202
        job = wait_job(c, r.json()["job_id"], editor)
        assert job["status"] == "failed" and job["error"] and job["files"][0]["status"] == "rejected"
        # jobs belong to their uploader (and admins)
        other = bearer(add_key(index_dir, "editor", "noi-bo", "bien-tap-2"))
        assert c.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=other).status_code == 404
        assert c.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=keys["admin"]).status_code == 200
        assert c.get("/api/v1/jobs/khong-co", headers=editor).status_code == 404
        assert c.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=keys["reader"]).status_code == 403


def test_documents_ingested_by_another_process_become_searchable(index_dir: Path, tmp_path: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        before = c.get("/api/v1/search", params={"q": "kho ảnh lịch sử"}).json()["hits"]
        assert all(h["doc_id"] != "nq-77-2025" for h in before)
        source = tmp_path / "nq77.txt"
        source.write_text(resolution(77, 9, "cong-khai", topic="kho ảnh lịch sử"), encoding="utf-8")
        with Library(index_dir) as other:  # like `vankien ingest` run beside the service
            assert other.ingest([source]).counts["ok"] == 1
        # The service catches up in the background (a search never waits for that work): soon, not at once.
        deadline = time.monotonic() + 30
        while True:
            hits = c.get("/api/v1/search", params={"q": "kho ảnh lịch sử"}).json()["hits"]
            if (hits and hits[0]["doc_id"] == "nq-77-2025") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert hits and hits[0]["doc_id"] == "nq-77-2025"


def test_upload_files_are_private(index_dir: Path, keys: dict[str, dict[str, str]]) -> None:
    settings = settings_for(index_dir)
    with LocalClient(create_app(settings)) as c:
        r = c.post(
            "/api/v1/documents",
            files={"file": ("a.md", NEW_DOC.encode("utf-8"), "text/markdown")},
            headers=keys["editor"],
        )
        wait_job(c, r.json()["job_id"], keys["editor"])
    [saved] = list(settings.uploads_path.iterdir())
    assert saved.stat().st_size == len(NEW_DOC.encode("utf-8"))
    assert os.access(saved, os.R_OK)


def test_display_names_are_cleaned() -> None:
    assert display_name("../../a/b/Nghị quyết 57.pdf") == "Nghị quyết 57.pdf"
    assert display_name("C:\\Users\\x\\tệp.docx") == "tệp.docx"
    assert display_name("\x00\x1fevil\n.md") == "evil.md"
    assert display_name("..") == "tai-lieu" and display_name(None) == "tai-lieu"
    long_name = display_name("a" * 500 + ".txt")
    assert len(long_name) == 200 and long_name.endswith(".txt")
