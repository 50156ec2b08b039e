"""How cadres phrase questions: polite framing to set aside, and the acronyms of Party and state writing.

"Đồng chí cho hỏi Nghị quyết 57 về AI thế nào ạ?" asks the same as "Nghị quyết 57 về trí tuệ nhân tạo thế
nào?". The framing ("Đồng chí cho hỏi", "ạ") carries no content and only dilutes retrieval and the answerer's
word coverage; an acronym ("AI", "ĐMST", "UBND") must meet the long form the documents write, and the other
way round (some documents write "KH-CN" where the question says "khoa học, công nghệ").

Acronyms are matched case-sensitively as written in upper case ("AI" is an acronym, "ai" asks "who"), with or
without diacritics ("ĐMST", "DMST").
"""

from __future__ import annotations

import re

from rag.text.normalize import canonical_tones, fold, has_diacritics

# Acronym (as written; the form without diacritics is added automatically) -> the long form documents use.
ACRONYMS: dict[str, str] = {
    "AI": "trí tuệ nhân tạo",
    "KH-CN": "khoa học, công nghệ",
    "KHCN": "khoa học, công nghệ",
    "KH&CN": "khoa học và công nghệ",
    "ĐMST": "đổi mới sáng tạo",
    "CĐS": "chuyển đổi số",
    "BCH TW": "Ban Chấp hành Trung ương",
    "BCHTW": "Ban Chấp hành Trung ương",
    "BCH Trung ương": "Ban Chấp hành Trung ương",
    "BCT": "Bộ Chính trị",
    "BBT": "Ban Bí thư",
    "TW": "Trung ương",
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "MTTQ": "Mặt trận Tổ quốc",
    "UBMTTQ": "Ủy ban Mặt trận Tổ quốc",
    "DNNN": "doanh nghiệp nhà nước",
    "KTNN": "kinh tế nhà nước",
    "KTTN": "kinh tế tư nhân",
    "GD-ĐT": "giáo dục và đào tạo",
    "GDĐT": "giáo dục và đào tạo",
    "GD&ĐT": "giáo dục và đào tạo",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "CNTT": "công nghệ thông tin",
    "NSNN": "ngân sách nhà nước",
    "R&D": "nghiên cứu và phát triển",
    "CNH, HĐH": "công nghiệp hóa, hiện đại hóa",
    "CNH-HĐH": "công nghiệp hóa, hiện đại hóa",
    "XHCN": "xã hội chủ nghĩa",
    "ĐCSVN": "Đảng Cộng sản Việt Nam",
    "ĐBQH": "đại biểu Quốc hội",
    "QH": "Quốc hội",
    "CB, CC, VC": "cán bộ, công chức, viên chức",
    "CBCCVC": "cán bộ, công chức, viên chức",
    "TTHC": "thủ tục hành chính",
    "DVC": "dịch vụ công",
    "FDI": "đầu tư trực tiếp nước ngoài",
}

_ALL_FORMS: dict[str, str] = {}
for _short, _long in ACRONYMS.items():
    _ALL_FORMS[_short] = _long
    _ALL_FORMS.setdefault(fold(_short), _long)
# Longest first so "BCH TW" wins over "TW" and "UBMTTQ" over "MTTQ".
_ACRONYM_RE = re.compile(
    r"(?<![\w&/-])(" + "|".join(re.escape(a) for a in sorted(_ALL_FORMS, key=len, reverse=True)) + r")(?![\w&/-])"
)
#: Acronyms documents themselves write in running text: a question with the long form also looks for these.
#: Others ("TW", "QH", "UBND") are left out: their letters occur in every document number or add only noise.
WRITTEN_ACRONYMS = ("AI", "ĐMST", "CĐS", "DNNN", "BHYT", "BHXH", "CNTT", "R&D", "FDI", "TTHC")
# Long forms (folded, lower case, punctuation as spaces) -> the acronym documents write for them.
_LONG_TO_SHORT: dict[str, str] = {}
for _short in WRITTEN_ACRONYMS:
    _long = ACRONYMS[_short]
    _LONG_TO_SHORT.setdefault(" ".join(re.sub(r"[^\w]", " ", fold(_long).lower()).split()), _short)

