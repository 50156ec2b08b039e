"""The CI-sized sample of the malformed-file corpus, ingested with isolation: every file ends ok or rejected.

The sample (`python -m tools.make_malformed_corpus --sample`) takes about one small file of every category:
truncated, bit-flipped, encrypted, nested and bomb PDFs, DOCX zip bombs, broken XML and entity tricks, deep and odd
HTML, binary and empty files, odd encodings, legacy fonts, pathological markdown, broken .jsonl, and valid controls.
The whole corpus runs through `tools/ingest_malformed.py` (docs/reliability.md has its figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rag import Library
from rag.ingest.isolate import isolation_stats
from tests.samples import REPO_ROOT
from tools.make_malformed_corpus import all_cases, generate

UNEXPECTED = "Lỗi không mong đợi"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("malformed")
    rows = generate(folder, sample=True)
    return folder, rows


def test_the_sample_covers_every_category() -> None:
    cases = all_cases()
    assert len(cases) >= 300
    assert {c.category for c in cases} == {c.category for c in cases if c.sample}
    assert 30 <= sum(c.sample for c in cases) <= 50


def test_generation_is_deterministic(tmp_path: Path, sample: tuple[Path, list[dict[str, Any]]]) -> None:
    again = generate(tmp_path / "again", sample=True)
    assert [(r["name"], r["sha256"]) for r in again] == [(r["name"], r["sha256"]) for r in sample[1]]


@pytest.mark.slow
def test_sample_ingests_without_a_crash(sample: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    folder, rows = sample
    stats = isolation_stats()
    crashes, started = stats.crashes, time.monotonic()
    with Library(tmp_path / "index") as library:
        report = library.ingest([folder])
        problems = library.check()
    elapsed = time.monotonic() - started

    by_file: dict[str, list[Any]] = {}
    for result in report.results:
        by_file.setdefault(Path(result.path.split("#", 1)[0]).name, []).append(result)
    assert sorted(by_file) == sorted(r["name"] for r in rows), "every file has a result"
    for row in rows:
        results = by_file[row["name"]]
        for result in results:
            assert result.status in ("ok", "unchanged", "replaced", "rejected")
            if result.status == "rejected":
                assert result.reason.strip(), f"{row['name']}: rejected without a reason"
                assert not result.reason.startswith(UNEXPECTED), f"{row['name']}: {result.reason}"
        outcome = "ok" if any(r.status != "rejected" for r in results) else "rejected"
        if row["expect"] != "any":
            assert outcome == row["expect"], f"{row['name']} ({row['note']}): {[r.reason for r in results]}"
    assert problems == []
    assert isolation_stats().crashes == crashes, "no parser worker crashed"
    assert elapsed < 90, f"the sample took {elapsed:.0f} s"


@pytest.mark.slow
def test_the_ingest_command_survives_the_worst_of_the_sample(
    sample: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder, rows = sample
    worst = [folder / r["name"] for r in rows if r["category"] in ("pdf-bomb", "docx-zipbomb", "docx-entities")]
    worst += [folder / r["name"] for r in rows if r["category"] in ("pdf-nested", "text-pathological", "jsonl")]
    assert len(worst) >= 5
    proc = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", *map(str, worst), "--index", str(tmp_path / "cli"), "--json",
         "--no-progress"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    names = {Path(f["path"].split("#", 1)[0]).name for f in report["files"]}
    assert names == {p.name for p in worst}
    assert all(f["status"] != "rejected" or f["reason"] for f in report["files"])
