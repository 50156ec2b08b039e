"""The default generator's core: choosing the sentences of the retrieved paragraphs that answer.

No model is needed. Each candidate (a sentence, or a clause of a long sentence, list markers trimmed) is
read with its context: the section headings above it, and its document's identity (title, number, date),
which retrieval has already matched. Its score combines

* focus coverage: the share of the question's content words *not* already explained by the document's
  identity that the candidate and its headings contain (what the question asks about this document);
* overall coverage and bigram coverage (word order), with context;
* a bonus when it holds the kind of thing asked for and the question does not already say it (a date for
  "khi nào", a number for "bao nhiêu", a place for "ở đâu", a body for "ai/cơ quan nào", the "Số ..."
  line for "số hiệu");
* the rank of its paragraph.

Who/what/when/how-many questions get the best candidate, preferring the shortest of those nearly as good;
list and "tóm tắt" questions gather several. Headings are context, never quotes (except the header lines
that carry a document's number and date). Every quote is an exact span of its paragraph.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from rag.answer.question import (
    KIND_DOCNUMBER,
    KIND_LIST,
    KIND_NUMBER,
    KIND_WHEN,
    KIND_WHERE,
    KIND_WHO,
    QuestionInfo,
)
from rag.answer.sentences import Span, split_clauses, split_sentences, trim_marker
from rag.retrieve.query import doc_refs, matches, number_key
from rag.text.normalize import fold
from rag.text.tokenize import BIGRAM_JOINER, phrases
from rag.types import Hit

#: Weights of focus coverage, overall coverage, bigram coverage and the retrieval-rank prior.
W_FOCUS, W_ALL, W_BIGRAM, W_RANK = 0.45, 0.15, 0.25, 0.15
#: Bonus when a candidate holds what the question kind asks for (and the question does not say it).
KIND_BONUS = 0.2
#: Bonus for the date line of a document's header when the question asks when the document was issued.
ISSUE_DATE_BONUS = 0.5
#: Bonus for candidates from a document the question names by number ("Nghị quyết 71 ...").
NAMED_DOC_BONUS = 0.1
#: Candidates within this share of the best score count as "nearly as good" (the shortest wins).
NEAR_BEST = 0.93
#: A sentence longer than this (characters) is also considered clause by clause.
LONG_SENTENCE = 220
#: At most this many quotes for list/summary questions, and only those scoring this share of the best.
LIST_MAX, LIST_MIN_SHARE = 5, 0.6
#: Paragraphs considered for quotes.
MAX_PARAGRAPHS = 6
#: When other paragraphs hold candidates this close to the best, the answer shows up to `MAX_ALTERNATES` of
#: them too (cited): the evidence is ambiguous and the reader should see it.
ALT_SHARE, MAX_ALTERNATES = 0.85, 2

_DATE_RE = re.compile(
    r"(?:ngày\s+\d{1,2}(?:\s*(?:tháng\s*|/)\d{1,2})?|\d{1,2}/\d{1,2}(?:/\d{2,4})?|tháng\s+\d{1,2}|năm\s+\d{4}|"
    r"quý\s+[IV1-4]+)",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_PLACE_RE = re.compile(r"\b(?:tại|ở)\s+[A-ZĐ][\wÀ-ỹ]*")
_BODY_RE = re.compile(
    r"\b(?:Ban|Bộ|Đảng đoàn|Đảng ủy|Đảng uỷ|Ủy ban|Uỷ ban|Văn phòng|Chính phủ|Quốc hội|Thành ủy|Thành uỷ|Tỉnh ủy|"
    r"Tỉnh uỷ|Mặt trận|Hội đồng|Sở|Viện|chủ trì)\b"
)
_DOCNUMBER_LINE_RE = re.compile(r"^(?:Số|số)\s*:?\s*\d")
# A question is never an answer: quiz pages and FAQ articles restate the user's question word for word.
_QUESTION_RE = re.compile(r"\?\s*[\"”']?\s*$|^(?:Câu|Câu hỏi|Hỏi)\s*\d*\s*[:.]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A candidate quote: an exact span of the paragraph of `hits[hit_index]`, with how well it answers.

    Attributes:
        cov_focus: rarity-weighted share of the question's words beyond the document's identity covered.
        cov_all: the same over all the question's content words, identity included.
        cov_bigram: share of the question's bigrams found.
        kind_match: holds the kind of thing asked for (a date, a number...).
        named: comes from a document the question names by number.
    """

    hit_index: int
    span: Span
    score: float
    cov_focus: float
    cov_all: float
    cov_bigram: float
    kind_match: bool
    named: bool


