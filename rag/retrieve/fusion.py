"""Fusing ranked lists from several retrievers. Small pure functions with documented constants."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

#: RRF damping constant from Cormack, Clarke & Büttcher (2009); 60 is their recommended value.
RRF_K = 60


def rrf(
    ranked_lists: Sequence[Sequence[K]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based.

    Args:
        ranked_lists: each list best first; an item may be missing from some lists.
        k: damping constant; larger values flatten the contribution of top ranks.
        weights: one weight per list (default 1.0 each).

    Returns:
        (item, fused score) pairs, best first; ties keep the order of first appearance.
    """
    if weights is None:
        weights = [1.0] * len(ranked_lists)
    if len(weights) != len(ranked_lists):
        raise ValueError("one weight per ranked list")
    scores: dict[K, float] = {}
    for ranked, weight in zip(ranked_lists, weights, strict=True):
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def min_max(scores: Sequence[float]) -> list[float]:
    """Scale scores to [0, 1]; a constant list maps to all 1.0 (every item equally good)."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo <= 1e-12:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def z_scores(scores: Mapping[K, float]) -> dict[K, float]:
    """Standardise scores: (s - mean) / standard deviation over the items; a constant list maps to all 0.0."""
    if not scores:
        return {}
    values = list(scores.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std <= 1e-12:
        return dict.fromkeys(scores, 0.0)
    return {item: (value - mean) / std for item, value in scores.items()}


def z_convex(lexical: Mapping[K, float], dense: Mapping[K, float], lexical_weight: float) -> list[tuple[K, float]]:
    """Convex combination of standardised scores over the union of two candidate lists, each item scored by both
    retrievers: score(d) = w * z_lexical(d) + (1 - w) * z_dense(d).

    `lexical` must score every item of the union (the caller completes the lists: an item one retriever found is
    scored by the other too, `LexicalIndex.scores`, the stored vectors). An item absent from `dense` has no vector
    yet (progressive indexing): its lexical evidence stands in for the dense share, so it is neither favoured nor
    pushed down for lacking a vector.

    Why standardised and completed rather than min-max over each list's own top n (`convex`): min-max gives an item
    a list did not return the worst score of that list, and stretches the n-th score to 0 whatever its value; on
    complete scores the z-score keeps each retriever's margins (how far the best stands out from the crowd).
    Measured in docs/decisions.md, "Fusion on complete scores".
    """
    unknown = [item for item in dense if item not in lexical]
    if unknown:
        raise ValueError(f"dense items without a lexical score: {unknown[:3]}")
    z_lexical = z_scores(lexical)
    z_dense = z_scores(dense)
    dense_weight = 1.0 - lexical_weight
    fused = [(item, lexical_weight * z + dense_weight * z_dense.get(item, z)) for item, z in z_lexical.items()]
    fused.sort(key=lambda kv: -kv[1])
    return fused


def convex(scored_lists: Sequence[Sequence[tuple[K, float]]], weights: Sequence[float]) -> list[tuple[K, float]]:
    """Convex combination of min-max normalised scores: score(d) = sum_i w_i * norm_i(d).

    An item absent from a list gets 0 from it. Weights should sum to 1 for scores in [0, 1].
    """
    if len(weights) != len(scored_lists):
        raise ValueError("one weight per scored list")
    fused: dict[K, float] = {}
    for scored, weight in zip(scored_lists, weights, strict=True):
        norm = min_max([s for _, s in scored])
        for (item, _), value in zip(scored, norm, strict=True):
            fused[item] = fused.get(item, 0.0) + weight * value
    return sorted(fused.items(), key=lambda kv: -kv[1])
