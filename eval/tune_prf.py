"""Measure pseudo-relevance feedback on the dense side (Rocchio on the query vector) over the product's fusion.

For every question the product's `HybridRetriever` gives both candidate lists with complete scores (as
`eval.tune_fusion` reads them); the default fusion (`z_convex`, lexical weight `LEXICAL_WEIGHT`) ranks them; then
the query vector moves toward the mean vector of the first m fused candidates, q' = q + beta * mean(v_1..v_m)
(normalised), every candidate's cosine is recomputed with q', and the fusion ranks again. Rows give Hit@1 / MRR@10
per corpus entry on uit_reg_wiki's tuning questions, its held-out test split and alqac, for several (m, beta);
(0, 0) is the product as it is. Result (docs/decisions.md, "Fusion on complete scores"): never better, so not used.

Usage:
    .venv/bin/python -m eval.tune_prf [--work /tmp/vk-eval]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval import engine
from eval.cli import index_name, load_run_configs, slug
from eval.datasets import BeirDataset, load_beir
from eval.tune_fusion import entry_metrics, held_out_ids
from rag.retrieve.fusion import z_convex
from rag.retrieve.retrievers import CANDIDATES, LEXICAL_WEIGHT, Candidates, HybridRetriever

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ((0, 0.0), (1, 0.3), (1, 0.6), (3, 0.3), (3, 0.6), (3, 1.0), (5, 0.5), (10, 0.5))


@dataclass(frozen=True, slots=True)
class Reading:
    """One question's candidates, its query vector, and the candidates' vectors (rows in `pids` order)."""

    found: Candidates
    query: np.ndarray
    pids: list[int]
    vectors: np.ndarray


def read(dataset: BeirDataset, work: Path) -> tuple[dict[str, Reading], dict[int, str]]:
    """Every question's reading over the default configuration's index of `dataset` (built when missing)."""
    config = load_run_configs([ROOT / "eval/configs/default.toml"])[0]
    index_dir = work / slug(f"{dataset.name}-{dataset.split}") / index_name(config)
    library = engine.index_corpus(config, dataset.corpus, index_dir)
    store = library.store
    assert store.vectors is not None
    retriever = HybridRetriever(store)
    readings: dict[str, Reading] = {}
    seen: set[int] = set()
    for qid, text in dataset.queries.items():
        found = retriever.candidates(text, CANDIDATES)
        pids = list(found.lexical_scores)
        query = np.asarray(retriever._query_vector(text, None, None), dtype=np.float32).reshape(-1)
        readings[qid] = Reading(found, query, pids, store.vectors.vectors(pids))
        seen.update(pids)
    ordered = sorted(seen)
    entry_of_doc = engine.corpus_entries(library)
    hits = store.hits([(p, 0.0) for p in ordered])
    entry_of = {pid: entry_of_doc[hit.doc_id] for pid, hit in zip(ordered, hits, strict=True)}
    library.close()
    return readings, entry_of


def ranked(reading: Reading, m: int, beta: float) -> list[int]:
    """The fused ranking, after feedback from the first m fused candidates at weight beta (m = 0: none)."""
    fused = z_convex(reading.found.lexical_scores, reading.found.dense_scores, LEXICAL_WEIGHT)
    if m == 0 or beta == 0.0:
        return [pid for pid, _ in fused]
    row = {pid: i for i, pid in enumerate(reading.pids)}
    moved = reading.query + beta * reading.vectors[[row[pid] for pid, _ in fused[:m]]].mean(axis=0)
    moved /= np.linalg.norm(moved)
    cosines = dict(zip(reading.pids, (reading.vectors @ moved).tolist(), strict=True))
    return [pid for pid, _ in z_convex(reading.found.lexical_scores, cosines, LEXICAL_WEIGHT)]


def scores(
    readings: dict[str, Reading], dataset: BeirDataset, entry_of: dict[int, str], qids: set[str], m: int, beta: float
) -> tuple[float, float]:
    """(Hit@1, MRR@10) over corpus entries for the questions in `qids`."""
    return entry_metrics({qid: ranked(readings[qid], m, beta) for qid in qids}, dataset, entry_of)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared/eval", help="the shared eval folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vankien-eval-work"), help="indexes kept between runs")
    args = ap.parse_args(argv)
    uit = load_beir(args.shared / "uit_reg_wiki", "all")
    held = held_out_ids(args.shared / "uit_reg_wiki", "test") & set(uit.queries)
    tune = set(uit.queries) - held
    alqac = load_beir(args.shared / "alqac", "all")
    uit_read, uit_entries = read(uit, args.work)
    alqac_read, alqac_entries = read(alqac, args.work)
    print(f"{'m':>3} {'beta':>5}  uit tuning ({len(tune)})  uit held-out ({len(held)})  alqac ({len(alqac.queries)})")
    for m, beta in SETTINGS:
        cells = [
            scores(uit_read, uit, uit_entries, tune, m, beta),
            scores(uit_read, uit, uit_entries, held, m, beta),
            scores(alqac_read, alqac, alqac_entries, set(alqac.queries), m, beta),
        ]
        print(f"{m:>3} {beta:5.2f}  " + "  ".join(f"{h:.3f} / {r:.3f}" for h, r in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