def _terms(text: str, folded: bool) -> tuple[set[str], set[str]]:
    unigrams: set[str] = set()
    bigrams: set[str] = set()
    for phrase in phrases(text):
        syl = [fold(s) for s in phrase] if folded else phrase
        unigrams.update(syl)
        bigrams.update(a + BIGRAM_JOINER + b for a, b in pairwise(syl))
    return unigrams, bigrams


def _question_sets(info: QuestionInfo) -> tuple[list[str], list[str]]:
    if info.accented:
        return list(info.terms), list(info.bigrams)
    return [fold(t) for t in info.terms], [fold(b) for b in info.bigrams]


def _weight(term: str) -> float:
    return 0.5 if len(term) == 1 and not term.isdigit() else 1.0


#: Credit for a question word found only in the context (section headings, the document header) rather than in
#: the candidate itself: context tells where a sentence sits, not what it says, and every sentence under a
#: heading shares it.
CONTEXT_CREDIT = 1.0


def _share(
    terms: Sequence[str],
    have: set[str],
    weights: dict[str, float] | None = None,
    context: set[str] | frozenset[str] = frozenset(),
) -> float:
    w = weights or {}
    total = sum(w.get(t, 1.0) * _weight(t) for t in terms)
    if not total:
        return 0.0
    got = sum(
        w.get(t, 1.0) * _weight(t) * (1.0 if t in have else CONTEXT_CREDIT if t in context else 0.0) for t in terms
    )
    return got / total


def _rarity(terms: Sequence[str], spans: Sequence[set[str]]) -> dict[str, float]:
    """Weight of each question word by how rare it is among the candidate sentences (smoothed idf).

    A word that every candidate has ("mục tiêu" in a list of targets) says little about which one answers.
    """
    n = len(spans)
    return {t: math.log(1.0 + (n + 1) / (1 + sum(1 for s in spans if t in s))) for t in set(terms)}


def coverage(info: QuestionInfo, text: str) -> tuple[float, float]:
    """Share of the question's content syllables and bigrams found in `text` (0..1 each)."""
    q_uni, q_bi = _question_sets(info)
    uni, bi = _terms(text, folded=not info.accented)
    cov_bi = sum(1 for b in q_bi if b in bi) / len(q_bi) if q_bi else _share(q_uni, uni)
    return _share(q_uni, uni), cov_bi


def identity_text(hit: Hit) -> str:
    """A document's identity as a question may name it: title, number, issuer, issue date."""
    parts = [hit.title, hit.number or "", hit.issuer or "", hit.doc_type]
    if hit.issued:
        y, m, d = hit.issued.split("-")
        parts.append(f"ngày {int(d)}/{int(m)}/{y} {int(d)} tháng {int(m)} năm {y}")
    return " ".join(parts)


def _question_numbers(info: QuestionInfo) -> set[str]:
    return {t for t in info.terms if t.isdigit()}


def kind_match(info: QuestionInfo, text: str, header_line: bool) -> bool:
    """Whether `text` holds what the question kind asks for, beyond what the question already says."""
    kind = info.kind
    asked = _question_numbers(info)
    if kind == KIND_DOCNUMBER:
        return header_line and bool(_DOCNUMBER_LINE_RE.match(text))
    if kind == KIND_WHEN:
        return any(not set(_NUMBER_RE.findall(m.group(0))) <= asked for m in _DATE_RE.finditer(text))
    if kind == KIND_NUMBER:
        return any(n not in asked for n in _NUMBER_RE.findall(text))
    if kind == KIND_WHERE:
        return bool(_PLACE_RE.search(text))
    if kind == KIND_WHO:
        return bool(_BODY_RE.search(text))
    return False


def _candidates(hit: Hit) -> list[tuple[Span, bool]]:
    """Quotable spans of a hit, each with whether it is a header line."""
    text = hit.paragraph.text
    if hit.paragraph.kind == "heading":
        return []
    header = hit.paragraph.kind == "header"
    out: list[tuple[Span, bool]] = []
    for sentence in split_sentences(text):
        out.append((trim_marker(sentence), header))
        if len(sentence.text) > LONG_SENTENCE:
            clauses = split_clauses(sentence)
            if len(clauses) > 1:
                out.extend((trim_marker(c), header) for c in clauses)
    return [
        (c, h)
        for c, h in out
        if len(c.text) >= 4 and any(ch.isalnum() for ch in c.text) and not _QUESTION_RE.search(c.text)
    ]


