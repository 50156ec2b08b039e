"""Checking an answer's [n] markers against the paragraphs they cite, and finding each quote.

Whatever wrote the answer (the extractive generator or an LLM), this is the gate every answer passes:

* a marker that points at no retrieved paragraph is removed;
* each sentence must be supported by a paragraph it cites: enough of its content words occur there
  (`SUPPORT_THRESHOLD`), and every number it states occurs in the cited paragraph or its citation fields
  (`numbers_supported`); an unsupported sentence is dropped;
* each citation's `quote` is the span of the cited paragraph that best supports the sentence, an exact
  substring of the paragraph text (so the chat page can highlight it).

If no supported sentence remains, the caller abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.layout import LABEL_SECTION, label_kind
from rag.answer.sentences import Span, split_clauses, split_sentences, trim_marker
from rag.text.doctypes import CITED_NAMES
from rag.text.normalize import fold
from rag.text.tokenize import phrases
from rag.types import Citation, Hit

#: Share of a sentence's content syllables that must occur in the cited paragraph. Calibrated on 4,547 labelled
#: (sentence, cited paragraph) pairs built from corpus/ (`.venv/bin/python -m eval.calibrate_support`; table in
#: docs/answers.md): with the number rule, 0.60 gives precision 0.959 / recall 0.995 (F1 0.976, the best; 0.55:
#: 0.946 / 0.998, 0.65: 0.966 / 0.983). Precision is a lower bound: about half the wrong citations it accepts
#: are paragraphs of other documents that restate the sentence.
SUPPORT_THRESHOLD = 0.6
_MARKER_RE = re.compile(r"\s*\[(\d{1,3})\]")
# "... năm 2030. [1]" -> "... năm 2030 [1]." so the marker stays with its sentence.
MARKER_AFTER_END_RE = re.compile(r"([.!?…])((?:\s*\[\d{1,3}\])+)")
# A number as written: digits with "." or "," between groups ("1.000", "2,5"); "/" and "-" split dates apart.
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
# "22.12.2024" is a date, three numbers, not one number with separators.
_DOTTED_DATE_RE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
# A list marker an answer may start with ("1.", "2)", "a)", "II."): numbering, not a stated number.
_LEADING_ENUM_RE = re.compile(
    r"^[ \t]*(?:[-•*][ \t]*)?(?:\d{1,3}(?:\.\d{1,3})*[.)]|[a-zđ]\)|[IVXLC]{1,6}[.\-–])[ \t]+", re.I | re.M
)
# A reference to a document by its number ("Nghị quyết số 57", "Kết luận 210", "57-NQ/TW"): the number names a
# document rather than stating a figure.
_DOC_REF_RE = re.compile(
    r"\b(?:" + "|".join(map(re.escape, CITED_NAMES)) + ")"
    r"(?:\s+số)?\s+(\d+)(?:-[\w/]+)?|\b(\d+)-[A-ZĐ]{1,6}/[A-ZĐ]{1,6}\b",
    re.I,
)
# Digits an answer may write for a numeral the paragraph spells out ("1 lần" for "một lần"). "5" is left out:
# "năm" (five) is also "year" and occurs everywhere.
_NUMERALS = dict(zip("1 2 3 4 6 7 8 9 10".split(), "một hai ba bốn sáu bảy tám chín mười".split(), strict=True))
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
    answer = MARKER_AFTER_END_RE.sub(lambda m: m.group(2) + m.group(1), answer)
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


def numbers_in(text: str) -> list[str]:
    """The numbers stated in `text`, in a canonical form that ignores how they were written.

    Leading zeros go ("05" = "5"), "," and "." are one decimal separator ("2,5" = "2.5"), thousands groups join
    ("1.000" = "1000"), and a dotted date gives its day, month and year. A list marker starting a line is not a
    number.
    """
    out: list[str] = []
    for token in _NUMBER_RE.findall(_LEADING_ENUM_RE.sub("", text)):
        groups = re.split(r"[.,]", token)
        if _DOTTED_DATE_RE.match(token):
            out.extend(g.lstrip("0") or "0" for g in groups)
            continue
        groups = [groups[0].lstrip("0") or "0", *groups[1:]]
        if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
            out.append("".join(groups))
        else:
            out.append(".".join(groups))
    return out


def numbers_supported(sentence: str, passage: str, fields: str = "") -> bool:
    """True when every number the sentence states occurs in the passage.

    Lexical support alone cannot tell "30% GDP" from "50% GDP" (one syllable in ten differs), and a wrong figure
    is the worst error an answer about a resolution can make, so numbers must match exactly. A small number
    written in digits may match the numeral spelled out in the passage ("1 lần" / "một lần"). A number that names
    a document ("Nghị quyết số 57", "57-NQ/TW") may also come from `fields`, the cited document's number and
    title: an answer names the document it cites, which its paragraphs rarely repeat.
    """
    refs = [m.group(1) or m.group(2) for m in _DOC_REF_RE.finditer(sentence)]
    wanted = numbers_in(_DOC_REF_RE.sub(" ", sentence))
    if not wanted and not refs:
        return True
    have = set(numbers_in(passage))
    if refs and not all(r.lstrip("0") in have or r.lstrip("0") in set(numbers_in(fields)) for r in refs):
        return False
    words: set[str] | None = None
    for number in wanted:
        if number in have:
            continue
        numeral = _NUMERALS.get(number)
        if numeral is None:
            return False
        if words is None:
            words = {s for ph in phrases(passage) for s in ph}
        if numeral not in words:
            return False
    return True


# Negation words (folded): a sentence that says "không đạt" where its source says "đạt" reverses it.
_NEGATORS = ("khong", "chua", "chang", "cha", "khong he", "chua he", "chua bao gio", "khong bao gio", "khong phai")
# Words where "không" is part of a noun, not a negation ("không gian", "hàng không").
_NOT_NEGATION = (
    "khong gian",
    "khong khi",
    "hang khong",
    "khong quan",
    "khong ngung",
    "khong chi",
    "khong the thieu",
    "khong ke",
)
_NEGATION_RE = re.compile(r"\b(?:" + "|".join(sorted(_NEGATORS, key=len, reverse=True)) + r")\b")
# Bound words before a figure, by direction: at least / at most / about.
_BOUNDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("max", ("khong qua", "khong vuot qua", "toi da", "duoi", "chua den", "chua toi", "it hon", "thap hon", "nho hon")),
    ("min", ("it nhat", "toi thieu", "tren", "hon", "vuot", "tu", "nhieu hon", "cao hon", "lon hon", "tro len")),
    ("about", ("khoang", "gan", "xap xi", "chung", "uoc")),
)
_BOUND_WORDS = sorted((w for _, ws in _BOUNDS for w in ws), key=len, reverse=True)
_BOUND_RE = re.compile(r"\b(" + "|".join(_BOUND_WORDS) + r")\s+(?:muc\s+|con\s+)?(\d+(?:[.,]\d+)*)")


def negations(text: str) -> int:
    """How many negation words a text has ("không", "chưa", "chưa bao giờ"...; "không gian" is not one)."""
    folded = " " + " ".join(re.sub(r"[^\w\s]", " ", fold(text).lower()).split()) + " "
    for phrase in _NOT_NEGATION:
        folded = folded.replace(f" {phrase} ", " ")
    return len(_NEGATION_RE.findall(folded))


def bounds(text: str) -> dict[str, str]:
    """The bound stated before each figure: canonical number -> "min", "max" or "about" ("dưới 30%" -> max)."""
    folded = " ".join(re.sub(r"[^\w\s.,%]", " ", fold(text).lower()).split())
    out: dict[str, str] = {}
    for m in _BOUND_RE.finditer(folded):
        word = m.group(1)
        direction = next(d for d, ws in _BOUNDS if word in ws)
        for number in numbers_in(m.group(2)):
            out.setdefault(number, direction)
    return out


def same_sense(sentence: str, source: str) -> bool:
    """Whether a sentence keeps its source's polarity and bounds.

    Lexical support counts shared words, so "tuổi thọ không đạt 74,5 tuổi" looks like "tuổi thọ đạt khoảng 74,5
    tuổi". The sentence must have as many negations as the source span it restates (parity: "không thể không"
    is positive), and every figure it bounds ("dưới 30%", "ít nhất 3%") must carry the same direction in the
    source ("about" is compatible with an unbounded figure, not with an opposite bound).
    """
    if negations(sentence) % 2 != negations(source) % 2:
        return False
    theirs = bounds(source)
    for number, direction in bounds(sentence).items():
        other = theirs.get(number)
        if other == direction or (direction == "about" and other is None):
            continue
        if other is None and number in set(numbers_in(source)):
            return False  # the sentence adds a bound the source does not state
        if other is not None:
            return False
    return True


def citation_context(hit: Hit) -> tuple[str, str]:
    """What a cited number may come from: (the paragraph with the section headings above it, which give a list
    item its year or target; the document's number and title, for numbers that name a document)."""
    # One heading per line, so each heading's list marker ("3. Về ...") is recognised as one.
    passage = "\n".join(x for x in (*hit.headings.split(" > "), hit.paragraph.text) if x)
    fields = "\n".join(x for x in (hit.number, hit.title) if x)
    return passage, fields


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
    labels: dict[int, str] = {}
    citations: list[Citation] = []
    lines: list[str] = []
    dropped: list[str] = []
    for claim in parse_claims(answer):
        label = label_kind(claim.text, hits) if not claim.markers else None
        if label is not None:
            lines.append(claim.text)  # a section or document label over list items: structure, not a claim
            labels[len(lines) - 1] = label
            continue
        valid = [m for m in claim.markers if 1 <= m <= len(hits)]
        supported = [m for m in valid if support(claim.text, hits[m - 1].paragraph.text) >= SUPPORT_THRESHOLD]
        # The sentence must say what its source says, not the opposite or a different bound.
        found = {m: best_quote(claim.text, hits[m - 1].paragraph.text) for m in supported}
        supported = [m for m in supported if same_sense(claim.text, found[m].text)]
        # A sentence citing two paragraphs may take one figure from each: numbers are checked against them all.
        if supported:
            contexts = [citation_context(hits[m - 1]) for m in supported]
            passage = "\n".join(c[0] for c in contexts)
            if not numbers_supported(claim.text, passage, "\n".join(c[1] for c in contexts)):
                supported = []
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
                span = (quotes or {}).get(m) or found[m]
                citations.append(Citation(renumber[m], hit, span.text, span.start))
            numbers.append(renumber[m])
        line = claim.text + " " + "".join(f"[{n}]" for n in numbers)
        lines.append(f"- {line}" if claim.bullet else line)
    # A label whose items were all dropped labels nothing (a document label may head section labels).
    kept = [
        ln
        for i, ln in enumerate(lines)
        if i not in labels or (i + 1 < len(lines) and (i + 1 not in labels or labels[i] != LABEL_SECTION))
    ]
    return Verified("\n".join(kept), tuple(citations), tuple(dropped))
