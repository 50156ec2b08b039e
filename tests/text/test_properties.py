"""Property tests of the text layer: normalisation forms, paragraph spans, sentence spans.

Arbitrary text (any code point but lone surrogates, which no decoder produces), text drawn mostly from
Vietnamese letters, tone marks, invisible and control characters, and block lists shaped like documents.
"""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.answer.sentences import split_sentences
from rag.errors import ParseError
from rag.pipeline import build_document
from rag.text.document import PARAGRAPH_SEPARATOR, analyse
from rag.text.normalize import canonical_tones, clean, fold, match_form
from rag.types import Block, RawDocument

# Letters, marks and oddities Vietnamese documents carry: precomposed and decomposed tone marks, the
# deprecated tone aliases, đ/Đ and the look-alike Ð, zero-width and bidi characters, odd spaces and controls.
VIETNAMESE_PIECES = [
    *"aăâeêioôơuưyđAĂÂEÊIOÔƠUƯYĐÐðqgnhtcmklrsvxbp",
    *"àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ",
    *"\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b\u0340\u0341",
    *"\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u2066",
    *" \t\n\r\u00a0\u2003\u3000\u2028\u0085\x0c",
    *"\x00\x01\x1b\x7f\x9c",
    *".,;:!?…-–—()[]\"“”'0123456789/",
    "Nghị quyết",
    "hoà",
    "uỷ",
    "Quốc",
    "giữ",
    "khuyến",
    "I. ",
    "1. ",
    "a) ",
    "Điều 5. ",
    "Chương II",
    "- ",
    "[1]",
    "[12]",
]
ANY_TEXT = st.text(max_size=80)
VIETNAMESE_TEXT = st.lists(st.sampled_from(VIETNAMESE_PIECES), max_size=40).map("".join)
TEXT = st.one_of(ANY_TEXT, VIETNAMESE_TEXT)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every precomposed letter that carries a Vietnamese diacritic, and the marks themselves.
_VIETNAMESE_LETTERS = {
    ch for ch in "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ" for ch in (ch, ch.upper())
}
_VIETNAMESE_MARKS = set("\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b\u0340\u0341")


@FAST
@given(TEXT)
def test_clean_is_idempotent(text: str) -> None:
    once = clean(text)
    assert clean(once) == once
    assert "\r" not in once
    assert unicodedata.is_normalized("NFC", once)


def _without_free_marks(text: str) -> str:
    """The text cleaned, minus combining marks left over after NFC (a letter carrying two tone marks)."""
    return "".join(ch for ch in clean(text) if not unicodedata.combining(ch))


@FAST
@given(TEXT.map(_without_free_marks))
def test_match_form_is_idempotent(text: str) -> None:
    once = match_form(text)
    assert match_form(once) == once


@example("OÀ\u0300")
@FAST
@given(TEXT)
def test_match_form_is_idempotent_with_stacked_marks(text: str) -> None:
    once = match_form(text)
    assert match_form(once) == once


@FAST
@given(TEXT)
@example("AÀ\u0302")  # a mark NFC cannot compose: it belongs to the word whose tone moves
def test_canonical_tones_is_idempotent(text: str) -> None:
    nfc = clean(text)
    once = canonical_tones(nfc)
    assert canonical_tones(once) == once


@FAST
@given(TEXT)
def test_fold_leaves_no_vietnamese_diacritics(text: str) -> None:
    for source in (text, clean(text)):
        folded = fold(source)
        assert not any(ch in _VIETNAMESE_LETTERS or ch in _VIETNAMESE_MARKS for ch in folded), repr(folded)
        assert all(ch.isascii() or ch not in _VIETNAMESE_LETTERS for ch in folded)


@FAST
@given(TEXT)
def test_split_sentences_spans_are_exact(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert span.text and span.text == span.text.strip()
        assert span.start >= previous_end
        previous_end = span.end


BLOCKS = st.lists(
    st.builds(
        Block,
        text=TEXT,
        page=st.one_of(st.none(), st.integers(min_value=1, max_value=40)),
        style=st.sampled_from(["", "", "heading", "bold", "table"]),
    ),
    max_size=25,
)


def _raw(blocks: list[Block], title: str | None) -> RawDocument:
    return RawDocument(
        source_key="/tmp/thu-nghiem.md", path="/tmp/thu-nghiem.md", fmt="md", blocks=tuple(blocks),
        sha256="0" * 64, title_hint=title,
    )  # fmt: skip


def _check_spans(raw: RawDocument) -> None:
    try:
        analysed = analyse(raw)
    except ParseError:
        return  # a document without text is refused, which is allowed
    text = analysed.text
    spans = analysed.spans
    assert spans, "a document with text has paragraphs"
    assert spans[0].start == 0
    assert spans[-1].end == len(text)
    for span in spans:
        assert 0 <= span.start <= span.end <= len(text)
    for left, right in itertools.pairwise(spans):
        assert right.start == left.end + len(PARAGRAPH_SEPARATOR)
        assert text[left.end : right.start] == PARAGRAPH_SEPARATOR
    doc, paragraphs = build_document(raw, analysed, "thu-nghiem", "cong-khai")
    assert doc.text == text
    for paragraph in paragraphs:
        assert paragraph.text == text[paragraph.start : paragraph.end]


@FAST
@given(BLOCKS, st.one_of(st.none(), TEXT))
def test_analyse_spans_cover_the_text(blocks: list[Block], title: str | None) -> None:
    # Any text, but no empty block: parsers never hand one over (see the test below).
    _check_spans(_raw([b for b in blocks if b.text], title))


@example([Block(""), Block("")], None)
@FAST
@given(BLOCKS, st.one_of(st.none(), TEXT))
def test_analyse_accepts_empty_blocks(blocks: list[Block], title: str | None) -> None:
    _check_spans(_raw(blocks, title))


@FAST
@given(BLOCKS)
def test_analyse_spans_cover_cleaned_blocks(blocks: list[Block]) -> None:
    # What parsers hand over: clean, single-line, non-empty blocks.
    cleaned = [Block(" ".join(clean(b.text).split()), b.page, b.style) for b in blocks]
    _check_spans(_raw([b for b in cleaned if b.text], None))


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BLOCKS, st.one_of(st.none(), TEXT))
def test_analyse_spans_cover_the_text_many(blocks: list[Block], title: str | None) -> None:
    _check_spans(_raw([b for b in blocks if b.text], title))
