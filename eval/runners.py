"""Runners: ask the system every question of a data set, time each call, and score the answers.

The system is reached through plain callables (built by `eval.engine` for the CLI, fakes in tests):

* retrieval: `search(query, k) -> ranked BEIR corpus ids`, best first;
* QA: `ask(item) -> AnswerLike` (a `rag.types.Answer`: `.text`, `.abstained`, `.citations[i].hit.paragraph`);
* MCQ: `choose(item) -> option index` (0-based; anything out of range counts as wrong).

Each run converts to the contract JSON of `vankien eval ...` (`to_dict`), with extra fields: "kind", "label",
"config", "git_revision", "index_manifest", "created", "errors" and "per_query" details for reports and
`compare`. Undefined values (NaN) are written as null.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from eval import metrics as m
from eval.config import RunConfig
from eval.datasets import BeirDataset, MCQItem, PeerRun, QAItem, option_letter
from rag import VanKienError, track

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Cut-offs of the retrieval contract (`Hit@1`, `Hit@3`, `Hit@10`, `MRR@10`, `NDCG@10`, `Recall@10`).
RETRIEVAL_METRICS: tuple[str, ...] = ("Hit@1", "Hit@3", "Hit@10", "MRR@10", "NDCG@10", "Recall@10")
QA_METRICS: tuple[str, ...] = (
    "answer_correct",
    "citation_correct@1",
    "citation_correct@3",
    "abstained_rate",
    "abstention_precision",
    "abstention_recall",
)
MCQ_METRICS: tuple[str, ...] = ("accuracy", "majority_baseline", "random_baseline")
#: How many retrieved ids per query are kept in "per_query" (the worst-questions table shows them).
KEPT_IDS = 10
#: Characters of answers and cited paragraphs kept in "per_query".
KEPT_CHARS = 400


class ParagraphLike(Protocol):
    @property
    def paragraph_id(self) -> str: ...

    @property
    def text(self) -> str: ...


class HitLike(Protocol):
    @property
    def paragraph(self) -> ParagraphLike: ...


class CitationLike(Protocol):
    @property
    def hit(self) -> HitLike: ...


class AnswerLike(Protocol):
    """What `ask` returns: `rag.types.Answer` satisfies it."""

    @property
    def text(self) -> str: ...

    @property
    def abstained(self) -> bool: ...

    @property
    def citations(self) -> Sequence[CitationLike]: ...


def git_revision(cwd: str | Path | None = None) -> str | None:
    """Return `git rev-parse HEAD` of the code under evaluation, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = out.stdout.strip()
    return revision if out.returncode == 0 and revision else None


def _progress(items: Sequence[T], label: str, enabled: bool) -> Iterator[T]:
    """Iterate with a bar on stderr (nothing when disabled)."""
    return track(items, label, "câu", sys.stderr if enabled else None)


def _limited(items: Iterable[T], limit: int | None) -> list[T]:
    items = list(items)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        items = items[:limit]
    return items


def finite(value: float) -> float | None:
    """NaN -> None, for JSON."""
    return None if math.isnan(value) else value


def _latency_block(latencies: Iterable[float]) -> dict[str, float | None]:
    return {key: finite(v) for key, v in m.latency_percentiles(list(latencies)).items()}


