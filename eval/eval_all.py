"""Reproduce every quality figure in docs/eval/ with one command (`make eval-all`).

Runs, with the offline default configuration and the peers side by side, writing a Markdown report with plots
per evaluation under docs/eval/<name>/ and a summary docs/eval/README.md:

* retrieval: alqac (splits all and bge146, with the published bge-m3 run), uit_reg_wiki (all), ours and
  LangChain BM25Retriever and bm25s, with the lexical-only default of issue 3 (lexical), the e5 fusion of issue 12's
  first part (e5-minmax), rerank and hybrid-hash beside the default; uit_reg_wiki and alqac again with every
  question typed without accents (`--accentless`), the default and lexical beside the peers;
* QA: NQ 57 quiz questions with the 1,022 party_politics articles as distractors, the 500 out-of-domain
  questions against the same index, the team's own QA sets over corpus/ (corpus_qa, and cadre_qa: questions as
  cadres type them);
* MCQ: the 112 multiple-choice questions over the same index;
* QA and MCQ with the default and the previous default (lexical) beside it.

Needs ../shared beside the repository. Usage:
    .venv/bin/python -m eval.eval_all [--only NAME ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
OUT = ROOT / "docs/eval"
CONFIGS = [
    "eval/configs/default.toml",
    "eval/configs/lexical.toml",
    "eval/configs/e5-minmax.toml",
    "eval/configs/rerank.toml",
    "eval/configs/hybrid-hash.toml",
]
DISTRACTORS = "../shared/corpora/party_politics/docs_party_politics.jsonl"
#: Evaluations over data the team wrote; every other one reads third-party data, whose text reports may not copy.
OWN_DATA = frozenset({"corpus-qa", "cadre-qa"})
NQ57_DOCS = "../shared/eval/nq57/docs"


def _runs() -> dict[str, list[str]]:
    retrieval = ["eval", "retrieval", "--peer"]
    return {
        "alqac-all": [*retrieval, "--dataset", "../shared/eval/alqac", "--split", "all", *_configs()],
        "alqac-bge146": [*retrieval, "--dataset", "../shared/eval/alqac", "--split", "bge146", *_configs(CONFIGS[:3])],
        "uit-all": [*retrieval, "--dataset", "../shared/eval/uit_reg_wiki", "--split", "all", *_configs()],
        # The same questions typed without accents (the corpus keeps them), as many users type.
        "uit-accentless": [
            *retrieval,
            "--dataset",
            "../shared/eval/uit_reg_wiki",
            "--accentless",
            *_configs(BASE_CONFIGS),
        ],
        "alqac-accentless": [*retrieval, "--dataset", "../shared/eval/alqac", "--accentless", *_configs(BASE_CONFIGS)],
        "nq57": [
            "eval",
            "qa",
            "--peer",
            "--docs",
            NQ57_DOCS,
            "--qa",
            "../shared/eval/nq57/qa.jsonl",
            "--distractors",
            DISTRACTORS,
            *_configs(BASE_CONFIGS),
        ],
        "out-of-domain": [
            "eval",
            "qa",
            "--peer",
            "--docs",
            NQ57_DOCS,
            "--qa",
            "../shared/eval/out_of_domain/qa.jsonl",
            "--distractors",
            DISTRACTORS,
            *_configs(BASE_CONFIGS),
        ],
        "mcq": [
            "eval",
            "mcq",
            "--peer",
            "--quiz",
            "../shared/corpora/party_politics/quiz_party_politics_mcq.json",
            "--docs",
            NQ57_DOCS,
            "--distractors",
            DISTRACTORS,
            *_configs(BASE_CONFIGS),
        ],
        "corpus-qa": _own_qa("eval/data/corpus_qa.jsonl"),
        "cadre-qa": _own_qa("eval/data/cadre_qa.jsonl"),
    }


def _own_qa(path: str) -> list[str]:
    """A team QA set over the sample corpus, with the default and the previous default."""
    return ["eval", "qa", "--peer", "--docs", "corpus", "--qa", path, *_configs(BASE_CONFIGS)]


#: The default and the previous default (lexical only) beside it, where every configuration would cost too much.
BASE_CONFIGS = CONFIGS[:2]


def _configs(configs: list[str] = CONFIGS) -> list[str]:
    out: list[str] = []
    for c in configs:
        out += ["--config", c]
    return out


#: Columns of the summary tables, per kind of evaluation (the reports hold every metric).
_COLUMNS = {
    "retrieval": ["Hit@1", "Hit@3", "Hit@10", "MRR@10", "NDCG@10", "Recall@10"],
    "qa": [
        "answer_correct",
        "citation_correct@1",
        "citation_correct@3",
        "citation_correct_soft@1",
        "citation_correct_soft@3",
        "abstained_rate",
        "abstention_precision",
        "abstention_recall",
        "quote_verbatim",
    ],
    "mcq": ["accuracy", "majority_baseline", "random_baseline"],
}


def _cell(value: object) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _readme(summary: dict[str, Any]) -> str:
    """docs/eval/README.md: one table per evaluation, ours and the peers side by side, with the command."""
    lines = [
        "# Quality figures",
        "",
        "Every figure below, and every report linked from here, is written by one command (needs `../shared` beside",
        "the repository; the data sets stay there):",
        "",
        "```",
        "make eval-all        # .venv/bin/python -m eval.eval_all",
        "```",
        "",
        "Rows: our configurations (`default` is the offline default that `make run` uses; the others are in",
        "`eval/configs/`) and the peers run in the same process on the same data (`peer:*`). Rates are fractions of",
        "n. Each report (`<name>/report.md`) adds the plots, latency and the worst questions. Reports on the shared,",
        "third-party data sets are written with `--redact`: question ids, paragraph ids and results, never the data's",
        "text (run the command without it to read the questions).",
    ]
    for name, entry in summary.items():
        results = entry["results"]
        metrics = results[0]["metrics"] or {}
        kind = "retrieval" if "Hit@1" in metrics else "mcq" if "accuracy" in metrics else "qa"
        columns = [c for c in _COLUMNS[kind] if any(c in (r["metrics"] or {}) for r in results)]
        lines += [
            "",
            f"## {name}",
            "",
            f"`{entry['command']}` ({entry['seconds']} s) — [report]({name}/report.md)",
            "",
            "| run | n | " + " | ".join(columns) + " | p50 ms |",
            "|---|---|" + "---|" * len(columns) + "---|",
        ]
        for r in results:
            m = r["metrics"] or {}
            latency = (r.get("latency_ms") or {}).get("p50")
            p50 = f"{latency:.1f}" if latency is not None else "—"
            lines.append(f"| {r['label']} | {r['n']} | " + " | ".join(_cell(m.get(c)) for c in columns) + f" | {p50} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="run only these evaluations")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vankien-eval-work"), help="indexes kept between runs")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"{SHARED} is missing: these evaluations read the shared data sets", file=sys.stderr)
        return 2
    runs = _runs()
    unknown = sorted(set(args.only or []) - set(runs))
    if unknown:
        print(f"unknown evaluation(s) {', '.join(unknown)}; valid: {', '.join(runs)}", file=sys.stderr)
        return 2
    selected = args.only or list(runs)
    summary: dict[str, object] = {}
    summary_file = OUT / "summary.json"
    if args.only and summary_file.exists():  # a partial run updates its entries, keeps the others
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    for name in selected:
        out_dir = OUT / name
        command = [
            sys.executable,
            "-m",
            "rag",
            *runs[name],
            "--json",
            "--no-progress",
            "--out",
            str(out_dir),
            "--work",
            str(args.work),
        ]
        if name not in OWN_DATA:  # third-party data sets: reports keep ids and results, never their text
            command.append("--redact")
        print(f"== {name}: vankien {' '.join(runs[name])}", file=sys.stderr)
        start = time.perf_counter()
        res = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if res.returncode not in (0,):
            print(res.stderr[-3000:], file=sys.stderr)
            return res.returncode
        data = json.loads(res.stdout)
        results = data.get("results", [data])
        summary[name] = {
            "command": "vankien "
            + " ".join(runs[name])
            + f" --out docs/eval/{name}"
            + ("" if name in OWN_DATA else " --redact"),
            "seconds": round(time.perf_counter() - start, 1),
            "results": [
                {
                    "label": r.get("label"),
                    "n": r.get("n"),
                    "metrics": r.get("metrics"),
                    "latency_ms": r.get("latency_ms"),
                }
                for r in results
            ],
        }
    summary = {name: summary[name] for name in runs if name in summary}
    (OUT / "README.md").write_text(_readme(summary), encoding="utf-8")
    summary_file.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
