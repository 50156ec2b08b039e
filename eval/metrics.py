"""Evaluation metrics: small pure functions returning the mean and the per-query values.

Ranking metrics take a run (query id -> ranked doc ids, best first) and qrels (query id -> {doc id: relevance}),
in the BEIR/TREC sense, and follow `trec_eval` conventions so they agree with ranx and pytrec_eval:

* the queries scored are those of the qrels with at least one relevant document (relevance > 0); a query
  missing from the run scores 0; run entries for queries not in the qrels are ignored;
* a doc id repeated in a ranking counts once, at its first position;
* Hit@k: 1 if a relevant document is in the top k. Recall@k: relevant documents in the top k / all relevant.
  MRR@k: 1 / rank of the first relevant document in the top k, else 0.
* NDCG@k: gains are the relevance values (linear, as trec_eval's `ndcg_cut` and ranx's `ndcg`; with
  `graded=False` every relevant document gains 1), discount 1 / log2(rank + 1), and the ideal DCG is
  computed from the qrels (the k best relevance values), so unretrieved relevant documents lower the score.

Answer metrics compare text after `normalize_answer`: the matching form of `rag.text.normalize` (lower case,
canonical tone marks), every character that is not a letter, digit or combining mark replaced by a space, and
runs of spaces squashed. Containment is on whole tokens: "2 gdp" is found in "dat 2 gdp" but not in "12 gdp".

An undefined value (a precision with nothing abstained, a percentile of no latencies) is NaN; reports write it
as null.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rag import match_form

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class MetricResult:
    """A metric's mean over the scored queries and its value for each of them (in qrels order)."""

    mean: float
    per_query: dict[str, float]

    @classmethod
    def of(cls, per_query: dict[str, float]) -> MetricResult:
        """Build from per-query values; the mean of none is NaN."""
        return cls(_mean(per_query.values()), per_query)

    def subset(self, qids: Iterable[str]) -> MetricResult:
        """The same metric over some of the queries (those present)."""
        return MetricResult.of({q: self.per_query[q] for q in qids if q in self.per_query})


class PrecisionRecall(NamedTuple):
    """Abstention precision and recall; `per_query` holds only the questions in each denominator."""

    precision: MetricResult
    recall: MetricResult


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else math.nan


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _relevant(rels: Mapping[str, int]) -> dict[str, int]:
    return {doc: rel for doc, rel in rels.items() if rel > 0}


def _top_k(ranking: Sequence[str], k: int) -> list[str]:
    """The first k distinct ids of a ranking."""
    seen: set[str] = set()
    top: list[str] = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            top.append(doc)
            if len(top) == k:
                break
    return top


def _scored(qrels: Qrels) -> list[tuple[str, dict[str, int]]]:
    return [(qid, rel) for qid, rels in qrels.items() if (rel := _relevant(rels))]


def first_relevant_rank(ranking: Sequence[str], rels: Mapping[str, int], k: int | None = None) -> int | None:
    """Return the 1-based rank of the first relevant document (relevance > 0) within the top k, else None."""
    top = _top_k(ranking, k if k is not None else len(ranking) or 1)
    for rank, doc in enumerate(top, start=1):
        if rels.get(doc, 0) > 0:
            return rank
    return None


def hit_at_k(run: Run, qrels: Qrels, k: int) -> MetricResult:
    """Hit@k (success@k): 1.0 if a relevant document is among the first k results, else 0.0."""
    _check_k(k)
    return MetricResult.of(
        {qid: float(any(d in rel for d in _top_k(run.get(qid, ()), k))) for qid, rel in _scored(qrels)}
    )


def recall_at_k(run: Run, qrels: Qrels, k: int) -> MetricResult:
    """Recall@k: the share of a query's relevant documents found among the first k results."""
    _check_k(k)
    return MetricResult.of(
        {qid: sum(d in rel for d in _top_k(run.get(qid, ()), k)) / len(rel) for qid, rel in _scored(qrels)}
    )


def mrr_at_k(run: Run, qrels: Qrels, k: int) -> MetricResult:
    """MRR@k: 1 / rank of the first relevant document among the first k results, 0.0 when there is none."""
    _check_k(k)
    per_query: dict[str, float] = {}
    for qid, rel in _scored(qrels):
        rank = first_relevant_rank(run.get(qid, ()), rel, k)
        per_query[qid] = 1.0 / rank if rank else 0.0
    return MetricResult.of(per_query)


def ndcg_at_k(run: Run, qrels: Qrels, k: int, *, graded: bool = True) -> MetricResult:
    """NDCG@k with linear gains (the relevance value; 1 for every relevant document if not `graded`).

    DCG@k = sum over ranks r <= k of gain(doc_r) / log2(r + 1); the ideal DCG ranks the qrels' relevant
    documents by relevance, so relevant documents the run missed count against it.
    """
    _check_k(k)
    per_query: dict[str, float] = {}
    for qid, rel in _scored(qrels):
        gains = rel if graded else dict.fromkeys(rel, 1)
        dcg = math.fsum(gains.get(d, 0) / math.log2(r + 1) for r, d in enumerate(_top_k(run.get(qid, ()), k), 1))
        ideal = sorted(gains.values(), reverse=True)[:k]
        idcg = math.fsum(g / math.log2(r + 1) for r, g in enumerate(ideal, 1))
        per_query[qid] = dcg / idcg
    return MetricResult.of(per_query)


