"""Look inside QA runs: for each question, where the gold answer was retrieved, what was quoted, and why the
pipeline abstained or not. A development tool; numbers for docs come from `vankien eval qa`.

Usage:
    .venv/bin/python -m eval.qa_debug --docs corpus --qa eval/data/corpus_qa.jsonl [--distractors F] \
        [--index /tmp/qa-debug] [--only-wrong] [--features out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.datasets import load_qa
from eval.metrics import contains_answer, contains_answer_soft
from rag import Library, QAPipeline


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--qa", type=Path, required=True)
    ap.add_argument("--distractors", type=Path)
    ap.add_argument("--index", type=Path, default=Path("/tmp/qa-debug"))
    ap.add_argument("--only-wrong", action="store_true")
    ap.add_argument("--features", type=Path, help="write one JSON line of abstention features per question")
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    library = Library(args.index)
    library.ingest([args.docs] + ([args.distractors] if args.distractors else []))
    qa = QAPipeline(library, k=args.k)
    out = args.features.open("w", encoding="utf-8") if args.features else None
    counts = {"right": 0, "wrong": 0, "retrieval_miss": 0, "bad_abstain": 0, "good_abstain": 0, "missed_abstain": 0}
    for item in load_qa(args.qa):
        history = [dict(t) for t in item.history] or None
        answer = qa.ask(item.question, history=history)
        prepared = qa.prepare(item.question, history)
        rewritten, hits, feats = prepared.rewritten, prepared.hits, prepared.decision.features
        golds = list(item.answers)
        gold_rank = (
            next((h.rank for h in hits if contains_answer_soft(h.paragraph.text, golds)), None) if golds else None
        )
        correct = contains_answer_soft(answer.text, golds) if golds else False
        cited = [c.hit.paragraph.text for c in answer.citations]
        cite1 = bool(cited) and contains_answer(cited[0], golds)
        cite1_soft = bool(cited) and contains_answer_soft(cited[0], golds)
        cite3_soft = any(contains_answer_soft(t, golds) for t in cited[:3])
        if item.answerable:
            counts["cite1"] = counts.get("cite1", 0) + cite1
            counts["cite1_soft"] = counts.get("cite1_soft", 0) + cite1_soft
            counts["cite3_soft"] = counts.get("cite3_soft", 0) + cite3_soft
        if out:
            out.write(
                json.dumps({"id": item.id, "answerable": item.answerable, "gold_rank": gold_rank, **feats}) + "\n"
            )
        if item.answerable:
            if answer.abstained:
                key = "bad_abstain" if gold_rank else "retrieval_miss"
            else:
                key = "right" if correct else ("wrong" if gold_rank else "retrieval_miss")
        else:
            key = "good_abstain" if answer.abstained else "missed_abstain"
        counts[key] += 1
        if args.only_wrong and key in ("right", "good_abstain"):
            continue
        print(f"[{key}] {item.id} {item.question}")
        if rewritten != item.question:
            print(f"    rewritten: {rewritten}")
        print(f"    gold: {item.answers} rank={gold_rank}  feats={ {k: round(v, 2) for k, v in feats.items()} }")
        print(f"    answer: {answer.text[:300]}")
        if item.answerable:
            print(f"    cited@1 exact={cite1} soft={cite1_soft} cited@3 soft={cite3_soft}")
        for h in hits[:3]:
            print(f"      {h.rank}. {h.paragraph_id} {h.paragraph.text[:110]}")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
