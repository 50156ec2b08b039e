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
* the rank of its paragraph;
* for "what" and list questions, when the index has an embedder, how close in meaning the candidate itself is
  to the question (among the best candidates by the above).

Who/what/when/how-many questions get the best candidate, preferring the shortest of those nearly as good;
list and "tóm tắt" questions gather several. Headings are context, never quotes (except the header lines
that carry a document's number and date). Every quote is an exact span of its paragraph.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise

from rag.answer.layout import heading_label
from rag.answer.question import (
    KIND_ABOUT,
    KIND_DOCNUMBER,
    KIND_LIST,
    KIND_NUMBER,
    KIND_SUMMARY,
    KIND_WHAT,
    KIND_WHEN,
    KIND_WHERE,
    KIND_WHO,
    UNIT_AMOUNT,
    UNIT_MONEY,
    UNIT_PERCENT,
    QuestionInfo,
)
from rag.answer.sentences import Span, split_clauses, split_sentences, trim_marker
from rag.retrieve.query import asked_refs, matches, number_key
from rag.retrieve.scope import is_intro
from rag.text.accents import restore_accents
from rag.text.doctypes import label as type_label
from rag.text.layout import (
    ROLE_DATE,
    ROLE_NUMBER,
    ROLE_SUBJECT,
    ROLE_TITLE,
    header_role,
    is_banner,
    is_layout,
    is_on_behalf,
    is_table_header,
)
from rag.text.normalize import fold, folded_words
from rag.text.places import names_local, names_province
from rag.text.tokenize import BIGRAM_JOINER, phrases
from rag.types import Hit

#: Weights of focus coverage, overall coverage, bigram coverage and the retrieval-rank prior.
W_FOCUS, W_ALL, W_BIGRAM, W_RANK = 0.45, 0.15, 0.25, 0.15

#: The cosine of a question's embedding to each of some texts' (`IndexStore.text_similarity`); None without an
#: embedder.
Similarity = Callable[[str, Sequence[str]], Sequence[float] | None]
#: Weight of a candidate's closeness in meaning to the question, scaled over the `SEMANTIC_TOP` best candidates
#: (the closest gets it all, the farthest none). Word counts cannot tell which of two sentences that share the
#: question's words is about what it asks, and the rank prior is the retriever's judgement of a whole paragraph
#: (its headings included): a long paragraph of several measures ranks below a short one under a heading that
#: repeats the question's words. The embedder reads the sentence itself. 0.15 and 0.2 gave the same answers on
#: the team's sets and nq57; 0.1 too little, 0.3 lost first citations (docs/answers.md).
W_SEMANTIC = 0.2
#: Ten lost an nq57 first citation; each candidate costs an embedding (~10 ms on two cores, kept for the question).
SEMANTIC_TOP = 20
#: The kinds whose answer is a statement: a number, a date, a name or a document number is found by its form
#: (`kind_match`), and a short line like "Số 05-CTr/TU" embeds poorly.
SEMANTIC_KINDS = (KIND_WHAT, KIND_LIST)
#: Weight of the share of the question's words the candidate states itself (a tie-breaker between sentences of
#: one document whose title covers the question).
W_OWN = 0.1
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
#: At most this many quotes for list questions, and only those scoring this share of the best (when the list's
#: section is not known; a known section gives all its items, up to `LIST_SECTION_MAX`).
LIST_MAX, LIST_MIN_SHARE = 5, 0.6
LIST_SECTION_MAX = 16
#: Bonus for a document's subject line (trích yếu) or a news headline when the question asks what a document is
#: about.
SUBJECT_BONUS = 0.6
#: Paragraphs considered for quotes.
MAX_PARAGRAPHS = 6
#: Paragraphs considered for list, "về vấn đề gì" and summary questions, whose evidence the pipeline widens to a
#: whole list section or a document's outline (`rag.retrieve.scope`).
MAX_SCOPED_PARAGRAPHS = 32
#: When other paragraphs hold candidates this close to the best, the answer shows up to `MAX_ALTERNATES` of
#: them too (cited): the evidence is ambiguous and the reader should see it.
ALT_SHARE, MAX_ALTERNATES = 0.85, 2

_DATE_RE = re.compile(
    r"(?:ngày\s+\d{1,2}(?:\s*(?:tháng\s*|/)\d{1,2})?|\d{1,2}/\d{1,2}(?:/\d{2,4})?|tháng\s+\d{1,2}|năm\s+\d{4}|"
    r"quý\s+[IV1-4]+)",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_PLACE_RE = re.compile(r"\b(?:tại|ở)\s+(?:[\wÀ-ỹ]+\s+){0,2}[A-ZĐ][\wÀ-ỹ]*")
_BODY_RE = re.compile(
    r"\b(?:Ban|Bộ|Đảng đoàn|Đảng ủy|Đảng uỷ|Ủy ban|Uỷ ban|Văn phòng|Chính phủ|Quốc hội|Thành ủy|Thành uỷ|Tỉnh ủy|"
    r"Tỉnh uỷ|Mặt trận|Hội đồng|Sở|Viện|chủ trì)\b"
)
_DOCNUMBER_LINE_RE = re.compile(r"^(?:Số|số)\s*:?\s*\d")
# A question is never an answer: quiz pages and FAQ articles restate the user's question word for word.
# Markdown emphasis around it ("**Câu hỏi 1. Chọn đáp án đúng**") does not change that.
_QUESTION_RE = re.compile(r"\?\s*[\"”'*]*\s*$|^[*_\s]*(?:Câu|Câu hỏi|Hỏi)\s*\d*\s*[:.]", re.IGNORECASE)


def is_question(text: str) -> bool:
    """Whether a sentence or paragraph asks rather than states (ends with "?", or opens "Câu 3:", "Câu hỏi 1.")."""
    return bool(_QUESTION_RE.search(text))


@dataclass(frozen=True, slots=True)
class Evidence:
    """A candidate quote: an exact span of the paragraph of `hits[hit_index]`, with how well it answers.

    Attributes:
        cov_focus: rarity-weighted share of the question's words beyond the document's identity covered.
        cov_all: the same over all the question's content words, identity included.
        cov_bigram: share of the question's bigrams found.
        kind_match: holds the kind of thing asked for (a date, a number...).
        named: comes from a document the question names by number.
        meaning: the part of `score` that comes from its closeness in meaning to the question (`W_SEMANTIC`).
    """

    hit_index: int
    span: Span
    score: float
    cov_focus: float
    cov_all: float
    cov_bigram: float
    kind_match: bool
    named: bool
    role: str | None = None
    label: str = ""
    prefix: str = ""
    meaning: float = 0.0

    @property
    def words(self) -> float:
        """The score from the words alone: how close two candidates are is measured on it (the shares below were
        set on it), while the meaning only reorders them."""
        return self.score - self.meaning

    def text(self) -> str:
        """The answer line this evidence gives (its quote, after `prefix` when it has one)."""
        return f"{self.prefix} {self.span.text}" if self.prefix else self.span.text


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
#: heading shares it. Full credit let a heading that repeats the question's verb ("... xoá bỏ mọi tư tưởng, quan
#: niệm, rào cản ...") make each item under it look like the answer; three quarters was the best of 0.5 / 0.75 /
#: 1.0 on the team's QA sets (docs/answers.md).
CONTEXT_CREDIT = 0.75
#: The credit the abstention model's features were fitted with (`rag.answer.abstain`).
FITTED_CONTEXT_CREDIT = 1.0
#: Weight of a question word said only in a purpose clause it does not ask about (`QuestionInfo.aside`), against
#: the words of what it asks: the clause says why, a sentence repeating it need not say what.
ASIDE_WEIGHT = 0.25


def _share(
    terms: Sequence[str],
    have: set[str],
    weights: dict[str, float] | None = None,
    context: set[str] | frozenset[str] = frozenset(),
    context_credit: float = CONTEXT_CREDIT,
) -> float:
    w = weights or {}
    total = sum(w.get(t, 1.0) * _weight(t) for t in terms)
    if not total:
        return 0.0
    got = sum(
        w.get(t, 1.0) * _weight(t) * (1.0 if t in have else context_credit if t in context else 0.0) for t in terms
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
        if info.unit:
            words = " ".join(_WORDS_RE.findall(fold(text).lower().replace("%", " phan tram ")))
            return any(m.group(1) not in asked for m in _counted(info.unit).finditer(words))
        return any(n not in asked for n in _NUMBER_RE.findall(text))
    if kind == KIND_WHERE:
        return bool(_PLACE_RE.search(text))
    if kind == KIND_WHO and info.person:
        return any(not _in_question(name, info) for name in _person_names(text))
    if kind == KIND_WHO:
        return bool(_BODY_RE.search(text))
    if kind == KIND_WHAT and info.subject:
        return states_subject(info.subject, text)
    return False


def states_subject(subject: tuple[str, ...], text: str) -> bool:
    """Whether `text` says what `subject` is or what role it has ("Kinh tế nhà nước giữ vai trò chủ đạo")."""
    words = " ".join(_WORD_OR_MARK_RE.findall(fold(text).lower()))
    return bool(subject) and bool(_statement_of(subject).search(words))


#: Words and the punctuation between them: a statement does not run across a ";" or a sentence end ("... hưởng
#: thụ văn hóa; Nhà nước giữ vai trò kiến tạo" says nothing of what văn hóa is), while a subject may hold commas
#: ("phát triển khoa học, công nghệ, đổi mới sáng tạo").
_WORD_OR_MARK_RE = re.compile(r"\w+|[^\w\s]")


_WORDS_RE = re.compile(r"\w+")
# A person's name: a Vietnamese family name and one to three more capitalised syllables ("Tô Lâm", "Nguyễn Văn
# Nên"), not a province or city that begins like one ("Hà Nội", "Lâm Đồng", "Thành phố Hồ Chí Minh").
_SURNAMES = (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Tô Trương Đinh Lương Lâm Mai Đào "
    "Trịnh Cao Lưu Tạ Thái Châu Hà Kiều Quách Triệu Đoàn Nông Lò Vương Tăng Đàm Chu Mạc Lại Giang Khổng La Hứa"
)
_PERSON_NAME_RE = re.compile(
    r"(?<!phố )(?<!TP\. )(?<!TP )\b(?!(?:Hà (?:Nội|Tĩnh|Giang|Nam)|Lâm Đồng|Cao Bằng|Thái (?:Bình|Nguyên)|"
    r"Giang Tây|Lào Cai|Mai Châu)\b)"
    rf"(?:{'|'.join(_SURNAMES.split())})(?: (?=[^\W\d_])(?:[^\W\d_]+)){{1,3}}\b"
)


def _person_names(text: str) -> list[str]:
    """The persons' names in `text` (`_PERSON_NAME_RE`, each further syllable capitalised)."""
    names = []
    for m in _PERSON_NAME_RE.finditer(text):
        words = m.group(0).split()
        n = 1
        while n < len(words) and words[n][0].isupper():
            n += 1
        if n >= 2:
            names.append(" ".join(words[:n]))
    return names


def _in_question(name: str, info: QuestionInfo) -> bool:
    """Whether every syllable of `name` is already among the question's terms (the question names that person)."""
    terms = {fold(t).lower() for t in info.terms}
    return all(fold(w).lower() in terms for w in name.split())


_MAGNITUDE = r"(?:(?:nghin|ngan|trieu|ty|ti|van|tram|chuc) )*"


@lru_cache(maxsize=64)
def _counted(unit: str) -> re.Pattern[str]:
    """A number that counts `unit` (`QuestionInfo.unit`), in folded words with "%" read as "phan tram": "25 ty
    dong", "780 ti usd", "30 phan tram", "50 doanh nghiep", "2 trieu doanh nghiep"."""
    money = rf"{_MAGNITUDE}(?:dong|usd|vnd)|(?:trieu|ty|ti)"
    if unit == UNIT_MONEY:
        tail = money
    elif unit == UNIT_PERCENT:
        tail = "phan tram"
    elif unit == UNIT_AMOUNT:
        tail = rf"{money}|phan tram"
    else:
        tail = rf"{_MAGNITUDE}{re.escape(unit)}"
    return re.compile(rf"\b(\d+)(?: \d+)* (?:{tail})\b")


@lru_cache(maxsize=64)
def _statement_of(subject: tuple[str, ...]) -> re.Pattern[str]:
    """What says what `subject` is or what role it has ("văn hóa là nền tảng ...", "kinh tế nhà nước giữ vai trò
    chủ đạo"), in folded words; up to two words may come between ("văn hóa thực sự là")."""
    words = [fold(s) for s in subject]
    # "vai trò của kinh tế tư nhân trong nền kinh tế": a document may say what the thing is without where its
    # role holds ("Kinh tế tư nhân là một động lực quan trọng nhất"), so the words before "trong" / "đối với"
    # (two at least) name it too.
    where = next((i for i in range(2, len(words)) if words[i] == "trong" or words[i : i + 2] == ["doi", "voi"]), None)
    names = [words] if where is None else [words, words[:where]]
    name = "|".join(r"(?: [^\w\s])* ".join(re.escape(w) for w in n) for n in names)
    return re.compile(rf"\b(?:{name}) (?:[*_\"“”'] )*(?:\w+ ){{0,2}}?(?:la|(?:giu|co|dong) vai tro)\b")


#: A question about the role or place a document gives a thing ("vai trò", "vị trí", "tầm quan trọng" of X) is
#: answered by the statement naming a role ("X là động lực quan trọng ..."), before one saying who carries X out
#: ("X là sự nghiệp của toàn dân"); folded.
_ROLE_ASKED_RE = re.compile(r"\b(?:vai tro|vi tri|tam quan trong)\b")
_ROLE_WORDS_RE = re.compile(
    r"\b(?:vai tro|dong luc|nen tang|tru cot|then chot|chu dao|chu luc|dot pha|hang dau|quan trong|trung tam|"
    r"trong tam|nong cot|tien phong|dan dat|dau tau)\b"
)
#: Bonus for such a statement.
ROLE_BONUS = 0.2


def asks_role(info: QuestionInfo, question: str) -> bool:
    """Whether the question asks the role or place a document gives its subject (`_ROLE_ASKED_RE`)."""
    return info.kind == KIND_WHAT and bool(info.subject) and bool(_ROLE_ASKED_RE.search(fold(question).lower()))


def names_role(subject: tuple[str, ...], text: str) -> bool:
    """Whether `text` states what role `subject` has ("X là động lực quan trọng"), not only what it is."""
    words = " ".join(_WORD_OR_MARK_RE.findall(fold(text).lower()))
    found = _statement_of(subject).search(words)
    return found is not None and bool(_ROLE_WORDS_RE.search(words, found.end() - len("la")))


def _header_candidates(text: str) -> list[tuple[Span, str | None]]:
    """Quotable lines of a header: the number, place-and-date and subject lines, a news headline; a subject
    continued on the next lines is one span. Letterhead and banner lines are not quotable."""
    lines: list[Span] = []
    pos = 0
    for raw in text.split("\n"):
        start = pos + len(raw) - len(raw.lstrip())
        end = pos + len(raw.rstrip())
        if end > start:
            lines.append(Span(start, end, text[start:end]))
        pos += len(raw) + 1
    out: list[tuple[Span, str | None]] = []
    i = 0
    while i < len(lines):
        role = header_role(lines[i].text, first_line=i == 0)
        span = lines[i]
        if role == ROLE_SUBJECT:
            j = i + 1
            while j < len(lines) and header_role(lines[j].text) is None and not is_layout(lines[j].text):
                j += 1
            span = Span(lines[i].start, lines[j - 1].end, text[lines[i].start : lines[j - 1].end])
            i = j
        else:
            i += 1
        if role is not None:
            out.append((span, role))
    return out


def _signing_layout(text: str) -> bool:
    """Layout when the question asks who signed: the signer's title ("TỔNG BÍ THƯ", "T/M BỘ CHÍNH TRỊ") is
    the answer then; "(đã ký)" and the rest still are not."""
    return is_layout(text) and not is_banner(text) and not is_on_behalf(text)


def _candidates(hit: Hit, signed: bool = False) -> list[tuple[Span, str | None]]:
    """Quotable spans of a hit, each with its header role (None outside a header). Layout lines (banners,
    datelines, signatures, column names) are never quotable, except the signature block's lines when the
    question asks who signed (`signed`)."""
    text = hit.paragraph.text
    if hit.paragraph.kind == "heading":
        return []
    if hit.paragraph.kind == "header":
        return [(c, r) for c, r in _header_candidates(text) if not is_question(c.text)]
    out: list[tuple[Span, str | None]] = []
    layout = _signing_layout if signed else is_layout
    for sentence in split_sentences(text):
        if layout(sentence.text):
            continue
        out.append((trim_marker(sentence), None))
        if len(sentence.text) > LONG_SENTENCE:
            clauses = split_clauses(sentence)
            if len(clauses) > 1:
                out.extend((trim_marker(c), None) for c in clauses)
    return [
        (c, r)
        for c, r in out
        if len(c.text) >= 4 and any(ch.isalnum() for ch in c.text) and not is_question(c.text) and not layout(c.text)
    ]


_SIGNED_RE = re.compile(r"\b(?:ai ky|nguoi ky|ky ten|ky ban hanh|ky thay)\b")
_ISSUE_CUES = ("ban hanh", "ky ", "ky ban hanh", "ra doi", "thong qua", "de ngay", "ngay nao")


def _role_fits(role: str | None, kind: str, text: str) -> bool:
    """Whether a header line may answer this kind of question: its number line only "số hiệu", its date line
    only "khi nào" (a number and a date on one line serve both); the subject and a headline any question."""
    if role == ROLE_NUMBER:
        return kind == KIND_DOCNUMBER or (kind == KIND_WHEN and bool(_PLACE_DATE_LINE_RE.search(text)))
    if role == ROLE_DATE:
        return kind in (KIND_WHEN, KIND_DOCNUMBER)
    return True


_PLACE_DATE_LINE_RE = re.compile(r"ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4}", re.IGNORECASE)


def _asks_issue_date(info: QuestionInfo, question: str) -> bool:
    folded = fold(question).lower() + " "
    return info.kind == KIND_WHEN and any(cue in folded for cue in _ISSUE_CUES)


def score_candidates(
    info: QuestionInfo,
    hits: Sequence[Hit],
    question: str = "",
    context_credit: float = CONTEXT_CREDIT,
    semantic: Similarity | None = None,
) -> list[Evidence]:
    """All candidate quotes of the top paragraphs with their scores, best first.

    Args:
        info: the analysed question.
        hits: retrieved paragraphs, best first.
        question: the question text (to read the documents it names and whether it asks an issue date).
        context_credit: credit for a question word found only in a candidate's headings (`CONTEXT_CREDIT`).
        semantic: the closeness in meaning of the question to a text (`W_SEMANTIC`); None: words only.
    """
    q_uni, q_bi = _question_sets(info)
    folded = not info.accented
    subject = {fold(t) for t in info.subject} if folded else set(info.subject)
    refs = asked_refs(question) if question else []
    issue_date = _asks_issue_date(info, question) if question else False
    signed = info.kind == KIND_WHO and asks_signer(question)
    role_asked = asks_role(info, question)
    rows: list[tuple[int, Span, str | None, set[str], set[str], set[str], set[str], set[str]]] = []
    limit = MAX_SCOPED_PARAGRAPHS if info.kind in _SCOPED_KINDS else MAX_PARAGRAPHS
    # A table's row of column names is never quoted, but it is the context of the rows below it, as a heading is.
    columns = {(h.doc_id, h.paragraph.section): h.paragraph.text for h in hits if is_table_header(h.paragraph.text)}
    # Whether each paragraph comes from a document the question names by number.
    named_hit = [
        key is not None and any(matches(r, key) for r in refs)
        for key in (number_key(h.number) if h.number else None for h in hits[:limit])
    ]
    for i, hit in enumerate(hits[:limit]):
        id_uni, id_bi = _terms(identity_text(hit), folded)
        context = hit.headings
        if " | " in hit.paragraph.text:
            context += "\n" + columns.get((hit.doc_id, hit.paragraph.section), "")
        ctx_uni, ctx_bi = _terms(context, folded)
        if hit.paragraph.kind == "header":
            head_uni, head_bi = _terms(hit.paragraph.text, folded)
            ctx_uni, ctx_bi = ctx_uni | head_uni, ctx_bi | head_bi
        for span, role in _candidates(hit, signed):
            if not _role_fits(role, info.kind, span.text):
                continue
            uni, bi = _terms(span.text, folded)
            rows.append((i, span, role, uni, bi, ctx_uni, ctx_bi, id_uni | id_bi))
    weights = _rarity(q_uni, [r[3] for r in rows])
    aside = {fold(t) for t in info.aside} if folded else set(info.aside)
    # The words naming a document the question names ("Nghị quyết 57") are not what it asks.
    named_words = set().union(*(r[7] for r in rows if named_hit[r[0]]))
    if not any(t in r[3] for t in q_uni if t not in aside and t not in named_words for r in rows):
        # What is asked names nothing the candidates say ("cần thực hiện những công việc nào?"): the purpose clause
        # is what places the answer, and weighs in full.
        aside = set()
    for term in aside & weights.keys():
        weights[term] *= ASIDE_WEIGHT
    # A bigram of the purpose clause weighs as its words do; the others 1.
    bigram_weight = {b: ASIDE_WEIGHT if set(b.split(BIGRAM_JOINER)) <= aside else 1.0 for b in q_bi}
    bigram_total = sum(bigram_weight.values())
    topic = {fold(t) for t in info.topic} if folded else set(info.topic)
    # A province's own documents call it "tỉnh", "thành phố", "Thủ đô": such a sentence speaks of the province.
    local = bool(topic) and names_province(" ".join(info.topic))
    scored: list[Evidence] = []
    for i, span, role, uni, bi, ctx_uni, ctx_bi, identity in rows:
        header_line = role is not None
        # The thing a "what is X" question asks about stays in focus even where the title names it ("Nghị quyết về
        # phát triển văn hóa": "văn hóa là gì?"), and so does a topic ("Hà Nội: ..."), which the sentence itself
        # must say: a headline naming it places a sentence, it does not make the sentence about it.
        focus = [t for t in q_uni if t not in identity or t in subject or t in topic] or q_uni
        said = uni | topic if local and topic <= identity and names_local(span.text) else uni
        cov_focus = _share(focus, said, weights, ctx_uni - topic, context_credit)
        cov_all = _share(q_uni, uni | identity, weights, ctx_uni, context_credit)
        own_bi = bi | identity
        cov_bi = (
            sum(bigram_weight[b] * (1.0 if b in own_bi else context_credit if b in ctx_bi else 0.0) for b in q_bi)
            / bigram_total
            if q_bi
            else cov_all
        )
        matched = kind_match(info, span.text, header_line) or (
            info.kind in (KIND_ABOUT, KIND_SUMMARY) and role in (ROLE_SUBJECT, ROLE_TITLE)
        )
        named = named_hit[i]
        # Words of the question said by the candidate itself, not only by its document's title or headings: when
        # the title already says everything (a news item's headline), the sentence that restates the event wins.
        cov_own = _share(q_uni, uni, weights)
        score = W_FOCUS * cov_focus + W_ALL * cov_all + W_BIGRAM * cov_bi + W_RANK / (1 + i) + W_OWN * cov_own
        if matched:
            score += KIND_BONUS
        if named:
            score += NAMED_DOC_BONUS
        if issue_date and header_line and _PLACE_DATE_LINE_RE.search(span.text):
            score += ISSUE_DATE_BONUS
        if matched and role_asked and names_role(info.subject, span.text):
            score += ROLE_BONUS
        if matched and info.kind in (KIND_ABOUT, KIND_SUMMARY):
            score += SUBJECT_BONUS
        scored.append(Evidence(i, span, score, cov_focus, cov_all, cov_bi, matched, named, role))
    scored.sort(key=lambda e: (-e.score, e.hit_index, e.span.start))
    if semantic is not None and question and info.kind in SEMANTIC_KINDS:
        # An accent-less question is embedded as the paragraphs would write it.
        asked = restore_accents(question, [h.paragraph.text for h in hits[:limit]])
        return _closer_in_meaning(scored, semantic, asked)
    return scored


def _closer_in_meaning(scored: list[Evidence], semantic: Similarity, question: str) -> list[Evidence]:
    """The candidates with the best `SEMANTIC_TOP` rescored by their closeness in meaning to the question."""
    top = scored[:SEMANTIC_TOP]
    texts = list(dict.fromkeys(e.span.text for e in top))
    cosines = semantic(question, texts)
    if cosines is None or len(texts) < 2:
        return scored
    cosine = dict(zip(texts, cosines, strict=True))
    low, high = min(cosines), max(cosines)
    if high - low <= 1e-9:
        return scored
    rescored = []
    for e in top:
        meaning = W_SEMANTIC * (cosine[e.span.text] - low) / (high - low)
        rescored.append(replace(e, score=e.score + meaning, meaning=meaning))
    return sorted([*rescored, *scored[SEMANTIC_TOP:]], key=lambda e: (-e.score, e.hit_index, e.span.start))


def effective(info: QuestionInfo, question: str, hits: Sequence[Hit]) -> QuestionInfo:
    """The question as answered: "về vấn đề gì" about a part of a document is a plain question, "tóm tắt" of a
    part a list (`whole_document`)."""
    if info.kind in (KIND_ABOUT, KIND_SUMMARY) and not whole_document(info, question, hits):
        return replace(info, kind=KIND_LIST if info.kind == KIND_SUMMARY else KIND_WHAT)
    return info


def _signer(scored: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    """The signature block's lines of the best document ("T/M BỘ CHÍNH TRỊ", "TỔNG BÍ THƯ"), in order."""
    lines = [e for e in scored if hits[e.hit_index].paragraph.kind == "body" and is_layout(e.span.text)]
    if not lines:
        return []
    doc = next((hits[e.hit_index].doc_id for e in lines if e.named), hits[lines[0].hit_index].doc_id)
    block = {e.hit_index: e for e in reversed(lines) if hits[e.hit_index].doc_id == doc}
    return sorted(block.values(), key=lambda e: (hits[e.hit_index].paragraph.n, e.span.start))


def asks_signer(question: str) -> bool:
    """Whether the question asks who signed a document (the signature block is the answer then)."""
    return bool(_SIGNED_RE.search(fold(question).lower()))


def choose_evidence(
    info: QuestionInfo, hits: Sequence[Hit], question: str = "", semantic: Similarity | None = None
) -> list[Evidence]:
    """Pick the quotes that answer the question (empty when there is nothing to quote; `semantic` as in
    `score_candidates`)."""
    info = effective(info, question, hits)
    scored = score_candidates(info, hits, question, semantic=semantic)
    if not scored:
        return []
    if info.kind in (KIND_ABOUT, KIND_SUMMARY):
        chosen = _about(info, scored, hits)
        if chosen:
            return chosen
    if info.kind == KIND_LIST:
        return _list(info, scored, hits)
    if info.kind == KIND_WHO and asks_signer(question):
        signer = _signer(scored, hits)
        if signer:
            return signer
    primary = pick_best(scored)
    if ends_intro(primary, hits):
        # "Một số kết quả nổi bật được nêu tại phiên họp:" says there is an answer; the items below are it.
        return _list(info, [primary, *scored], hits)
    chosen = [primary]
    for ev in scored:
        if len(chosen) > MAX_ALTERNATES:
            break
        if ev.words < ALT_SHARE * primary.words:
            continue
        if all(ev.hit_index != c.hit_index for c in chosen) and not _duplicate(ev, chosen, hits):
            chosen.append(ev)
    return chosen


_SCOPED_KINDS = (KIND_LIST, KIND_ABOUT, KIND_SUMMARY)
# Words of "về vấn đề gì" and "tóm tắt" questions that still ask about the whole document ("Tóm tắt nội dung
# chính của Nghị quyết 80", "Kế hoạch 48 ban hành để làm gì?"), beside the document's own identity.
_WHOLE_DOCUMENT = frozenset(
    fold(w)
    for w in (
        "nghị quyết chỉ thị kết luận chương trình hành động kế hoạch quyết định thông báo văn bản tài liệu bài "
        "báo tin nội dung chính điểm cơ bản toàn bộ số nq ct kl ctr kh tw tu bộ chính trị ban chấp hành trung ương "
        "bí thư thường vụ thành ủy tỉnh ủy hãy giúp tôi khái quát lược vấn đề lĩnh vực nói đề cập bàn làm "
        "mục đích nhằm thực hiện trích yếu chủ đề ban hành ra đời tóm tắt gì nào đầu cuối giữa ngày tháng năm mới vừa"
    ).split()
)


def whole_document(info: QuestionInfo, question: str, hits: Sequence[Hit]) -> bool:
    """Whether a "về vấn đề gì" or "tóm tắt" question asks about a whole document (every word it has beyond the
    request names the document: its type, number, issuer, title) rather than a part of it ("Tóm tắt các quan
    điểm chỉ đạo của Nghị quyết 57" asks for one section, as a list)."""
    if not hits:
        return False
    refs = asked_refs(question)
    target = next(
        (h for h in hits if h.number and (key := number_key(h.number)) and any(matches(r, key) for r in refs)),
        hits[0],
    )
    header = target.paragraph.text if target.paragraph.kind == "header" else ""
    identity = {fold(t).lower() for t in _terms(identity_text(target) + "\n" + header, True)[0]}
    return all(t.isdigit() or fold(t).lower() in identity or fold(t).lower() in _WHOLE_DOCUMENT for t in info.terms)


_PURPOSE_CUES = ("muc dich", "muc tieu")


def doc_name(hit: Hit) -> str:
    """How an answer names a document: "Nghị quyết số 79-NQ/TW" (type and number), else its title."""
    if hit.number:
        return f"{type_label(hit.doc_type) or hit.doc_type} số {hit.number}"
    return hit.title


def _norm(text: str) -> str:
    return " ".join(fold(text).lower().split())


#: A quote that holds another of at least this many characters (or is held by it) repeats it.
DUPLICATE_MIN_CHARS = 30


def _duplicate(ev: Evidence, chosen: Sequence[Evidence], hits: Sequence[Hit]) -> bool:
    """Whether `ev` says what a chosen quote says: the same sentence in another copy of the same text, or quoted
    inside a longer one ("Báo cáo viên nhắc lại: <the sentence>")."""
    mine = _norm(ev.span.text)
    for c in chosen:
        theirs = _norm(c.span.text)
        short, long = sorted((mine, theirs), key=len)
        if short == long or (len(short) >= DUPLICATE_MIN_CHARS and short in long):
            return True
    return False


def _about(info: QuestionInfo, scored: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    """What a document is about: its subject line (named by type and number), then its purpose (for "về vấn đề
    gì") or the first statement of each main section (for "tóm tắt")."""
    subjects = [e for e in scored if e.role in (ROLE_SUBJECT, ROLE_TITLE)]
    if not subjects:
        return []
    # The document the question names, when it names one; a news headline mentioning it is not its subject.
    head = next((e for e in subjects if e.named), subjects[0])
    hit = hits[head.hit_index]
    prefix = doc_name(hit) if head.role == ROLE_SUBJECT else ""
    chosen = [replace(head, prefix=prefix)]
    by_paragraph: dict[int, Evidence] = {}
    for ev in scored:
        other = hits[ev.hit_index]
        if other.doc_id != hit.doc_id or other.paragraph.kind != "body" or not other.headings:
            continue
        current = by_paragraph.get(ev.hit_index)
        # The paragraph's first sentence states what its section is about.
        if current is None or ev.span.start < current.span.start:
            by_paragraph[ev.hit_index] = ev
    ordered = sorted(by_paragraph.values(), key=lambda e: hits[e.hit_index].paragraph.n)
    if info.kind == KIND_ABOUT:
        for ev in ordered:
            if any(cue in fold(hits[ev.hit_index].headings).lower() for cue in _PURPOSE_CUES):
                chosen.append(ev)
                break
        return chosen
    sections: list[tuple[int, Evidence]] = []
    taken: dict[str, int] = {}
    for ev in ordered:
        top = hits[ev.hit_index].headings.split(" > ")[0]
        if taken.get(top, 0) >= SUMMARY_PER_SECTION or _duplicate(ev, [e for _, e in sections], hits):
            continue
        taken[top] = taken.get(top, 0) + 1
        sections.append((summary_rank(top), replace(ev, label=heading_label(top))))
    if any(rank != SUMMARY_BACKGROUND for rank, _ in sections):
        sections = [(rank, ev) for rank, ev in sections if rank != SUMMARY_BACKGROUND]
    # A stable sort: sections of one rank (or none known) keep the document's order.
    chosen.extend(ev for _, ev in sorted(sections, key=lambda item: item[0]))
    return chosen


#: How a summary orders a document's main sections, by the cues of their headings (first cue found wins): what
#: the document sets out to achieve, its viewpoints, what it assigns, how it is carried out; a section without a
#: known cue sits with the tasks. The account of the situation that led to the document ("Tình hình và nguyên
#: nhân", "Đánh giá chung") is left out when the document has any other section: a summary says what was decided.
SUMMARY_BACKGROUND = 9
#: Statements quoted from each main section of a summarised document (its first paragraphs, in order).
SUMMARY_PER_SECTION = 2
_SUMMARY_CUES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("muc tieu", "tam nhin", "chi tieu"), 0),
    (("quan diem", "tu tuong chi dao", "nguyen tac chi dao"), 1),
    (("to chuc thuc hien", "phan cong thuc hien", "trach nhiem thuc hien"), 3),
    (("nhiem vu", "giai phap", "dinh huong", "chu truong", "yeu cau"), 2),
    (
        ("tinh hinh", "thuc trang", "boi canh", "danh gia", "ket qua", "nguyen nhan", "han che", "ton tai"),
        SUMMARY_BACKGROUND,
    ),
)


def summary_rank(heading: str) -> int:
    """Where a main section goes in a summary (`_SUMMARY_CUES`): 0 goals ... 3 organisation, `SUMMARY_BACKGROUND`
    for the situation."""
    folded = folded_words(heading_label(heading))
    for cues, rank in _SUMMARY_CUES:
        if any(cue in folded for cue in cues):
            return rank
    return 2


def _list(info: QuestionInfo, scored: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    """A list answer: every item of the best candidate's list section in document order, labelled by its
    sub-heading ("Đến năm 2030", "Tầm nhìn đến năm 2045"), one quote per item, no item twice; without a
    section, the candidates close to the best."""
    lead = list_anchor(scored)
    anchor_index = lead.hit_index
    anchor = hits[anchor_index]
    if not ends_intro(lead, hits) and _states_whole_list(lead, scored, hits):
        return [lead]
    intro = ends_intro(lead, hits)
    if not intro:
        # An item whose paragraph follows an announcing one ("... đã được ghi nhận:"): the list is the announced one.
        before = next(
            (i for i, h in enumerate(hits) if h.doc_id == anchor.doc_id and h.paragraph.n == anchor.paragraph.n - 1),
            None,
        )
        if before is not None and is_intro(hits[before]):
            anchor_index, anchor, intro = before, hits[before], True
    members = _intro_members(anchor, hits) if intro else _list_members(info, anchor, hits)
    if not intro:
        # A paragraph announcing the items ("Tập trung triển khai tốt các nội dung sau:") is not one of them.
        members = {i for i in members if not is_intro(hits[i])} or members
    if intro and len(members) > 1 and info.kind == KIND_LIST:
        members.discard(anchor_index)  # for a list question the items answer; their introduction announces them
    if len(members) < 2:
        return _near_best(scored, hits)
    groups = _task_groups(members, hits)
    if groups:
        return groups
    first: dict[int, Evidence] = {}
    for ev in scored:
        if ev.hit_index in members and ev.hit_index not in first:
            first[ev.hit_index] = ev
    # Each item's own first sentence, unless a better-scoring one of that paragraph was found above.
    chosen: list[Evidence] = []
    for i in sorted(members, key=lambda j: hits[j].paragraph.n):
        item = first.get(i)
        if item is None or _duplicate(item, chosen, hits):
            continue
        label = heading_label(hits[i].headings.split(" > ")[-1]) if hits[i].headings else ""
        chosen.append(replace(item, label=label))
        if len(chosen) >= LIST_SECTION_MAX:
            break
    if len({c.label for c in chosen}) == 1:
        chosen = [replace(c, label="") for c in chosen]
    return chosen


def _task_groups(members: set[int], hits: Sequence[Hit]) -> list[Evidence]:
    """The headings of the task groups the members fall under, quoted as the list's items, when the pipeline gave
    them (`rag.retrieve.scope.task_groups`: a list question on a task section as a whole); empty otherwise."""
    docs = {hits[i].doc_id for i in members}
    chosen: list[Evidence] = []
    for i, hit in enumerate(hits):
        text = hit.paragraph.text
        if hit.paragraph.kind != "heading" or hit.doc_id not in docs:
            continue
        span = trim_marker(Span(0, len(text), text))
        if not any(_norm(span.text) == _norm(c.span.text) for c in chosen):
            chosen.append(Evidence(i, span, 0.0, 0.0, 0.0, 0.0, True, False))
    return chosen if len(chosen) >= 2 else []


def list_anchor(scored: Sequence[Evidence]) -> Evidence:
    """The candidate whose list section answers a list question: the best one from a document the question
    names, else the best one (a news item quoting one target must not stand for the resolution's list)."""
    return next((ev for ev in scored if ev.named), scored[0])


#: A list question is answered by one sentence when that sentence covers the question this well and every other
#: candidate scores below this share of it ("Thể chế, nhân lực, ... là những nội dung trọng tâm, cốt lõi").
WHOLE_LIST_FOCUS, WHOLE_LIST_SHARE = 0.7, 0.8
#: ... or, however much of the question it covers, when every other candidate scores below this share of it: "ưu
#: tiên vốn đầu tư công cho những nơi nào?" asks for the places one task names, not for every task of the section
#: ("Ưu tiên vốn đầu tư công cho trường học ở khu vực biên giới và trạm y tế xã" says neither "yêu cầu" nor "nơi").
DOMINANT_SHARE = 0.65


def _states_whole_list(lead: Evidence, scored: Sequence[Evidence], hits: Sequence[Hit]) -> bool:
    """Whether one sentence states the whole list the question asks for, far better than any other candidate."""
    others = [e for e in scored if e.hit_index != lead.hit_index and not _duplicate(e, [lead], hits)]
    if not others:
        return lead.cov_focus >= WHOLE_LIST_FOCUS
    share = max(e.words for e in others) / lead.words
    return share < DOMINANT_SHARE or (lead.cov_focus >= WHOLE_LIST_FOCUS and share < WHOLE_LIST_SHARE)


def ends_intro(ev: Evidence, hits: Sequence[Hit]) -> bool:
    """Whether a candidate is the closing sentence of a paragraph that introduces a list (ends with ":")."""
    hit = hits[ev.hit_index]
    return is_intro(hit) and ev.span.end >= len(hit.paragraph.text.rstrip()) - 1


def _intro_members(intro: Hit, hits: Sequence[Hit]) -> set[int]:
    """The introducing paragraph and the items right after it that are among the hits."""
    by_n = {h.paragraph.n: i for i, h in enumerate(hits) if h.doc_id == intro.doc_id}
    members = {by_n[intro.paragraph.n]}
    n = intro.paragraph.n + 1
    while n in by_n and len(members) <= LIST_SECTION_MAX:
        members.add(by_n[n])
        n += 1
    return members


def _list_members(info: QuestionInfo, anchor: Hit, hits: Sequence[Hit]) -> set[int]:
    """Indexes of the hits in the anchor's list section (its own sub-heading, or the section above it when the
    question names nothing of the sub-heading and the hits hold several of its sub-sections)."""
    if anchor.paragraph.kind != "body" or not anchor.headings:
        return set()
    parts = anchor.headings.split(" > ")
    prefix = anchor.headings
    if len(parts) > 1:
        own = {fold(w).lower().strip(".,:;()") for w in parts[-1].split()} - {"nam", "den", "muc", "tieu", "ve"}
        asked = {fold(t).lower() for t in info.terms}
        if not own & asked:
            prefix = " > ".join(parts[:-1])
    return {
        i
        for i, h in enumerate(hits)
        if h.doc_id == anchor.doc_id
        and h.paragraph.kind == "body"
        and (h.headings == prefix or h.headings.startswith(prefix + " > "))
    }


def _near_best(scored: Sequence[Evidence], hits: Sequence[Hit]) -> list[Evidence]:
    best = scored[0].words
    chosen: list[Evidence] = []
    for ev in scored:
        if ends_intro(ev, hits) and len(scored) > 1 and ev is not scored[0]:
            continue  # an announcement among items says nothing the items do not
        if len(chosen) >= LIST_MAX:
            break
        if ev.words < LIST_MIN_SHARE * best:
            continue
        if any(_overlaps(ev, c) for c in chosen) or _duplicate(ev, chosen, hits):
            continue
        chosen.append(ev)
    first_of: dict[str, int] = {}
    for i, h in enumerate(hits):
        first_of.setdefault(h.doc_id, i)
    chosen.sort(key=lambda e: (first_of[hits[e.hit_index].doc_id], hits[e.hit_index].paragraph.n, e.span.start))
    return chosen


def pick_best(scored: Sequence[Evidence]) -> Evidence:
    """The shortest candidate nearly as good as the best (scored best first)."""
    best = scored[0].score
    near = [ev for ev in scored if ev.score >= NEAR_BEST * best]
    return min(near, key=lambda e: (len(e.span.text), -e.score))


def _overlaps(a: Evidence, b: Evidence) -> bool:
    return a.hit_index == b.hit_index and a.span.start < b.span.end and b.span.start < a.span.end
