"""Deciding to abstain: the documents do not answer this question.

The decision is a logistic model over evidence features, fitted by `eval/calibrate_abstention.py` on the
team's own questions (eval/data/corpus_qa.jsonl over corpus/, and eval/data/offtopic_qa.jsonl) and stored in
`abstention.json` beside this module. It is never fitted on the evaluation sets it is reported on.

Features (from the extractive scorer's best candidate, see `rag.answer.extractive`):
* `focus`: rarity-weighted share of the question's words beyond the document's identity that it covers;
* `all`: the same over all the question's content words;
* `bigram`: share of the question's bigrams found (word order);
* `kind_missing`: 1 when the question asks for a date/number/place/body/number of a document and none of the
  three best candidates holds one;
* `named_missing`: 1 when the question names a document by number and no retrieved paragraph comes from it
  (the index does not have that document);
* `named_found`: 1 when it names one and the evidence comes from it (questions in scope usually name their
  document; those that do not must be covered more convincingly);
* `specificity`: how many content words the question has (min(n, 12) / 12): a short question is covered by
  many unrelated sentences, a long one only by the right one;
* `score`: the candidate's overall score;
* `semantic`: how close the question is in meaning to the best of the first three paragraphs (cosine of the
  embedding model's vectors, centred on `SEMANTIC_CENTER` and scaled by `SEMANTIC_SCALE`); 0 (neutral) when the
  index has no vectors for them or its embedder is not the one the model was fitted with (cosines of other models
  have other ranges).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from rag.answer.extractive import FITTED_CONTEXT_CREDIT, score_candidates
from rag.answer.question import KIND_DOCNUMBER, KIND_NUMBER, KIND_WHEN, KIND_WHERE, KIND_WHO, QuestionInfo
from rag.retrieve.query import asked_refs
from rag.types import Hit

MODEL_FILE = Path(__file__).with_name("abstention.json")
FEATURES = (
    "focus",
    "all",
    "bigram",
    "kind_missing",
    "named_missing",
    "named_found",
    "specificity",
    "score",
    "semantic",
)
#: Typical cosine of multilingual-e5-small between a question and a paragraph on its subject, and the scale that
#: turns the narrow range of e5 cosines (about 0.75-0.95) into a feature of about the others' size.
SEMANTIC_CENTER, SEMANTIC_SCALE = 0.85, 10.0
#: Content words at which a question counts as fully specific.
SPECIFIC_TERMS = 12
_TYPED_KINDS = (KIND_WHEN, KIND_NUMBER, KIND_WHERE, KIND_WHO, KIND_DOCNUMBER)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to answer, with the probability that the evidence answers and the features behind it."""

    answer: bool
    probability: float
    features: dict[str, float]


def features(
    info: QuestionInfo, hits: Sequence[Hit], question: str = "", semantic: float | None = None
) -> dict[str, float]:
    """The evidence features of a question against its retrieved paragraphs (`semantic`: the best cosine of the
    question to the first paragraphs, None when unknown)."""
    # Evidence as the model was fitted: the whole question (a purpose clause set aside to choose a sentence,
    # `QuestionInfo.aside`, still has to be found in the documents; a topic, `QuestionInfo.topic`, counts as any
    # word), headings credited in full.
    whole = replace(info, aside=(), topic=())
    scored = score_candidates(whole, hits, question, FITTED_CONTEXT_CREDIT) if hits and info.terms else []
    named = bool(question and asked_refs(question))
    found = any(e.named for e in scored)
    feats = {
        "focus": 0.0,
        "all": 0.0,
        "bigram": 0.0,
        "kind_missing": 1.0,
        "named_missing": 1.0 if named and not found else 0.0,
        "named_found": 1.0 if named and found else 0.0,
        "specificity": min(len(info.terms), SPECIFIC_TERMS) / SPECIFIC_TERMS,
        "score": 0.0,
        "semantic": 0.0 if semantic is None else (semantic - SEMANTIC_CENTER) * SEMANTIC_SCALE,
    }
    if scored:
        top = scored[0]
        kind_missing = info.kind in _TYPED_KINDS and not any(e.kind_match for e in scored[:3])
        feats.update(
            focus=top.cov_focus,
            all=top.cov_all,
            bigram=top.cov_bigram,
            kind_missing=1.0 if kind_missing else 0.0,
            score=min(top.score, 2.0) / 2.0,
        )
    return feats


@dataclass(frozen=True, slots=True)
class AbstentionModel:
    """Logistic model: P(answerable) = sigmoid(bias + sum(weight_f * feature_f)); answer when >= threshold."""

    weights: dict[str, float]
    bias: float
    threshold: float
    semantic_embedder: str | None = None

    def uses_semantic(self, embedder: str | None) -> bool:
        """Whether the `semantic` feature applies to an index with this embedder (the family it was fitted on)."""
        return bool(embedder and self.semantic_embedder and embedder.startswith(self.semantic_embedder))

    def probability(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(name, 0.0) * value for name, value in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def decide(
        self, info: QuestionInfo, hits: Sequence[Hit], question: str = "", semantic: float | None = None
    ) -> Decision:
        feats = features(info, hits, question, semantic)
        p = self.probability(feats)
        return Decision(bool(hits) and p >= self.threshold, p, feats)

    def to_dict(self) -> dict[str, object]:
        return {
            "weights": self.weights,
            "bias": self.bias,
            "threshold": self.threshold,
            "semantic_embedder": self.semantic_embedder,
        }


@lru_cache(maxsize=1)
def default_model() -> AbstentionModel:
    """The calibrated model shipped with the library."""
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    return AbstentionModel(
        {k: float(v) for k, v in data["weights"].items()},
        float(data["bias"]),
        float(data["threshold"]),
        data.get("semantic_embedder"),
    )
