"""Compare the multiple-choice chooser's weights on a quiz, with each half checked against the other.

For every question it reads, once, the paragraphs the product's retriever gives for the question and for
"question + option" (over an index built like `vankien eval mcq` builds it, distractors included) and the cosine
of "question + option" to them (`IndexStore.similarity`), then scores every pair of weights offline with the
chooser's own function (`rag.answer.mcq.option_support`):

* context: the share of the question's own words in the paragraph that supports an option (`CONTEXT_WEIGHT`);
* semantic: the weight of the best cosine (`SEMANTIC_WEIGHT`).

Rows give accuracy on the even-numbered questions, the odd-numbered ones and all. Figures in docs/answers.md,
"Multiple choice".

Usage:
    .venv/bin/python -m eval.tune_mcq --quiz ../shared/corpora/party_politics/quiz_party_politics_mcq.json \\
        --docs ../shared/eval/nq57/docs --distractors ../shared/corpora/party_politics/docs_party_politics.jsonl \\
        [--work /tmp/vankien-eval-work]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval import engine
from eval.cli import corpus_dir, index_name, load_run_configs
from eval.datasets import MCQItem, load_mcq
from rag.answer.mcq import OPTION_K, is_evidence, option_support
from rag.answer.question import analyse_question
from rag.types import Hit

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = (0.0, 0.2, 0.4)
SEMANTIC = (0.0, 0.5, 1.0, 2.0, 4.0)

Reading = list[tuple[list[Hit], float]]  # per option: the paragraphs read, the best cosine


def read(items: list[MCQItem], docs: Path, distractors: Path | None, work: Path) -> list[Reading]:
    """Every question's paragraphs and cosines, per option, through the default configuration's retriever."""
    config = load_run_configs([ROOT / "eval/configs/default.toml"])[0]
    index_dir = corpus_dir(work, docs, distractors) / index_name(config)
    library = engine.documents_library(config, docs, distractors, index_dir)
    qa = engine.qa_pipeline(config, library)
    out: list[Reading] = []
    for item in items:
        common = qa.retriever.retrieve(item.question, qa.k)
        reading: Reading = []
        for option in item.options:
            statement = f"{item.question} {option}"
            found = [*common, *qa.retriever.retrieve(statement, OPTION_K)] if option.strip() else []
            hits = [h for h in found if is_evidence(h, item.options)]
            cosines = [c for c in library.store.similarity(statement, [h.paragraph for h in hits]) if c is not None]
            reading.append((hits, max(cosines, default=0.0)))
        out.append(reading)
    library.close()
    return out


def accuracy(items: list[MCQItem], readings: list[Reading], context: float, semantic: float) -> list[bool]:
    """Whether each question is answered right with these weights (ties go to the earlier option)."""
    right: list[bool] = []
    for item, reading in zip(items, readings, strict=True):
        asked = analyse_question(item.question)
        scores = [
            option_support(option, hits, asked, context) + semantic * cosine if option.strip() else 0.0
            for option, (hits, cosine) in zip(item.options, reading, strict=True)
        ]
        right.append(max(range(len(scores)), key=lambda i: (scores[i], -i)) == item.answer_index)
    return right


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quiz", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--distractors", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/vankien-eval-work"))
    args = ap.parse_args()
    items = load_mcq(args.quiz)
    readings = read(items, args.docs, args.distractors, args.work)
    print("| context | semantic | even | odd | all |")
    print("|---|---|---|---|---|")
    for context in CONTEXT:
        for semantic in SEMANTIC:
            right = accuracy(items, readings, context, semantic)
            even, odd = right[0::2], right[1::2]
            print(
                f"| {context} | {semantic} | {sum(even) / len(even):.3f} | {sum(odd) / len(odd):.3f} "
                f"| {sum(right) / len(right):.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
