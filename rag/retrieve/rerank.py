"""Second-stage reranking of lexical candidates by sentence-level evidence.

BM25 scores a paragraph as a bag of terms: a paragraph that scatters the question's words over five sentences
scores like one that states them together. Questions about a resolution are usually answered by one sentence
("Nghị quyết đặt mục tiêu đến năm 2030 ..."), so the reranker asks, for each candidate paragraph, how much of
the question one of its sentences covers, read together with the paragraph's context (document title, section
heading), and adds that to the first-stage score:

    score = first_stage / best_first_stage                              (1.0 for the first candidate)
          + UNIGRAM_WEIGHT * max over sentences of cover(syllables)
          + PHRASE_WEIGHT  * max over sentences of cover(syllables and bigrams)

where cover(terms) is the idf-weighted share of the query's terms (after `rag.text.tokenize.query_terms`,
question scaffolding dropped) present in the sentence or in the context. The idf is the index's global one
(`LexicalIndex.idf`), so a sentence that holds the rare words of the question counts more than one that holds
its common words. A query typed without diacritics is matched on folded terms, as the first stage does.

Measured (docs/retrieval-notes.md, "Second stage"): Hit@1 +1.5 points on statutes (alqac 0.845 -> 0.860),
+0.9 on regulation/wiki questions (uit_reg_wiki 0.853 -> 0.862; its held-out test split 0.869 -> 0.878), neutral
to positive on quiz questions about Party resolutions. Proximity windows, sentence-level BM25, idf among the
candidates, expected-answer types, hashed sentence embeddings, corpus co-occurrence expansion and learned
combinations of all of these added nothing on top; nothing offline reached 0.88 on uit_reg_wiki.

Cost: the candidates are read at query time (no index change), about 2-6 ms of CPU for 20 candidates of 300-1,200
characters; the bonus is bounded, so a candidate whose first-stage score is too low to reach the top k is never
read.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from rag.text.normalize import canonical_tones
from rag.text.tokenize import BIGRAM_JOINER, fold_term, query_terms

#: Weight of the best sentence's coverage of the query's syllables. Chosen with `PHRASE_WEIGHT` on uit_reg_wiki
#: train + alqac by a grid (unigram 0-0.5, phrase 0-0.8; rule: highest sum of the two Hit@1, ties to the smaller
#: weights). The optimum is flat: every pair with unigram 0.3-0.5 and phrase 0.3-0.8 lies within 0.8 Hit@1
#: points of it on both sets. uit_reg_wiki test was not used for the choice.
UNIGRAM_WEIGHT = 0.3
#: Weight of the best sentence's coverage of the query's syllables and bigrams (phrases typed as in the text).
PHRASE_WEIGHT = 0.6
#: First-stage candidates worth passing for k <= 10. Quality was identical from 10 to 50 on both data sets (the
#: bonus is at most UNIGRAM_WEIGHT + PHRASE_WEIGHT, and first-stage scores fall fast below the top); 20 keeps a
#: margin for larger k at about 2/3 of the cost of 30.
RERANK_CANDIDATES = 20

# A sentence ends at . ! ? … (after any closing quotes or brackets) followed by white space, or at a line break.
# Abbreviations ("TP. Hồ Chí Minh") cut a sentence short; the context terms and the first stage make up for it:
# the abbreviation-aware splitter of rag.answer.sentences measured equal on uit_reg_wiki and 0.6 points lower on
# alqac (and retrieval may not import from the answer layer).
_SENTENCE_BREAK = re.compile(r"[.!?…\n](?:(?<=\n)|[\"”’»)\]]*(?=\s|$))")

IdfFunction = Callable[[Sequence[str]], Sequence[float]]


class Candidate(NamedTuple):
    """A first-stage result to rerank; plain (pid, score, text) tuples are accepted too.

    Attributes:
        pid: paragraph id.
        score: first-stage score (higher is better; only ratios to the best one are used).
        text: paragraph text (display form).
        context: what the paragraph is read under, counted as part of every sentence: the document title and
            section path, the same string the lexical index was given as the paragraph's title.
    """

    pid: int
    score: float
    text: str
    context: str = ""


@dataclass(frozen=True, slots=True)
class RerankParams:
    """Constants of `SentenceReranker` (defaults: the measured ones, see the module docstring).

    Attributes:
        unigram_weight: weight of the best sentence's syllable coverage.
        phrase_weight: weight of the best sentence's syllable + bigram coverage.
    """

    unigram_weight: float = UNIGRAM_WEIGHT
    phrase_weight: float = PHRASE_WEIGHT


class SentenceReranker:
    """Reorders first-stage candidates by how much of the query one sentence of each paragraph covers.

    Pure: no state beyond its constants and the idf function; safe to share between threads.

    Example:
        >>> rr = SentenceReranker()
        >>> rr.rerank(
        ...     "Nghị quyết đặt mục tiêu gì về kinh tế số?",
        ...     [
        ...         (1, 10.0, "Kinh tế tăng trưởng. Nghị quyết nêu nhiều mục tiêu. Chuyển đổi số là động lực."),
        ...         (2, 9.5, "Nghị quyết đặt mục tiêu kinh tế số đạt 30% GDP vào năm 2030."),
        ...     ],
        ...     k=2,
        ... )[0][0]
        2
    """

    def __init__(self, idf: IdfFunction | None = None, params: RerankParams | None = None) -> None:
        """Args:
        idf: maps index terms (exact, or folded twins from `fold_term`) to their idf, one value per term,
            e.g. `LexicalIndex.idf`; None weighs every query term 1.0.
        params: constants; None uses the measured defaults.
        """
        self._idf = idf
        self.params = params or RerankParams()

    def rerank(
        self, query: str, candidates: Sequence[tuple[int, float, str] | tuple[int, float, str, str]], k: int
    ) -> list[tuple[int, float]]:
        """Return the k best (pid, new score) pairs, best first.

        Args:
            query: the user's question, with or without diacritics.
            candidates: (pid, first-stage score, text) or (pid, score, text, context), best first, distinct pids.
                Pass more than k (`RERANK_CANDIDATES`): the reranker can only promote what it is given.
            k: number of results, > 0.

        Returns:
            At most k pairs; the new score is first_stage / best_first_stage plus the weighted coverages, so it
            lies in [0, 1 + unigram_weight + phrase_weight]. Ties keep the first-stage order. A query with no
            terms (only punctuation) keeps the first-stage order with the relative scores.

        Raises:
            ValueError: k <= 0, or a score that is not finite.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if not candidates:
            return []
        if not all(math.isfinite(c[1]) for c in candidates):
            raise ValueError("first-stage scores must be finite")
        # Best first (the caller's order should already be that; ties keep it), so the skip below is exact.
        ordered = sorted(candidates, key=lambda c: -c[1])
        top = ordered[0][1]
        query_form = _QueryForm.of(query, self._idf)
        bonus_max = self.params.unigram_weight + self.params.phrase_weight if query_form is not None else 0.0
        # Min-heap of the k best (score, -position). Once a candidate's best possible score cannot beat the
        # weakest of them (a tie loses: it comes later), neither can any after it: they are never tokenised.
        # The margin keeps rounding in the sum from ever skipping a candidate that could tie.
        kept: list[tuple[float, int, int]] = []
        for pos, cand in enumerate(ordered):
            score = max(cand[1], 0.0) / top if top > 0 else 0.0  # divided: 1 / a tiny top would overflow
            if len(kept) == k and score + bonus_max + 1e-9 <= kept[0][0]:
                break
            if query_form is not None:
                uni, phrase = query_form.coverage(cand[2], cand[3] if len(cand) > 3 else "")
                score += self.params.unigram_weight * uni + self.params.phrase_weight * phrase
            item = (score, -pos, int(cand[0]))
            if len(kept) < k:
                heapq.heappush(kept, item)
            elif item > kept[0]:
                heapq.heapreplace(kept, item)
        kept.sort(reverse=True)
        return [(pid, score) for score, _, pid in kept]


