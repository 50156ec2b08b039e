"""Durable ingestion jobs (issue 14): an accepted upload survives the end of the process that accepted it, a job
that keeps interrupting the service is given up with a reason, the queue is bounded per key and overall, and
deleting a document never takes the file of an identical upload still waiting."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.jobs import INTERRUPTED_MESSAGE, MAX_ATTEMPTS, Job, JobManager, JobOutcome
from tests.service.conftest import LocalClient, add_key, bearer, resolution, settings_for, wait_job


def _job(tmp_path: Path, job_id: str = "a1") -> Job:
    path = tmp_path / f"{job_id}.txt"
    path.write_text(resolution(61, 5, "cong-khai"), encoding="utf-8")
    return Job(job_id, "key:test", "nq61.txt", path, "cong-khai", uploader="key:test (bien-tap)", size=10)


def _done(job: Job) -> JobOutcome:
    return [{"path": job.filename, "status": "ok", "reason": "", "doc_id": "nq-61-2025", "paragraphs": 3}], None, None


def _wait(manager: JobManager, job_id: str, statuses: set[str]) -> Job:
    deadline = time.monotonic() + 20
    while True:
        job = manager.get(job_id)
        assert job is not None
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def test_a_job_accepted_before_a_crash_runs_after_the_restart(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    started, hold = threading.Event(), threading.Event()

    def stuck(job: Job) -> JobOutcome:
        started.set()
        hold.wait(30)
        raise RuntimeError("the process died here")

    first = JobManager(stuck, db)
    first.submit(_job(tmp_path, "a1"))
    first.submit(_job(tmp_path, "a2"))
    first.start()
    assert started.wait(10)
    # the process "dies": nothing more is written by it (its thread is left hanging, its connection unused)
    second = JobManager(_done, db)
    assert second.recovered == 2  # the interrupted job and the one that never started
    second.start()
    try:
        for job_id in ("a1", "a2"):
            job = _wait(second, job_id, {"done", "failed"})
            assert job.status == "done" and job.files[0]["doc_id"] == "nq-61-2025"
        assert second.get("a1").attempts == 2  # type: ignore[union-attr]
    finally:
        second.close()
        hold.set()


def test_a_job_that_keeps_killing_the_service_is_given_up(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    calls = 0

    def crashing(job: Job) -> JobOutcome:
        nonlocal calls
        calls += 1
        raise SystemExit  # stands for the process dying inside the parser: the row stays "running"

    JobManager(crashing, db).submit(_job(tmp_path))
    for _ in range(MAX_ATTEMPTS):
        manager = JobManager(crashing, db)
        job = manager._next()  # what the worker does first: mark it running, one more attempt
        assert job is not None
        with pytest.raises(SystemExit):
            crashing(job)
    final = JobManager(_done, db)
    job = final.get("a1")
    assert job is not None and job.status == "failed" and job.attempts == MAX_ATTEMPTS
    assert job.error == INTERRUPTED_MESSAGE.format(n=MAX_ATTEMPTS)
    assert final.recovered == 0
    final.close()


@pytest.fixture()
def paused_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The service's worker does not start by itself: the test starts it (returns the original `start`)."""
    original = JobManager.start
    monkeypatch.setattr(JobManager, "start", lambda self: None)
    yield original


def test_an_upload_accepted_by_one_server_is_ingested_by_the_next(index_dir: Path, paused_queue: Any) -> None:
    editor = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))
    body = resolution(62, 6, "cong-khai").encode("utf-8")
    with LocalClient(create_app(settings_for(index_dir))) as c:
        r = c.post("/api/v1/documents", files={"file": ("nq62.txt", body, "text/plain")}, headers=editor)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        assert c.get(f"/api/v1/jobs/{job_id}", headers=editor).json()["status"] == "queued"
    # the first server is gone before its worker ran; a new one takes the job up
    app = create_app(settings_for(index_dir))
    with LocalClient(app) as c:
        paused_queue(app.state.vankien.jobs)
        job = wait_job(c, job_id, editor)
        assert job["status"] == "done" and job["files"][0]["doc_id"] == "nq-62-2025"
        hits = c.get("/api/v1/search", params={"q": "nghị quyết 62"}, headers=editor).json()["hits"]
        assert hits and hits[0]["doc_id"] == "nq-62-2025"


