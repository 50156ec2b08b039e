"""Follow-up questions: rewriting "Còn về y tế thì sao?" with what the conversation was about.

Without a model, the rewrite is conservative: a question that names its own document is left alone; a
follow-up (anaphora such as "đó", "này", "trên", "thì sao", or a very short question) gets the document
named in the previous turns (by number, from the questions or the previous answer's citations) and the
previous question's content appended, so retrieval and the named-document boost see the subject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rag.retrieve.query import doc_refs
from rag.text.doctypes import label, type_for_prefix
from rag.text.normalize import fold
from rag.types import OTHER_DOC_TYPE

# Folded cues that a question leans on the previous turn.
_FOLLOW_UP_RE = re.compile(
    r"\b(do|nay|tren|ay|kia|thi sao|con ve|con|van ban do|nghi quyet do|nghi quyet nay|van kien do|"
    r"tai lieu do|no|cung|them|tiep|the con)\b"
)
#: A question with at most this many words is treated as a follow-up when there is history.
SHORT_QUESTION_WORDS = 6
_NUMBER_TEXT_RE = re.compile(r"\b\d{1,5}\s*[-/]\s*[A-ZĐ][A-Za-zĐđ]{0,5}(?:\s*[-/]\s*[A-ZĐ0-9]{1,12})?")


def _turn_refs(turn: Mapping[str, Any]) -> list[str]:
    """Document references of a previous turn: numbers in its question, then its answer's citations."""
    refs: list[str] = []
    question = str(turn.get("question") or "")
    for m in _NUMBER_TEXT_RE.finditer(question):
        refs.append(m.group(0))
    if not refs:
        for ref in doc_refs(question):
            doc_type = type_for_prefix(ref.symbol or "")
            refs.append(f"{label(doc_type) if doc_type else OTHER_DOC_TYPE} {ref.number}")
    for citation in turn.get("citations") or []:
        if isinstance(citation, Mapping) and citation.get("number"):
            refs.append(str(citation["number"]))
            break
    return refs


def needs_context(question: str, history: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether a follow-up leans on a previous turn whose document is not known yet (no number, no citation)."""
    if not history or doc_refs(question) or not is_follow_up(question):
        return False
    return not _turn_refs(history[-1])


def is_follow_up(question: str) -> bool:
    folded = fold(question).lower()
    return bool(_FOLLOW_UP_RE.search(folded)) or len(question.split()) <= SHORT_QUESTION_WORDS


def focus(question: str, history: Sequence[Mapping[str, Any]] | None) -> str:
    """The question as the answerer should read it: a follow-up with only the document it is about.

    Retrieval gets the previous question's words too (`rewrite`); judging whether a quote answers, and
    choosing it, must look at what is asked now, not at the previous subject.
    """
    if not history or doc_refs(question) or not is_follow_up(question):
        return question
    for turn in reversed(history):
        refs = _turn_refs(turn)
        if refs:
            return f"{question} ({' '.join(dict.fromkeys(refs))})"
    return question


def rewrite(question: str, history: Sequence[Mapping[str, Any]] | None) -> str:
    """The question to retrieve with, given the earlier turns (oldest first)."""
    if not history or doc_refs(question) or not is_follow_up(question):
        return question
    for turn in reversed(history):
        refs = _turn_refs(turn)
        previous = str(turn.get("question") or "").strip()
        if refs or previous:
            context = " ".join(dict.fromkeys(refs))
            return f"{question} ({context}; {previous})" if context else f"{question} ({previous})"
    return question