@dataclass(frozen=True, slots=True)
class _QueryForm:
    """The query's terms in the form candidate texts are matched in, with their weights.

    Candidates are not tokenised word by word: that costs ~1 ms per paragraph in Python, most of it tone
    canonicalisation. One regular expression (a trie of the query's syllables in every tone placement that
    canonicalises to them) finds the query's syllables in the lower-cased text at C speed, and only those few
    hits are handled in Python. The result equals matching the `rag.text.tokenize` terms of each sentence.
    """

    unigrams: dict[str, float]
    bigrams: dict[str, float]
    forms: dict[str, str]  # surface form in the lower-cased text -> the query syllable it stands for
    pattern: re.Pattern[str]  # any surface form, not followed by a letter or digit
    unigram_total: float
    total: float
    folded: bool

    @classmethod
    def of(cls, query: str, idf: IdfFunction | None) -> _QueryForm | None:
        qt = query_terms(query)
        exact = list(dict.fromkeys(qt.exact))  # a repeated term is one piece of evidence
        if not exact:
            return None
        # An accent-less query cannot tell "bàn" from "bán": it is matched against the folded text and weighed by
        # the folded twins' idf, as the first stage does (its terms are already their own folded form).
        index_terms = exact if qt.accented else [fold_term(t) for t in exact]
        weights = list(idf(index_terms)) if idf is not None else [1.0] * len(exact)
        unigrams: dict[str, float] = {}
        bigrams: dict[str, float] = {}
        for term, weight in zip(exact, weights, strict=True):
            (bigrams if BIGRAM_JOINER in term else unigrams)[term] = float(weight)
        unigram_total = sum(unigrams.values())
        total = unigram_total + sum(bigrams.values())
        if total <= 0:
            return None
        syllables = set(unigrams) | {part for b in bigrams for part in b.split(BIGRAM_JOINER)}
        forms = {v: c for c in syllables for v in ((c,) if not qt.accented else _tone_variants(c))}
        pattern = _compile(tuple(sorted(forms)))
        return cls(unigrams, bigrams, forms, pattern, unigram_total, total, not qt.accented)

    def _terms(self, text: str) -> list[tuple[set[str], set[str]]]:
        """(query syllables, query bigrams) present in each sentence of `text` (sentences without any left out)."""
        if "Ð" in text or "ð" in text:  # match_form reads the look-alike Eth as Đ
            text = text.replace("Ð", "Đ").replace("ð", "đ")
        low = unicodedata.normalize("NFC", text).lower()
        if self.folded:
            low = _COMBINING.sub("", unicodedata.normalize("NFD", low)).replace("đ", "d")
        # This loop runs for every hit of every candidate: locals, no attribute lookups.
        forms, unigrams, bigrams = self.forms, self.unigrams, self.bigrams
        breaks = [m.end() for m in _SENTENCE_BREAK.finditer(low)]
        out: dict[int, tuple[set[str], set[str]]] = {}
        prev_sentence, prev_end, prev_form = -1, 0, ""
        for m in self.pattern.finditer(low):
            start, end = m.span()
            if start and low[start - 1].isalnum():
                continue  # the end of a longer word
            sentence = bisect_right(breaks, start)
            form = forms[m[0]]
            found = out.get(sentence)
            if found is None:
                found = out[sentence] = (set(), set())
            if form in unigrams:
                found[0].add(form)
            # Two hits make a bigram when only white space lies between them inside one sentence: no punctuation
            # and no other word, as `rag.text.tokenize` pairs adjacent syllables within a phrase.
            if prev_sentence == sentence and low[prev_end:start].isspace():
                bigram = prev_form + BIGRAM_JOINER + form
                if bigram in bigrams:
                    found[1].add(bigram)
            prev_sentence, prev_end, prev_form = sentence, end, form
        return [pair for pair in out.values() if pair[0] or pair[1]]

    def coverage(self, text: str, context: str) -> tuple[float, float]:
        """Best sentence's (syllable coverage, syllable + bigram coverage) of the query, context included."""
        ctx_uni: set[str] = set()
        ctx_bi: set[str] = set()
        for uni, bi in self._terms(context) if context else ():
            ctx_uni |= uni
            ctx_bi |= bi
        best_uni = sum(self.unigrams[t] for t in ctx_uni)
        best_all = best_uni + sum(self.bigrams[t] for t in ctx_bi)
        for uni, bi in self._terms(text):
            uni = uni | ctx_uni
            w_uni = sum(self.unigrams[t] for t in uni)
            w_all = w_uni + sum(self.bigrams[t] for t in bi | ctx_bi)
            best_uni = max(best_uni, w_uni)
            best_all = max(best_all, w_all)
        return (best_uni / self.unigram_total if self.unigram_total > 0 else 0.0, best_all / self.total)