def test_the_queue_is_bounded_per_key_and_in_bytes(index_dir: Path, paused_queue: Any) -> None:
    editor = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))
    other = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap-2"))
    settings = settings_for(index_dir, max_queued_jobs_per_key=2, queue_quota_mb_per_key=0.004)
    with LocalClient(create_app(settings)) as c:

        def upload(n: int, headers: dict[str, str], pad: int = 0) -> Any:
            body = (resolution(n, 7, "cong-khai") + "Ghi chú. " * pad).encode("utf-8")
            return c.post("/api/v1/documents", files={"file": (f"nq{n}.txt", body, "text/plain")}, headers=headers)

        assert upload(63, editor).status_code == 202
        assert upload(64, editor).status_code == 202
        full = upload(65, editor)
        assert full.status_code == 429 and "tối đa 2" in full.json()["error"]["message"]
        assert upload(66, other).status_code == 202  # another key has its own room
        big = upload(67, other, pad=600)  # ~5 KB more than the 4 KB quota
        assert big.status_code == 507 and "hạn mức" in big.json()["error"]["message"]
        saved = sorted(p.name for p in settings.uploads_path.iterdir())
        assert len(saved) == 3  # the refused file is not kept


def test_deleting_a_document_keeps_the_file_of_a_waiting_identical_upload(index_dir: Path, paused_queue: Any) -> None:
    editor = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))
    admin = bearer(add_key(index_dir, "admin", "cong-khai", "quan-tri"))
    body = resolution(68, 8, "cong-khai").encode("utf-8")
    app = create_app(settings_for(index_dir))
    with LocalClient(app) as c:
        jobs = app.state.vankien.jobs
        first = c.post("/api/v1/documents", files={"file": ("nq68.txt", body, "text/plain")}, headers=editor)
        paused_queue(jobs)
        assert wait_job(c, first.json()["job_id"], editor)["status"] == "done"
        jobs.stop()  # the worker is busy elsewhere: the next upload waits
        second = c.post("/api/v1/documents", files={"file": ("nq68-ban-sao.txt", body, "text/plain")}, headers=editor)
        assert second.status_code == 202
        assert c.delete("/api/v1/documents/nq-68-2025", headers=admin).status_code == 204
        paused_queue(jobs)
        job = wait_job(c, second.json()["job_id"], editor)
        assert job["status"] == "done", job  # its file was still there
        assert job["files"][0]["doc_id"] == "nq-68-2025"


def test_jobs_file_is_private(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))):
        pass
    assert (index_dir / "jobs.sqlite").stat().st_mode & 0o077 == 0


def test_a_jsonl_upload_is_limited_in_records(index_dir: Path, paused_queue: Any) -> None:
    editor = bearer(add_key(index_dir, "editor", "cong-khai", "bien-tap"))
    line = '{"title": "Tin thử nghiệm", "text": "Nội dung thử nghiệm do nhóm soạn."}\n'
    settings = settings_for(index_dir, max_upload_records=50)
    with LocalClient(create_app(settings)) as c:
        ok = c.post("/api/v1/documents", files={"file": ("tin.jsonl", line * 50, "application/json")}, headers=editor)
        assert ok.status_code == 202
        big = c.post("/api/v1/documents", files={"file": ("tin2.jsonl", line * 51, "application/json")}, headers=editor)
        assert big.status_code == 413 and "tối đa 50 bản ghi" in big.json()["error"]["message"]
        assert len(list(settings.uploads_path.iterdir())) == 1


def test_a_large_jsonl_takes_turns_with_later_uploads(tmp_path: Path) -> None:
    """Work units: a job coming back for its next unit joins the end of the line, behind a later upload."""
    order: list[str] = []

    def unit(job: Job) -> JobOutcome:
        order.append(f"{job.job_id}@{job.resume_at}")
        files = [{"path": job.filename, "status": "ok", "reason": "", "doc_id": f"{job.job_id}-{job.resume_at}"}]
        more = job.resume_at + 10 if job.job_id == "lon" and job.resume_at < 20 else None
        return files, None, more

    manager = JobManager(unit, tmp_path / "jobs.sqlite")
    manager.submit(_job(tmp_path, "lon"))
    manager.submit(_job(tmp_path, "nho"))
    manager.start()
    try:
        big = _wait(manager, "lon", {"done", "failed"})
        _wait(manager, "nho", {"done", "failed"})
    finally:
        manager.close()
    assert order == ["lon@0", "nho@0", "lon@10", "lon@20"]
    assert [f["doc_id"] for f in big.files] == ["lon-0", "lon-10", "lon-20"]


