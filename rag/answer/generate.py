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

from rag.answer.extractive import Similarity, choose_evidence, effective
from rag.answer.question import KIND_ABOUT, KIND_LIST, KIND_SUMMARY, analyse_question
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
    """The default, model-free generator: quotes the sentences that answer (`rag.answer.extractive`).

    Args:
        semantic: the closeness in meaning of a question to a sentence, from the index's embedder
            (`IndexStore.text_similarity`); None: the sentences are chosen by their words alone.
    """

    name = "extractive"

    def __init__(self, semantic: Similarity | None = None) -> None:
        self.semantic = semantic

    def generate(self, question: str, hits: Sequence[Hit]) -> Draft:
        info = effective(analyse_question(question), question, hits)
        evidence = choose_evidence(info, hits, question, self.semantic)
        if not evidence:
            return Draft("")
        quotes: dict[int, Span] = {}
        lines: list[str] = []
        label = ""
        if info.kind == KIND_SUMMARY and evidence[0].prefix and len(evidence) > 1:
            # The document summarised heads the summary as a label; its sections carry the citations.
            lines.append(f"{evidence[0].text()}:")
            evidence = evidence[1:]
        for ev in evidence:
            marker = ev.hit_index + 1
            # Two quotes from one paragraph: the first keeps the marker's quote, both cite it.
            quotes.setdefault(marker, ev.span)
            if ev.label and ev.label != label:
                lines.append(f"{ev.label}:")
            label = ev.label
            lines.append(f"{ev.text()} [{marker}]")
        if len(lines) == 1:
            return Draft(lines[0], quotes)
        if info.kind in (KIND_LIST, KIND_SUMMARY, KIND_ABOUT):
            # A subject line leads; items are bullets under their labels.
            first = 1 if info.kind == KIND_ABOUT or (info.kind == KIND_SUMMARY and lines[0].endswith(":")) else 0
            body = [ln if ln.endswith(":") else f"- {ln}" for ln in lines[first:]]
            return Draft("\n".join([*lines[:first], *body]), quotes)
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
