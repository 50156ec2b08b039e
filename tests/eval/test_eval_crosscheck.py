"""Cross-check: our ranking metrics equal ranx's on the same synthetic run (per query, within 1e-9)."""

from __future__ import annotations

import random
import warnings

import pytest

from eval import metrics as m

ranx = pytest.importorskip("ranx")


def _synthetic(
    seed: int = 7, n_queries: int = 300, n_docs: int = 200
) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Random qrels (1-4 relevant docs, graded 1-3 on a third of the queries, some zero judgments) and random
    rankings (0-15 docs; a tenth of the queries missing from the run)."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[str]] = {}
    for i in range(n_queries):
        qid = f"q{i}"
        relevant = rng.sample(docs, rng.randint(1, 4))
        graded = i % 3 == 0
        qrels[qid] = {d: (rng.randint(1, 3) if graded else 1) for d in relevant}
        if i % 5 == 0:  # a judged non-relevant document, which must count for nothing
            qrels[qid][rng.choice([d for d in docs if d not in qrels[qid]])] = 0
        if i % 10 == 9:
            continue
        # Bias towards relevant documents so every metric takes varied values.
        pool = list(qrels[qid]) + rng.sample(docs, 20)
        run[qid] = list(dict.fromkeys(rng.sample(pool, rng.randint(0, 15))))
    return qrels, run


@pytest.mark.slow
def test_metrics_equal_ranx() -> None:
    qrels, run = _synthetic()
    ranx_qrels = ranx.Qrels({q: dict(r) for q, r in qrels.items()})
    # Strictly decreasing scores keep the ranking order exactly (no ties for ranx to break).
    ranx_run = ranx.Run({q: {d: 100.0 - i for i, d in enumerate(ids)} for q, ids in run.items() if ids})
    ours = {
        "hit_rate@1": m.hit_at_k(run, qrels, 1),
        "hit_rate@3": m.hit_at_k(run, qrels, 3),
        "hit_rate@10": m.hit_at_k(run, qrels, 10),
        "mrr@10": m.mrr_at_k(run, qrels, 10),
        "ndcg@10": m.ndcg_at_k(run, qrels, 10),
        "recall@10": m.recall_at_k(run, qrels, 10),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety chatter
        theirs = ranx.evaluate(ranx_qrels, ranx_run, list(ours), make_comparable=True)
    assert len(ours["mrr@10"].per_query) == 300
    for name, result in ours.items():
        assert result.mean == pytest.approx(float(theirs[name]), abs=1e-9), name
        per_query = ranx_run.scores[name]
        for qid, value in result.per_query.items():
            assert value == pytest.approx(float(per_query.get(qid, 0.0)), abs=1e-9), (name, qid)
    # The synthetic data exercise the metrics: neither all zero nor all one.
    assert 0.1 < ours["ndcg@10"].mean < 0.9
    assert 0.05 < ours["hit_rate@1"].mean < ours["hit_rate@10"].mean < 0.95
