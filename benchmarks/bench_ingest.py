"""Ingest speed: load a corpus into a fresh index, then re-ingest it unchanged.

Usage:
    .venv/bin/python benchmarks/bench_ingest.py [--corpus ../shared/corpora/party_politics/docs_party_politics.jsonl]

Prints one JSON object with the figures recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.pipeline import Library

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/party_politics/docs_party_politics.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, nargs="+", default=[DEFAULT_CORPUS], help="files or folders to ingest")
    args = parser.parse_args()
    missing = [p for p in args.corpus if not p.exists()]
    if missing:
        print(f"corpus not found: {missing} (../shared is needed for this benchmark)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "ix") as library:
        start = time.perf_counter()
        first = library.ingest(args.corpus)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        second = library.ingest(args.corpus)
        second_s = time.perf_counter() - start
        counts = library.catalog.counts()
    result = {
        "corpus": [str(p) for p in args.corpus],
        "first_ingest_s": round(first_s, 2),
        "first_counts": first.counts,
        "reingest_s": round(second_s, 2),
        "reingest_counts": second.counts,
        "documents": counts["documents"],
        "paragraphs": counts["paragraphs"],
        "docs_per_s": round(counts["documents"] / first_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