_ISSUE_CUES = ("ban hanh", "ky ", "ky ban hanh", "ra doi", "thong qua")
_PLACE_DATE_LINE_RE = re.compile(r"ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4}", re.IGNORECASE)


def _asks_issue_date(info: QuestionInfo, question: str) -> bool:
    folded = fold(question).lower() + " "
    return info.kind == KIND_WHEN and any(cue in folded for cue in _ISSUE_CUES)


def score_candidates(info: QuestionInfo, hits: Sequence[Hit], question: str = "") -> list[Evidence]:
    """All candidate quotes of the top paragraphs with their scores, best first.

    Args:
        info: the analysed question.
        hits: retrieved paragraphs, best first.
        question: the question text (to read the documents it names and whether it asks an issue date).
    """
    q_uni, q_bi = _question_sets(info)
    folded = not info.accented
    refs = doc_refs(question) if question else []
    issue_date = _asks_issue_date(info, question) if question else False
    rows: list[tuple[int, Hit, Span, bool, set[str], set[str], set[str], set[str], set[str]]] = []
    for i, hit in enumerate(hits[:MAX_PARAGRAPHS]):
        id_uni, id_bi = _terms(identity_text(hit), folded)
        ctx_uni, ctx_bi = _terms(hit.headings, folded)
        if hit.paragraph.kind == "header":
            head_uni, head_bi = _terms(hit.paragraph.text, folded)
            ctx_uni, ctx_bi = ctx_uni | head_uni, ctx_bi | head_bi
        for span, header_line in _candidates(hit):
            uni, bi = _terms(span.text, folded)
            rows.append((i, hit, span, header_line, uni, bi, ctx_uni, ctx_bi, id_uni | id_bi))
    weights = _rarity(q_uni, [r[4] for r in rows])
    scored: list[Evidence] = []
    for i, hit, span, header_line, uni, bi, ctx_uni, ctx_bi, identity in rows:
        focus = [t for t in q_uni if t not in identity] or q_uni
        cov_focus = _share(focus, uni, weights, ctx_uni)
        cov_all = _share(q_uni, uni | identity, weights, ctx_uni)
        own_bi = bi | identity
        cov_bi = (
            sum(1.0 if b in own_bi else CONTEXT_CREDIT if b in ctx_bi else 0.0 for b in q_bi) / len(q_bi)
            if q_bi
            else cov_all
        )
        matched = kind_match(info, span.text, header_line)
        key = number_key(hit.number) if hit.number else None
        named = key is not None and any(matches(r, key) for r in refs)
        score = W_FOCUS * cov_focus + W_ALL * cov_all + W_BIGRAM * cov_bi + W_RANK / (1 + i)
        if matched:
            score += KIND_BONUS
        if named:
            score += NAMED_DOC_BONUS
        if issue_date and header_line and _PLACE_DATE_LINE_RE.search(span.text):
            score += ISSUE_DATE_BONUS
        scored.append(Evidence(i, span, score, cov_focus, cov_all, cov_bi, matched, named))
    scored.sort(key=lambda e: (-e.score, e.hit_index, e.span.start))
    return scored


def choose_evidence(info: QuestionInfo, hits: Sequence[Hit], question: str = "") -> list[Evidence]:
    """Pick the quotes that answer the question (empty when there is nothing to quote)."""
    scored = score_candidates(info, hits, question)
    if not scored:
        return []
    best = scored[0].score
    if info.kind == KIND_LIST:
        chosen: list[Evidence] = []
        for ev in scored:
            if ev.score < LIST_MIN_SHARE * best or len(chosen) >= LIST_MAX:
                break
            if any(_overlaps(ev, c) for c in chosen):
                continue
            chosen.append(ev)
        chosen.sort(key=lambda e: (e.hit_index, e.span.start))
        return chosen
    primary = pick_best(scored)
    chosen = [primary]
    for ev in scored:
        if len(chosen) > MAX_ALTERNATES or ev.score < ALT_SHARE * primary.score:
            break
        if all(ev.hit_index != c.hit_index for c in chosen):
            chosen.append(ev)
    return chosen


def pick_best(scored: Sequence[Evidence]) -> Evidence:
    """The shortest candidate nearly as good as the best (scored best first)."""
    best = scored[0].score
    near = [ev for ev in scored if ev.score >= NEAR_BEST * best]
    return min(near, key=lambda e: (len(e.span.text), -e.score))


def _overlaps(a: Evidence, b: Evidence) -> bool:
    return a.hit_index == b.hit_index and a.span.start < b.span.end and b.span.start < a.span.end
