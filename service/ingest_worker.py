"""One ingestion job (or one work unit of it) in a process of its own: `python -m service.ingest_worker`.

The service runs every uploaded file through this child: parsing (itself in sandboxed parser processes), text
analysis and the catalog commit happen here, so a large or hostile upload costs the serving process neither
memory nor CPU time, and nothing it allocates outlives the job. The serving process then only applies the
catalog's new changes to its search indexes (`IndexStore.sync`: prepared beside the searches, applied in one
brief exclusive step). The child exits when the service does (`rag.die_with_parent`).

Prints one JSON object on stdout: `{"files": [ingest results], "documents": n}` where n is how many documents the
file holds (the records of a .jsonl), so the caller knows whether work units remain.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rag import Library, die_with_parent, yield_cpu


def count_documents(path: Path) -> int:
    """How many documents a file holds: the non-empty lines of a .jsonl, else 1."""
    if path.suffix.lower() != ".jsonl":
        return 1
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.ingest_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the uploaded file")
    parser.add_argument("--index", type=Path, required=True, help="the index directory")
    parser.add_argument("--classification", required=True, help="the documents' classification")
    parser.add_argument("--ingested-by", required=True, help="provenance recorded with the documents")
    parser.add_argument("--start", type=int, default=0, help="first document of the file to ingest")
    parser.add_argument("--limit", type=int, default=0, help="documents to ingest from --start (0: all)")
    parser.add_argument("--force", action="store_true", help="re-analyse unchanged documents (re-ingest)")
    args = parser.parse_args(argv)
    die_with_parent()
    yield_cpu(before_idle=True)  # the serving process's searches come first on a busy machine; embedding after
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    records = (args.start, args.start + args.limit) if args.limit else None
    with Library(args.index, create=False) as library:
        report = library.ingest(
            [args.path],
            args.classification,
            ingested_by=args.ingested_by,
            commit_only=True,
            records=records,
            force=args.force,
        )
    files = [
        {"path": r.path, "status": r.status, "reason": r.reason, "doc_id": r.doc_id, "paragraphs": r.paragraphs}
        for r in report.results
    ]
    documents = count_documents(args.path) if args.path.is_file() else 0
    print(json.dumps({"files": files, "documents": documents}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
