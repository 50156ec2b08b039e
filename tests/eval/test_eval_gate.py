"""CI's quality gate: the team's QA sets over the sample corpus must not regress against the stored baselines.

After a deliberate change of behaviour, regenerate the baseline with `make baseline` and commit it.
"""

import json
from pathlib import Path

import pytest

from eval.cli import main
from tests.samples import REPO_ROOT, SAMPLE_CORPUS


@pytest.mark.slow
@pytest.mark.parametrize("name", ["corpus_qa", "cadre_qa"])
def test_team_qa_set_has_not_regressed(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """corpus_qa: the first set; cadre_qa: questions as cadres type them (polite preambles, acronyms, no
    diacritics, "về vấn đề gì", "tóm tắt", lists, follow-ups that switch topic)."""
    baseline = REPO_ROOT / f"eval/baselines/{name}.json"
    args = ["qa", "--docs", str(SAMPLE_CORPUS), "--qa", str(REPO_ROOT / f"eval/data/{name}.jsonl")]
    assert main([*args, "--json", "--no-progress", "--work", str(tmp_path / "work")]) == 0
    current = tmp_path / "current.json"
    current.write_text(capsys.readouterr().out, encoding="utf-8")
    status = main(["compare", str(baseline), str(current), "--max-drop", "0.01"])
    report = capsys.readouterr().out
    assert status == 0, f"the QA set regressed against {baseline.name}:\n{report}"
    metrics = json.loads(current.read_text(encoding="utf-8"))["metrics"]
    assert metrics["quote_verbatim"] == 1.0  # every citation quotes its paragraph exactly


def test_gold_paragraph_ids_are_current() -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "tools.annotate_corpus_qa", "--check"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
