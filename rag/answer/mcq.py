"""Multiple-choice questions: pick the option best supported by retrieved evidence.

Each option is read against the paragraphs retrieved for the question and for "question + option". Two kinds of
evidence add up:

* words: the share of the option's content syllables and bigrams the best paragraph covers (quiz distractors
  usually add or swap words the source does not have), with a small share for the question's own words in the
  same paragraph (the option must be supported where the question's subject is, not anywhere);
* meaning, when the index has an embedding model: the best cosine between "question + option" and those
  paragraphs (a distractor that reuses the source's words in another sense reads differently).

Neither a question nor a restated option is evidence: a paragraph that asks ("Câu 3: ... chọn ngày nào?") or says
no more than one of the options (a quiz page listing them) supports none of them.

Ties go to the earlier option. Weights and their measurement: docs/answers.md, "Multiple choice".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.answer.extractive import coverage, is_question
from rag.answer.question import QuestionInfo, analyse_question
from rag.retrieve.retrievers import Retriever
from rag.text.normalize import folded_words
from rag.types import Hit, Paragraph

#: Weight of bigram coverage against syllable coverage: word order matters to tell near-identical options.
BIGRAM_WEIGHT = 0.6
#: Share of the question's own words in the paragraph that supports an option.
CONTEXT_WEIGHT = 0.2
#: Weight of the best cosine of "question + option" to the paragraphs (cosines of options differ by a few
#: hundredths, word coverages by a few tenths).
SEMANTIC_WEIGHT = 2.0
#: Paragraphs read per option query.
OPTION_K = 5

#: Cosine of a text to each paragraph (None where unknown), as `IndexStore.similarity` gives it.
Similarity = Callable[[str, Sequence[Paragraph]], list[float | None]]


def option_support(
    option: str, hits: Sequence[Hit], question: QuestionInfo | None = None, context_weight: float = CONTEXT_WEIGHT
) -> float:
    """How well the best of `hits` supports an option by its words (0..1); with the analysed question, the
    question's words in the same paragraph count for `context_weight`."""
    info = analyse_question(option)
    if not info.terms:
        return 0.0
    best = 0.0
    for hit in hits:
        uni, bi = coverage(info, hit.paragraph.text)
        support = (1 - BIGRAM_WEIGHT) * uni + BIGRAM_WEIGHT * bi
        if question is not None and question.terms:
            support = (1 - context_weight) * support + context_weight * coverage(question, hit.paragraph.text)[0]
        best = max(best, support)
    return best


#: A paragraph at most this much longer than an option it holds says no more than that option.
RESTATED_LENGTH = 1.2


def is_evidence(hit: Hit, options: Sequence[str]) -> bool:
    """Whether a paragraph may support an option: it states something (it is not a question) and it is not one of
    the options restated (a quiz page listing them, as its own paragraph)."""
    text = hit.paragraph.text
    if is_question(text):
        return False
    plain = folded_words(text)
    for option in options:
        wanted = folded_words(option)
        if wanted and wanted in plain and len(plain) <= RESTATED_LENGTH * len(wanted):
            return False
    return True


def choose_option(
    retriever: Retriever,
    question: str,
    options: Sequence[str],
    k: int = 10,
    similarity: Similarity | None = None,
) -> int:
    """The 0-based index of the option the documents support best (`similarity`: the index's cosines, for the
    meaning side; None leaves only the words)."""
    if not options:
        raise ValueError("no options")
    common = retriever.retrieve(question, k)
    asked = analyse_question(question)
    supports: list[float] = []
    scores: list[float] = []
    for option in options:
        if not option.strip():
            supports.append(0.0)
            scores.append(0.0)
            continue
        hits = [h for h in (*common, *retriever.retrieve(f"{question} {option}", OPTION_K)) if is_evidence(h, options)]
        support = option_support(option, hits, asked)
        score = support
        if similarity is not None and hits:
            cosines = [c for c in similarity(f"{question} {option}", [h.paragraph for h in hits]) if c is not None]
            score += SEMANTIC_WEIGHT * max(cosines, default=0.0)
        supports.append(support)
        scores.append(score)
    every = _all_of_the_above(options, supports)
    if every is not None:
        return every
    return max(range(len(options)), key=lambda i: (scores[i], -i))


#: "Cả 3 đáp án đều đúng", "Tất cả các phương án trên", "Cả A, B và C đều đúng": an option that asserts the others.
_ALL_OPTIONS_RE = re.compile(
    r"^\W*(?:\w\s+)?(?:ca (?:\d+|ba|bon|hai) (?:dap an|phuong an|y)|tat ca (?:cac )?(?:dap an|phuong an|y|deu)|"
    r"ca [a-d](?:,? [a-d])*,? (?:va|lan) [a-d])",
)
#: The options an "all of the above" asserts must each be supported by the documents at least this well (word
#: support, 0..1), and the weakest at least this share of the strongest: a conjunction is as true as its weakest
#: member, and one unsupported option makes it false.
ALL_MIN_SUPPORT, ALL_MIN_SHARE = 0.5, 0.6


def _all_of_the_above(options: Sequence[str], supports: Sequence[float]) -> int | None:
    """The index of an "all of the above" option when every other option is supported (`ALL_MIN_SUPPORT`,
    `ALL_MIN_SHARE`); None when there is none or one of the others is not borne out."""
    every = [i for i, o in enumerate(options) if _ALL_OPTIONS_RE.match(folded_words(o))]
    if len(every) != 1:
        return None
    others = [supports[i] for i, o in enumerate(options) if i != every[0] and o.strip() and len(folded_words(o)) > 1]
    if len(others) < 2:
        return None
    weakest, strongest = min(others), max(others)
    return every[0] if weakest >= ALL_MIN_SUPPORT and weakest >= ALL_MIN_SHARE * strongest else None
