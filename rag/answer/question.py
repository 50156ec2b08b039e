"""What a question asks for: its kind (when, how many, who, a list, ...) and its content terms."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rag.text.normalize import fold, match_form
from rag.text.tokenize import BIGRAM_JOINER, phrases

KIND_WHEN = "when"
KIND_NUMBER = "number"
KIND_WHO = "who"
KIND_LIST = "list"
KIND_YESNO = "yesno"
KIND_WHAT = "what"
KIND_WHERE = "where"
KIND_DOCNUMBER = "docnumber"
#: "Nghị quyết 79 về vấn đề gì?", "nội dung chính": the document's subject (its trích yếu) and purpose.
KIND_ABOUT = "about"
#: "Tóm tắt Nghị quyết 80": the document's main sections, one cited sentence each.
KIND_SUMMARY = "summary"

# Cue phrases per kind, in folded form (so accent-less questions are recognised too). Checked in order.
_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (KIND_SUMMARY, ("tom tat", "tom luoc", "khai quat noi dung", "tong quan noi dung", "khai quat ve")),
    (
        KIND_ABOUT,
        (
            "ve van de gi",
            "ve viec gi",
            "ve linh vuc gi",
            "ve noi dung gi",
            "noi dung chinh",
            "noi dung co ban",
            "de cap den van de gi",
            "de cap van de gi",
            "de cap den gi",
            "ban ve van de gi",
            "ban ve gi",
            "noi ve gi",
            "noi ve van de gi",
            "ve cai gi",
            "chu de gi",
            "chu de cua",
            "trich yeu",
            "linh vuc nao",
            "de lam gi",
            "nham muc dich gi",
            "muc dich gi",
            "thuc hien nghi quyet nao",
            "nham thuc hien",
        ),
    ),
    (KIND_DOCNUMBER, ("so hieu", "ky hieu", "so van ban", "mang so", "so bao nhieu")),
    (
        KIND_LIST,
        (
            "liet ke",
            "nhung gi",
            "gom nhung",
            "bao gom nhung",
            "nhung nhiem vu",
            "cac nhiem vu",
            "nhung giai phap",
            "cac giai phap",
            "nhung muc tieu",
            "cac muc tieu",
            "nhung noi dung",
            "neu cac",
            "nhung diem",
            "nhung quan diem",
            "cac quan diem",
            "nhung nhom",
            "cac chi tieu",
            "nhung chi tieu",
            "chi tieu nao",
            "muc tieu nao",
            "nhiem vu nao",
            "giai phap nao",
            "nhung linh vuc",
            "cac linh vuc",
            "cac noi dung",
            "nhung chinh sach",
            "cac buoc",
        ),
    ),
    (
        KIND_WHEN,
        (
            "ngay nao",
            "khi nao",
            "nam nao",
            "bao gio",
            "thoi diem nao",
            "luc nao",
            "thang nao",
            "thoi han",
            "han chot",
            "ngay bao nhieu",
            "hom nao",
            "thoi gian nao",
            "ban hanh ngay",
            "ky ngay",
        ),
    ),
    (KIND_NUMBER, ("bao nhieu", "may ", "ty le", "ti le", "phan tram", "so luong", "muc bao", "chiem bao")),
    (KIND_WHERE, ("o dau", "tai dau", "dia diem", "noi nao", "o tinh nao", "o thanh pho nao")),
    (
        KIND_WHO,
        (
            "ai ",
            "co quan nao",
            "don vi nao",
            "to chuc nao",
            "nguoi nao",
            "ban nao",
            "bo nao",
            "chu tri",
            "ai chiu trach nhiem",
            "giao cho",
            "ai ky",
            "ky ban hanh",
        ),
    ),
    (KIND_YESNO, ("co phai", "dung hay sai", "co dung", "hay khong", "phai khong", "duoc khong")),
)
# Words that frame a question but carry no content. An accented question compares them with their accents
# ("văn" in "văn hóa" is content, "vẫn" is not; "hội", "tư", "tài", "bí" are not "hỏi", "từ", "tại", "bị"); a
# question typed without accents can only compare folded forms.
_STOPWORD_TEXT = (
    "gì nào đâu ai sao bao nhiêu mấy không có phải đúng hay sai là thế như nào những các cái này "
    "đó kia ấy thì mà và của cho với về theo trong từ đến được bị đã đang sẽ hãy xin cho biết nêu "
    "vậy ra sao thế nào một số rằng tại lúc khi nên cần phải việc điều để nhằm ở hỏi còn lại nữa "
    "cũng vẫn chỉ đều thật rất vào nói tức tóm tắt liệt kê gồm bao gồm "
)
STOPWORDS_ACCENTED = frozenset(match_form(w) for w in _STOPWORD_TEXT.split())
STOPWORDS = frozenset(fold(w) for w in STOPWORDS_ACCENTED)


@dataclass(frozen=True, slots=True)
class QuestionInfo:
    """The parts of a question the answerer uses.

    Attributes:
        kind: one of the KIND_* constants.
        terms: content syllables in matching form (stop words removed), in order, unique.
        bigrams: adjacent content syllable pairs ("nghị_quyết").
        accented: whether the question carries diacritics (otherwise compare folded forms).
    """

    kind: str
    terms: tuple[str, ...]
    bigrams: tuple[str, ...]
    accented: bool


def is_stopword(syllable: str, accented: bool) -> bool:
    """Whether a syllable only frames the question (compared with accents when the question has them)."""
    return match_form(syllable) in STOPWORDS_ACCENTED if accented else fold(syllable) in STOPWORDS


def question_kind(question: str) -> str:
    """The kind of answer wanted, from Vietnamese cue phrases."""
    folded = " " + fold(match_form(question)) + " "
    folded = re.sub(r"[^\w\s]", " ", folded)
    folded = " ".join(folded.split()) + " "
    for kind, cues in _CUES:
        if any((" " + cue) in (" " + folded) for cue in cues):
            return kind
        if kind == KIND_LIST and _LIST_RE.search(folded):
            return kind
    return KIND_WHAT


# "Những kết quả bước đầu nào", "các nhiệm vụ trọng tâm nào", "Những hạn chế ... là gì?": a plural asked for.
_LIST_RE = re.compile(r"\b(?:nhung|cac)\s+(?:\S+\s+){0,4}nao\b|^(?:nhung|cac)\s+.+\bla gi\b")


def analyse_question(question: str) -> QuestionInfo:
    """Kind and content terms of a question."""
    norm = match_form(question)
    accented = fold(norm) != norm
    terms: list[str] = []
    bigrams: list[str] = []
    for phrase in phrases(question):
        content = [s for s in phrase if not is_stopword(s, accented)]
        for syllable in content:
            if syllable not in terms:
                terms.append(syllable)
        for a, b in itertools.pairwise(phrase):
            if not is_stopword(a, accented) and not is_stopword(b, accented):
                bigram = a + BIGRAM_JOINER + b
                if bigram not in bigrams:
                    bigrams.append(bigram)
    return QuestionInfo(question_kind(question), tuple(terms), tuple(bigrams), accented)
