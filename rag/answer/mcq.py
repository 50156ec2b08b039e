"""Multiple-choice questions: pick the option best supported by retrieved evidence.

Each option is read against the paragraphs retrieved for the question and for "question + option": the
option whose content syllables and bigrams the best paragraph covers most wins (quiz distractors usually
add or swap words the source does not have). Ties go to the earlier option.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.answer.extractive import coverage
from rag.answer.question import analyse_question
from rag.retrieve.retrievers import Retriever
from rag.types import Hit

#: Weight of bigram coverage against syllable coverage: word order matters to tell near-identical options.
BIGRAM_WEIGHT = 0.6
#: Paragraphs read per option query.
OPTION_K = 5


def option_support(option: str, hits: Sequence[Hit]) -> float:
    """How well the best of `hits` supports an option (0..1)."""
    info = analyse_question(option)
    if not info.terms:
        return 0.0
    best = 0.0
    for hit in hits:
        uni, bi = coverage(info, hit.paragraph.text)
        best = max(best, (1 - BIGRAM_WEIGHT) * uni + BIGRAM_WEIGHT * bi)
    return best


def choose_option(retriever: Retriever, question: str, options: Sequence[str], k: int = 10) -> int:
    """The 0-based index of the option the documents support best."""
    if not options:
        raise ValueError("no options")
    common = retriever.retrieve(question, k)
    scores: list[float] = []
    for option in options:
        if not option.strip():
            scores.append(0.0)
            continue
        own = retriever.retrieve(f"{question} {option}", OPTION_K)
        scores.append(option_support(option, [*common, *own]))
    return max(range(len(options)), key=lambda i: (scores[i], -i))
