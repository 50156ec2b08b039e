"""Crash safety in CI: a few runs of tools/kill_ingest.py (the full campaign is in docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

from tools import kill_ingest


def test_sigkill_during_ingest_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    result = kill_ingest.run_campaign(6, seed=11, work=tmp_path, hash_share=0.5, pause_share=0.85)
    assert result["inconsistencies"] == 0, result["details"]
    assert result["kills"] >= 3, result
    assert result["canary_searches"] > 0 and result["reported_done_checked"] > 0, result
    assert result["orphaned_workers"] == 0, result
    assert any(p.startswith("pause:lexical") or p.startswith("pause:vectors") for p in result["kill_points"]), result
