"""Timing side channel: does a public caller's search take longer when restricted documents exist?

Two indexes are built in a temporary folder from corpus/: one with the sample documents only, one with the same
documents plus `--copies` copies of each at "tối mật" (so the restricted paragraphs outnumber the public ones
`--copies` to one). The same public caller then runs the same searches on both, interleaved (one query on A,
the same on B, ...), `--rounds` times, through `Library.search` in the default hybrid mode.

    .venv/bin/python -m tools.side_channel_timing --copies 3 --rounds 20

Prints one JSON object: p50 and p95 per index in ms, the difference of the medians, and the spread between two
halves of the runs on the same index (the noise floor the difference is compared with). Results must be identical
(the script fails otherwise).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag import Library, Principal

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    "chuyển đổi số quốc gia",
    "Nghị quyết 57 đặt mục tiêu gì đến năm 2030",
    "kinh tế tư nhân",
    "phòng, chống tham nhũng",
    "hội nhập quốc tế",
    "xây dựng và thi hành pháp luật",
    "giáo dục và đào tạo",
    "y tế cơ sở",
]
PUBLIC = Principal(name="doc-gia", role="reader", clearance="cong-khai")


def build(index: Path, restricted_copies: int, work: Path) -> Library:
    library = Library(index)
    library.ingest([ROOT / "corpus"])
    for n in range(restricted_copies):
        copy = work / f"ban-sao-{n}"
        shutil.copytree(ROOT / "corpus", copy)
        library.ingest([copy], "toi-mat")
    library.refresh()
    return library


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(copies: int, rounds: int, work: Path) -> dict[str, Any]:
    plain = build(work / "a", 0, work)
    hidden = build(work / "b", copies, work)
    try:
        times: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(2):  # warm both (first calls load models and caches)
            for q in QUERIES:
                plain.search(q, 10, principal=PUBLIC)
                hidden.search(q, 10, principal=PUBLIC)
        for _ in range(rounds):
            for q in QUERIES:
                for name, library in (("without", plain), ("with", hidden)):
                    started = time.perf_counter()
                    hits = library.search(q, 10, principal=PUBLIC)
                    times[name].append((time.perf_counter() - started) * 1000)
                    if name == "without":
                        expected = [(h.paragraph_id, round(h.score, 9)) for h in hits]
                    elif [(h.paragraph_id, round(h.score, 9)) for h in hits] != expected:
                        raise SystemExit(f"results differ for {q!r}: a side channel beyond timing")
        paragraphs = {name: lib.catalog.counts()["paragraphs"] for name, lib in (("without", plain), ("with", hidden))}
    finally:
        plain.close()
        hidden.close()
    half = len(times["without"]) // 2
    noise = abs(statistics.median(times["without"][:half]) - statistics.median(times["without"][half:]))
    return {
        "paragraphs": paragraphs,
        "searches_each": len(times["without"]),
        "without_restricted_ms": _figures(times["without"]),
        "with_restricted_ms": _figures(times["with"]),
        "p50_difference_ms": round(statistics.median(times["with"]) - statistics.median(times["without"]), 2),
        "noise_p50_between_halves_ms": round(noise, 2),
    }


def _figures(ms: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), 2), "p95": round(percentile(ms, 0.95), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--copies", type=int, default=3, help="restricted copies of the sample corpus (1-20)")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the queries (1-500)")
    args = parser.parse_args(argv)
    if not 1 <= args.copies <= 20 or not 1 <= args.rounds <= 500:
        parser.error("--copies must be 1-20 and --rounds 1-500")
    with tempfile.TemporaryDirectory(prefix="vankien-timing-") as tmp:
        result = run(args.copies, args.rounds, Path(tmp))
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
