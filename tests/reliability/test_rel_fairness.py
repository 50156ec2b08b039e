"""Fairness in CI: a small run of tools/ingest_fairness.py (the 20 MB + 60,000-record run and its figures are in
docs/reliability.md). Latency figures are printed by the tool, not asserted here: CI machines differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import ingest_fairness


@pytest.mark.slow
def test_searches_and_a_small_upload_go_on_while_large_uploads_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generated Markdown document and a .jsonl of records ingest through the HTTP API while a client searches
    every 0.2 s; a small upload sent after them becomes searchable, no search fails, both large jobs finish, and
    the tool reports the figures docs/reliability.md records."""
    monkeypatch.setattr(ingest_fairness, "IDLE_SEARCHES", 20)
    report = ingest_fairness.run(markdown_mb=0.2, records=600, max_seconds=240, work=tmp_path)
    assert report["large_jobs_state"] == {"markdown": "done", "jsonl": "done"}, report
    assert report["small_upload_job"] == "done" and report["small_upload_searchable_s"] is not None, report
    assert report["searches_failed"] == 0, report
    assert report["during_ms"]["n"] > 0 and report["idle_ms"]["n"] == 20, report
    for figure in ("p95_ratio", "p95_ratio_jobs", "rss_after_vs_fresh_percent", "rss_peak_kb"):
        assert isinstance(report[figure], int | float), (figure, report)
