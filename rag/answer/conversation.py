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
from rag.text.normalize import fold, has_diacritics
from rag.text.places import regional_measure
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
            if context and has_anaphora(question) and new_subject_words(question, previous):
                # "Chương trình đó bao giờ sơ kết?": the document is the previous one, the subject is new; the
                # previous question's words would pull its own paragraphs back.
                return f"{question} ({context})"
            return f"{question} ({context}; {previous})" if context else f"{question} ({previous})"
    return question


# -- topic switches ---------------------------------------------------------------------------------------

# Words that point back at the previous turn's document ("nghị quyết đó", "văn bản này").
_ANAPHORA_RE = re.compile(r"\b(do|nay|tren|ay|no|van ban do|van ban nay)\b")
# A contrast opener: the follow-up asks the same about something else ("Còn ... thì sao?", "Thế còn ...?").
_CONTRAST_RE = re.compile(r"^(?:(?:va|vay|the|the thi|con)\s+)*con\b|\bthi sao\b|\bthi the nao\b|\bthi ra sao\b")


def _accented_and_folded(source: str, flags: int = 0) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A pattern written with accents, and the same folded for text typed without them ("thế còn" / "the con"):
    folded words would match other words in accented text ("còn" / "côn"), so each text gets its own."""
    return re.compile(source, flags), re.compile(fold(source), flags)


def _for(patterns: tuple[re.Pattern[str], re.Pattern[str]], text: str) -> re.Pattern[str]:
    return patterns[0] if has_diacritics(text) else patterns[1]


_FRAMING_RE = _accented_and_folded(
    r"^\s*(?:(?:và|vậy|thế|thế thì)\s+)?còn\s+"
    r"|\s*(?:thì\s+(?:sao|thế nào|ra sao|như thế nào))?\s*(?:nữa)?\s*[?.!]*\s*$",
    re.IGNORECASE,
)
# Words that frame a question rather than name its subject (folded): asking the same frame about a new subject
# is a topic switch, asking about a new frame of the same subject is not.
_FRAME_WORDS = frozenset(
    (
        "muc tieu chi tieu nhiem vu giai phap noi dung van de quan diem chinh sach yeu cau dat ra de ra ban hanh "
        "ky ngay nam thang hieu luc van ban nghi quyet chi thi ket luan chuong trinh ke hoach quyet dinh thong bao "
        "so hieu giao chu tri thuc hien trien khai bao nhieu gi nao sao the con vay thi ai khi dau ra nhu "
        "toi thieu toi da it nhat phan tram ty le ti le dong gop"
    ).split()
)
# Prepositions that introduce a subject, by the role they give it: a follow-up's phrase replaces the previous
# question's phrase of the same role ("với nhân viên y tế" replaces "cho giáo viên mầm non").
_PREPOSITIONS: tuple[tuple[str, ...], ...] = (
    ("về", "trong"),
    ("cho", "với", "đối với"),
    ("của", "ở", "tại"),
)


def _preposition(group: tuple[str, ...], text: str) -> re.Pattern[str]:
    """One of `group`'s prepositions between spaces, as `text` is typed (with accents or without)."""
    words = group if has_diacritics(text) else tuple(fold(w) for w in group)
    return re.compile(rf"(?:^|\s)(?:{'|'.join(sorted(words, key=len, reverse=True))})\s")


# Where a subject phrase in the previous question ends: at a question word or a verb of the frame.
_SUBJECT_END_RE = _accented_and_folded(
    r"\s+(?:tối thiểu|tối đa|ít nhất|bao nhiêu|là|đạt|ban hành|có|được|đến năm|vào năm|như thế nào|thế nào|theo|"
    r"ra sao|gì|nào|khi nào|chiếm|đóng góp|phải|cần)\b|[?.!]",
    re.IGNORECASE,
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.sub(r"[^\w\s]", " ", fold(text).lower()).split() if w not in _FRAME_WORDS and not w.isdigit()}


def new_subject_words(question: str, previous: str) -> set[str]:
    """Words naming a subject that the follow-up brings and the previous question did not have ("y tế" after a
    question on education); frame words ("mục tiêu", "bao nhiêu") and the previous question's words are left
    out."""
    from rag.answer.question import STOPWORDS

    return {w for w in _content_words(question) - _content_words(previous) if w not in STOPWORDS}


def has_anaphora(question: str) -> bool:
    """Whether the question points back at the previous document ("nghị quyết đó", "văn bản này")."""
    return bool(_ANAPHORA_RE.search(fold(question).lower()))


def contrasts(question: str) -> bool:
    """Whether the question opens a contrast with the previous turn ("Còn ... thì sao?", "Thế còn ...?")."""
    return bool(_CONTRAST_RE.search(fold(question).lower().strip(" ?.!")))


def _strip_doc_refs(text: str) -> str:
    out = re.sub(r"^\s*theo\s+", "", text, flags=re.IGNORECASE)
    out = _for(_DOC_NAME_RE, out).sub(" ", out)
    out = re.sub(_NUMBER_TEXT_RE, " ", out)
    return " ".join(out.replace(" ,", ",").split()).strip(" ,")


_DOC_NAME_RE = _accented_and_folded(
    r"(?i)(?:\btheo\s+)?\b"
    r"(?:nghị quyết|chỉ thị|kết luận|chương trình(?: hành động)?|kế hoạch|quyết định|thông báo|NQ|CT|KL|CTr|KH)"
    r"(?:\s+số)?\s+\d{1,5}(?:\s*[-/]\s*[A-ZĐ][\w/]*)?(?:\s*,\s*\d{1,5}(?!\d))*\s*,?"
)


def switch_question(question: str, previous: str) -> str:
    """The follow-up as a standalone question about its new subject, in the previous question's frame.

    "Còn cho giáo dục thì sao?" after "Nghị quyết 80 yêu cầu chi ngân sách cho văn hóa tối thiểu bao nhiêu?"
    -> "yêu cầu chi ngân sách cho giáo dục tối thiểu bao nhiêu?": the previous document is dropped (retrieval
    finds the document of the new subject), the subject phrase introduced by the same preposition is replaced;
    without one, the new subject is put before the previous frame. A province asked after the country ("Thế còn Hà
    Nội?") is measured in GRDP where the previous question said GDP, and the country after a province in GDP
    (`rag.text.places.regional_measure`).
    """
    core = _for(_FRAMING_RE, question).sub(" ", " " + question + " ").strip(" ,?")
    return regional_measure(_switched(core, previous), core)


def _switched(core: str, previous: str) -> str:
    """`switch_question` without the measure: `core` is the follow-up without its framing ("Còn ... thì sao?")."""
    base = _strip_doc_refs(previous)
    if not core:
        return base
    lower_core = core.lower()
    for group in _PREPOSITIONS:
        m_core = _preposition(group, core).search(lower_core + " ")
        m_base = _preposition(group, base).search(base.lower())
        if not m_core or not m_base:
            continue
        head = core[: m_core.start()].strip()
        tail = core[m_core.start() :].strip()
        p_start = m_base.start() + (1 if base[m_base.start()].isspace() else 0)
        end = _for(_SUBJECT_END_RE, base).search(base, m_base.end())
        p_end = end.start() if end else len(base)
        rebuilt = f"{base[:p_start]}{tail}{base[p_end:]}"
        if head and not set(fold(head).lower().split()) <= set(fold(base).lower().split()):
            rebuilt = f"{head} {rebuilt}"
        return " ".join(rebuilt.split())
    return f"{core}: {base[0].lower() + base[1:] if base else ''}".strip(" :")
