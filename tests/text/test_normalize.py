import unicodedata

import pytest

from rag.text.normalize import canonical_tones, clean, fold, has_diacritics, match_form


@pytest.mark.parametrize(
    ("old_style", "new_style"),
    [
        ("hoà", "hòa"),
        ("Hoá", "Hóa"),
        ("uỷ", "ủy"),
        ("Thuỷ", "Thủy"),
        ("khoẻ", "khỏe"),
        ("thuở", "thuở"),
        ("quý", "quý"),
        ("hoàng", "hoàng"),
        ("khuỷu", "khuỷu"),
        ("giữ", "giữ"),
        ("người", "người"),
    ],
)
def test_tone_placement_pairs_meet(old_style: str, new_style: str) -> None:
    assert canonical_tones(old_style) == canonical_tones(new_style) == new_style


def test_match_form_unifies_sources() -> None:
    a = "Thành uỷ, văn hoá, hoà bình, Ðảng"
    b = "THÀNH ỦY, VĂN HÓA, HÒA BÌNH, ĐẢNG"
    assert match_form(a) == match_form(b) == "thành ủy, văn hóa, hòa bình, đảng"


def test_nfd_input_becomes_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Nghị quyết số 57-NQ/TW")
    assert nfd != "Nghị quyết số 57-NQ/TW"
    assert clean(nfd) == "Nghị quyết số 57-NQ/TW"
    assert match_form(nfd) == "nghị quyết số 57-nq/tw"


def test_clean_drops_invisible_characters_and_keeps_lines() -> None:
    text = "Nghị\u200b quyết\u00ad\r\nsố\u00a057\ufeff"
    assert clean(text) == "Nghị quyết\nsố 57"


def test_clean_is_idempotent() -> None:
    text = "Ban Chấp hành\u2028Trung ương\u200d đảng"
    assert clean(clean(text)) == clean(text)


def test_fold_removes_all_diacritics() -> None:
    assert fold("Nghị quyết về đột phá phát triển") == "Nghi quyet ve dot pha phat trien"
    assert fold("ĐẢNG ỦY") == "DANG UY"
    assert has_diacritics("nghị quyết") and not has_diacritics("nghi quyet 57")


def test_non_vietnamese_words_untouched() -> None:
    assert canonical_tones("COVID-19 và café") == "COVID-19 và café"
