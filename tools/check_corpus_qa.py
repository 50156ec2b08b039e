"""Check the corpus QA set: every gold answer must occur verbatim in its document's extracted text.

For each answerable question of eval/data/corpus_qa.jsonl, the document named in "doc" is parsed with
`rag.ingest.parse_file`, analysed with `rag.text.document.analyse`, and each answer string must occur in
the analysed text after whitespace normalisation (runs of spaces and line breaks read as one space).
Unanswerable questions must have no answers. Ids must be unique and follow-up questions must carry a
history.

Documents whose parser is not available yet (ImportError) are reported as skipped, not as failures.

Usage: .venv/bin/python -m tools.check_corpus_qa [--qa FILE] [--corpus DIR]
Exit status: 0 when every checked answer is found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from rag.ingest import parse_file
from rag.text.document import analyse
from rag.types import RawDocument

ROOT = Path(__file__).resolve().parents[1]


def norm(text: str) -> str:
    return " ".join(text.split())


def load_texts(path: Path) -> str:
    """The analysed text of every document in a file, joined."""
    texts = []
    for raw in parse_file(path):
        if isinstance(raw, Exception):
            raise raw
        if isinstance(raw, RawDocument):  # no catalog is passed, so nothing comes back "unchanged"
            texts.append(analyse(raw).text)
    return norm("\n".join(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=ROOT / "eval" / "data" / "corpus_qa.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args()

    rows = []
    problems: list[str] = []
    for lineno, line in enumerate(args.qa.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not JSON ({exc})")

    ids = Counter(r.get("id") for r in rows)
    problems += [f"{i}: duplicate id" for i, n in ids.items() if n > 1]

    cache: dict[str, str | None] = {}
    skipped: dict[str, str] = {}
    checked = found = 0
    for r in rows:
        rid = r.get("id")
        for key in ("id", "question", "answers", "answerable"):
            if key not in r:
                problems.append(f"{rid}: missing field {key!r}")
        if "follow_up" in r.get("tags", []) and not r.get("history"):
            problems.append(f"{rid}: follow-up question without history")
        if not r.get("answerable"):
            if r.get("answers"):
                problems.append(f"{rid}: unanswerable question has answers")
            continue
        if not r.get("answers"):
            problems.append(f"{rid}: answerable question has no answers")
            continue
        doc = r.get("doc")
        if not doc:
            problems.append(f"{rid}: answerable question names no document")
            continue
        if doc not in cache:
            path = args.corpus / doc
            if not path.exists():
                cache[doc] = None
                problems.append(f"{rid}: document {doc} not found")
            else:
                try:
                    cache[doc] = load_texts(path)
                except ImportError as exc:
                    cache[doc] = None
                    skipped[doc] = f"parser not available ({exc})"
                except Exception as exc:  # report every reader failure, keep checking the rest
                    cache[doc] = None
                    problems.append(f"{doc}: could not be read: {exc!r}")
        text = cache[doc]
        if text is None:
            continue
        for answer in r["answers"]:
            checked += 1
            if norm(answer) in text:
                found += 1
            else:
                problems.append(f"{rid}: answer not found verbatim in {doc}: {answer!r}")

    answerable = sum(1 for r in rows if r.get("answerable"))
    tags = Counter(t for r in rows for t in r.get("tags", []))
    print(f"questions: {len(rows)} (answerable {answerable}, unanswerable {len(rows) - answerable})")
    print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
    print(f"answer strings checked: {checked}, found verbatim: {found}")
    for doc, why in sorted(skipped.items()):
        n = sum(1 for r in rows if r.get("doc") == doc)
        print(f"SKIPPED {doc} ({n} questions): {why}")
    for p in problems:
        print(f"FAIL {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
