"""Checking an answer's [n] markers against the paragraphs they cite, and finding each quote.

Whatever wrote the answer (the extractive generator or an LLM), this is the gate every answer passes:

* a marker that points at no retrieved paragraph is removed;
* each sentence must be supported by a paragraph it cites: enough of its content words occur there
  (`SUPPORT_THRESHOLD`); an unsupported sentence is dropped;
* each citation's `quote` is the span of the cited paragraph that best supports the sentence, an exact
  substring of the paragraph text (so the chat page can highlight it).

If no supported sentence remains, the caller abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.sentences import Span, split_clauses, split_sentences, trim_marker
from rag.text.normalize import fold
from rag.text.tokenize import phrases
from rag.types import Citation, Hit

#: Share of a sentence's content syllables that must occur in the cited paragraph (calibration: see
#: scripts/calibrate_support.py and docs/answers.md).
SUPPORT_THRESHOLD = 0.6
_MARKER_RE = re.compile(r"\s*\[(\d{1,3})\]")
# "... năm 2030. [1]" -> "... năm 2030 [1]." so the marker stays with its sentence.
_MARKER_AFTER_END_RE = re.compile(r"([.!?…])((?:\s*\[\d{1,3}\])+)")
# Function words that carry no content when judging support (folded).
_FUNCTION = frozenset(
    fold(w)
    for w in (
        "và của là có được các những cho với về theo trong từ đến đã đang sẽ này đó thì mà để một hay "
        "hoặc như tại bằng trên dưới vào ra khi nếu cũng vẫn rất nhiều "
    ).split()
)


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence of an answer with the markers it carries (1-based indexes into the hits)."""

    text: str
    markers: tuple[int, ...]
    bullet: bool = False


def parse_claims(answer: str) -> list[Claim]:
    """Split an answer into sentences (or list lines) with their [n] markers."""
    answer = _MARKER_AFTER_END_RE.sub(lambda m: m.group(2) + m.group(1), answer)
    claims: list[Claim] = []
    for line in answer.split("\n"):
        bullet = bool(re.match(r"^\s*[-•*]\s+", line))
        line = re.sub(r"^\s*[-•*]\s+", "", line)
        for i, sentence in enumerate(split_sentences(line)):
            markers = tuple(int(m) for m in _MARKER_RE.findall(sentence.text))
            text = _MARKER_RE.sub("", sentence.text).strip()
            if any(c.isalnum() for c in text):
                claims.append(Claim(text, markers, bullet and i == 0))
            elif markers and claims:
                prev = claims[-1]
                claims[-1] = Claim(prev.text, prev.markers + markers, prev.bullet)
    return claims


def _content(text: str) -> list[str]:
    return [s for ph in phrases(text) for s in (fold(x) for x in ph) if s not in _FUNCTION]


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content syllables that occur in the passage (folded comparison)."""
    words = _content(sentence)
    if not words:
        return 0.0
    have = set(_content(passage))
    return sum(1 for w in words if w in have) / len(words)


def best_quote(sentence: str, paragraph: str) -> Span:
    """The sentence or clause of `paragraph` that best supports `sentence` (exact span, markers trimmed)."""
    best: Span | None = None
    best_score = -1.0
    for s in split_sentences(paragraph):
        for cand in [s, *split_clauses(s)]:
            cand = trim_marker(cand)
            score = support(sentence, cand.text) - 0.0005 * len(cand.text)
            if score > best_score:
                best, best_score = cand, score
    if best is None:
        best = Span(0, len(paragraph), paragraph)
    return best


@dataclass(frozen=True, slots=True)
class Verified:
    """The answer text after checking, with its citations (markers renumbered 1..n in order of use)."""

    text: str
    citations: tuple[Citation, ...]
    dropped: tuple[str, ...]


def verify(
    answer: str, hits: Sequence[Hit], quotes: dict[int, Span] | None = None, *, mark_unsupported: bool = False
) -> Verified:
    """Check every sentence of `answer` against the paragraphs it cites.

    Args:
        answer: text with [n] markers, n being 1-based positions in `hits`.
        hits: the paragraphs the answer was written from.
        quotes: known supporting spans per marker (the extractive generator knows them); others are found.
        mark_unsupported: keep unsupported sentences, flagged "(chưa kiểm chứng)", instead of dropping them.

    Returns:
        The cleaned text with markers renumbered in order of first use, and one citation per marker.
    """
    renumber: dict[int, int] = {}
    citations: list[Citation] = []
    lines: list[str] = []
    dropped: list[str] = []
    for claim in parse_claims(answer):
        valid = [m for m in claim.markers if 1 <= m <= len(hits)]
        supported = [m for m in valid if support(claim.text, hits[m - 1].paragraph.text) >= SUPPORT_THRESHOLD]
        if not supported:
            if mark_unsupported and claim.text:
                lines.append(("- " if claim.bullet else "") + f"{claim.text} (chưa kiểm chứng)")
            else:
                dropped.append(claim.text)
            continue
        numbers = []
        for m in supported:
            if m not in renumber:
                renumber[m] = len(renumber) + 1
                hit = hits[m - 1]
                span = (quotes or {}).get(m) or best_quote(claim.text, hit.paragraph.text)
                citations.append(Citation(renumber[m], hit, span.text, span.start))
            numbers.append(renumber[m])
        line = claim.text + " " + "".join(f"[{n}]" for n in numbers)
        lines.append(f"- {line}" if claim.bullet else line)
    return Verified("\n".join(lines), tuple(citations), tuple(dropped))
