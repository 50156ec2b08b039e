"""Reports: JSON, Markdown with the tables, and non-empty PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.config import RunConfig
from eval.datasets import MCQItem, PeerRun, QAItem, load_beir, load_mcq, load_qa
from eval.eval_all import OWN_DATA
from eval.report import TEXT_FIELDS, worst_retrieval, write_report
from eval.runners import run_mcq, run_qa, run_retrieval, score_peer
from rag.types import Answer
from tests.samples import REPO_ROOT

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _retrieval_results(beir_dir: Path) -> list[dict[str, object]]:
    ds = load_beir(beir_dir)
    good = {"q1": ["d1"], "q2": ["d2", "d4"], "q3": ["d3"]}
    bad = {"q1": ["d4", "d1"], "q2": ["d4", "d3"], "q3": ["d2", "d4", "d1"]}
    results = []
    for name, rankings in (("tốt", good), ("kém", bad)):
        by_text = {ds.queries[q]: ids for q, ids in rankings.items()}

        def search(query: str, k: int, table: dict[str, list[str]] = by_text) -> list[str]:
            return table[query][:k]

        run = run_retrieval(ds, search, progress=False, config=RunConfig(name=name))
        results.append(run.to_dict({"embedder": "hash-v1:1024"}))
    results.append(score_peer(ds, PeerRun("x", "mô hình X", "", "top 2", {"q1": ["d2", "d1"]})).to_dict())
    return results


@pytest.mark.slow
def test_retrieval_report(beir_dir: Path, tmp_path: Path) -> None:
    files = write_report(_retrieval_results(beir_dir), tmp_path / "bao-cao", "Đánh giá truy hồi — mẫu")
    assert files.json.is_file() and files.markdown.is_file()
    names = sorted(p.name for p in files.plots)
    assert names == ["hit_curve.png", "latency_retrieval.png", "metrics_retrieval.png"]
    for plot in files.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    report = json.loads(files.json.read_text(encoding="utf-8"))
    assert report["title"] == "Đánh giá truy hồi — mẫu" and len(report["results"]) == 3
    md = files.markdown.read_text(encoding="utf-8")
    assert md.startswith("# Đánh giá truy hồi — mẫu")
    assert "| Cấu hình | n | Hit@1 | Hit@3 | Hit@10 | MRR@10 | NDCG@10 | Recall@10 | p50 ms | p95 ms |" in md
    assert "| peer:x (đối chứng) | 1 |" in md
    assert "![Hit@k theo k](hit_curve.png)" in md
    assert "### Câu hỏi kém nhất — kém" in md
    # q2's gold d2 was not retrieved: the row shows the gold title and what came back instead.
    row = next(line for line in md.splitlines() if "Chi cho nghiên cứu phát triển" in line and "ngoài top 10" in line)
    assert "`d2` Nghị quyết mẫu số 2" in row and "`d4`" in row and "`d3` Chỉ thị mẫu" in row
    assert "hash-v1:1024" in md  # the index manifest is recorded
    assert "Cảnh báo về dữ liệu" not in md


def test_worst_retrieval_order(beir_dir: Path) -> None:
    results = _retrieval_results(beir_dir)
    worst = worst_retrieval(results[1])
    # q2 missed (rr 0), then q1 and q3 (rr 1/2 and 1/3): lowest reciprocal rank first.
    assert [qid for qid, _ in worst] == ["q2", "q3", "q1"]


def _qa_and_mcq(qa_file: Path, mcq_file: Path) -> list[dict[str, object]]:
    def ask(item: QAItem) -> Answer:
        return Answer(item.question, "Đạt 2% GDP." if item.id == "a1" else "Không rõ.", item.id == "a3", ())

    def choose(item: MCQItem) -> int:
        return 1

    qa = run_qa(load_qa(qa_file), ask, progress=False, docs="docs", qa="qa.jsonl").to_dict()
    mcq = run_mcq(load_mcq(mcq_file), choose, progress=False, quiz="quiz.json").to_dict()
    return [qa, mcq]


@pytest.mark.slow
def test_qa_and_mcq_report(qa_file: Path, mcq_file: Path, tmp_path: Path) -> None:
    files = write_report(_qa_and_mcq(qa_file, mcq_file), tmp_path, "Hỏi đáp và trắc nghiệm")
    names = {p.name for p in files.plots}
    assert {"metrics_qa.png", "metrics_mcq.png", "latency_qa.png", "latency_mcq.png"} == names
    md = files.markdown.read_text(encoding="utf-8")
    assert "| Cấu hình | n | answer_correct | citation_correct@1 |" in md
    assert "| accuracy | majority_baseline | random_baseline |" in md
    assert "Còn kinh tế tư nhân thì sao?" in md  # a wrong answer is listed
    assert "| so_lieu | 1.000 (n=1) |" in md  # correctness per question tag
    assert "`a4`" in md and "`a3`" not in md  # a4 should have abstained; a3 did
    assert "| m1 |" not in md and "`m1`" in md  # chose B where A was right


def test_redacted_report_keeps_ids_and_results_but_no_data_text(
    beir_dir: Path, qa_file: Path, mcq_file: Path, tmp_path: Path
) -> None:
    results = [*_retrieval_results(beir_dir), *_qa_and_mcq(qa_file, mcq_file)]
    texts = [q["text"] for q in map(json.loads, (beir_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines())]
    texts += [q["question"] for q in map(json.loads, qa_file.read_text(encoding="utf-8").splitlines())]
    texts += [q["question"] for q in json.loads(mcq_file.read_text(encoding="utf-8"))]
    full = write_report(results, tmp_path / "day-du", "Đầy đủ")
    redacted = write_report(results, tmp_path / "an", "Ẩn nội dung", redacted=True)
    full_text = full.markdown.read_text(encoding="utf-8") + full.json.read_text(encoding="utf-8")
    hidden = redacted.markdown.read_text(encoding="utf-8") + redacted.json.read_text(encoding="utf-8")
    assert any(t in full_text for t in texts)  # the plain report does quote the data
    assert not any(t in hidden for t in texts)
    assert "`a4`" in hidden and "(ẩn)" in hidden  # wrong answers are still listed, by id
    data = json.loads(redacted.json.read_text(encoding="utf-8"))["results"]
    assert all(r["redacted"] and "titles" not in r for r in data)
    assert [r["metrics"] for r in data] == [r["metrics"] for r in results]


def test_committed_reports_on_third_party_data_are_redacted() -> None:
    """docs/eval may not copy the shared data sets: every report there but the team's own QA sets is redacted."""
    reports = sorted((REPO_ROOT / "docs" / "eval").glob("*/report.json"))
    if not reports:
        pytest.skip("no committed reports")
    for path in reports:
        if path.parent.name in OWN_DATA:  # the team's own QA sets over corpus/
            continue
        for result in json.loads(path.read_text(encoding="utf-8"))["results"]:
            assert result.get("redacted") is True, path
            assert "titles" not in result, path
            for entry in result["per_query"].values():
                assert not set(entry) & TEXT_FIELDS, (path, sorted(entry))
                assert all(set(c) == {"paragraph_id"} for c in entry.get("cited", [])), path
