"""The regression gate: compare two evaluation results and say what got worse.

A result file is what `vankien eval ... --json` writes (one result, or {"results": [...]} for several
configurations) or a report's `report.json`. Results are paired by kind, data set and label; when each side
holds exactly one result they are paired whatever their labels.

A metric regresses when new < old - max_drop, for metrics where higher is better (every metric except
`abstained_rate`, which is shown but not gated, and latency, which is too noisy to gate). Questions that got
worse are listed by reciprocal rank (retrieval) or correctness (QA, MCQ) whether or not a metric regressed.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eval.errors import ResultFileError

#: Metrics shown but never gated: their better direction depends on the data.
UNGATED: frozenset[str] = frozenset({"abstained_rate", "majority_baseline", "random_baseline"})
EXIT_OK, EXIT_REGRESSION = 0, 1


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One metric, before and after; `delta` = new - old (None when either side is undefined)."""

    name: str
    old: float | None
    new: float | None
    delta: float | None
    regressed: bool


@dataclass(frozen=True, slots=True)
class QueryChange:
    """A question whose score changed between the two runs.

    Attributes:
        qid: question id.
        text: the question.
        old: its score before (reciprocal rank@10 for retrieval, 0/1 correctness for QA and MCQ).
        new: its score after.
        detail: what the new run returned instead (retrieval: new rank, gold ids, new top ids; QA: the answer).
    """

    qid: str
    text: str
    old: float
    new: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PairComparison:
    """The comparison of one result pair (one configuration on one data set)."""

    kind: str
    label: str
    dataset: str
    metrics: list[MetricDelta]
    worse: list[QueryChange]
    better: int
    common: int
    notes: list[str]

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.metrics if d.regressed]


