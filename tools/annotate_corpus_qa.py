"""Add the gold paragraph ids to the team's QA sets (eval/data/corpus_qa.jsonl, eval/data/cadre_qa.jsonl).

For every answerable question, the paragraphs of its document (`doc`, a file of corpus/) whose text contains a
gold answer (exact match after normalisation) are listed in `paragraph_ids`. Paragraph ids are deterministic
(`<doc_id>/p<n>`), so they stay valid as long as the document and the reader do not change; rerun this script
after changing either, and the test suite checks they still match.

Usage:
    .venv/bin/python -m tools.annotate_corpus_qa [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from eval.metrics import contains_answer
from rag.pipeline import Library

ROOT = Path(__file__).resolve().parents[1]

QA_FILES = (ROOT / "eval/data/corpus_qa.jsonl", ROOT / "eval/data/cadre_qa.jsonl")


def gold_paragraphs(library: Library, doc_file: str, answers: list[str]) -> list[str]:
    by_path = {Path(d.path).name: d.doc_id for d in library.documents()}
    doc_id = by_path.get(doc_file)
    if doc_id is None:
        return []
    return [p.paragraph_id for p in library.paragraphs(doc_id) if contains_answer(p.text, answers)]


def annotate(library: Library, qa_file: Path, write: bool) -> list[str]:
    """Set the gold paragraph ids of one QA file (written back when `write`); the stale entries found."""
    items = [json.loads(line) for line in qa_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    stale: list[str] = []
    for item in items:
        if not item.get("answerable") or not item.get("doc"):
            continue
        ids = gold_paragraphs(library, item["doc"], item["answers"])
        where = f"{qa_file.name} {item['id']}"
        if not ids:
            stale.append(f"{where}: no paragraph of {item['doc']} contains {item['answers']}")
        if item.get("paragraph_ids") != ids:
            stale.append(f"{where}: {item.get('paragraph_ids')} -> {ids}")
        item["paragraph_ids"] = ids
    if write:
        qa_file.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        annotated = sum(1 for i in items if i.get("paragraph_ids"))
        print(f"{qa_file.name}: annotated {annotated} questions; changes: {len(stale)}")
    return stale


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that the stored ids are current")
    args = ap.parse_args()
    stale: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "ix", embedder="none") as library:
        library.ingest([ROOT / "corpus"])
        for qa_file in QA_FILES:
            stale += annotate(library, qa_file, write=not args.check)
    if args.check:
        print("\n".join(stale) or "paragraph ids are current")
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