def hit_curve(run: Run, qrels: Qrels, max_k: int = 10) -> dict[int, float]:
    """Mean Hit@k for k = 1..max_k (a non-decreasing curve)."""
    return {k: hit_at_k(run, qrels, k).mean for k in range(1, max_k + 1)}


# -- answers --------------------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """Return the form answers are compared in: matching form, punctuation and symbols as spaces, one space."""
    form = match_form(text)
    chars = [ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in form]
    return " ".join("".join(chars).split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True if one of the gold answers occurs in `text` as whole tokens after `normalize_answer`."""
    haystack = f" {normalize_answer(text)} "
    for answer in answers:
        needle = normalize_answer(answer)
        if needle and f" {needle} " in haystack:
            return True
    return False


#: Tolerant matching (`contains_answer_soft`): share of the gold answer's tokens that must be found in order, and
#: the longest stretch of text (as a multiple of the gold's length in tokens) they may be spread over.
SOFT_RECALL, SOFT_SPREAD = 0.8, 1.5


def _soft_match(haystack: list[str], needle: list[str]) -> bool:
    """Whether >= SOFT_RECALL of `needle`'s tokens occur in order within a window of SOFT_SPREAD x its length."""
    n = len(needle)
    if n == 0:
        return False
    need = max(1, math.ceil(SOFT_RECALL * n))
    window = max(n, math.floor(SOFT_SPREAD * n))
    first = set(needle)
    for start, token in enumerate(haystack):
        if token not in first:
            continue
        # Longest common subsequence of the needle and the window starting here (small n: O(n * window)).
        segment = haystack[start : start + window]
        prev = [0] * (len(segment) + 1)
        for a in needle:
            cur = [0] * (len(segment) + 1)
            for j, b in enumerate(segment, start=1):
                cur[j] = prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1])
            prev = cur
        if prev[-1] >= need:
            return True
    return False


def contains_answer_soft(text: str, answers: Iterable[str]) -> bool:
    """Tolerant `contains_answer`: quiz answers often paraphrase slightly or carry typos ("tử" for "từ").

    True when, after `normalize_answer`, at least `SOFT_RECALL` of a gold answer's tokens appear in order
    within a stretch of `text` no longer than `SOFT_SPREAD` times the answer. Reported beside the exact
    metrics, never instead of them.
    """
    haystack = normalize_answer(text).split()
    return contains_answer(text, answers) or any(_soft_match(haystack, normalize_answer(a).split()) for a in answers)


def answer_contained(
    answers: Mapping[str, str], gold: Mapping[str, Sequence[str]], *, soft: bool = False
) -> MetricResult:
    """Answer correctness: 1.0 when a gold answer string is contained in the system's answer.

    Args:
        answers: question id -> the system's answer text.
        gold: question id -> gold answer strings; every question of `gold` is scored (a question with no gold
            answer, or with no system answer, scores 0).
    """
    match = contains_answer_soft if soft else contains_answer
    return MetricResult.of({qid: float(match(answers.get(qid, ""), golds)) for qid, golds in gold.items()})


def citation_correct_at_k(
    cited: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]], k: int, *, soft: bool = False
) -> MetricResult:
    """Citation correctness@k: 1.0 when a gold answer string occurs in one of the first k cited paragraphs.

    Args:
        cited: question id -> texts of the cited paragraphs, in citation order.
        gold: question id -> gold answer strings; every question of `gold` is scored.
        k: how many citations to look at.
    """
    _check_k(k)
    match = contains_answer_soft if soft else contains_answer
    return MetricResult.of(
        {qid: float(any(match(t, golds) for t in cited.get(qid, ())[:k])) for qid, golds in gold.items()}
    )


def abstention_precision_recall(abstained: Mapping[str, bool], answerable: Mapping[str, bool]) -> PrecisionRecall:
    """Abstention precision (of the abstained questions, the share that were unanswerable) and recall (of the
    unanswerable questions, the share abstained).

    Args:
        abstained: question id -> whether the system abstained.
        answerable: question id -> whether the documents answer it; only these questions are scored.

    Returns:
        precision and recall; a mean with an empty denominator is NaN (undefined).
    """
    precision = {qid: float(not answerable[qid]) for qid in answerable if abstained.get(qid, False)}
    recall = {qid: float(abstained.get(qid, False)) for qid, ok in answerable.items() if not ok}
    return PrecisionRecall(MetricResult.of(precision), MetricResult.of(recall))


def rate(flags: Mapping[str, bool]) -> MetricResult:
    """The share of True values (e.g. the abstained rate), with the per-query 0/1 values."""
    return MetricResult.of({qid: float(flag) for qid, flag in flags.items()})


def accuracy(predicted: Mapping[str, int], gold: Mapping[str, int]) -> MetricResult:
    """Multiple-choice accuracy: 1.0 where the chosen option index equals the gold index."""
    return MetricResult.of({qid: float(predicted.get(qid) == answer) for qid, answer in gold.items()})


# -- latency --------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    This is NumPy's default ("linear", Hyndman & Fan type 7, Excel's PERCENTILE.INC): with the values sorted,
    position h = (n - 1) * q / 100 and the result is v[floor(h)] + (h - floor(h)) * (v[floor(h)+1] - v[floor(h)]).
    NaN for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    h = (len(ordered) - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def latency_percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Return {"p50", "p95", "p99"} of per-query latencies in milliseconds (linear interpolation, see
    `percentile`); NaN values when there are no latencies."""
    return {f"p{q}": percentile(latencies_ms, q) for q in (50, 95, 99)}
