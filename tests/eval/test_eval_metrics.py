"""Metrics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval import metrics as m

# q1: one relevant doc, found at rank 2.  q2: two relevant, ranks 1 and 3.  q3: graded (d4=2, d5=1), ranks 3 and 1.
# q4: judged but nothing relevant -> not scored.  q5: in the run but not judged -> ignored.
QRELS = {
    "q1": {"d1": 1},
    "q2": {"d2": 1, "d3": 1},
    "q3": {"d4": 2, "d5": 1, "d0": 0},
    "q4": {"d9": 0},
}
RUN = {
    "q1": ["d7", "d1", "d8"],
    "q2": ["d3", "d6", "d2"],
    "q3": ["d5", "d6", "d4"],
    "q5": ["d1"],
}
L3 = math.log2(3)  # discount at rank 2


def test_hit_at_k() -> None:
    hit1 = m.hit_at_k(RUN, QRELS, 1)
    assert hit1.per_query == {"q1": 0.0, "q2": 1.0, "q3": 1.0}
    assert hit1.mean == pytest.approx(2 / 3)
    assert m.hit_at_k(RUN, QRELS, 2).mean == 1.0


def test_recall_at_k() -> None:
    assert m.recall_at_k(RUN, QRELS, 1).per_query == {"q1": 0.0, "q2": 0.5, "q3": 0.5}
    assert m.recall_at_k(RUN, QRELS, 2).per_query == {"q1": 1.0, "q2": 0.5, "q3": 0.5}
    assert m.recall_at_k(RUN, QRELS, 10).mean == 1.0


def test_mrr_at_k() -> None:
    mrr = m.mrr_at_k(RUN, QRELS, 10)
    assert mrr.per_query == {"q1": 0.5, "q2": 1.0, "q3": 1.0}
    assert mrr.mean == pytest.approx(2.5 / 3)
    assert m.mrr_at_k(RUN, QRELS, 1).per_query["q1"] == 0.0  # rank 2 is outside the cut-off


def test_ndcg_at_k_graded_and_binary() -> None:
    nd = m.ndcg_at_k(RUN, QRELS, 3)
    # q1: DCG = 1/log2(3), IDCG = 1.
    assert nd.per_query["q1"] == pytest.approx(1 / L3)
    # q2: DCG = 1 + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3).
    assert nd.per_query["q2"] == pytest.approx(1.5 / (1 + 1 / L3))
    # q3 graded: DCG = 1 (d5, rel 1, rank 1) + 2/2 (d4, rel 2, rank 3) = 2; IDCG = 2 + 1/log2(3).
    assert nd.per_query["q3"] == pytest.approx(2 / (2 + 1 / L3))
    assert nd.mean == pytest.approx((1 / L3 + 1.5 / (1 + 1 / L3) + 2 / (2 + 1 / L3)) / 3)
    binary = m.ndcg_at_k(RUN, QRELS, 3, graded=False)
    assert binary.per_query["q3"] == pytest.approx(1.5 / (1 + 1 / L3))
    # At k=1 the ideal list holds only the best document: q3 gets 1/2 (rel 1 where 2 was possible).
    assert m.ndcg_at_k(RUN, QRELS, 1).per_query["q3"] == pytest.approx(0.5)


def test_missing_run_scores_zero_and_duplicates_count_once() -> None:
    qrels = {"a": {"x": 1, "y": 1}, "b": {"z": 1}}
    run = {"a": ["x", "x", "y"]}
    assert m.recall_at_k(run, qrels, 2).per_query == {"a": 1.0, "b": 0.0}
    assert m.ndcg_at_k(run, qrels, 2).per_query["a"] == pytest.approx(1.0)
    assert m.first_relevant_rank(["x", "x", "q", "y"], {"y": 1}) == 3
    assert m.first_relevant_rank(["x"], {"y": 1}) is None


def test_hit_curve_is_non_decreasing() -> None:
    curve = m.hit_curve(RUN, QRELS, 4)
    assert curve == {1: pytest.approx(2 / 3), 2: 1.0, 3: 1.0, 4: 1.0}


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        m.hit_at_k(RUN, QRELS, 0)


def test_empty_qrels_mean_is_nan() -> None:
    assert math.isnan(m.mrr_at_k({}, {}, 10).mean)


# -- answers --------------------------------------------------------------------------------------------------


def test_normalize_answer() -> None:
    assert m.normalize_answer("  Tối thiểu 30% GDP!  ") == "tối thiểu 30 gdp"
    assert m.normalize_answer("Hoà bình") == m.normalize_answer("hòa   bình")  # tone placement and spaces
    assert m.normalize_answer("57-NQ/TW") == "57 nq tw"


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        ("Mục tiêu: tối thiểu 30% GDP vào năm 2030.", "tối thiểu 30% GDP", True),
        ("Chi 12% GDP cho R&D.", "2% GDP", False),  # whole tokens: "2" is not "12"
        ("Trưởng ban là TỔNG BÍ THƯ.", "Tổng Bí thư", True),
        ("Bảo đảm hoà bình.", "hòa bình", True),
        ("không liên quan", "", False),  # an empty gold string never matches
    ],
)
def test_contains_answer(text: str, gold: str, expected: bool) -> None:
    assert m.contains_answer(text, [gold]) is expected


def test_answer_contained() -> None:
    answers = {"a": "Đạt 2% GDP [1].", "b": "Không rõ.", "c": "ngân sách"}
    gold = {"a": ["2% GDP"], "b": ["3%"], "c": [], "d": ["x"]}
    result = m.answer_contained(answers, gold)
    assert result.per_query == {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    assert result.mean == 0.25


def test_citation_correct_at_k() -> None:
    cited = {"a": ["đoạn khác", "chi đạt 2% GDP"], "b": ["2% GDP năm 2030"], "c": []}
    gold = {"a": ["2% GDP"], "b": ["2% GDP"], "c": ["x"], "d": []}
    at1 = m.citation_correct_at_k(cited, gold, 1)
    assert at1.per_query == {"a": 0.0, "b": 1.0, "c": 0.0, "d": 0.0} and at1.mean == 0.25
    assert m.citation_correct_at_k(cited, gold, 3).mean == 0.5


def test_abstention_precision_recall() -> None:
    answerable = {"a": True, "b": False, "c": False, "d": True}
    abstained = {"a": False, "b": True, "c": False, "d": True}
    pr = m.abstention_precision_recall(abstained, answerable)
    # Abstained on b (unanswerable, right) and d (answerable, wrong): precision 1/2.
    assert pr.precision.per_query == {"b": 1.0, "d": 0.0} and pr.precision.mean == 0.5
    # Unanswerable: b (abstained) and c (answered): recall 1/2.
    assert pr.recall.per_query == {"b": 1.0, "c": 0.0} and pr.recall.mean == 0.5


def test_abstention_undefined_is_nan() -> None:
    pr = m.abstention_precision_recall({"a": False}, {"a": True})
    assert math.isnan(pr.precision.mean) and math.isnan(pr.recall.mean)


def test_rate_accuracy_and_subset() -> None:
    assert m.rate({"a": True, "b": False, "c": False, "d": True}).mean == 0.5
    acc = m.accuracy({"a": 0, "b": 2}, {"a": 0, "b": 1, "c": 1})
    assert acc.per_query == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert acc.subset(["a", "b", "zz"]).mean == 0.5


# -- latency --------------------------------------------------------------------------------------------------


def test_latency_percentiles_linear() -> None:
    # Sorted 10, 20, 30, 40: p50 at position 1.5 -> 25; p95 at 2.85 -> 30 + 0.85 * 10 = 38.5; p99 at 2.97 -> 39.7.
    result = m.latency_percentiles([40.0, 10.0, 30.0, 20.0])
    assert result == {"p50": pytest.approx(25.0), "p95": pytest.approx(38.5), "p99": pytest.approx(39.7)}
    assert m.latency_percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert all(math.isnan(v) for v in m.latency_percentiles([]).values())


def test_percentile_matches_numpy_default() -> None:
    values = list(np.random.default_rng(3).exponential(50.0, 101))
    for q in (0, 10, 50, 90, 95, 99, 100):
        assert m.percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)
    with pytest.raises(ValueError):
        m.percentile(values, 101)
