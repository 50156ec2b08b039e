"""Queries during ingestion see the old or the new state of a document, never a mix.

One thread keeps replacing a document (version A <-> version B, many paragraphs, each version with its own canary
word in its title and in every paragraph; B is also more restricted than A), another removes and re-adds a second
document, and reader threads search and fetch paragraphs all the while. Every result list must hold paragraphs of
one version only, each with the title of that same version, never a paragraph above the reader's clearance, and
never a paragraph whose document row is missing. The thread switch interval is lowered so that the threads
interleave often.

The service part checks that an upload being parsed does not hold any lock searches need, and a short mixed load
(search, ask, upload, delete) gets no server error.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Library
from rag.errors import NotFound
from rag.text.ids import doc_id_suffix
from rag.types import Principal
from service.app import create_app
from tests.service.conftest import LocalClient, add_key, bearer, settings_for, wait_job
from tools import load_mixed

SHARED = "quyloan"  # in every paragraph of every version: a search for it returns paragraphs of both documents
CANARY = {"A": "zorvak", "B": "qelmix"}
CLASSIFICATION = {"A": "cong-khai", "B": "mat"}
PARAGRAPHS = 60
DURATION_S = 4.0


def _resolution(version: str, number: int, paragraphs: int = PARAGRAPHS) -> str:
    canary = CANARY[version]
    lines = [
        "BAN CHẤP HÀNH TRUNG ƯƠNG",
        f"Số {number}-NQ/TW",
        "Hà Nội, ngày 5 tháng 3 năm 2025",
        "NGHỊ QUYẾT",
        "CỦA BỘ CHÍNH TRỊ",
        f"về kho dữ liệu {SHARED} phiên bản {canary}",
        "Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.",
        "I. NHIỆM VỤ",
    ]
    lines += [
        f"{i}. Nhiệm vụ {i} của kho {SHARED}: phiên bản {canary} giao đơn vị số {i} thực hiện trong năm {2025 + i % 5}."
        for i in range(1, paragraphs + 1)
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture()
def low_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _version_of(text: str) -> set[str]:
    return {v for v, c in CANARY.items() if c in text}


@pytest.mark.parametrize("embedder", ["none", "hash:64"])
def test_readers_never_see_a_mix_of_versions(tmp_path: Path, embedder: str, low_switch_interval: None) -> None:
    src = tmp_path / "src"
    src.mkdir()
    replaced, churned = src / "nq-81.txt", src / "nq-82.txt"
    replaced.write_text(_resolution("A", 81), encoding="utf-8")
    churned.write_text(_resolution("A", 82, 20), encoding="utf-8")
    library = Library(tmp_path / "ix", embedder=embedder)
    report = library.ingest([replaced, churned], CLASSIFICATION["A"])
    assert report.counts["ok"] == 2, report.results
    replaced_id, churned_id = (r.doc_id for r in report.results)
    assert replaced_id and churned_id
    # a reclassified document moves to its level's id namespace (docs/security.md): "nq-81-2025" <-> ".mat"
    replaced_ids = {replaced_id, replaced_id + doc_id_suffix(CLASSIFICATION["B"])}
    # ids a search may return just before their document is removed (churned, or replaced under its other id)
    transient = replaced_ids | {churned_id}

    stop = threading.Event()
    problems: list[str] = []
    counts = {"searches": 0, "replaces": 0, "churns": 0, "hits": 0}
    errors: list[BaseException] = []

    def guard(fn: object) -> object:
        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            except BaseException as exc:  # a crash in any thread fails the test
                errors.append(exc)
                stop.set()

        return run

    def replacer() -> None:
        version = "A"
        while not stop.is_set():
            version = "B" if version == "A" else "A"
            replaced.write_text(_resolution(version, 81), encoding="utf-8")
            library.ingest([replaced], CLASSIFICATION[version])
            counts["replaces"] += 1

    def churner() -> None:
        while not stop.is_set():
            library.remove(churned_id)
            library.ingest([churned], CLASSIFICATION["A"])
            counts["churns"] += 1

    def reader(clearance: str, mode: str) -> None:
        principal = Principal(name=f"reader-{clearance}", clearance=clearance)
        while not stop.is_set():
            hits = library.search(SHARED, 200, None, principal, mode)
            counts["searches"] += 1
            counts["hits"] += len(hits)
            seen: dict[str, set[str]] = {}
            for hit in hits:
                versions = _version_of(hit.paragraph.text)
                title_versions = _version_of(hit.title)
                if hit.doc_id in replaced_ids:
                    seen.setdefault("text", set()).update(versions)
                    if versions and versions != title_versions:
                        problems.append(f"{hit.paragraph_id}: text of {versions}, title of {title_versions}")
                if clearance == "cong-khai" and hit.classification != "cong-khai":
                    problems.append(f"{hit.paragraph_id}: {hit.classification} paragraph for a cong-khai reader")
                if clearance == "cong-khai" and "B" in versions:
                    problems.append(f"{hit.paragraph_id}: restricted version B reached a cong-khai reader")
                if library.catalog.document_info(hit.doc_id) is None and hit.doc_id not in transient:
                    problems.append(f"{hit.paragraph_id}: no document row for {hit.doc_id}")
                try:
                    library.paragraph(hit.paragraph_id)
                except NotFound:
                    if hit.doc_id not in transient:  # removed after the search
                        problems.append(f"{hit.paragraph_id}: paragraph of a present document not found")
            if len(seen.get("text", set())) > 1:
                problems.append(f"one result list mixes versions {sorted(seen['text'])}")

    modes = ["lexical", "hybrid"] if embedder != "none" else ["lexical"]
    threads = [threading.Thread(target=guard(replacer)), threading.Thread(target=guard(churner))]
    threads += [
        threading.Thread(target=guard(lambda c=c, m=m: reader(c, m))) for c in ("cong-khai", "toi-mat") for m in modes
    ]
    for t in threads:
        t.start()
    time.sleep(DURATION_S)
    stop.set()
    for t in threads:
        t.join(60)
    library.close()
    assert not errors, repr(errors[0])
    assert counts["replaces"] >= 3 and counts["searches"] >= 20, counts
    assert not problems, f"{len(problems)} problems in {counts}: {problems[:5]}"


def test_replace_during_a_search_cannot_leak_a_restricted_version(tmp_path: Path) -> None:
    """The exact interleaving: a search has computed what its caller may see, then a replace with a more restricted
    version is applied before it scores. The search must not return the new, restricted paragraphs."""
    src = tmp_path / "nq-85.txt"
    src.write_text(_resolution("A", 85, 10), encoding="utf-8")
    library = Library(tmp_path / "ix")
    library.ingest([src], CLASSIFICATION["A"])
    lexical = library.store.lexical
    original = lexical.search
    in_search, replaced = threading.Event(), threading.Event()
    result: list[list[str]] = []

    def paused_search(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name == "reader" and not in_search.is_set():
            in_search.set()
            replaced.wait(2.0)  # with the store's read lock held, the replace cannot finish meanwhile
        return original(*args, **kwargs)  # type: ignore[arg-type]

    lexical.search = paused_search  # type: ignore[method-assign]

    def read() -> None:
        hits = library.search(SHARED, 200, None, Principal(name="r", clearance="cong-khai"), "lexical")
        result.append([f"{h.classification} {h.paragraph.text}" for h in hits])

    def replace() -> None:
        src.write_text(_resolution("B", 85, 10), encoding="utf-8")
        library.ingest([src], CLASSIFICATION["B"])
        replaced.set()

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    assert in_search.wait(10)
    writer = threading.Thread(target=replace, name="writer")
    writer.start()
    reader.join(30)
    writer.join(30)
    library.close()
    assert result, "the search did not finish"
    # The old version is gone from the catalog by the time the hits are built, so an empty list is right too.
    leaked = [h for h in result[0] if not h.startswith("cong-khai") or CANARY["B"] in h]
    assert not leaked, leaked[:3]


def test_upload_parsing_does_not_block_searches(tmp_path: Path) -> None:
    """While an uploaded file is being ingested (parsed, analysed and committed in a child process), searches
    answer at once: the serving process holds no index lock meanwhile."""
    index = tmp_path / "ix"
    src = tmp_path / "seed.txt"
    src.write_text(_resolution("A", 83, 5), encoding="utf-8")
    with Library(index) as library:
        library.ingest([src])
    editor = bearer(add_key(index, "editor", "toi-mat"))
    app = create_app(settings_for(index))
    # a large document (written here, not an official text): its analysis takes seconds
    paragraphs = [
        f"{i}. Nhiệm vụ {i}: triển khai kho dữ liệu số {CANARY['B']} ở đơn vị {i % 97}." for i in range(1, 2500)
    ]
    body = (_resolution("B", 84, 5) + "\n".join(paragraphs) + "\n").encode("utf-8")
    with LocalClient(app) as client:
        r = client.post("/api/v1/documents", headers=editor, files={"file": ("nq84.md", body, "text/markdown")})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()["status"] != "running":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        slowest = 0.0
        searches = 0
        while client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()["status"] == "running":
            started = time.monotonic()
            r = client.get("/api/v1/search", params={"q": SHARED}, headers=editor)
            slowest = max(slowest, time.monotonic() - started)
            assert r.status_code == 200, r.text
            searches += 1
        assert searches >= 3, "the upload was ingested too fast to test anything"
        assert slowest < 5.0, f"a search waited {slowest:.1f} s for an upload being ingested"
        job = wait_job(client, job_id, editor, timeout=120)
        assert job["status"] == "done", job
        r = client.get("/api/v1/search", params={"q": CANARY["B"]}, headers=editor)
        assert any("nq-84" in h["doc_id"] for h in r.json()["hits"]), r.json()


@pytest.mark.slow
def test_mixed_load_short_run(tmp_path: Path) -> None:
    """20 seconds of tools/load_mixed.py over corpus/ (the 5-minute run and its figures: docs/reliability.md).

    A short run's memory reading is dominated by allocator warm-up, so it is held to a looser bound here; the
    10 % bound applies to the 5-minute run."""
    result = load_mixed.run(duration=20.0, clients=4, warmup=10.0, seed=5, with_shared=False, work=tmp_path)
    assert result["server_errors_5xx"] == 0 and result["errors"] == 0, result["endpoints"]
    assert result["requests"] >= 50, result
    assert {"GET /api/v1/search", "POST /api/v1/ask", "POST /api/v1/documents"} <= set(result["endpoints"]), result
    assert result["memory_growth_percent"] < 25.0, result["rss_kb"]
