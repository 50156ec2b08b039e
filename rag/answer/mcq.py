"""Multiple-choice questions: pick the option best supported by retrieved evidence.

Each option is read against the paragraphs retrieved for the question and for "question + option". Two kinds of
evidence add up:

* words: the share of the option's content syllables and bigrams the best paragraph covers (quiz distractors
  usually add or swap words the source does not have), with a small share for the question's own words in the
  same paragraph (the option must be supported where the question's subject is, not anywhere);
* meaning, when the index has an embedding model: the best cosine between "question + option" and those
  paragraphs (a distractor that reuses the source's words in another sense reads differently).

Ties go to the earlier option. Weights and their measurement: docs/answers.md, "Multiple choice".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.answer.extractive import coverage
from rag.answer.question import QuestionInfo, analyse_question
from rag.retrieve.retrievers import Retriever
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
    scores: list[float] = []
    for option in options:
        if not option.strip():
            scores.append(0.0)
            continue
        hits = [*common, *retriever.retrieve(f"{question} {option}", OPTION_K)]
        score = option_support(option, hits, asked)
        if similarity is not None and hits:
            cosines = [c for c in similarity(f"{question} {option}", [h.paragraph for h in hits]) if c is not None]
            score += SEMANTIC_WEIGHT * max(cosines, default=0.0)
        scores.append(score)
    return max(range(len(options)), key=lambda i: (scores[i], -i))