def test_jobs_are_listed_per_key_by_the_api_and_the_cli(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each editor lists their own uploads with status and reason; an admin lists everyone's at or below their
    clearance; `vankien jobs` shows the same table with the keys' names."""
    from vankien.cli import main as cli

    ana, binh = add_key(index_dir, "editor", "noi-bo", "ana"), add_key(index_dir, "editor", "cong-khai", "binh")
    admin = add_key(index_dir, "admin", "cong-khai", "quan-tri")
    with LocalClient(create_app(settings_for(index_dir))) as c:

        def upload(key: str, name: str, body: bytes, classification: str = "cong-khai") -> str:
            r = c.post(
                "/api/v1/documents",
                files={"file": (name, body, "text/markdown")},
                data={"classification": classification},
                headers=bearer(key),
            )
            assert r.status_code == 202, r.text
            job_id: str = r.json()["job_id"]
            wait_job(c, job_id, bearer(key))
            return job_id

        good = upload(ana, "nq-601.md", resolution(601, 3, "cong-khai").encode("utf-8"))
        inner = upload(ana, "nq-602.md", resolution(602, 3, "noi-bo").encode("utf-8"), "noi-bo")
        bad = upload(binh, "rong.md", b"   \n")
        mine = c.get("/api/v1/jobs", headers=bearer(ana)).json()["jobs"]
        assert [j["job_id"] for j in mine] == [inner, good]  # newest first, only ana's
        assert mine[1]["status"] == "done" and mine[1]["filename"] == "nq-601.md" and "path" not in mine[1]
        [failed] = c.get("/api/v1/jobs", params={"status": "failed"}, headers=bearer(binh)).json()["jobs"]
        assert failed["job_id"] == bad and failed["error"]
        assert c.get("/api/v1/jobs", params={"status": "failed"}, headers=bearer(ana)).json()["jobs"] == []
        seen = {j["job_id"] for j in c.get("/api/v1/jobs", headers=bearer(admin)).json()["jobs"]}
        assert seen == {good, bad}  # not the nội bộ one: above this admin's clearance
        assert c.get("/api/v1/jobs", params={"limit": 0}, headers=bearer(ana)).status_code == 422
        assert c.get("/api/v1/jobs").status_code == 401
    assert cli(["jobs", "--index", str(index_dir), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["jobs"]
    assert [(j["job_id"], j["owner"], j["status"]) for j in listed] == [
        (bad, "binh", "failed"),
        (inner, "ana", "done"),
        (good, "ana", "done"),
    ]
    assert cli(["jobs", "--index", str(index_dir), "--key", "binh"]) == 0
    text = capsys.readouterr().out
    assert bad in text and "thất bại" in text and "lý do:" in text and good not in text
    assert cli(["jobs", "--index", str(index_dir / "khong-co")]) == 0
    assert "Chưa có tác vụ nạp nào" in capsys.readouterr().out


def test_a_job_table_from_before_reingest_gains_the_force_column(tmp_path: Path) -> None:
    """An older jobs.sqlite (no `force` column) is upgraded on open; its queued job keeps running as an upload."""
    import sqlite3

    db = tmp_path / "jobs.sqlite"
    old = sqlite3.connect(db)
    old.executescript(
        """CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
        uploader TEXT NOT NULL, filename TEXT NOT NULL, path TEXT NOT NULL, classification TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, files TEXT NOT NULL DEFAULT '[]', error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, resume_at INTEGER NOT NULL DEFAULT 0, turn INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL, finished TEXT);"""
    )
    job = _job(tmp_path)
    old.execute(
        "INSERT INTO jobs (job_id, owner, uploader, filename, path, classification, size, status, created, turn) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, 1)",
        (job.job_id, job.owner, job.uploader, job.filename, str(job.path), job.classification, job.size, job.created),
    )
    old.commit()
    old.close()
    seen: list[bool] = []

    def runner(j: Job) -> JobOutcome:
        seen.append(j.force)
        return _done(j)

    manager = JobManager(runner, db)
    try:
        manager.start()
        deadline = time.monotonic() + 10
        while (found := manager.get(job.job_id)) is not None and found.status != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found is not None and found.status == "done" and seen == [False]
        forced = manager.submit(Job("b2", "key:test", "nq61.txt", job.path, "cong-khai", force=True))
        while (
            (found := manager.get(forced.job_id)) is not None and found.status != "done" and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert seen == [False, True]
    finally:
        manager.close()
