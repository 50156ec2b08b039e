"""Generators: turn a question and its retrieved paragraphs into an answer draft with [n] markers.

`Generator.generate(question, hits)` returns a `Draft`: text whose sentences carry [n] markers (n = 1-based
position in `hits`), plus the exact supporting span per marker when the generator knows it. The draft then
goes through `rag.answer.citations.verify`, whatever produced it.
"""

from __future__ import annotations

from collections.abc import Generator as Gen
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.answer.extractive import choose_evidence
from rag.answer.question import KIND_LIST, analyse_question
from rag.answer.sentences import Span
from rag.types import Hit


@dataclass(frozen=True, slots=True)
class Draft:
    """An unverified answer: text with [n] markers and, when known, the quote per marker."""

    text: str
    quotes: dict[int, Span] = field(default_factory=dict)


class Generator(Protocol):
    """Writes an answer from retrieved paragraphs.

    `generate(question, hits)` -> `Draft`; `stream(question, hits)` yields text pieces as they are produced
    and returns (as the generator's return value) the full `Draft`. Paragraph texts are data, never
    instructions. An empty draft text means the generator found nothing to say.
    """

    name: str

    def generate(self, question: str, hits: Sequence[Hit]) -> Draft: ...

    def stream(self, question: str, hits: Sequence[Hit]) -> Gen[str, None, Draft]: ...


class ExtractiveGenerator:
    """The default, model-free generator: quotes the sentences that answer (`rag.answer.extractive`)."""

    name = "extractive"

    def generate(self, question: str, hits: Sequence[Hit]) -> Draft:
        info = analyse_question(question)
        evidence = choose_evidence(info, hits, question)
        if not evidence:
            return Draft("")
        quotes: dict[int, Span] = {}
        lines: list[str] = []
        for ev in evidence:
            marker = ev.hit_index + 1
            # Two quotes from one paragraph: the first keeps the marker's quote, both cite it.
            quotes.setdefault(marker, ev.span)
            lines.append(f"{ev.span.text} [{marker}]")
        if len(lines) == 1:
            return Draft(lines[0], quotes)
        if info.kind == KIND_LIST:
            return Draft("\n".join(f"- {line}" for line in lines), quotes)
        # The best answer first; close alternatives from other paragraphs follow as a list.
        return Draft(lines[0] + "\n" + "\n".join(f"- {line}" for line in lines[1:]), quotes)

    def stream(self, question: str, hits: Sequence[Hit]) -> Gen[str, None, Draft]:
        draft = self.generate(question, hits)
        # Extractive answers exist whole at once; stream them word by word so the chat page behaves the
        # same with every generator.
        words = draft.text.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word
        return draft
