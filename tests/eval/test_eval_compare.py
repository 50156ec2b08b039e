"""The regression gate: a deliberately worse configuration fails it; an equal or better one passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.compare import compare, load_results, run_compare
from eval.config import RunConfig
from eval.datasets import QAItem, load_beir, load_qa
from eval.errors import ResultFileError
from eval.runners import run_qa, run_retrieval
from rag.types import Answer

GOOD = {"q1": ["d1", "d3"], "q2": ["d2", "d4"], "q3": ["d3", "d1"]}  # every gold at rank 1
WORSE = {"q1": ["d1", "d3"], "q2": ["d4", "d3", "d2"], "q3": ["d4"]}  # q2 drops to rank 3, q3 lost


def _retrieval(beir_dir: Path, rankings: dict[str, list[str]], name: str) -> dict[str, Any]:
    ds = load_beir(beir_dir)
    by_text = {ds.queries[q]: ids for q, ids in rankings.items()}
    run = run_retrieval(ds, lambda query, k: by_text[query][:k], progress=False, config=RunConfig(name=name))
    return run.to_dict()


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_worse_configuration_fails_the_gate(beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.json", _retrieval(beir_dir, GOOD, "co-so"))
    new = _write(tmp_path / "new.json", _retrieval(beir_dir, WORSE, "te-hon"))
    assert run_compare(old, new, 0.01) == 1
    out = capsys.readouterr().out
    assert "CÓ SUY GIẢM" in out and "Hit@1" in out and "MRR@10" in out
    # The questions that got worse, with what came back instead of the gold paragraph.
    assert "q2: hạng 1 → hạng 3" in out and "nay trả về: d4, d3, d2" in out
    assert "q3: hạng 1 → ngoài top 10" in out and "Công tác kiểm tra giám sát?" in out
    assert "q1:" not in out


def test_equal_or_better_passes(beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.json", _retrieval(beir_dir, GOOD, "a"))
    worse = _write(tmp_path / "worse.json", _retrieval(beir_dir, WORSE, "a"))
    assert run_compare(good, good, 0.01) == 0
    assert run_compare(worse, good, 0.01) == 0  # better
    out = capsys.readouterr().out
    assert "không có chỉ số nào giảm" in out and "2 tốt lên" in out


def test_max_drop_tolerates_small_drops(beir_dir: Path) -> None:
    old = _retrieval(beir_dir, GOOD, "a")
    new = json.loads(json.dumps(old))
    new["metrics"]["NDCG@10"] -= 0.005
    assert not compare(old, new, 0.01).regressed
    new["metrics"]["NDCG@10"] -= 0.01
    result = compare(old, new, 0.01)
    assert result.regressed and [d.name for d in result.pairs[0].regressions] == ["NDCG@10"]


def test_latency_and_abstained_rate_are_not_gated(beir_dir: Path) -> None:
    old = {"qa": "qa.jsonl", "n": 2, "metrics": {"abstained_rate": 0.5, "answer_correct": 0.5}}
    new = {"qa": "qa.jsonl", "n": 2, "metrics": {"abstained_rate": 0.0, "answer_correct": 0.5}}
    assert not compare(old, new, 0.0).regressed
    with pytest.raises(ValueError):
        compare(old, new, -0.1)


def _ask_factory(correct: set[str]) -> Any:
    def ask(item: QAItem) -> Answer:
        if not item.answerable:
            return Answer(item.question, "Không có thông tin.", item.id in correct, ())
        text = item.answers[0] if item.id in correct else "không biết"
        return Answer(item.question, text, False, ())

    return ask


def test_qa_regression_lists_questions(qa_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = load_qa(qa_file)
    old = run_qa(items, _ask_factory({"a1", "a2", "a3"}), progress=False, qa="qa.jsonl").to_dict()
    new = run_qa(items, _ask_factory({"a1"}), progress=False, qa="qa.jsonl").to_dict()
    code = run_compare(_write(tmp_path / "o.json", old), _write(tmp_path / "n.json", new), 0.01)
    out = capsys.readouterr().out
    assert code == 1
    assert "answer_correct" in out and "a2: đúng → sai" in out and "a3: đúng → sai" in out
    assert "a1:" not in out


def test_multi_config_files_pair_by_label(beir_dir: Path, tmp_path: Path) -> None:
    a_good, b_good = _retrieval(beir_dir, GOOD, "a"), _retrieval(beir_dir, GOOD, "b")
    b_worse = _retrieval(beir_dir, WORSE, "b")
    old = _write(tmp_path / "old.json", {"results": [a_good, b_good]})
    new = _write(tmp_path / "new.json", {"results": [b_worse, a_good]})
    result = compare(load_results(old), load_results(new), 0.01)
    assert {p.label: bool(p.regressions) for p in result.pairs} == {"a": False, "b": True}


def test_json_output(beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.json", _retrieval(beir_dir, GOOD, "a"))
    new = _write(tmp_path / "new.json", _retrieval(beir_dir, WORSE, "a"))
    assert run_compare(old, new, 0.01, as_json=True) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] is True
    assert [w["qid"] for w in data["pairs"][0]["worse"]] == ["q3", "q2"]  # biggest drop first


def test_bad_result_files(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="cannot read"):
        load_results(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"metrics": \n oops}')
    with pytest.raises(ResultFileError) as info:
        load_results(bad)
    assert info.value.line == 2
    bad.write_text('{"dataset": "x"}')
    with pytest.raises(ResultFileError, match="metrics"):
        load_results(bad)
