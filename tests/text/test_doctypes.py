from rag.answer.citations import numbers_supported
from rag.text import doctypes
from rag.text.header import match_type_line, type_from_number
from rag.text.ids import base_doc_id
from rag.text.normalize import fold
from rag.types import DOC_TYPE_TABLE, DOC_TYPES, NEWS_DOC_TYPE, OTHER_DOC_TYPE


def test_table_is_consistent() -> None:
    names = [t.name for t in DOC_TYPE_TABLE]
    assert len(set(names)) == len(names) and tuple(names) == DOC_TYPES
    assert {NEWS_DOC_TYPE, OTHER_DOC_TYPE} <= set(DOC_TYPES)
    prefixes = [t.prefix for t in DOC_TYPE_TABLE]
    assert len(set(prefixes)) == len(prefixes)
    for t in DOC_TYPE_TABLE:
        assert t.name == t.name.lower() and t.prefix.isascii()
        if t.symbol:
            assert t.symbol == t.symbol.upper() and fold(t.symbol).lower() == t.prefix


def test_header_words_try_longer_words_first() -> None:
    words = [w for w, _ in doctypes.HEADER_WORDS]
    assert words.index("CHƯƠNG TRÌNH HÀNH ĐỘNG") < words.index("CHƯƠNG TRÌNH")
    assert "TIN BÀI" not in words and "VĂN BẢN" not in words
    assert match_type_line("CHƯƠNG TRÌNH HÀNH ĐỘNG") == "chương trình"
    assert match_type_line("QUYET DINH") == "quyết định"


def test_symbols_and_prefixes() -> None:
    assert type_from_number("05-CTr/TU") == "chương trình"
    assert type_from_number("12-QĐ/TW") == "quyết định" and type_from_number("3-QĐi/TW") == "quy định"
    assert doctypes.id_prefix("tin bài") == "tin" and doctypes.id_prefix("không rõ") == "vb"
    assert doctypes.type_for_prefix("qdi") == "quy định" and doctypes.type_for_prefix("xx") is None
    assert base_doc_id("đề án", None, "2025-01-02", "Chuyển đổi số") == "da-2025-01-02-chuyen-doi-so"


def test_query_names_and_cited_names() -> None:
    names = dict(doctypes.QUERY_NAMES)
    assert names["chuong trinh hanh dong"] == "ctr" and names["nq"] == "nq" and names["quy dinh"] == "qdi"
    assert "qd" not in names and "bao cao" not in names
    assert "báo cáo" not in doctypes.CITED_NAMES and "công văn" in doctypes.CITED_NAMES
    assert doctypes.label("nghị quyết") == "Nghị quyết"


def test_a_cited_document_number_may_come_from_its_fields() -> None:
    passage = "Giảm 15% biên chế."
    assert numbers_supported("Thực hiện Quyết định số 210, giảm 15% biên chế.", passage, "210-QĐ/TW")
    assert not numbers_supported("Thực hiện báo cáo số 210, giảm 15% biên chế.", passage, "210-BC/TW")
