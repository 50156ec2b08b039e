"""How long taking in a large upload keeps searches out: the store's exclusive sections, measured.

Builds an index from corpus/ in a temporary folder (`--embedder`, default the packaged model), opens it as the
service does (indexing helpers, background vectors), commits a generated Markdown document of `--markdown-mb` MB
from a second library, as an ingest child does, then brings the serving library up to it and lets its vector
worker run for up to `--max-seconds`. One thread searches all the while.

    .venv/bin/python -m tools.exclusive_section --markdown-mb 20 --max-seconds 300

Prints one JSON object: paragraphs added; seconds until they were searchable lexically; the exclusive sections
(count, p50 / p99 / max ms during which new searches were kept out); and the searches meanwhile (p50 / p95 / max).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rag import Library
from tools.ingest_fairness import QUERIES, write_markdown
from tools.serving import ROOT, summary


def run(markdown_mb: float, max_seconds: float, embedder: str | None, work: Path) -> dict[str, Any]:
    index = work / "index"
    with Library(index, embedder=embedder) as setup:
        setup.ingest([ROOT / "corpus"])
    big = work / "lon.md"
    write_markdown(big, markdown_mb, random.Random(5))
    serving = Library(index, create=False, background_vectors=True, offload=True)
    try:
        serving.refresh()
        store = serving.store
        before = len(store.exclusive_waits())
        searches: list[float] = []
        stop = threading.Event()

        def search() -> None:
            i = 0
            while not stop.is_set():
                started = time.perf_counter()
                serving.search(QUERIES[i % len(QUERIES)], 5)
                searches.append((time.perf_counter() - started) * 1000)
                i += 1
                time.sleep(0.05)

        searcher = threading.Thread(target=search, daemon=True)
        searcher.start()
        with Library(index, create=False) as writer:  # the ingest child's part
            added = writer.ingest([big], commit_only=True).results[0].paragraphs
        started = time.monotonic()
        serving.refresh()  # what the service does when the child is done: lexical now, vectors in the background
        lexical_s = time.monotonic() - started
        while serving.pending_vectors() and time.monotonic() - started < max_seconds:
            time.sleep(1)
        pending = serving.pending_vectors()
        stop.set()
        searcher.join(30)
        waits = [s * 1000 for s in store.exclusive_waits()[before:]]
    finally:
        serving.close()
    ordered = sorted(waits)
    return {
        "markdown_mb": markdown_mb,
        "paragraphs_added": added,
        "lexically_searchable_s": round(lexical_s, 1),
        "vectors_pending_at_end": pending,
        "exclusive_sections": {
            "n": len(ordered),
            "p50_ms": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2) if ordered else None,
            "max_ms": round(ordered[-1], 2) if ordered else None,
        },
        "searches_ms": summary(searches),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--markdown-mb", type=float, default=20.0, help="size of the generated Markdown upload (MB)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="how long to let the vector worker run")
    parser.add_argument("--embedder", help="embedder spec for the index (default: the packaged model)")
    parser.add_argument("--work", type=Path, help="folder for the index and files (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vankien-exclusive-") as tmp:
        report = run(args.markdown_mb, args.max_seconds, args.embedder, args.work or Path(tmp))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
