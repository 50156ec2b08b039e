"""Isolated parsing: limits on time, CPU, memory and output; crashes contained; the catalog asked in the parent.

Misbehaving parsers are defined below and registered for made-up extensions, in the worker through the
`VANKIEN_ISOLATE_EXTRA_PARSERS` hook and in this process through the registry (which `parser_for` checks).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Library, ingest
from rag.errors import ParseError, UnsupportedFormat
from rag.ingest import parse_file
from rag.ingest.common import Unchanged, source_key_for
from rag.ingest.isolate import (
    CRASH_MESSAGE,
    MEMORY_MESSAGE,
    TOO_MANY_LINES_MESSAGE,
    TOO_MUCH_TEXT_MESSAGE,
    ParseLimits,
    WorkerPool,
    isolation_stats,
    parse_file_isolated,
    timeout_message,
)
from rag.ingest.jsonl import RecordError
from rag.ingest.worker import EXTRA_PARSERS_ENV
from rag.types import Block, RawDocument
from tests.samples import REPO_ROOT, sample_corpus_files

MODULE = "tests.reliability.test_rel_isolation"
TEXT = "Nghị quyết số 99-NQ/TW về thử nghiệm.\nI. NHIỆM VỤ\n1. Mỗi tệp được đọc trong một tiến trình riêng.\n"

# -- misbehaving parsers (run in the worker) --------------------------------------------------------------------


def _doc(path: Path, data: bytes, text: str) -> list[RawDocument]:
    from rag.ingest.common import make_raw

    return [make_raw(path, data, "txt", [Block(text)])]


def parse_sleep(path: Path, data: bytes) -> list[RawDocument]:
    while True:
        time.sleep(60)


def parse_spin(path: Path, data: bytes) -> list[RawDocument]:
    n = 0
    while True:  # CPU, not sleep: only the CPU limit can stop it before the wall-clock one
        n += 1


def parse_hog(path: Path, data: bytes) -> list[RawDocument]:
    hoard = []
    for _ in range(64):
        hoard.append(bytearray(256 * 1024 * 1024))  # 16 GiB in all, far over the limit
    return _doc(path, data, str(len(hoard)))


def parse_abort(path: Path, data: bytes) -> list[RawDocument]:
    os.abort()


def parse_exit(path: Path, data: bytes) -> list[RawDocument]:
    os._exit(0)


def parse_chatty(path: Path, data: bytes) -> list[RawDocument]:
    print("rác trên stdout của tiến trình con", flush=True)
    os.write(1, b"{not json}\n")
    import logging

    for i in range(500):
        logging.getLogger("rag.ingest.test").warning("cảnh báo %d", i)
    return _doc(path, data, "Văn bản đọc được.")


def parse_huge(path: Path, data: bytes) -> list[RawDocument]:
    return _doc(path, data, "chữ " * 50_000)


PARSERS = {
    ".sleep": "parse_sleep",
    ".spin": "parse_spin",
    ".hog": "parse_hog",
    ".abort": "parse_abort",
    ".exit": "parse_exit",
    ".chatty": "parse_chatty",
    ".huge": "parse_huge",
}


@pytest.fixture()
def hostile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[WorkerPool]:
    """Registers the misbehaving parsers (parent and worker) and yields a pool of its own."""
    spec = ";".join(f"{ext}={MODULE}:{func}" for ext, func in PARSERS.items())
    monkeypatch.setenv(EXTRA_PARSERS_ENV, spec)
    for ext, func in PARSERS.items():
        monkeypatch.setitem(ingest._PARSERS, ext, f"{MODULE}:{func}")
    if str(REPO_ROOT) not in sys.path:
        monkeypatch.syspath_prepend(str(REPO_ROOT))
    pool = WorkerPool()
    yield pool
    pool.close()


def _file(tmp_path: Path, name: str, data: bytes | str = TEXT) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _refusal(path: Path, limits: ParseLimits, pool: WorkerPool) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_file_isolated(path, limits=limits, pool=pool)
    return caught.value


# -- limits ------------------------------------------------------------------------------------------------------


def test_a_parser_that_never_returns_is_killed_at_the_time_limit(hostile: WorkerPool, tmp_path: Path) -> None:
    before = isolation_stats().timeouts
    started = time.monotonic()
    error = _refusal(_file(tmp_path, "a.sleep"), ParseLimits(time_s=1.5), hostile)
    assert time.monotonic() - started < 10
    assert error.user_message == timeout_message(1.5) == "Tệp xử lý quá thời gian cho phép (2 giây)."
    assert isolation_stats().timeouts == before + 1
    # The pool goes on with a new worker.
    assert isinstance(parse_file_isolated(_file(tmp_path, "b.txt"), pool=hostile)[0], RawDocument)


def test_cpu_time_is_limited_apart_from_wall_time(hostile: WorkerPool, tmp_path: Path) -> None:
    started = time.monotonic()
    error = _refusal(_file(tmp_path, "a.spin"), ParseLimits(time_s=60, cpu_s=1), hostile)
    assert time.monotonic() - started < 30
    assert error.user_message == timeout_message(1)


def test_a_parser_that_wants_too_much_memory_fails_cleanly(hostile: WorkerPool, tmp_path: Path) -> None:
    before = isolation_stats().memory
    error = _refusal(_file(tmp_path, "a.hog"), ParseLimits(time_s=60, memory_bytes=1024**3), hostile)
    assert error.user_message == MEMORY_MESSAGE == "Tệp cần quá nhiều bộ nhớ để đọc."
    assert isolation_stats().memory == before + 1
    assert isinstance(parse_file_isolated(_file(tmp_path, "b.txt"), pool=hostile)[0], RawDocument)


@pytest.mark.parametrize("ext", [".abort", ".exit"])
def test_a_dying_parser_becomes_a_rejection(hostile: WorkerPool, tmp_path: Path, ext: str) -> None:
    before = isolation_stats().crashes
    error = _refusal(_file(tmp_path, f"a{ext}"), ParseLimits(time_s=30), hostile)
    assert error.user_message == CRASH_MESSAGE == "Trình đọc tệp gặp lỗi nghiêm trọng."
    assert isolation_stats().crashes == before + 1
    assert isinstance(parse_file_isolated(_file(tmp_path, "b.txt"), pool=hostile)[0], RawDocument)


def test_text_beyond_the_cap_is_refused(hostile: WorkerPool, tmp_path: Path) -> None:
    error = _refusal(_file(tmp_path, "a.huge"), ParseLimits(max_doc_chars=10_000), hostile)
    assert error.user_message == TOO_MUCH_TEXT_MESSAGE


def test_a_document_of_too_many_lines_is_refused(tmp_path: Path) -> None:
    pool = WorkerPool()
    try:
        path = _file(tmp_path, "dong.txt", "dòng\n" * 500)
        error = _refusal(path, ParseLimits(max_doc_blocks=100), pool)
        assert error.user_message == TOO_MANY_LINES_MESSAGE == "Tệp có quá nhiều dòng để xử lý."
        doc = parse_file_isolated(path, pool=pool)[0]
        assert isinstance(doc, RawDocument) and len(doc.blocks) == 500
    finally:
        pool.close()


def test_one_oversized_record_of_a_jsonl_file_is_refused_alone(tmp_path: Path) -> None:
    lines = [
        {"id": "ngan", "title": "Tin ngắn", "text": "Nội dung ngắn."},
        {"id": "dai", "title": "Tin dài", "text": "chữ " * 5_000},
    ]
    path = _file(tmp_path, "tin.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    pool = WorkerPool()
    try:
        entries = parse_file_isolated(path, limits=ParseLimits(max_doc_chars=1_000), pool=pool)
    finally:
        pool.close()
    assert isinstance(entries[0], RawDocument)
    assert isinstance(entries[1], RecordError) and TOO_MUCH_TEXT_MESSAGE in entries[1].user_message


def test_worker_output_and_logs_stay_out_of_stdout(
    hostile: WorkerPool, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    entries = parse_file_isolated(_file(tmp_path, "a.chatty"), pool=hostile)
    assert isinstance(entries[0], RawDocument)
    out, _err = capfd.readouterr()
    assert "rác" not in out and "{not json}" not in out


# -- behaviour equal to in-process parsing ------------------------------------------------------------------------


def test_isolated_results_equal_in_process_results() -> None:
    pool = WorkerPool()
    try:
        for path in sample_corpus_files():
            try:
                expected = parse_file(path)
            except ParseError as exc:
                with pytest.raises(ParseError) as caught:
                    parse_file_isolated(path, pool=pool)
                assert caught.value.user_message == exc.user_message
                continue
            assert parse_file_isolated(path, pool=pool) == expected, path.name
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rong.txt", b""),
        ("nhi-phan.txt", bytes(range(256)) * 10),
        ("hong.pdf", b"%PDF-1.7\n1 0 obj <<"),
        ("hong.docx", b"PK\x03\x04 hong"),
        ("la.doc", b"xin chao"),
    ],
)
def test_refusals_keep_their_vietnamese_reason(tmp_path: Path, name: str, data: bytes) -> None:
    path = _file(tmp_path, name, data)
    with pytest.raises(ParseError) as in_process:
        parse_file(path)
    with pytest.raises(ParseError) as isolated:
        parse_file_isolated(path)
    assert isolated.value.user_message == in_process.value.user_message
    assert type(isolated.value) is type(in_process.value)
    if name.endswith(".doc"):
        assert isinstance(isolated.value, UnsupportedFormat)


def test_workers_are_reused_across_files(tmp_path: Path) -> None:
    pool = WorkerPool()
    try:
        for i in range(6):
            parse_file_isolated(_file(tmp_path, f"{i}.txt", TEXT + str(i)), pool=pool)
        # This pool's own count: the process-wide one also moves with other pools (a server left by another test).
        assert pool.started == 1
        assert pool.idle_workers() == 1
    finally:
        pool.close()
    assert pool.idle_workers() == 0


def test_workers_are_reused_under_a_parent_with_a_large_peak(tmp_path: Path) -> None:
    """A child started by a big process (a service holding a large index) reports the parent's peak as its own
    `ru_maxrss`; that inherited peak must not make every worker look bloated and be replaced after one file."""
    limits = ParseLimits(memory_bytes=512 * 1024**2)  # workers are replaced above half of this, 256 MB
    ballast = bytearray(320 * 1024**2)  # the parent's peak now exceeds it
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident, not just reserved
    pool = WorkerPool()
    try:
        for i in range(4):
            parse_file_isolated(_file(tmp_path, f"{i}.txt", TEXT + str(i)), limits=limits, pool=pool)
        assert pool.started == 1
    finally:
        pool.close()
        del ballast


def test_an_idle_worker_is_replaced(tmp_path: Path) -> None:
    pool = WorkerPool(idle_s=0.6)
    try:
        parse_file_isolated(_file(tmp_path, "a.txt"), pool=pool)
        time.sleep(1.0)  # the worker has exited by itself (or is about to)
        assert isinstance(parse_file_isolated(_file(tmp_path, "b.txt"), pool=pool)[0], RawDocument)
    finally:
        pool.close()


# -- the catalog stays in the parent ------------------------------------------------------------------------------


def test_an_unchanged_file_is_not_parsed(tmp_path: Path) -> None:
    path = _file(tmp_path, "a.txt")
    asked: list[tuple[str, str]] = []

    def known(source_key: str, sha256: str) -> bool:
        asked.append((source_key, sha256))
        return True

    pool = WorkerPool()
    try:
        assert parse_file_isolated(path, known, pool=pool) == [Unchanged(source_key_for(path), str(path))]
        assert pool.started == 0  # no worker involved
    finally:
        pool.close()
    assert asked and asked[0][0] == source_key_for(path)


def test_jsonl_records_are_looked_up_in_the_parent(tmp_path: Path) -> None:
    records = [{"id": f"r{i}", "title": f"Tin {i}", "text": f"Nội dung bản tin số {i}."} for i in range(3)]
    path = _file(tmp_path, "tin.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    first = parse_file(path)
    stored = {doc.source_key: doc.sha256 for doc in first if isinstance(doc, RawDocument)}
    asked: list[str] = []

    def known(source_key: str, sha256: str) -> bool:  # called here, in the parent, with the catalog's meaning
        asked.append(source_key)
        return source_key.endswith("#r1") and stored.get(source_key) == sha256

    entries = parse_file_isolated(path, known)
    assert len(asked) == 3
    assert [type(e).__name__ for e in entries] == ["RawDocument", "Unchanged", "RawDocument"]
    assert entries[0] == first[0] and entries[2] == first[2]


def test_a_work_unit_of_a_jsonl_parses_only_its_own_records(tmp_path: Path) -> None:
    """The service ingests a large .jsonl in work units; each parses (and looks up) only its records. Parsing the
    whole file for every unit made a 60,000-record upload take an hour instead of minutes."""
    lines = [json.dumps({"id": f"r{i}", "title": f"Tin {i}", "text": f"Nội dung bản tin số {i}."}) for i in range(7)]
    lines.insert(3, "")  # a blank line is not a record
    lines[5] = "{không phải JSON"  # a bad line is one (it takes its place in the unit)
    path = _file(tmp_path, "tin.jsonl", "\n".join(lines))

    def plain(entries: list[object]) -> list[object]:  # errors compare by their message
        return [str(e) if isinstance(e, Exception) else e for e in entries]

    whole = plain(list(parse_file(path)))
    assert len(whole) == 7
    asked: list[str] = []

    def known(source_key: str, sha256: str) -> bool:
        asked.append(source_key.rsplit("#", 1)[1])
        return False

    for parse in (lambda r: parse_file(path, known, r), lambda r: parse_file_isolated(path, known, records=r)):
        asked.clear()
        unit = parse((2, 5))
        assert isinstance(unit[2], ParseError)
        assert plain(unit) == whole[2:5]
        assert asked == ["r2", "r3"]  # the records of the unit only (the bad line has no key)
        assert plain(parse((6, 9))) == whole[6:]
        assert parse((9, 12)) == []
    single = _file(tmp_path, "nq.md", "# Nghị quyết thử\n\nMột đoạn văn.")
    assert parse_file(single, records=(1, 3)) == [] and parse_file_isolated(single, records=(1, 3)) == []
    assert len(parse_file_isolated(single, records=(0, 3))) == 1


def test_library_isolates_by_default_and_can_parse_in_process(sample_dir: Path, tmp_path: Path) -> None:
    before = isolation_stats().files
    with Library(tmp_path / "isolated") as isolated:
        assert isolated.isolate
        report = isolated.ingest([sample_dir])
    assert isolation_stats().files == before + 2
    with Library(tmp_path / "in-process", isolate=False) as in_process:
        same = in_process.ingest([sample_dir])
    assert isolation_stats().files == before + 2
    assert report.counts == same.counts == {"ok": 2, "unchanged": 0, "replaced": 0, "rejected": 0}
    with Library(tmp_path / "isolated") as again:
        assert again.ingest([sample_dir]).counts["unchanged"] == 2
    assert isolation_stats().files == before + 2  # unchanged files never reach a worker


# -- lifetime ----------------------------------------------------------------------------------------------------

_SERVICE = """
import sys, threading, time
from pathlib import Path
from rag import ingest
from rag.ingest.isolate import WorkerPool, parse_file_isolated
ingest._PARSERS[".sleep"] = "tests.reliability.test_rel_isolation:parse_sleep"
pool = WorkerPool()
threading.Thread(target=lambda: parse_file_isolated(Path(sys.argv[1]), pool=pool), daemon=True).start()
time.sleep(600)
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_ingest_work_runs_ahead_of_idle_class_embedding_and_behind_everything_else() -> None:
    """Ingest children and the tokenising helper: `nice 19` under SCHED_BATCH; the embedding helper: SCHED_IDLE."""
    code = (
        "import os, sys; from rag.ingest.lifetime import yield_cpu; "
        "print(yield_cpu(before_idle=sys.argv[1] == 'ingest'), os.sched_getscheduler(0), os.nice(0))"
    )
    seen = {}
    for role in ("ingest", "embed"):
        out = subprocess.run([sys.executable, "-c", code, role], capture_output=True, text=True, cwd=REPO_ROOT)
        policy, scheduler, nice = out.stdout.split()
        seen[role] = (policy, int(scheduler), int(nice))
    assert seen["ingest"] == ("batch", os.SCHED_BATCH, 19)
    assert seen["embed"][:2] == ("idle", os.SCHED_IDLE)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_die_with_the_service(tmp_path: Path) -> None:
    """A service killed with SIGKILL while its worker is busy in a parser: the worker exits within seconds (it
    used to keep parsing for minutes)."""
    import signal
    import subprocess

    path = _file(tmp_path, "treo.sleep")
    env = {**os.environ, EXTRA_PARSERS_ENV: f".sleep={MODULE}:parse_sleep", "PYTHONPATH": str(REPO_ROOT)}
    service = subprocess.Popen([sys.executable, "-c", _SERVICE, str(path)], env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while not workers:
            assert time.monotonic() < deadline, "no worker started"
            workers = _children(service.pid)
            time.sleep(0.1)
        time.sleep(0.5)  # the worker is inside the parser now
        assert all(_alive(w) for w in workers)
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "a worker outlived its service"
    finally:
        service.kill()
        for w in _children(service.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)
