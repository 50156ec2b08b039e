"""Runners with fake systems: rankings, answers and choices become the contract JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from eval.config import RunConfig
from eval.datasets import MCQItem, PeerRun, QAItem, load_beir, load_mcq, load_qa
from eval.runners import RETRIEVAL_METRICS, git_revision, run_mcq, run_qa, run_retrieval, score_peer
from rag.errors import InvalidRequest
from rag.types import Answer, Citation, Hit, Paragraph

FIXED = {
    "Khoa học công nghệ có vai trò gì?": ["d1", "d3"],  # q1: gold d1 at rank 1
    "Chi cho nghiên cứu phát triển bao nhiêu phần trăm GDP?": ["d4", "d3", "d2"],  # q2: gold d2 at rank 3
    "Công tác kiểm tra giám sát?": ["d4"],  # q3: gold d3/d1 missing
}


def fake_search(query: str, k: int) -> list[str]:
    return FIXED[query][:k]


def test_run_retrieval_contract_shape(beir_dir: Path) -> None:
    ds = load_beir(beir_dir)
    run = run_retrieval(ds, fake_search, k=10, progress=False, config=RunConfig(name="gia"))
    result = run.to_dict({"embedder": "hash-v1:1024"})
    for key in ("dataset", "split", "n", "metrics", "latency_ms"):
        assert key in result
    assert (result["dataset"], result["split"], result["n"]) == ("mau", "all", 3)
    assert list(result["metrics"]) == list(RETRIEVAL_METRICS)
    assert result["metrics"]["Hit@1"] == pytest.approx(1 / 3)
    assert result["metrics"]["Hit@3"] == pytest.approx(2 / 3)
    assert result["metrics"]["MRR@10"] == pytest.approx((1 + 1 / 3) / 3)
    assert {"p50", "p95"} <= set(result["latency_ms"]) and result["latency_ms"]["p50"] >= 0
    assert result["label"] == "gia" and result["config"]["name"] == "gia"
    assert result["index_manifest"] == {"embedder": "hash-v1:1024"}
    assert "git_revision" in result
    q2 = result["per_query"]["q2"]
    assert q2["rank"] == 3 and q2["rr"] == pytest.approx(1 / 3) and q2["gold"] == ["d2"]
    assert result["per_query"]["q3"]["rank"] is None
    assert result["titles"]["d2"] == "Nghị quyết mẫu số 2"
    assert result["hit_curve"]["1"] == pytest.approx(1 / 3) and result["hit_curve"]["10"] == pytest.approx(2 / 3)
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN


def test_limit_k_and_errors(beir_dir: Path) -> None:
    ds = load_beir(beir_dir)
    calls: list[int] = []

    def search(query: str, k: int) -> Sequence[str]:
        calls.append(k)
        if "kiểm tra" in query:
            raise InvalidRequest("boom")
        return ["d2", "d2", "d1"]  # a repeat counts once

    run = run_retrieval(ds, search, k=2, progress=False)
    assert calls == [2, 2, 2] and run.errors == ["q3"] and run.rankings["q3"] == []
    assert run.rankings["q1"] == ["d2", "d1"]
    assert run.to_dict()["errors"] == 1
    assert list(run_retrieval(ds, search, limit=2, progress=False).rankings) == ["q1", "q2"]


def test_progress_bar_goes_to_stderr(beir_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_retrieval(load_beir(beir_dir), fake_search, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "3/3" in captured.err


def test_score_peer_on_covered_queries(beir_dir: Path) -> None:
    ds = load_beir(beir_dir)
    peer = PeerRun("x", "mô hình X", "nguồn", "top 2", {"q1": ["d3", "d1"], "q9": ["d1"]})
    result = score_peer(ds, peer).to_dict()
    assert result["n"] == 1 and result["label"] == "peer:x" and result["peer"]["model"] == "mô hình X"
    assert result["metrics"]["MRR@10"] == 0.5 and result["k"] == 2
    assert result["latency_ms"]["p50"] is None and result["git_revision"] is None


def test_git_revision_in_and_outside_a_checkout(tmp_path: Path) -> None:
    revision = git_revision()
    assert revision is None or len(revision) == 40
    assert git_revision(tmp_path) is None


# -- QA -------------------------------------------------------------------------------------------------------


def _paragraph_hit(pid: str, text: str) -> Hit:
    doc_id = pid.split("/")[0]
    paragraph = Paragraph(pid, doc_id, 0, text, "", None, 0, len(text))
    return Hit(1, 1.0, paragraph, "Nghị quyết mẫu", None, None, "nghị quyết", None, "cong-khai")


def _answer(question: str, text: str, cited: list[tuple[str, str]], abstained: bool = False) -> Answer:
    citations = tuple(Citation(i + 1, _paragraph_hit(pid, t), t[:10], 0) for i, (pid, t) in enumerate(cited))
    return Answer(question, text, abstained, citations)


def fake_ask(item: QAItem) -> Answer:
    if item.id == "a1":  # right answer, right paragraph cited second
        return _answer(
            item.question,
            "Chi cho nghiên cứu và phát triển đạt 2% GDP [2].",
            [("nq/p0001", "Đoạn mở đầu."), ("nq/p0002", "Chi cho R&D đạt 2% GDP vào năm 2030.")],
        )
    if item.id == "a2":  # follow-up: sees its history; wrong answer
        assert item.history and item.history[0]["question"]
        return _answer(item.question, "Không rõ [1].", [("nq/p0003", "Kinh tế nhà nước giữ vai trò chủ đạo.")])
    if item.id == "a3":  # unanswerable, abstains: right
        return _answer(item.question, "Không tìm thấy thông tin.", [], abstained=True)
    return _answer(item.question, "Trời nắng [1].", [("nq/p0004", "Trời nắng.")])  # a4: should have abstained


def test_run_qa_contract_shape(qa_file: Path) -> None:
    items = load_qa(qa_file)
    run = run_qa(items, fake_ask, progress=False, config=RunConfig(), docs="docs/", qa=str(qa_file))
    result = run.to_dict()
    assert (result["docs"], result["qa"], result["n"], result["n_answerable"]) == ("docs/", str(qa_file), 4, 2)
    metrics = result["metrics"]
    contract = ("answer_correct", "citation_correct@1", "citation_correct@3", "abstained_rate")
    assert {k: metrics[k] for k in (*contract, "abstention_precision", "abstention_recall")} == {
        "answer_correct": 0.25,  # a1 only, over n = 4
        "citation_correct@1": 0.0,  # a1's gold is in its 2nd citation
        "citation_correct@3": 0.25,
        "abstained_rate": 0.25,
        "abstention_precision": 1.0,  # abstained once, on an unanswerable question
        "abstention_recall": 0.5,  # one of the two unanswerable questions
    }
    # Extra metrics beside the contract's: tolerant matching agrees here, quotes are checked verbatim.
    assert metrics["answer_correct_soft"] == 0.25 and metrics["citation_correct_soft@3"] == 0.25
    assert metrics["quote_verbatim"] == 1.0
    answerable = result["metrics_answerable"]
    assert {k: answerable[k] for k in ("answer_correct", "citation_correct@1", "citation_correct@3")} == {
        "answer_correct": 0.5,
        "citation_correct@1": 0.0,
        "citation_correct@3": 0.5,
    }
    assert {"p50", "p95"} <= set(result["latency_ms"])
    per = result["per_query"]
    assert [per[q]["correct"] for q in ("a1", "a2", "a3", "a4")] == [1.0, 0.0, 1.0, 0.0]
    assert per["a1"]["cited"][1]["paragraph_id"] == "nq/p0002"
    tag = result["by_tag"]["so_lieu"]
    assert {k: tag[k] for k in ("n", "answer_correct", "citation_correct@3", "correct", "n_answerable")} == {
        "n": 1,
        "answer_correct": 1.0,
        "citation_correct@3": 1.0,
        "correct": 1.0,
        "n_answerable": 1,
    }
    assert tag["answerable"]["answer_correct"] == 1.0 and "citation_correct@1" in tag
    json.dumps(result, allow_nan=False)


def test_run_qa_undefined_precision_is_null(qa_file: Path) -> None:
    items = load_qa(qa_file)

    def never_abstain(item: QAItem) -> Answer:
        return _answer(item.question, "x", [])

    result = run_qa(items, never_abstain, limit=2, progress=False).to_dict()
    assert result["n"] == 2 and result["metrics"]["abstention_precision"] is None
    assert result["metrics"]["abstention_recall"] is None  # no unanswerable question among the first two


def test_run_qa_error_is_recorded(qa_file: Path) -> None:
    def failing(item: QAItem) -> Answer:
        raise InvalidRequest("bad")

    result = run_qa(load_qa(qa_file), failing, progress=False).to_dict()
    assert result["errors"] == 4 and result["metrics"]["answer_correct"] == 0.0


# -- MCQ ------------------------------------------------------------------------------------------------------


def test_run_mcq(mcq_file: Path) -> None:
    items = load_mcq(mcq_file)  # gold indices 0, 1, 0, 0

    def choose(item: MCQItem) -> int:
        return {"m1": 0, "m2": 0, "m3": 0, "m4": 2}[item.id]

    result = run_mcq(items, choose, progress=False, quiz="quiz.json").to_dict()
    assert result["n"] == 4 and result["quiz"] == "quiz.json"
    assert result["metrics"]["accuracy"] == 0.5
    assert result["majority_letter"] == "A" and result["metrics"]["majority_baseline"] == 0.75
    assert result["metrics"]["random_baseline"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 1 / 3) / 4)
    assert result["per_query"]["m4"]["chosen_letter"] == "C" and result["per_query"]["m4"]["gold_letter"] == "A"