_COMBINING = re.compile("[\u0300-\u036f]")
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _tone_variants(syllable: str) -> set[str]:
    """Every spelling of a matching-form syllable with its tone mark elsewhere that still means it ("hòa", "hoà")."""
    decomposed = unicodedata.normalize("NFD", syllable)
    tones = [c for c in decomposed if c in _TONE_MARKS]
    out = {syllable}
    if len(tones) != 1:
        return out
    base = decomposed.replace(tones[0], "")
    for i in range(1, len(base) + 1):
        variant = unicodedata.normalize("NFC", base[:i] + tones[0] + base[i:])
        if not any(unicodedata.combining(c) for c in variant) and canonical_tones(variant) == syllable:
            out.add(variant)
    return out


@lru_cache(maxsize=1024)
def _compile(forms: tuple[str, ...]) -> re.Pattern[str]:
    """The pattern of a set of surface forms (building and compiling one costs ~1 ms; queries repeat)."""
    return re.compile(_trie(forms) + r"(?![^\W_])")


def _trie(words: Sequence[str]) -> str:
    """A regular expression matching any of `words`, factored by common prefixes.

    Python's `re` tries the branches of a flat alternation one by one at every position; factored by prefix,
    a position is rejected after one character comparison (4x faster on 1,200-character paragraphs).
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)
