"""Vietnam's provinces and centrally-governed cities, as documents and questions name them.

A province measures its economy in GRDP (gross regional domestic product), the country in GDP: a follow-up that
moves a national question to a province ("Thế còn Hà Nội?") asks for the province's share of GRDP.
"""

from __future__ import annotations

import re

from rag.text.normalize import fold

#: The 63 provinces and cities before the 2025 merger; the 34 after it keep names from this list.
PROVINCES = (
    "An Giang, Bà Rịa - Vũng Tàu, Bắc Giang, Bắc Kạn, Bạc Liêu, Bắc Ninh, Bến Tre, Bình Định, Bình Dương, "
    "Bình Phước, Bình Thuận, Cà Mau, Cần Thơ, Cao Bằng, Đà Nẵng, Đắk Lắk, Đắk Nông, Điện Biên, Đồng Nai, Đồng Tháp, "
    "Gia Lai, Hà Giang, Hà Nam, Hà Nội, Hà Tĩnh, Hải Dương, Hải Phòng, Hậu Giang, Hòa Bình, Hưng Yên, Khánh Hòa, "
    "Kiên Giang, Kon Tum, Lai Châu, Lâm Đồng, Lạng Sơn, Lào Cai, Long An, Nam Định, Nghệ An, Ninh Bình, Ninh Thuận, "
    "Phú Thọ, Phú Yên, Quảng Bình, Quảng Nam, Quảng Ngãi, Quảng Ninh, Quảng Trị, Sóc Trăng, Sơn La, Tây Ninh, "
    "Thái Bình, Thái Nguyên, Thanh Hóa, Thừa Thiên Huế, Huế, Tiền Giang, Hồ Chí Minh, TP.HCM, TPHCM, Trà Vinh, "
    "Tuyên Quang, Vĩnh Long, Vĩnh Phúc, Yên Bái"
).split(", ")
#: Words that name a province or city without its name ("tỉnh", "Thủ đô"), folded.
_LOCAL_WORDS = r"tinh|thanh pho|thu do|dia phuong"
_PROVINCE_RE = re.compile(r"\b(?:" + "|".join(re.escape(fold(p).lower()) for p in PROVINCES) + rf"|{_LOCAL_WORDS})\b")
#: Words that name the whole country, folded.
_COUNTRY_RE = re.compile(r"\b(?:ca nuoc|toan quoc|quoc gia|trung uong|viet nam)\b")


def names_province(text: str) -> bool:
    """Whether `text` names a province or a centrally-governed city ("Hà Nội", "tỉnh Nghệ An", "Thủ đô")."""
    return bool(_PROVINCE_RE.search(fold(text).lower()))


_LOCAL_RE = re.compile(rf"\b(?:{_LOCAL_WORDS})\b")


def names_local(text: str) -> bool:
    """Whether `text` refers to a province without its name ("của tỉnh", "Thủ đô"), as its own documents do."""
    return bool(_LOCAL_RE.search(fold(text).lower()))


def names_country(text: str) -> bool:
    """Whether `text` names the whole country ("cả nước", "toàn quốc")."""
    return bool(_COUNTRY_RE.search(fold(text).lower()))


_GDP_RE = re.compile(r"\bGDP\b")
_GRDP_RE = re.compile(r"\bGRDP\b")


def regional_measure(question: str, subject: str) -> str:
    """`question` with the output measure of `subject`'s level: GRDP for a province, GDP for the country."""
    if names_province(subject) and not names_country(subject):
        return _GDP_RE.sub("GRDP", question)
    if names_country(subject) and not names_province(subject):
        return _GRDP_RE.sub("GDP", question)
    return question
