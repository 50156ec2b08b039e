"""Reports: `report.json`, `report.md` and PNG plots for one or more evaluation results.

Plots (matplotlib, Agg backend, DejaVu Sans for Vietnamese glyphs):

* `metrics_<kind>.png`: every metric, one bar per configuration or peer, side by side;
* `hit_curve.png`: Hit@k for k = 1..10 per retrieval result (a peer that returned fewer than 10 ids is dashed);
* `latency.png`: the distribution of per-question latency (box plot) of each result that measured it.

The Markdown holds the metric tables, the plots, and the worst questions of each result with what was
retrieved (or answered) instead of the gold paragraph.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag import MissingDependency

#: Questions listed per result in the worst-questions tables.
WORST_SHOWN = 10
_KIND_TITLES = {"retrieval": "Truy hồi", "qa": "Hỏi đáp", "mcq": "Trắc nghiệm"}


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Paths of what `write_report` wrote."""

    json: Path
    markdown: Path
    plots: list[Path]


def _kind(result: Mapping[str, Any]) -> str:
    kind = result.get("kind")
    if isinstance(kind, str):
        return kind
    return "mcq" if "quiz" in result else "qa" if "qa" in result else "retrieval"


def _label(result: Mapping[str, Any]) -> str:
    return str(result.get("label") or (result.get("config") or {}).get("name") or "default")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _cell(text: Any, limit: int = 160) -> str:
    """A Markdown table cell: one line, pipes escaped, shortened."""
    value = " ".join(str(text).split()).replace("|", "\\|")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _fmt(value: Any, digits: int = 4) -> str:
    number = _num(value)
    return "—" if number is None else f"{number:.{digits}f}"


def _ms(value: Any) -> str:
    """Milliseconds with three significant digits (0.0123, 4.56, 123, 4560)."""
    number = _num(value)
    if number is None:
        return "—"
    return f"{number:.3g}" if number < 1000 else f"{number:.0f}"


# -- plots ----------------------------------------------------------------------------------------------------


def check_plotting() -> None:
    """Raise `MissingDependency` (a Vietnamese message naming the fix) when matplotlib, which `--out` plots with, is
    not installed: checked before an evaluation starts, not after it has run for an hour."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise MissingDependency(
            "matplotlib is needed for the report plots (pip install -e '.[eval]')",
            "Báo cáo --out cần gói matplotlib để vẽ biểu đồ; hãy cài: .venv/bin/pip install -e '.[eval]' "
            "(hoặc chạy make dev), hoặc bỏ --out để chỉ in kết quả.",
        )


def _pyplot() -> Any:
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "axes.titlesize": 13,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _is_peer(result: Mapping[str, Any]) -> bool:
    """A peer's run: a published one (its "peer" record) or one run beside ours (label "peer:<name>")."""
    return bool(result.get("peer")) or str(result.get("label") or "").startswith("peer:")


def _depth(result: Mapping[str, Any]) -> int:
    """How many results per question the run returned at most (a peer may publish only its top 3)."""
    depth = _num(result.get("k"))
    return int(depth) if depth is not None else 10


def _legend_label(result: Mapping[str, Any]) -> str:
    label = f"{_label(result)} (n={result.get('n')})"
    if _kind(result) == "retrieval" and _depth(result) < 10:
        label += f", chỉ top {_depth(result)}"
    return label


