"""Fit the abstention model (rag/answer/abstention.json) on the team's own questions.

Data: eval/data/corpus_qa.jsonl and eval/data/cadre_qa.jsonl (answerable and unanswerable questions over corpus/,
the second typed as cadres type them) and eval/data/offtopic_qa.jsonl (questions no Party document answers),
asked against an index of corpus/.
Never the evaluation sets reported in docs/ (nq57, out_of_domain, alqac...).

The model is a logistic regression (L2-regularised, fitted by gradient descent with class weights, so the
few unanswerable questions count as much as the many answerable ones); the threshold maximises balanced
accuracy on the same data, by leave-one-out estimates to keep it honest.

Usage:
    .venv/bin/python -m eval.calibrate_abstention [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from eval.datasets import load_qa
from rag import Library, QAPipeline
from rag.answer.abstain import FEATURES, MODEL_FILE, AbstentionModel

ROOT = Path(__file__).resolve().parents[1]

L2 = 0.01
STEPS = 4000
LEARNING_RATE = 0.5


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Class-weighted L2 logistic regression by gradient descent; returns (weights, bias)."""
    w = np.zeros(x.shape[1])
    b = 0.0
    pos = y.mean()
    sample = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * sample
        w -= LEARNING_RATE * (x.T @ g / len(y) + L2 * w)
        b -= LEARNING_RATE * g.mean()
    return w, b


def balanced_accuracy(p: np.ndarray, y: np.ndarray, t: float) -> float:
    answered = p >= t
    tpr = (answered & (y == 1)).sum() / max(1, (y == 1).sum())
    tnr = (~answered & (y == 0)).sum() / max(1, (y == 0).sum())
    return float((tpr + tnr) / 2)


DATA = ("eval/data/corpus_qa.jsonl", "eval/data/cadre_qa.jsonl", "eval/data/offtopic_qa.jsonl")


def curve(p: np.ndarray, y: np.ndarray) -> str:
    """The leave-one-out trade-off as a Markdown table: per threshold, the share of answerable questions
    answered (recall of answering), the share of answers that were answerable (precision), and the share of
    unanswerable questions abstained."""
    rows = ["| threshold | answered when answerable | precision of answering | abstained when unanswerable |"]
    rows.append("|---|---|---|---|")
    for t in (0.3, 0.4, 0.45, 0.5, 0.55, 0.56, 0.6, 0.65, 0.7, 0.8):
        answered = p >= t
        precision = float(y[answered].mean()) if answered.any() else float("nan")
        rows.append(f"| {t:.2f} | {answered[y == 1].mean():.3f} | {precision:.3f} | {(~answered[y == 0]).mean():.3f} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help=f"write the model to {MODEL_FILE.relative_to(ROOT)}")
    args = ap.parse_args()
    items = [item for name in DATA for item in load_qa(ROOT / name)]
    rows: list[list[float]] = []
    labels: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp) / "ix")
        library.ingest([ROOT / "corpus"])
        embedder = library.store.embedder
        family = embedder.name.split("@")[0] if embedder is not None else None
        # Features as the pipeline computes them, the semantic one included (fitted for this embedder family).
        qa = QAPipeline(library, abstention=AbstentionModel({}, 0.0, 0.5, family))
        for item in items:
            prepared = qa.prepare(item.question, [dict(t) for t in item.history] or None)
            rows.append([prepared.decision.features[f] for f in FEATURES])
            labels.append(1 if item.answerable else 0)
    x = np.asarray(rows)
    y = np.asarray(labels, dtype=float)
    w, b = fit(x, y)
    # Leave-one-out probabilities for an honest threshold and an honest estimate of its accuracy.
    loo = np.zeros(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        wi, bi = fit(x[keep], y[keep])
        loo[i] = 1 / (1 + np.exp(-(x[i] @ wi + bi)))
    grid = np.linspace(0.05, 0.95, 91)
    best_t = float(max(grid, key=lambda t: (balanced_accuracy(loo, y, t), -abs(t - 0.5))))
    answered = loo >= best_t
    report = {
        "weights": {f: round(float(v), 4) for f, v in zip(FEATURES, w, strict=True)},
        "bias": round(float(b), 4),
        "threshold": round(best_t, 3),
        "semantic_embedder": family,
        "calibration": {
            "data": list(DATA),
            "n": len(y),
            "answerable": int(y.sum()),
            "unanswerable": int(len(y) - y.sum()),
            "loo_balanced_accuracy": round(balanced_accuracy(loo, y, best_t), 4),
            "loo_answered_when_answerable": round(float(answered[y == 1].mean()), 4),
            "loo_abstained_when_unanswerable": round(float((~answered[y == 0]).mean()), 4),
            "command": "python -m eval.calibrate_abstention --write",
        },
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(curve(loo, y), file=sys.stderr)
    if args.write:
        MODEL_FILE.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"written: {MODEL_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
