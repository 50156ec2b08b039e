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

# Cue phrases per kind, in folded form (so accent-less questions are recognised too). Checked in order.
_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (KIND_DOCNUMBER, ("so hieu", "ky hieu", "so van ban", "mang so", "so bao nhieu")),
    (
        KIND_LIST,
        (
            "tom tat",
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
            "noi dung chinh",
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
# Words that frame a question but carry no content. Compared in folded form.
STOPWORDS = frozenset(
    fold(w)
    for w in (
        "gì nào đâu ai sao bao nhiêu mấy không có phải đúng hay sai là thế như nào những các cái này "
        "đó kia ấy thì mà và của cho với về theo trong từ đến được bị đã đang sẽ hãy xin cho biết nêu "
        "vậy ra sao thế nào một số rằng tại lúc khi nên cần phải việc điều để nhằm ở hỏi còn lại nữa "
        "cũng vẫn chỉ đều thật rất vào nói tức tóm tắt liệt kê gồm bao gồm "
    ).split()
)


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


def question_kind(question: str) -> str:
    """The kind of answer wanted, from Vietnamese cue phrases."""
    folded = " " + fold(match_form(question)) + " "
    folded = re.sub(r"[^\w\s]", " ", folded)
    folded = " ".join(folded.split()) + " "
    for kind, cues in _CUES:
        if any((" " + cue) in (" " + folded) for cue in cues):
            return kind
    return KIND_WHAT


def analyse_question(question: str) -> QuestionInfo:
    """Kind and content terms of a question."""
    norm = match_form(question)
    accented = fold(norm) != norm
    terms: list[str] = []
    bigrams: list[str] = []
    for phrase in phrases(question):
        content = [s for s in phrase if fold(s) not in STOPWORDS]
        for syllable in content:
            if syllable not in terms:
                terms.append(syllable)
        for a, b in itertools.pairwise(phrase):
            if fold(a) not in STOPWORDS and fold(b) not in STOPWORDS:
                bigram = a + BIGRAM_JOINER + b
                if bigram not in bigrams:
                    bigrams.append(bigram)
    return QuestionInfo(question_kind(question), tuple(terms), tuple(bigrams), accented)
