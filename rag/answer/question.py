"""What a question asks for: its kind (when, how many, who, a list, ...) and its content terms."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from rag.text.normalize import fold, folded_words, match_form
from rag.text.places import names_province
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
    "cũng vẫn chỉ đều thật rất vào nói tức tóm tắt liệt kê gồm bao gồm rõ "
)
STOPWORDS_ACCENTED = frozenset(match_form(w) for w in _STOPWORD_TEXT.split())
STOPWORDS = frozenset(fold(w) for w in STOPWORDS_ACCENTED)
#: Words in which a framing syllable is part of the content ("thế" in "thế giới", "chỉ" in "chỉ tiêu", "điều" in
#: "điều hành"): a question about "500 doanh nghiệp lớn nhất thế giới" asks about the world, not "giới". "Điều
#: kiện" is not one of them: "tạo điều kiện" is the stock phrase of Party prose that frames a purpose.
_COMPOUND_TEXT = (
    "thế giới, thế hệ, thế mạnh, thế kỷ, thế kỉ, lợi thế, vị thế, xu thế, tư thế, việc làm, điều hành, "
    "điều chỉnh, điều tiết, điều tra, điều phối, điều lệ, điều động, điều ước, điều khoản, chỉ tiêu, chỉ đạo, "
    "chỉ thị, chỉ số, chỉ huy, không gian, không khí, hàng không, cần thiết, số hóa, số lượng, dân số, đổi số, "
    "tế số"
)
COMPOUNDS_ACCENTED = frozenset(tuple(match_form(w).split()) for w in _COMPOUND_TEXT.split(", "))
COMPOUNDS = frozenset(tuple(fold(s) for s in pair) for pair in COMPOUNDS_ACCENTED)


@dataclass(frozen=True, slots=True)
class QuestionInfo:
    """The parts of a question the answerer uses.

    Attributes:
        kind: one of the KIND_* constants.
        terms: content syllables in matching form (stop words removed), in order, unique.
        bigrams: adjacent content syllable pairs ("nghị_quyết").
        accented: whether the question carries diacritics (otherwise compare folded forms).
        subject: for a question asking what something is or what role it has ("Nghị quyết 80 xác định văn hóa là
            gì?", "vai trò của kinh tế tư nhân như thế nào?"), that thing's syllables in matching form ("văn",
            "hóa"); empty otherwise (`defined_subject`).
        unit: for a "how many" question, what the number counts, folded: `UNIT_MONEY`, `UNIT_PERCENT`,
            `UNIT_AMOUNT` (either) or the first word of the noun after "bao nhiêu" ("doanh" for "bao nhiêu doanh
            nghiệp"); "" when it names none (`asked_unit`).
        person: the question asks for a person by name ("Bí thư Tỉnh ủy tên là gì?", "Ai là Chủ tịch ...?"):
            kind `KIND_WHO`, answered by a person's name, not by the body they belong to (`asks_person`).
        topic: the syllables of a topic set before the question ("Hà Nội: đặt mục tiêu ... bao nhiêu phần trăm
            GRDP?", as a follow-up that changes the subject is rewritten), in `terms`' form (`topic_of`): the answer
            must speak of it itself, not only sit in a document about it.
        aside: content syllables said only in a purpose clause the question does not ask about ("cần xóa bỏ tư
            duy nào để thúc đẩy đổi mới sáng tạo?": "thúc", "đẩy", ...), in `terms`' form (`purpose_aside`).
    """

    kind: str
    terms: tuple[str, ...]
    bigrams: tuple[str, ...]
    accented: bool
    subject: tuple[str, ...] = ()
    unit: str = ""
    person: bool = False
    aside: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()


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


# What a document says something is, or what role it gives it (folded, punctuation removed): "[Nghị quyết 80
# xác định] văn hóa là gì", "[... xác định] vai trò của kinh tế tư nhân như thế nào", "X có vai trò gì". The
# framing verb is the document's act, not a word the answer repeats. The place a document gives a thing is asked
# in several words besides "vai trò" ("vị trí", "tầm quan trọng", "ý nghĩa"): all are answered by what the
# document says the thing is ("Phát triển khoa học ... là đột phá quan trọng hàng đầu").
_FRAMING = r"(?:xac dinh|khang dinh|nhan dinh|dinh nghia|danh gia|coi)"
_HOW = r"(?:nhu the nao|the nao|ra sao)"
_PLACE_GIVEN = r"(?:vi tri va vai tro|vi tri vai tro|vai tro|vi tri|tam quan trong|y nghia)"
_DEFINED_RE = re.compile(
    rf"^(?:(?P<pre>.*?)\b(?P<frame>{_FRAMING}) )?"
    rf"(?:{_PLACE_GIVEN} (?:cua )?(?:viec |su )?(?P<role>.+?)(?: (?:{_HOW}|la gi|gi))?"
    rf"|(?P<what>.+?) (?:la gi|la the nao|duoc hieu (?:{_HOW}|la gi)|(?:co|giu|dong) vai tro (?:gi|nao|{_HOW})))$"
)
# A document named at the start of the defined thing ("nghị quyết 80 văn hóa là gì"): not part of it.
_LEADING_DOC_RE = re.compile(
    r"^(?:theo )?(?:nghi quyet|chi thi|ket luan|ke hoach|chuong trinh|quy dinh|thong bao|nq|ct|kl|ctr|kh)"
    r"(?: so)? \d\w*(?: (?:nq|kl|ct|ctr|kh|qd|tb|tw|tu|bct|vptu)){0,2}"
    r"(?: (?:cua )?(?:bo chinh tri|ban chap hanh trung uong|trung uong|bct|bch tw))? "
)


def _words_before(text: str, index: int) -> int:
    return len(text[:index].split())


def defined_subject(question: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a "what is X / what role has X" question asks about, and its framing verb.

    Returns:
        (the syllables of X in matching form, the framing verb's syllables), both empty for other questions.
    """
    syllables = [s for phrase in phrases(question) for s in phrase]
    text = " ".join(fold(s) for s in syllables)
    m = _DEFINED_RE.match(text)
    if not m:
        return (), ()
    group = "role" if m.group("role") else "what"
    start, end = _words_before(text, m.start(group)), _words_before(text, m.end(group))
    lead = _LEADING_DOC_RE.match(m.group(group) + " ")
    if lead:
        start += len(lead.group(0).split())
    framing: tuple[str, ...] = ()
    if m.group("frame"):
        first = _words_before(text, m.start("frame"))
        framing = tuple(syllables[first : _words_before(text, m.end("frame"))])
    return tuple(syllables[start:end]), framing


UNIT_MONEY, UNIT_PERCENT = "tiền", "%"
#: An amount named before "bao nhiêu" ("vốn đầu tư ... là bao nhiêu?"): a sum of money or a share of one.
UNIT_AMOUNT = "tiền|%"
_MONEY_WORDS = frozenset({"tien", "dong", "usd", "vnd", "ty", "ti", "trieu", "nghin", "ngan"})
# Words after "bao nhiêu" that are not what the number counts ("là bao nhiêu", "bao nhiêu so với ...").
_NOT_UNITS = STOPWORDS | {"so", "nua", "thi", "vay", "roi", "tren", "duoi", "khoang", "voi"}
# Nouns that begin with "đồng" without being the currency (folded second syllable).
_DONG_NOUNS = frozenset({"chi", "bao", "nghiep", "doi", "vat", "ruong", "bang", "thoi", "hanh"})
_HOW_MANY_RE = re.compile(r"\bbao nhieu (\w+)(?: (\w+))?")
#: Amounts of money named before "bao nhiêu" (folded): "tổng vốn đầu tư", "kinh phí", "ngân sách", "chi phí".
_MONEY_SUBJECT_RE = re.compile(r"\b(?:von|kinh phi|ngan sach|chi phi|so tien|muc dau tu|gia tri dau tu)\b")
#: Words of a question that only say which kind of number it wants: the answer says "25 tỷ đồng", "30%".
_UNIT_WORDS = {UNIT_MONEY: frozenset({"tien"}), UNIT_PERCENT: frozenset({"phan", "tram"})}
#: Words of a question asking for a person that only say a name is wanted ("tên là gì", "họ tên").
_NAME_WORDS = frozenset({"ten"})


def asked_unit(question: str) -> str:
    """What a "bao nhiêu ..." question counts: `UNIT_MONEY` ("bao nhiêu tiền", "bao nhiêu tỷ đồng"),
    `UNIT_PERCENT` ("bao nhiêu phần trăm"), else the folded first word of the noun ("bao nhiêu doanh nghiệp" ->
    "doanh"); "" when the question names nothing after it."""
    words = " ".join(fold(s) for phrase in phrases(question) for s in phrase)
    m = _HOW_MANY_RE.search(words)
    if not m or m.group(1) in _NOT_UNITS or m.group(1).isdigit():
        # "Tổng vốn đầu tư ... là bao nhiêu?": the amount asked is named before "bao nhiêu".
        how_many = words.find("bao nhieu")
        return UNIT_AMOUNT if how_many > 0 and _MONEY_SUBJECT_RE.search(words[:how_many]) else ""
    first, second = m.group(1), m.group(2) or ""
    if first == "dong" and second in _DONG_NOUNS:  # "bao nhiêu đồng chí / đồng bào": people, not money
        return first
    if first in _MONEY_WORDS or second in ("dong", "usd", "vnd"):
        return UNIT_MONEY
    if first == "phan" and second == "tram":
        return UNIT_PERCENT
    return first


# A name asked for ("tên là gì", "họ tên"), or "ai" with a title only a person holds (folded, punctuation removed).
_NAME_ASKED_RE = re.compile(r"\b(?:ten (?:la )?gi|ho (?:va )?ten|ten (?:cua )?(?:ai|nguoi))\b")
_PERSON_TITLE_RE = re.compile(
    r"\b(?:bi thu|chu tich|thu tuong|bo truong|truong ban|pho ban|giam doc|chanh van phong|chu nhiem|"
    r"tong thu ky|nguoi dung dau|dong chi)\b"
)
_WHO_IS_RE = re.compile(r"\b(?:ai la|la ai|do ai)\b")
_WHICH_PERSON_RE = re.compile(r"\bdong chi nao\b")


def asks_person(question: str) -> bool:
    """Whether the question asks for a person by name: "Bí thư Tỉnh ủy Đồng Nai tên là gì?", "Ai là Chủ tịch
    ...?" (not "Ai chủ trì ...?", which a body answers)."""
    folded = folded_words(question)
    return bool(_NAME_ASKED_RE.search(folded) or _WHICH_PERSON_RE.search(folded)) or bool(
        _WHO_IS_RE.search(folded) and _PERSON_TITLE_RE.search(folded)
    )


#: "(cần) thực hiện những công việc nào", "làm những việc gì": asks for tasks without naming any; the verb and
#: "công việc" frame the question as "như thế nào" does (folded; "nhiệm vụ", "giải pháp" stay content: sections
#: are named by them).
_ASKED_TASKS_RE = re.compile(r"\b(?:thuc hien|tien hanh|lam) (?:(?:nhung|cac) )?(?:cong )?viec (?:nao|gi)\b")


def _asked_tasks(phrase: list[str]) -> list[int]:
    """Positions in `phrase` of the words of an asking phrase that only asks for tasks (`_ASKED_TASKS_RE`)."""
    words = [fold(s) for s in phrase]
    text = " ".join(words)
    out: list[int] = []
    for m in _ASKED_TASKS_RE.finditer(text):
        out.extend(range(_words_before(text, m.start()), _words_before(text, m.end())))
    return out


def analyse_question(question: str) -> QuestionInfo:
    """Kind and content terms of a question (a "what is X" question's framing verb is not a content term)."""
    norm = match_form(question)
    accented = fold(norm) != norm
    kind = question_kind(question)
    person = kind in (KIND_WHAT, KIND_WHO) and asks_person(question)
    if person:
        kind = KIND_WHO
    subject, framing = defined_subject(question) if kind == KIND_WHAT else ((), ())
    unit = asked_unit(question) if kind == KIND_NUMBER else ""
    kind_words = _UNIT_WORDS.get(unit, frozenset()) | (_NAME_WORDS if person else frozenset())

    def content(syllable: str) -> bool:
        return not is_stopword(syllable, accented) and syllable not in framing and fold(syllable) not in kind_words

    compounds = COMPOUNDS_ACCENTED if accented else COMPOUNDS
    head = topic_of(question)
    # A place set as the topic is a name: typed without accents, "ha noi" is not "hà" and "nói".
    place = head if names_province(" ".join(head)) else []
    terms: list[str] = []
    bigrams: list[str] = []
    for n, phrase in enumerate(phrases(question)):
        kept = [content(s) or (n == 0 and phrase == place) for s in phrase]
        for j, pair in enumerate(itertools.pairwise(phrase)):
            if (pair if accented else tuple(fold(s) for s in pair)) in compounds:
                kept[j] = kept[j + 1] = True
        for j in _asked_tasks(phrase):
            kept[j] = False
        for syllable, keep in zip(phrase, kept, strict=True):
            if keep and syllable not in terms:
                terms.append(syllable)
        for (a, b), keep_a, keep_b in zip(itertools.pairwise(phrase), kept, kept[1:], strict=False):
            if keep_a and keep_b:
                bigram = a + BIGRAM_JOINER + b
                if bigram not in bigrams:
                    bigrams.append(bigram)
    aside = tuple(t for t in purpose_aside(question) if t in terms)
    topic = tuple(t for t in head if t in terms)
    return QuestionInfo(kind, tuple(terms), tuple(bigrams), accented, tuple(subject), unit, person, aside, topic)


#: At most this many words before the colon of a topic ("Thành phố Hồ Chí Minh: ...").
TOPIC_MAX_WORDS = 6


def topic_of(question: str) -> list[str]:
    """The syllables of a topic the question is set under ("Hà Nội: đặt mục tiêu ..." -> ["hà", "nội"]), in
    matching form; empty when it has none (no colon, a longer head, or a number in it: "Câu 3: ...")."""
    head, colon, rest = question.partition(":")
    if not colon or not rest.strip() or len(head.split()) > TOPIC_MAX_WORDS or any(ch.isdigit() for ch in head):
        return []
    return [s for phrase in phrases(head) for s in phrase]


#: Words that open a purpose clause ("để", "nhằm"); typed without accents only "nham" is unambiguous ("de" is
#: also "đề", "dễ").
_PURPOSE_ACCENTED = frozenset({"để", "nhằm"})
_PURPOSE_FOLDED = frozenset({"nham"})
#: The words that ask ("nào", "gì", "ai", "đâu", "sao", "bao nhiêu").
_ASKING_ACCENTED = frozenset({"nào", "gì", "ai", "đâu", "sao", "nhiêu"})
_ASKING_FOLDED = frozenset({"nao", "gi", "dau", "nhieu"})


def purpose_aside(question: str) -> list[str]:
    """The syllables of a purpose clause that frames the question rather than being asked, not said elsewhere in it.

    "Cần xóa bỏ tư duy nào để thúc đẩy đổi mới sáng tạo, tạo điều kiện cho phát triển?" asks for a way of thinking;
    the clause after "để" says why, and a sentence that repeats it ("... tạo điều kiện thuận lợi nhất cho phát
    triển") does not name the way of thinking. A clause that opens the question runs to its first comma ("Để thúc
    đẩy nghiên cứu, Nghị quyết 57 đưa ra yêu cầu gì?"); one after the asking word runs to the end. A purpose that
    is itself asked ("để làm gì", "nhằm mục đích gì") is no aside.
    """
    norm = match_form(question)
    accented = fold(norm) != norm
    split = phrases(question)
    tokens = [(i, s) for i, phrase in enumerate(split) for s in phrase]
    # The words of "thực hiện những công việc nào" ask for tasks; the clause's "công" is not said again by them.
    offsets = list(itertools.accumulate((len(p) for p in split), initial=0))
    framing = {offsets[i] + j for i, phrase in enumerate(split) for j in _asked_tasks(phrase)}

    def opens(s: str) -> bool:
        return s in _PURPOSE_ACCENTED if accented else fold(s) in _PURPOSE_FOLDED

    def asks(s: str) -> bool:
        return s in _ASKING_ACCENTED if accented else fold(s) in _ASKING_FOLDED

    start = next((j for j, (_, s) in enumerate(tokens) if opens(s)), None)
    asking = next((j for j, (_, s) in enumerate(tokens) if asks(s)), None)
    if start is None or asking is None:
        return []
    if asking < start:
        clause = range(start + 1, len(tokens))
    else:
        phrase = tokens[start][0]
        if tokens[asking][0] == phrase:
            return []
        clause = range(start + 1, next(j for j, (i, _) in enumerate(tokens) if j > start and i != phrase))
    inside = {tokens[j][1] for j in clause}
    outside = {s for j, (_, s) in enumerate(tokens) if j not in clause and j not in framing}
    return [s for s in dict.fromkeys(tokens[j][1] for j in clause) if s in inside - outside]