@dataclass(frozen=True, slots=True)
class CompareResult:
    """All pairs compared, the drop tolerated, and whether anything regressed."""

    max_drop: float
    pairs: list[PairComparison]
    notes: list[str]

    @property
    def regressed(self) -> bool:
        return any(p.regressions for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["regressed"] = self.regressed
        return data


# -- loading --------------------------------------------------------------------------------------------------


def _kind(result: Mapping[str, Any]) -> str:
    kind = result.get("kind")
    if isinstance(kind, str):
        return kind
    if "quiz" in result:
        return "mcq"
    if "qa" in result:
        return "qa"
    return "retrieval"


def results_of(data: Any, path: str | Path = "<result>") -> list[dict[str, Any]]:
    """The result dicts of a loaded result file: one result, a list, or {"results": [...]}.

    Raises:
        ResultFileError: the data holds no result with a "metrics" object.
    """
    items = data.get("results") if isinstance(data, dict) and "results" in data else data
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise ResultFileError(
            "no evaluation result found", path=path, user_reason="không có kết quả đánh giá nào trong tệp."
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("metrics"), dict):
            raise ResultFileError(
                f"result {i} has no 'metrics' object",
                path=path,
                field="metrics",
                user_reason=f"kết quả thứ {i + 1} thiếu đối tượng «metrics».",
            )
    return items


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a result file (see `results_of`).

    Raises:
        ResultFileError: missing, not JSON (with the line), or without results.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultFileError(
            f"cannot read: {exc.strerror}", path=path, user_reason="không đọc được tệp kết quả."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultFileError(
            f"invalid JSON ({exc.msg})", path=path, line=exc.lineno, user_reason=f"JSON không hợp lệ ({exc.msg})."
        ) from None
    return results_of(data, path)


# -- comparing ------------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _dataset(result: Mapping[str, Any]) -> str:
    kind = _kind(result)
    if kind == "retrieval":
        return f"{result.get('dataset', '?')}/{result.get('split', '?')}"
    return str(result.get("qa") if kind == "qa" else result.get("quiz", "?"))


def _label(result: Mapping[str, Any]) -> str:
    label = result.get("label")
    if isinstance(label, str) and label:
        return label
    config = result.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return str(config["name"])
    return "default"


def _query_score(kind: str, entry: Mapping[str, Any]) -> float | None:
    value = entry.get("rr") if kind == "retrieval" else entry.get("correct")
    return _number(value)


def _detail(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "retrieval":
        return {
            "old_rank": old.get("rank"),
            "new_rank": new.get("rank"),
            "gold": new.get("gold", []),
            "retrieved": list(new.get("ranked", []))[:3],
        }
    if kind == "qa":
        return {
            "answers": new.get("answers", []),
            "old_answer": old.get("answer", ""),
            "new_answer": new.get("answer", ""),
            "abstained": new.get("abstained"),
        }
    return {"gold_letter": new.get("gold_letter"), "chosen_letter": new.get("chosen_letter")}


def compare_pair(old: Mapping[str, Any], new: Mapping[str, Any], max_drop: float) -> PairComparison:
    """Compare two results of the same kind (one configuration on one data set)."""
    kind = _kind(new)
    old_metrics, new_metrics = old.get("metrics", {}), new.get("metrics", {})
    deltas = []
    for name in [*new_metrics, *(n for n in old_metrics if n not in new_metrics)]:
        a, b = _number(old_metrics.get(name)), _number(new_metrics.get(name))
        delta = b - a if a is not None and b is not None else None
        # A tiny epsilon keeps float noise (0.1 + 0.2) from tripping a max_drop of exactly the observed drop.
        regressed = delta is not None and name not in UNGATED and delta < -max_drop - 1e-12
        deltas.append(MetricDelta(name, a, b, delta, regressed))
    notes: list[str] = []
    if _dataset(old) != _dataset(new):
        notes.append(f"khác dữ liệu: {_dataset(old)} ≠ {_dataset(new)}")
    if old.get("n") != new.get("n"):
        notes.append(f"khác số câu hỏi: {old.get('n')} ≠ {new.get('n')}")
    old_q: Mapping[str, Any] = old.get("per_query") or {}
    new_q: Mapping[str, Any] = new.get("per_query") or {}
    worse: list[QueryChange] = []
    better = common = 0
    for qid, entry in new_q.items():
        if qid not in old_q:
            continue
        a, b = _query_score(kind, old_q[qid]), _query_score(kind, entry)
        if a is None or b is None:
            continue
        common += 1
        if b < a:
            text = entry.get("query") or entry.get("question") or ""
            worse.append(QueryChange(qid, str(text), a, b, _detail(kind, old_q[qid], entry)))
        elif b > a:
            better += 1
    if not old_q or not new_q:
        notes.append("thiếu chi tiết từng câu hỏi (per_query): không liệt kê được câu kém đi")
    worse.sort(key=lambda c: (c.new - c.old, c.qid))
    return PairComparison(kind, _label(new), _dataset(new), deltas, worse, better, common, notes)


def compare(old: Any, new: Any, max_drop: float) -> CompareResult:
    """Compare two result files' contents (a result dict, a list of them, or {"results": [...]}).

    Args:
        old: the baseline.
        new: the candidate.
        max_drop: the largest drop of a metric (absolute, e.g. 0.01 = one point) that is not a regression.

    Raises:
        ValueError: max_drop is negative.
        ResultFileError: either side holds no result.
    """
    if max_drop < 0 or math.isnan(max_drop):
        raise ValueError(f"max_drop must be >= 0, got {max_drop}")
    olds, news = results_of(old, "OLD"), results_of(new, "NEW")
    notes: list[str] = []
    pairs: list[PairComparison] = []
    if len(olds) == 1 and len(news) == 1:
        pairs.append(compare_pair(olds[0], news[0], max_drop))
        if _label(olds[0]) != _label(news[0]):
            notes.append(f"so sánh cấu hình «{_label(olds[0])}» với «{_label(news[0])}»")
    else:
        index = {(_kind(r), _dataset(r), _label(r)): r for r in olds}
        for r in news:
            key = (_kind(r), _dataset(r), _label(r))
            if key in index:
                pairs.append(compare_pair(index.pop(key), r, max_drop))
            else:
                notes.append(f"«{key[2]}» ({key[1]}) chỉ có trong kết quả mới")
        notes.extend(f"«{key[2]}» ({key[1]}) chỉ có trong kết quả cũ" for key in index)
    if not pairs:
        notes.append("không có cặp kết quả nào để so sánh")
    return CompareResult(max_drop, pairs, notes)


# -- printing -------------------------------------------------------------------------------------------------


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _rank(value: Any) -> str:
    return f"hạng {value}" if value else "ngoài top 10"


def format_summary(result: CompareResult, show: int = 20) -> str:
    """The Vietnamese summary printed by `vankien eval compare`."""
    lines: list[str] = []
    for pair in result.pairs:
        lines.append(f"== {pair.label} · {pair.dataset} ({pair.kind}) ==")
        lines.extend(f"  ! {note}" for note in pair.notes)
        width = max([len(d.name) for d in pair.metrics] + [8])
        lines.append(f"  {'Chỉ số':<{width}}  {'Cũ':>8}  {'Mới':>8}  {'Chênh':>8}")
        for d in pair.metrics:
            flag = f"  ✗ giảm quá {result.max_drop:g}" if d.regressed else ""
            lines.append(f"  {d.name:<{width}}  {_fmt(d.old):>8}  {_fmt(d.new):>8}  {_fmt(d.delta, True):>8}{flag}")
        lines.append(
            f"  Câu hỏi: {pair.common} chung, {len(pair.worse)} kém đi, {pair.better} tốt lên, "
            f"{pair.common - len(pair.worse) - pair.better} không đổi."
        )
        for change in pair.worse[:show]:
            text = change.text if len(change.text) <= 90 else change.text[:89] + "…"
            if pair.kind == "retrieval":
                info = change.detail
                got = ", ".join(info.get("retrieved", [])) or "không có kết quả"
                lines.append(
                    f"    - {change.qid}: {_rank(info.get('old_rank'))} → {_rank(info.get('new_rank'))}; "
                    f"đúng: {', '.join(info.get('gold', []))}; nay trả về: {got}"
                )
            else:
                lines.append(f"    - {change.qid}: đúng → sai")
            lines.append(f"      «{text}»")
        if len(pair.worse) > show:
            lines.append(f"    ... và {len(pair.worse) - show} câu khác (dùng --json để xem đủ)")
    lines.extend(f"! {note}" for note in result.notes)
    regressions = [(p.label, d.name) for p in result.pairs for d in p.regressions]
    if regressions:
        names = ", ".join(f"{name} ({label})" for label, name in regressions)
        lines.append(f"KẾT LUẬN: CÓ SUY GIẢM — {len(regressions)} chỉ số giảm quá {result.max_drop:g}: {names}.")
    else:
        lines.append(f"KẾT LUẬN: không có chỉ số nào giảm quá {result.max_drop:g}.")
    return "\n".join(lines)


def run_compare(
    old_path: str | Path,
    new_path: str | Path,
    max_drop: float = 0.01,
    *,
    as_json: bool = False,
    stream: TextIO | None = None,
    show: int = 20,
) -> int:
    """Compare two result files, print the summary (or JSON) and return the exit status.

    Returns:
        1 when a metric regressed by more than `max_drop`, else 0.

    Raises:
        ResultFileError: a file is missing, not JSON or holds no result.
    """
    out = stream or sys.stdout
    result = compare(load_results(old_path), load_results(new_path), max_drop)
    if as_json:
        json.dump(result.to_dict(), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(format_summary(result, show) + "\n")
    return EXIT_REGRESSION if result.regressed else EXIT_OK