# Polite framing at the start of a question (folded, lower case): "Đồng chí cho hỏi", "Xin hỏi", "Cho tôi hỏi",
# "Nhờ hệ thống cho biết", "Tôi muốn biết", "Anh/chị vui lòng cho biết", "Kính gửi ..., cho em hỏi".
_ADDRESS = r"(?:dong chi|anh chi|anh/chi|anh|chi|em|ban|quy vi|he thong|tro ly|van kien|ad|admin)"
_PREAMBLE_RE = re.compile(
    r"^(?:(?:kinh gui|thua|chao|xin chao)\s+[^,.:;?!]{0,40}[,.:;!]\s*)?"
    r"(?:(?:" + _ADDRESS + r"|xin|nho|lam on|vui long|cho|toi|chung toi|em|minh)\s+){0,4}"
    r"(?:(?:vui long|lam on|lam phien|lam)\s+)?"
    r"(?:cho\s+(?:toi|em|minh|chung toi|hoi)\s+)?"
    r"(?:hoi|biet|hoi la|hoi ve|biet la|biet ve|muon hoi|muon biet|can biet|muon tim hieu|tim hieu|giai dap|"
    r"tra loi|cho biet|giup|giup toi|giup em)"
    r"(?:\s+(?:giup|dum|ho|voi|mot chut|chut|them))*"
    r"\s*(?:(?:la|rang|ve|:|,)\s*)*",
)
# A request without a verb of asking: "Anh/chị vui lòng tóm tắt ...", "Cho tôi xin bản tóm tắt ...".
_REQUEST_RE = re.compile(
    r"^(?:" + _ADDRESS + r"\s+)?(?:vui long|lam on|xin vui long)\s+"
    r"|^cho\s+(?:toi|em|minh|chung toi)\s+xin\s+(?:(?:ban|thong tin|noi dung)\s+)?"
)
# Politeness at the end: "ạ", "với ạ", "nhé", "được không ạ", "xin cảm ơn".
_CLOSING_RE = re.compile(
    r"(?:[\s,]+(?:a|voi a|voi|nhe|nha|nhe a|duoc khong a|xin cam on|cam on|thanks)\s*)+([?.!]*)\s*$"
)


def _politeness(question: str) -> tuple[str, str, str]:
    """(the question stripped, its core without preamble and closing, the closing's final punctuation)."""
    text = question.strip()
    folded = fold(text).lower()
    if len(folded) != len(text):  # folding changed the length (rare marks): do not cut by offsets
        return text, text, ""
    m = _PREAMBLE_RE.match(folded)
    start = m.end() if m and m.end() > 0 and _is_framing(text[: m.end()]) else 0
    if not start:
        r = _REQUEST_RE.match(folded)
        start = r.end() if r else 0
    c = _CLOSING_RE.search(folded, max(0, start - 1))  # the preamble may have taken the space before "ạ"
    end, tail = (c.start(), c.group(1)) if c else (len(text), "")
    core = text[start:end].strip(" ,:;-")
    if start and core:
        core = core[0].upper() + core[1:]
    return text, core, tail


def strip_politeness(question: str) -> str:
    """The question without a polite preamble or closing; unchanged when less than two words would remain.

    >>> strip_politeness("Đồng chí cho hỏi Nghị quyết 57 ban hành ngày nào ạ?")
    'Nghị quyết 57 ban hành ngày nào?'
    """
    text, core, tail = _politeness(question)
    if len(core.split()) < 2 or not any(ch.isalnum() for ch in core):
        return text
    return core + tail


def politeness_only(question: str) -> bool:
    """Whether a question is nothing but politeness ("Đồng chí cho hỏi ạ?", "Xin hỏi"): there is nothing to
    search for."""
    return not any(ch.isalnum() for ch in _politeness(question)[1])


_ASKING_VERBS = ("hỏi", "biết", "giúp", "đáp", "lời", "hiểu")


def _is_framing(prefix: str) -> bool:
    """Whether a matched preamble really frames: at least two words ("Xin hỏi", "Cho biết"; a lone "hoi" may be
    "Hội nghị"), one of them a verb of asking, compared with accents when the question has them ("Hội" is not
    "hỏi")."""
    words = prefix.replace(":", " ").replace(",", " ").lower().split()
    if len(words) < 2:
        return False
    if has_diacritics(prefix):
        return any(canonical_tones(w) in _ASKING_VERBS for w in words)
    return any(w in {fold(v) for v in _ASKING_VERBS} for w in words)


def acronyms_in(question: str) -> list[tuple[str, str]]:
    """(acronym as written, long form) for each acronym of the question, in order, without repeats."""
    out: list[tuple[str, str]] = []
    for m in _ACRONYM_RE.finditer(question):
        pair = (m.group(1), _ALL_FORMS[m.group(1)])
        if pair not in out:
            out.append(pair)
    return out


def expand_acronyms(question: str) -> str:
    """The question with each acronym replaced by its long form ("AI" -> "trí tuệ nhân tạo")."""
    return _ACRONYM_RE.sub(lambda m: _ALL_FORMS[m.group(1)], question)


def with_acronyms(question: str) -> str:
    """The question for retrieval: as written, plus the long form of each acronym and the acronym of each long
    form it contains, in brackets at the end ("AI ..." -> "AI ... (trí tuệ nhân tạo)")."""
    extra: list[str] = [long for _, long in acronyms_in(question)]
    words = " ".join(re.sub(r"[^\w]", " ", fold(question).lower()).split())
    for long, short in _LONG_TO_SHORT.items():
        if f" {long} " in f" {words} " and short not in question and short not in extra:
            extra.append(short)
    if not extra:
        return question
    return f"{question} ({'; '.join(extra)})"
