"""Crash safety in CI: a few runs of tools/kill_ingest.py and tools/kill_uploads.py (the full campaigns are in
docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import kill_ingest, kill_uploads


def test_sigkill_during_ingest_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    result = kill_ingest.run_campaign(6, seed=11, work=tmp_path, hash_share=0.5, pause_share=0.85)
    assert result["inconsistencies"] == 0, result["details"]
    assert result["kills"] >= 3, result
    assert result["canary_searches"] > 0 and result["reported_done_checked"] > 0, result
    assert result["orphaned_workers"] == 0, result
    assert any(p.startswith("pause:lexical") or p.startswith("pause:vectors") for p in result["kill_points"]), result


@pytest.mark.slow
def test_accepted_uploads_survive_kills_of_the_service(tmp_path: Path) -> None:
    """A few runs of tools/kill_uploads.py (50 runs and their figures: docs/reliability.md): `vankien serve` is
    killed (SIGKILL, SIGTERM) while a client uploads; after a restart every upload answered 202 is done and
    searchable, or failed with a reason; the killed server's workers are gone; the index is consistent."""
    report = kill_uploads.run_campaign(runs=3, seed=11, work=tmp_path)
    assert report["accepted"] > 0, report
    assert report["lost"] == [] and report["orphans"] == 0 and report["inconsistencies"] == [], report
    assert report["done"] + report["failed"] == report["accepted"]
