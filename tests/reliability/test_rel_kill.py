"""Crash safety in CI: a few runs of scripts/kill_ingest.py (the full campaign is in docs/reliability.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_ingest", ROOT / "scripts" / "kill_ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sigkill_during_ingest_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    kill_ingest = _script()
    result = kill_ingest.run_campaign(6, seed=11, work=tmp_path, hash_share=0.5, pause_share=0.85)
    assert result["inconsistencies"] == 0, result["details"]
    assert result["kills"] >= 3, result
    assert result["canary_searches"] > 0 and result["reported_done_checked"] > 0, result
    assert result["orphaned_workers"] == 0, result
    assert any(p.startswith("pause:lexical") or p.startswith("pause:vectors") for p in result["kill_points"]), result
