"""Compare ways of fusing the lexical and dense lists, and their weights, on a BEIR data set with a held-out split.

For every question it reads both retrievers' candidate lists once (the product's own `HybridRetriever` over an
index built like `vankien eval retrieval` builds it), completes each candidate's score from the other retriever
(`LexicalIndex.scores`, the stored vectors), and then scores every fusion and weight offline:

* `minmax`: convex combination of min-max scores over each list's own top n (`rag.retrieve.fusion.convex`, the
  default of issue 12's first part);
* `rrf`: reciprocal rank fusion (`rrf`);
* `z`: convex combination of standardised scores over the union, every candidate scored by both (`z_convex`, the
  default now);
* `z-loglex`: the same over log(1 + BM25), which tames BM25's long upper tail;
* `z-robust`: the same standardised by median and MAD instead of mean and standard deviation;
* `z-margin`: `z` with a weight per question, moved toward the retriever whose first candidate stands further
  above its second (w + 0.05 x (margin_lexical - margin_dense), margins in standard deviations): a query
  performance predictor of the simplest kind.

A last row, `oracle`, gives the share of questions for which some lexical weight in 0..1 (steps of 0.025) puts a
relevant entry first: the ceiling of any per-question choice of weight over these two lists.

Rows give Hit@1 / MRR@10 per corpus entry on the tuning questions (those outside `--held-out`'s qrels file) and on
the held-out ones; with `--check DATASET` the same rows on a second data set never tuned on. The weight is the
lexical share. Figures in docs/decisions.md, "Fusion on complete scores".

Usage:
    .venv/bin/python -m eval.tune_fusion --dataset ../shared/eval/uit_reg_wiki --held-out test \\
        --check ../shared/eval/alqac [--work /tmp/vankien-eval-work]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from eval import engine
from eval.cli import index_name, load_run_configs, slug
from eval.datasets import BeirDataset, load_beir
from rag.retrieve.fusion import convex, rrf, z_convex
from rag.retrieve.retrievers import CANDIDATES, Candidates, HybridRetriever

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
DEPTH = 10


Fusion = Callable[[Candidates, float], list[int]]


def _minmax(found: Candidates, w: float) -> list[int]:
    return [pid for pid, _ in convex([found.lexical, found.dense], [w, 1.0 - w])]


def _rrf(found: Candidates, w: float) -> list[int]:
    return [pid for pid, _ in rrf([[p for p, _ in found.lexical], [p for p, _ in found.dense]], weights=[w, 1 - w])]


def _z(found: Candidates, w: float) -> list[int]:
    return [pid for pid, _ in z_convex(found.lexical_scores, found.dense_scores, w)]


def _z_loglex(found: Candidates, w: float) -> list[int]:
    logged = {pid: math.log1p(max(0.0, s)) for pid, s in found.lexical_scores.items()}
    return [pid for pid, _ in z_convex(logged, found.dense_scores, w)]


def _robust(scores: dict[int, float]) -> dict[int, float]:
    values = sorted(scores.values())
    median = statistics.median(values) if values else 0.0
    mad = 1.4826 * statistics.median([abs(v - median) for v in values]) if values else 0.0
    return {pid: (s - median) / (mad or 1.0) for pid, s in scores.items()}


def _z_robust(found: Candidates, w: float) -> list[int]:
    lexical, dense = _robust(found.lexical_scores), _robust(found.dense_scores)
    fused = {pid: w * z + (1 - w) * dense.get(pid, z) for pid, z in lexical.items()}
    return sorted(fused, key=lambda pid: -fused[pid])


def _margin(scores: dict[int, float]) -> float:
    """How far the best score stands above the second, in standard deviations of the list."""
    values = sorted(scores.values(), reverse=True)
    if len(values) < 3:
        return 0.0
    return (values[0] - values[1]) / (statistics.pstdev(values) or 1.0)


def _z_margin(found: Candidates, w: float) -> list[int]:
    shift = MARGIN_STEP * (_margin(found.lexical_scores) - _margin(found.dense_scores))
    return _z(found, min(0.9, max(0.1, w + shift)))


MARGIN_STEP = 0.05
FUSIONS: dict[str, Fusion] = {
    "minmax": _minmax,
    "rrf": _rrf,
    "z": _z,
    "z-loglex": _z_loglex,
    "z-robust": _z_robust,
    "z-margin": _z_margin,
}


def read_lists(dataset: BeirDataset, work: Path) -> tuple[dict[str, Candidates], dict[int, str]]:
    """Every question's candidate lists over the default configuration's index of `dataset` (built when missing),
    and the corpus entry of every candidate pid."""
    config = load_run_configs([ROOT / "eval/configs/default.toml"])[0]
    # The folder `vankien eval retrieval --work` uses for the default configuration: its index is reused.
    index_dir = work / slug(f"{dataset.name}-{dataset.split}") / index_name(config)
    library = engine.index_corpus(config, dataset.corpus, index_dir)
    store = library.store
    entry_of_doc = engine.corpus_entries(library)
    retriever = HybridRetriever(store)
    out: dict[str, Candidates] = {}
    pids: set[int] = set()
    for qid, text in dataset.queries.items():
        out[qid] = retriever.candidates(text, CANDIDATES)
        pids.update(out[qid].lexical_scores)
    ordered = sorted(pids)
    entry_of = {
        pid: entry_of_doc[hit.doc_id] for pid, hit in zip(ordered, store.hits([(p, 0.0) for p in ordered]), strict=True)
    }
    library.close()
    return out, entry_of


def scores(
    lists: dict[str, Candidates],
    dataset: BeirDataset,
    entry_of: dict[int, str],
    fusion: Fusion,
    w: float,
    qids: set[str],
) -> tuple[float, float]:
    """(Hit@1, MRR@10) over corpus entries for the questions in `qids`."""
    return entry_metrics({qid: fusion(lists[qid], w) for qid in qids}, dataset, entry_of)


def entry_metrics(ranked: dict[str, list[int]], dataset: BeirDataset, entry_of: dict[int, str]) -> tuple[float, float]:
    """(Hit@1, MRR@10) over corpus entries of each question's ranked pids (a corpus entry split into several
    paragraphs counts once, at its best paragraph)."""
    hit1 = mrr = 0.0
    for qid, pids in ranked.items():
        entries: list[str] = []
        for pid in pids:
            entry = entry_of[pid]
            if entry not in entries:
                entries.append(entry)
            if len(entries) == DEPTH:
                break
        relevant = {c for c, r in dataset.qrels[qid].items() if r > 0}
        rank = next((i for i, e in enumerate(entries, start=1) if e in relevant), None)
        if rank is not None:
            hit1 += rank == 1
            mrr += 1.0 / rank
    n = max(1, len(ranked))
    return hit1 / n, mrr / n


def oracle(lists: dict[str, Candidates], dataset: BeirDataset, entry_of: dict[int, str], qids: set[str]) -> float:
    """Share of `qids` for which some lexical weight puts a relevant corpus entry first (`z` fusion)."""
    found = 0
    for qid in qids:
        relevant = {c for c, r in dataset.qrels[qid].items() if r > 0}
        found += any(entry_of[_z(lists[qid], i / 40)[0]] in relevant for i in range(41) if lists[qid].lexical_scores)
    return found / max(1, len(qids))


def held_out_ids(folder: Path, split: str | None) -> set[str]:
    """Query ids of the qrels file `split` (none: no held-out questions)."""
    if split is None:
        return set()
    return set(load_beir(folder, split).queries)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, required=True, help="BEIR folder to tune on")
    ap.add_argument("--held-out", help="qrels split of --dataset kept out of tuning (e.g. test)")
    ap.add_argument("--check", type=Path, help="a second BEIR folder, never tuned on")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vankien-eval-work"), help="indexes kept between runs")
    args = ap.parse_args(argv)
    dataset = load_beir(args.dataset, "all")
    held = held_out_ids(args.dataset, args.held_out) & set(dataset.queries)
    tune = set(dataset.queries) - held
    lists, entry_of = read_lists(dataset, args.work)
    check = None
    if args.check is not None:
        check_set = load_beir(args.check, "all")
        check = (check_set, *read_lists(check_set, args.work))
    header = f"{'fusion':9} {'w':>5}  tune ({len(tune)})      held-out ({len(held)})"
    if check is not None:
        header += f"  {check[0].name} ({len(check[0].queries)})"
    print(header)
    for name, fusion in FUSIONS.items():
        for w in WEIGHTS:
            cells = [scores(lists, dataset, entry_of, fusion, w, tune)]
            cells.append(scores(lists, dataset, entry_of, fusion, w, held) if held else (float("nan"),) * 2)
            if check is not None:
                cells.append(scores(check[1], check[0], check[2], fusion, w, set(check[0].queries)))
            print(f"{name:9} {w:5.2f}  " + "  ".join(f"{h:.3f} / {m:.3f}" for h, m in cells))
    ceilings = [oracle(lists, dataset, entry_of, tune)]
    ceilings.append(oracle(lists, dataset, entry_of, held) if held else float("nan"))
    if check is not None:
        ceilings.append(oracle(check[1], check[0], check[2], set(check[0].queries)))
    print(f"{'oracle':9} {'-':>5}  " + "  ".join(f"{h:.3f}        " for h in ceilings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