def plot_metrics(results: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Grouped bars: one group per metric, one bar per result (peers hatched)."""
    plt = _pyplot()
    names = list(dict.fromkeys(n for r in results for n in r.get("metrics", {})))
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.3 * len(names) + 0.4 * len(results)), 4.8))
    for i, result in enumerate(results):
        values = [_num(result["metrics"].get(n)) for n in names]
        xs = [j + (i - (len(results) - 1) / 2) * width for j in range(len(names))]
        bars = ax.bar(
            xs,
            [v if v is not None else 0.0 for v in values],
            width=width * 0.95,
            label=_legend_label(result),
            hatch="//" if _is_peer(result) else None,
            edgecolor="black" if _is_peer(result) else None,
            linewidth=0.5,
        )
        # Beyond four bars a group is too narrow for side-by-side labels: write them upwards.
        upright = len(results) > 4
        for bar, value in zip(bars, values, strict=True):
            text = "—" if value is None else f"{value:.2f}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6.5 if upright else 7,
                rotation=90 if upright else 0,
                xytext=(0, 1),
                textcoords="offset points",
            )
    crowded = sum(len(n) for n in names) > 60  # long names ("abstention_precision") would overlap
    ax.set_xticks(range(len(names)), names, rotation=25 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylim(0, 1.2 if len(results) > 4 else 1.12)
    ax.set_ylabel("Giá trị (0–1)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3 if crowded else -0.1), ncol=min(3, len(results)))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_hit_curves(results: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Hit@k against k = 1..10, one line per retrieval result."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for result in results:
        curve = result.get("hit_curve") or {}
        # Beyond a run's depth the curve would be flat by construction, not by merit: stop it there.
        depth = _depth(result)
        ks = sorted(int(k) for k in curve if int(k) <= depth)
        points = [(k, v) for k in ks if (v := _num(curve[str(k)])) is not None]
        if not points:
            continue
        ax.plot(
            [k for k, _ in points],
            [v for _, v in points],
            marker="o",
            markersize=4,
            linestyle="--" if _is_peer(result) else "-",
            label=_legend_label(result),
        )
    ax.set_xticks(range(1, 11))
    ax.set_xlim(0.7, 10.3)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k (số kết quả đầu xem xét)")
    ax.set_ylabel("Hit@k (tỉ lệ câu có đoạn đúng trong top k)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _latencies(result: Mapping[str, Any]) -> list[float]:
    per_query = result.get("per_query") or {}
    values = (_num(entry.get("latency_ms")) for entry in per_query.values() if isinstance(entry, dict))
    return [v for v in values if v is not None]


def plot_latency(results: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path | None:
    """Box plot of per-question latency per result (log scale when it spans two orders of magnitude)."""
    data = [(r, _latencies(r)) for r in results]
    data = [(r, values) for r, values in data if values]
    if not data:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.7 * len(data)))
    series = [values for _, values in data]
    ax.boxplot(series, orientation="horizontal", showfliers=True, flierprops={"markersize": 2, "alpha": 0.5})
    ax.set_yticks(range(1, len(data) + 1), [_label(r) for r, _ in data])
    ax.invert_yaxis()  # the first result on top, as in the tables
    lo = min(min(v) for v in series)
    hi = max(max(v) for v in series)
    if lo > 0 and hi / lo > 100:
        ax.set_xscale("log")
    for i, (result, _) in enumerate(data, start=1):
        block = result.get("latency_ms") or {}
        ax.annotate(
            f"p50 {_ms(block.get('p50'))} · p95 {_ms(block.get('p95'))} ms",
            (1.0, i),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 9),
            textcoords="offset points",
            ha="right",
            fontsize=8,
        )
    ax.set_xlabel("Thời gian trả lời mỗi câu (ms)")
    ax.set_title(title)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


# -- markdown -------------------------------------------------------------------------------------------------


def worst_retrieval(result: Mapping[str, Any], n: int = WORST_SHOWN) -> list[tuple[str, dict[str, Any]]]:
    """The n worst questions of a retrieval result: gold not in the top 10 first, then the lowest reciprocal
    rank, then the lowest NDCG@10 (ties by id)."""
    per_query: Mapping[str, Any] = result.get("per_query") or {}
    entries = [(qid, e) for qid, e in per_query.items() if isinstance(e, dict)]
    entries.sort(key=lambda item: (_num(item[1].get("rr")) or 0.0, _num(item[1].get("ndcg@10")) or 0.0, item[0]))
    return entries[:n]


def worst_qa(result: Mapping[str, Any], n: int = WORST_SHOWN) -> list[tuple[str, dict[str, Any]]]:
    """Up to n questions a QA or MCQ result got wrong, in file order."""
    per_query: Mapping[str, Any] = result.get("per_query") or {}
    return [(q, e) for q, e in per_query.items() if isinstance(e, dict) and not _num(e.get("correct"))][:n]


def _with_title(doc_id: str, titles: Mapping[str, str]) -> str:
    title = titles.get(doc_id)
    return f"`{doc_id}` {title}" if title else f"`{doc_id}`"


def _retrieval_table(result: Mapping[str, Any]) -> list[str]:
    titles: Mapping[str, str] = result.get("titles") or {}
    rows = [
        "| # | Mã câu | Câu hỏi | Đoạn đúng | Hạng | Được trả về thay vào đó (top 3) |",
        "|---|---|---|---|---|---|",
    ]
    for i, (qid, e) in enumerate(worst_retrieval(result), start=1):
        gold = "<br>".join(_cell(_with_title(d, titles), 90) for d in e.get("gold", []))
        got = "<br>".join(_cell(_with_title(d, titles), 90) for d in list(e.get("ranked", []))[:3]) or "(không có)"
        rank = e.get("rank") or "ngoài top 10"
        rows.append(f"| {i} | `{_cell(qid, 40)}` | {_cell(e.get('query', '(ẩn)'))} | {gold} | {rank} | {got} |")
    return rows


def _qa_table(result: Mapping[str, Any]) -> list[str]:
    if _kind(result) == "mcq":
        rows = ["| # | Mã câu | Câu hỏi | Đáp án | Đã chọn |", "|---|---|---|---|---|"]
        for i, (qid, e) in enumerate(worst_qa(result), start=1):
            rows.append(
                f"| {i} | `{_cell(qid, 40)}` | {_cell(e.get('question', '(ẩn)'))} | {e.get('gold_letter')} "
                f"| {e.get('chosen_letter') or '(không chọn)'} |"
            )
        return rows
    rows = [
        "| # | Mã câu | Câu hỏi | Đáp án đúng | Câu trả lời | Đoạn trích dẫn đầu |",
        "|---|---|---|---|---|---|",
    ]
    for i, (qid, e) in enumerate(worst_qa(result), start=1):
        if "answers" in e:
            gold = "; ".join(e["answers"]) or "(không trả lời được — cần từ chối)"
        else:
            gold = "(ẩn)" if e.get("answerable", True) else "(không trả lời được — cần từ chối)"
        answer = "(từ chối trả lời)" if e.get("abstained") else e.get("answer", "(ẩn)")
        cited = e.get("cited") or []
        first = f"`{cited[0].get('paragraph_id')}` {cited[0].get('text', '')}" if cited else "(không có)"
        rows.append(
            f"| {i} | `{_cell(qid, 40)}` | {_cell(e.get('question', '(ẩn)'))} | {_cell(gold, 100)} "
            f"| {_cell(answer, 140)} | {_cell(first, 140)} |"
        )
    return rows


def _metrics_table(results: Sequence[Mapping[str, Any]]) -> list[str]:
    names = list(dict.fromkeys(n for r in results for n in r.get("metrics", {})))
    header = ["Cấu hình", "n", *names, "p50 ms", "p95 ms"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        latency = r.get("latency_ms") or {}
        label = _cell(_label(r), 60) + (" (đối chứng)" if _is_peer(r) else "")
        cells = [label, str(r.get("n", "")), *(_fmt(r["metrics"].get(n)) for n in names)]
        cells += [_ms(latency.get("p50")), _ms(latency.get("p95"))]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _tag_table(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """QA correctness per question tag ("correct": right answer, or abstained when unanswerable)."""
    tags = sorted({t for r in results for t in (r.get("by_tag") or {})})
    if not tags:
        return []
    rows = ["| Nhãn | " + " | ".join(_cell(_label(r), 40) for r in results) + " |", "|---|" + "---|" * len(results)]
    for tag in tags:
        cells = []
        for r in results:
            entry = (r.get("by_tag") or {}).get(tag)
            cells.append(f"{_fmt(entry.get('correct'), 3)} (n={entry.get('n')})" if entry else "—")
        rows.append(f"| {_cell(tag, 40)} | " + " | ".join(cells) + " |")
    first = results[0]
    detail = [
        f"Cấu hình {_cell(_label(first), 60)}, chỉ các câu hỏi có đáp án của mỗi nhãn:",
        "",
        "| Nhãn | n | answer_correct | citation_correct@1 | citation_correct@3 |",
        "|---|---|---|---|---|",
    ]
    for tag in tags:
        entry = (first.get("by_tag") or {}).get(tag) or {}
        sub = entry.get("answerable") or {}
        if not entry.get("n_answerable"):
            continue
        detail.append(
            f"| {_cell(tag, 40)} | {entry['n_answerable']} | "
            + " | ".join(_fmt(sub.get(k), 3) for k in ("answer_correct", "citation_correct@1", "citation_correct@3"))
            + " |"
        )
    return ["### Tỉ lệ đúng theo nhãn câu hỏi", "", *rows, "", *(detail if len(detail) > 4 else []), ""]


def _provenance(results: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = ["| Cấu hình | Dữ liệu | Phiên bản mã (git) | Chỉ mục | Thiết lập |", "|---|---|---|---|---|"]
    for r in results:
        kind = _kind(r)
        data = (
            f"{r.get('dataset')}/{r.get('split')}"
            if kind == "retrieval"
            else f"{r.get('qa')} (tài liệu: {r.get('docs')})"
            if kind == "qa"
            else str(r.get("quiz"))
        )
        if r.get("peer"):
            peer = r["peer"]
            setup = f"kết quả công bố: {peer.get('model')}; {peer.get('note', '')}"
        elif _is_peer(r):
            setup = "hệ đối chứng chạy cùng tiến trình, trên cùng dữ liệu, thiết lập theo tài liệu của họ"
        else:
            config = r.get("config") or {}
            setup = ", ".join(
                f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v}"
                for k, v in config.items()
                if k not in ("name", "description") and v not in (None, {}, "")
            )
        manifest = r.get("index_manifest")
        index = json.dumps(manifest, ensure_ascii=False, sort_keys=True) if manifest else "—"
        rows.append(
            f"| {_cell(_label(r), 60)} | {_cell(data, 80)} | `{(r.get('git_revision') or '—')[:12]}` "
            f"| {_cell(index, 120)} | {_cell(setup, 200)} |"
        )
    return rows


#: Fields of a per-question record that carry text of the evaluated data set (questions, options, gold answers,
#: answers quoting its documents). `redact` drops them.
TEXT_FIELDS: frozenset[str] = frozenset({"query", "question", "options", "answers", "answer", "text"})


def redact(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a result that keeps ids, ranks, flags, metrics and timings, and none of the data set's text.

    For reports kept beside third-party data sets (they may not be copied): per question, the question, the gold
    answers, our answer and the cited paragraphs' text are dropped (cited paragraph ids stay), and so are the
    corpus titles and the loader's warnings, which quote queries.
    """
    out = dict(result)
    out.pop("titles", None)
    warnings = out.get("dataset_warnings") or []
    if warnings:
        out["dataset_warnings"] = [f"{len(warnings)} cảnh báo về dữ liệu khi nạp (nội dung ẩn: dữ liệu bên thứ ba)."]
    per_query: dict[str, Any] = {}
    for qid, entry in (result.get("per_query") or {}).items():
        if isinstance(entry, dict):
            entry = {k: v for k, v in entry.items() if k not in TEXT_FIELDS}
            if isinstance(entry.get("cited"), list):
                entry["cited"] = [
                    {"paragraph_id": c.get("paragraph_id")} for c in entry["cited"] if isinstance(c, dict)
                ]
        per_query[qid] = entry
    out["per_query"] = per_query
    out["redacted"] = True
    return out


def write_report(
    results: Sequence[Mapping[str, Any]], out_dir: str | Path, title: str, *, redacted: bool = False
) -> ReportFiles:
    """Write report.json, report.md and the PNG plots into `out_dir` (created if needed).

    Args:
        results: result dicts from the runners' `to_dict` (retrieval, QA and MCQ may be mixed).
        out_dir: the folder to write.
        title: the report's title.
        redacted: write no text of the data set (see `redact`): the tables of worst questions show ids only.

    Returns:
        the paths written.
    """
    if redacted:
        results = [redact(r) for r in results]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    json_path = out / "report.json"
    json_path.write_text(
        json.dumps({"title": title, "created": created, "results": list(results)}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    plots: list[Path] = []
    md = [f"# {title}", "", f"Tạo lúc {created} (UTC). Dữ liệu đầy đủ: `report.json`.", ""]
    if redacted:
        md += [
            "Dữ liệu đánh giá thuộc bên thứ ba nên báo cáo này không chép nội dung câu hỏi, đáp án hay đoạn văn: các "
            "bảng chỉ ghi mã câu hỏi, mã đoạn và kết quả. Chạy lại lệnh không có `--redact` để xem đủ nội dung.",
            "",
        ]
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        by_kind.setdefault(_kind(r), []).append(r)
    for kind, group in by_kind.items():
        heading = _KIND_TITLES.get(kind, kind)
        md += [f"## {heading}", "", *_metrics_table(group), ""]
        if any(r.get("peer") for r in group):
            md += [
                "Kết quả đối chứng (đã công bố) được chấm bằng cùng các chỉ số, trên những câu hỏi chúng có; "
                "so sánh công bằng khi cùng n (chọn tập bằng `--split`).",
                "",
            ]
        plot = plot_metrics(group, out / f"metrics_{kind}.png", f"{heading}: chỉ số theo cấu hình")
        plots.append(plot)
        md += [f"![{heading}: chỉ số theo cấu hình]({plot.name})", ""]
        if kind == "retrieval":
            plot = plot_hit_curves(group, out / "hit_curve.png", "Hit@k theo k")
            plots.append(plot)
            md += [f"![Hit@k theo k]({plot.name})", ""]
        latency = plot_latency(group, out / f"latency_{kind}.png", f"{heading}: phân bố thời gian trả lời")
        if latency is not None:
            plots.append(latency)
            md += [f"![Thời gian trả lời]({latency.name})", ""]
        if kind == "qa":
            md += _tag_table(group)
        md += ["### Nguồn gốc kết quả", "", *_provenance(group), ""]
        notes = list(dict.fromkeys(w for r in group for w in r.get("dataset_warnings") or []))
        if notes:
            md += ["Cảnh báo về dữ liệu (đã xử lý khi nạp):", "", *(f"- {_cell(w, 300)}" for w in notes), ""]
        for r in group:
            if kind == "retrieval":
                md += [f"### Câu hỏi kém nhất — {_label(r)}", "", *_retrieval_table(r), ""]
            else:
                md += [f"### Câu trả lời sai — {_label(r)}", "", *_qa_table(r), ""]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    return ReportFiles(json_path, md_path, plots)