def _common(label: str, config: RunConfig | None, index_manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "label": label,
        "config": config.to_dict() if config else None,
        "git_revision": git_revision(),
        "index_manifest": dict(index_manifest) if index_manifest is not None else None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- retrieval ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RetrievalRun:
    """Rankings and latencies of one configuration (or one published peer run) on a BEIR data set.

    Attributes:
        dataset: the data set (its queries restricted to the ones that were run).
        label: the configuration or peer name.
        rankings: query id -> ranked corpus ids, best first (at most `k`).
        latencies_ms: query id -> wall time of `search` (empty for peer runs).
        k: how many results were asked for.
        config: the configuration, when one of ours.
        peer: the peer run's description ("model", "source", "note"), when a peer.
        errors: query ids whose search raised a library error (scored as an empty ranking).
    """

    dataset: BeirDataset
    label: str
    rankings: dict[str, list[str]]
    latencies_ms: dict[str, float]
    k: int
    config: RunConfig | None = None
    peer: dict[str, str] | None = None
    errors: list[str] = field(default_factory=list)

    def qrels(self) -> dict[str, dict[str, int]]:
        """The qrels of the queries that were run."""
        return {qid: self.dataset.qrels[qid] for qid in self.rankings}

    def metrics(self) -> dict[str, m.MetricResult]:
        """The contract metrics, by name."""
        qrels = self.qrels()
        return {
            "Hit@1": m.hit_at_k(self.rankings, qrels, 1),
            "Hit@3": m.hit_at_k(self.rankings, qrels, 3),
            "Hit@10": m.hit_at_k(self.rankings, qrels, 10),
            "MRR@10": m.mrr_at_k(self.rankings, qrels, 10),
            "NDCG@10": m.ndcg_at_k(self.rankings, qrels, 10),
            "Recall@10": m.recall_at_k(self.rankings, qrels, 10),
        }

    def to_dict(self, index_manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `vankien eval retrieval` JSON, with per-query details."""
        scores = self.metrics()
        qrels = self.qrels()
        per_query: dict[str, Any] = {}
        shown: set[str] = set()
        for qid, ranking in self.rankings.items():
            gold = [d for d, rel in qrels[qid].items() if rel > 0]
            rank = m.first_relevant_rank(ranking, qrels[qid], 10)
            per_query[qid] = {
                "query": self.dataset.queries[qid],
                "gold": gold,
                "ranked": ranking[:KEPT_IDS],
                "rank": rank,
                "rr": scores["MRR@10"].per_query[qid],
                "ndcg@10": scores["NDCG@10"].per_query[qid],
                "latency_ms": self.latencies_ms.get(qid),
            }
            shown.update(gold, ranking[:3])
        titles = {d: self.dataset.corpus[d].title for d in sorted(shown) if d in self.dataset.corpus}
        curve = m.hit_curve(self.rankings, qrels, 10)
        result: dict[str, Any] = {
            "kind": "retrieval",
            "dataset": self.dataset.name,
            "split": self.dataset.split,
            "n": len(self.rankings),
            "metrics": {name: finite(r.mean) for name, r in scores.items()},
            "latency_ms": _latency_block(self.latencies_ms.values()),
            "hit_curve": {str(k): finite(v) for k, v in curve.items()},
            "k": self.k,
            "errors": len(self.errors),
            "dataset_warnings": list(self.dataset.warnings),
            **_common(self.label, self.config, index_manifest),
        }
        if self.peer is not None:
            result["peer"] = self.peer
            result["git_revision"] = None
        result["per_query"] = per_query
        result["titles"] = {d: t for d, t in titles.items() if t}
        return result


def run_retrieval(
    dataset: BeirDataset,
    search: Callable[[str, int], Sequence[str]],
    k: int = 10,
    limit: int | None = None,
    progress: bool = True,
    *,
    config: RunConfig | None = None,
    label: str | None = None,
) -> RetrievalRun:
    """Search every query of a data set and keep the rankings and per-query latencies.

    Args:
        dataset: the BEIR data set.
        search: `(query text, k) -> ranked corpus ids`, best first.
        k: results asked for per query (the contract's @10 metrics need k >= 10).
        limit: run only the first N queries (file order), for quick checks.
        progress: show a progress bar on stderr.
        config: the configuration being run, recorded in the result.
        label: name in reports (default: the configuration's name, else "default").

    A library error on one query (`VanKienError`) is logged and scored as an empty ranking; other exceptions
    propagate.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k < 10:
        logger.warning("k=%d < 10: the @10 metrics only see %d results", k, k)
    qids = _limited(dataset.queries, limit)
    name = label or (config.name if config else "default")
    rankings: dict[str, list[str]] = {}
    latencies: dict[str, float] = {}
    errors: list[str] = []
    for qid in _progress(qids, f"{dataset.name}:{name}", progress):
        start = time.perf_counter()
        try:
            ranked = list(search(dataset.queries[qid], k))
        except VanKienError as exc:
            logger.warning("query %s failed: %s", qid, exc)
            ranked = []
            errors.append(qid)
        latencies[qid] = (time.perf_counter() - start) * 1000.0
        rankings[qid] = list(dict.fromkeys(ranked))[:k]
    return RetrievalRun(dataset, name, rankings, latencies, k, config=config, errors=errors)


def score_peer(dataset: BeirDataset, peer: PeerRun, limit: int | None = None) -> RetrievalRun:
    """Score a published run with our metrics, on the data set's queries that the run covers.

    A peer usually covers a subset (its own test split) and a fixed depth; both are recorded.
    """
    qids = _limited((q for q in dataset.queries if q in peer.run), limit)
    rankings = {qid: list(dict.fromkeys(peer.run[qid])) for qid in qids}
    depth = max((len(r) for r in rankings.values()), default=0)
    return RetrievalRun(
        dataset,
        f"peer:{peer.name}",
        rankings,
        {},
        depth,
        peer={"model": peer.model, "source": peer.source, "note": peer.note, "depth": str(depth)},
    )


# -- QA -------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class QARecord:
    """What the system did with one question."""

    item: QAItem
    text: str
    abstained: bool
    cited_ids: list[str]
    cited_texts: list[str]
    latency_ms: float
    error: bool = False
    quotes_verbatim: int = 0  # citations whose quote is an exact span of the cited paragraph
    quotes_total: int = 0


@dataclass(slots=True)
class QARun:
    """Answers of one configuration to a QA set.

    Attributes:
        records: one per question, in file order.
        label: the configuration name.
        docs: the documents folder the answers come from (recorded as "docs").
        qa: the QA file (recorded as "qa").
        config: the configuration.
    """

    records: list[QARecord]
    label: str
    docs: str
    qa: str
    config: RunConfig | None = None

    def metrics(self) -> dict[str, m.MetricResult]:
        """The contract metrics over all n questions (rates are fractions of n)."""
        gold = {r.item.id: r.item.answers for r in self.records}
        abstention = m.abstention_precision_recall(
            {r.item.id: r.abstained for r in self.records}, {r.item.id: r.item.answerable for r in self.records}
        )
        cited = {r.item.id: r.cited_texts for r in self.records}
        scores = {
            "answer_correct": m.answer_contained({r.item.id: r.text for r in self.records}, gold),
            "citation_correct@1": m.citation_correct_at_k(cited, gold, 1),
            "citation_correct@3": m.citation_correct_at_k(cited, gold, 3),
            "abstained_rate": m.rate({r.item.id: r.abstained for r in self.records}),
            "abstention_precision": abstention.precision,
            "abstention_recall": abstention.recall,
            # Beyond the contract: tolerant matching (quiz answers paraphrase), and the citation invariant.
            "answer_correct_soft": m.answer_contained({r.item.id: r.text for r in self.records}, gold, soft=True),
            "citation_correct_soft@1": m.citation_correct_at_k(cited, gold, 1, soft=True),
            "citation_correct_soft@3": m.citation_correct_at_k(cited, gold, 3, soft=True),
            "quote_verbatim": m.MetricResult.of(
                {r.item.id: (r.quotes_verbatim / r.quotes_total if r.quotes_total else 1.0) for r in self.records}
            ),
        }
        # Sets that name their gold paragraphs (our own, eval/data/corpus_qa.jsonl) also score paragraph ids.
        gold_ids = {r.item.id: list(r.item.extra.get("paragraph_ids") or ()) for r in self.records}
        if any(gold_ids.values()):
            for k in (1, 3):
                scores[f"paragraph_correct@{k}"] = m.MetricResult.of(
                    {
                        r.item.id: float(any(pid in gold_ids[r.item.id] for pid in r.cited_ids[:k]))
                        for r in self.records
                        if gold_ids[r.item.id]
                    }
                )
        return scores

    def to_dict(self, index_manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `vankien eval qa` JSON, plus "metrics_answerable" (the same scores over answerable questions
        only) and per-question details; "correct" there is answer_correct for an answerable question and
        "abstained" for an unanswerable one."""
        scores = self.metrics()
        answerable = [r.item.id for r in self.records if r.item.answerable]
        per_query: dict[str, Any] = {}
        for r in self.records:
            qid = r.item.id
            answer_ok = scores["answer_correct"].per_query[qid]
            per_query[qid] = {
                "question": r.item.question,
                "answerable": r.item.answerable,
                "answers": list(r.item.answers),
                "answer": r.text[:KEPT_CHARS],
                "abstained": r.abstained,
                "cited": [
                    {"paragraph_id": pid, "text": text[:KEPT_CHARS]}
                    for pid, text in zip(r.cited_ids[:3], r.cited_texts[:3], strict=True)
                ],
                "answer_correct": answer_ok,
                "citation_correct@1": scores["citation_correct@1"].per_query[qid],
                "citation_correct@3": scores["citation_correct@3"].per_query[qid],
                "correct": answer_ok if r.item.answerable else float(r.abstained),
                "tags": list(r.item.tags),
                "error": r.error,
                "latency_ms": r.latency_ms,
            }
        sub = {
            name: finite(scores[name].subset(answerable).mean)
            for name in ("answer_correct", "citation_correct@1", "citation_correct@3")
        }
        by_tag: dict[str, dict[str, Any]] = {}
        for tag in sorted({t for r in self.records for t in r.item.tags}):
            qids = [r.item.id for r in self.records if tag in r.item.tags]
            by_tag[tag] = {"n": len(qids)} | {
                name: finite(scores[name].subset(qids).mean)
                for name in ("answer_correct", "citation_correct@1", "citation_correct@3")
            }
            by_tag[tag]["correct"] = finite(m.MetricResult.of({q: per_query[q]["correct"] for q in qids}).mean)
            # The same over the tag's answerable questions only (an unanswerable one scores 0 above).
            tag_answerable = [q for q in qids if q in set(answerable)]
            by_tag[tag]["n_answerable"] = len(tag_answerable)
            by_tag[tag]["answerable"] = {
                name: finite(scores[name].subset(tag_answerable).mean) if tag_answerable else None
                for name in ("answer_correct", "citation_correct@1", "citation_correct@3")
            }
        return {
            "kind": "qa",
            "docs": self.docs,
            "qa": self.qa,
            "n": len(self.records),
            "n_answerable": len(answerable),
            "metrics": {name: finite(r.mean) for name, r in scores.items()},
            "metrics_answerable": sub,
            "by_tag": by_tag,
            "latency_ms": _latency_block(r.latency_ms for r in self.records),
            "errors": sum(r.error for r in self.records),
            **_common(self.label, self.config, index_manifest),
            "per_query": per_query,
        }


def _cited(answer: AnswerLike) -> tuple[list[str], list[str]]:
    ids = [c.hit.paragraph.paragraph_id for c in answer.citations]
    texts = [c.hit.paragraph.text for c in answer.citations]
    return ids, texts


def _verbatim(answer: AnswerLike) -> tuple[int, int]:
    """(citations whose quote occurs verbatim in the cited paragraph, citations)."""
    quotes = [getattr(c, "quote", None) for c in answer.citations]
    ok = sum(1 for c, q in zip(answer.citations, quotes, strict=True) if q and q in c.hit.paragraph.text)
    return ok, len(quotes)


def run_qa(
    items: Sequence[QAItem],
    ask: Callable[[QAItem], AnswerLike],
    limit: int | None = None,
    progress: bool = True,
    *,
    config: RunConfig | None = None,
    label: str | None = None,
    docs: str = "",
    qa: str = "",
) -> QARun:
    """Ask every question (with its history, which `ask` receives on the item) and keep what came back.

    A library error on one question is logged and recorded as an empty, non-abstained answer.
    """
    chosen = _limited(items, limit)
    name = label or (config.name if config else "default")
    records: list[QARecord] = []
    for item in _progress(chosen, f"qa:{name}", progress):
        start = time.perf_counter()
        try:
            answer = ask(item)
            ids, texts = _cited(answer)
            verbatim, total = _verbatim(answer)
            record = QARecord(item, answer.text, answer.abstained, ids, texts, 0.0, False, verbatim, total)
        except VanKienError as exc:
            logger.warning("question %s failed: %s", item.id, exc)
            record = QARecord(item, "", False, [], [], 0.0, error=True)
        record.latency_ms = (time.perf_counter() - start) * 1000.0
        records.append(record)
    return QARun(records, name, docs, qa, config)


# -- MCQ ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MCQRun:
    """Choices of one configuration on a multiple-choice quiz."""

    items: list[MCQItem]
    chosen: dict[str, int]
    latencies_ms: dict[str, float]
    label: str
    quiz: str
    config: RunConfig | None = None
    errors: list[str] = field(default_factory=list)

    def majority_index(self) -> int:
        """The most frequent correct position (ties: the earliest letter)."""
        counts = Counter(item.answer_index for item in self.items)
        return min(counts, key=lambda i: (-counts[i], i)) if counts else 0

    def metrics(self) -> dict[str, m.MetricResult]:
        """Accuracy, and two baselines: always the majority letter, and a uniform random choice (expected)."""
        gold = {item.id: item.answer_index for item in self.items}
        majority = self.majority_index()
        return {
            "accuracy": m.accuracy(self.chosen, gold),
            "majority_baseline": m.accuracy(dict.fromkeys(gold, majority), gold),
            "random_baseline": m.MetricResult.of({i.id: 1 / len(i.options) for i in self.items}),
        }

    def to_dict(self, index_manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `vankien eval mcq` JSON: {"quiz", "n", "metrics": {"accuracy", "majority_baseline",
        "random_baseline"}, "majority_letter", "latency_ms", ...}."""
        scores = self.metrics()
        per_query = {
            item.id: {
                "question": item.question,
                "gold": item.answer_index,
                "gold_letter": item.answer_letter,
                "chosen": self.chosen.get(item.id),
                "chosen_letter": option_letter(self.chosen[item.id]) if item.id in self.chosen else None,
                "correct": scores["accuracy"].per_query[item.id],
                "latency_ms": self.latencies_ms.get(item.id),
            }
            for item in self.items
        }
        return {
            "kind": "mcq",
            "quiz": self.quiz,
            "n": len(self.items),
            "metrics": {name: finite(r.mean) for name, r in scores.items()},
            "majority_letter": option_letter(self.majority_index()),
            "latency_ms": _latency_block(self.latencies_ms.values()),
            "errors": len(self.errors),
            **_common(self.label, self.config, index_manifest),
            "per_query": per_query,
        }


def run_mcq(
    items: Sequence[MCQItem],
    choose: Callable[[MCQItem], int],
    limit: int | None = None,
    progress: bool = True,
    *,
    config: RunConfig | None = None,
    label: str | None = None,
    quiz: str = "",
) -> MCQRun:
    """Ask every multiple-choice question; a library error counts as no choice (wrong)."""
    chosen_items = _limited(items, limit)
    name = label or (config.name if config else "default")
    chosen: dict[str, int] = {}
    latencies: dict[str, float] = {}
    errors: list[str] = []
    for item in _progress(chosen_items, f"mcq:{name}", progress):
        start = time.perf_counter()
        try:
            chosen[item.id] = int(choose(item))
        except VanKienError as exc:
            logger.warning("question %s failed: %s", item.id, exc)
            errors.append(item.id)
        latencies[item.id] = (time.perf_counter() - start) * 1000.0
    return MCQRun(chosen_items, chosen, latencies, name, quiz, config, errors)
