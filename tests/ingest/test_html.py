"""HTML parsing: blocks and hints, dropped content, entities, encodings, pathological nesting."""

from __future__ import annotations

import codecs
import time
import unicodedata
from pathlib import Path

import pytest

from rag.errors import ParseError
from rag.ingest import parse_file
from rag.ingest.html import decode_html, html_to_blocks, parse_html
from rag.text.document import analyse
from rag.types import Block, RawDocument

ARTICLE = """<!DOCTYPE html>
<html lang="vi"><head>
<meta charset="utf-8">
<title>Hội nghị quán triệt Nghị quyết 57 &ndash; Báo Điện tử</title>
<style>p { color: red }</style>
<script>var s = "<p>không được đọc</p>";</script>
<link rel="stylesheet" href="x.css">
</head>
<body>
<nav><ul><li><a href="/">Trang chủ</a></li><li>Thời sự</li></ul></nav>
<article>
<h1>Hội nghị quán triệt <em>Nghị quyết</em> số 57-NQ/TW</h1>
<p class="date">10/01/2025 08:30</p>
<p>Sáng 10/1, tại Hà&nbsp;Nội, Bộ Chính trị tổ chức hội nghị toàn quốc &quot;quán triệt&quot;
   Nghị quyết về khoa học &amp; công nghệ&hellip;</p>
<h2>Ba nhóm nhiệm vụ</h2>
<ul>
  <li>Hoàn thiện thể chế</li>
  <li><p>Tăng đầu tư cho <b>nghiên cứu</b></p></li>
  <li>Phát triển hạ tầng số
</ul>
<table>
  <thead><tr><th>STT</th><th>Nhiệm vụ</th><th>Thời hạn</th></tr></thead>
  <tbody><tr><td>1<td>Xây dựng đề án<td>2025
  <tr><td>2</td><td>Đào tạo nhân lực</td><td></td></tr></tbody>
</table>
<p><strong>Kết luận hội nghị</strong></p>
<p>Dòng một<br>dòng hai</p>
<div hidden>Nội dung ẩn</div>
<div style="display: none">Cũng ẩn</div>
<noscript>Bật JavaScript</noscript>
<template><p>Mẫu</p></template>
<pre>Điều 1.
    Điều 2.</pre>
</article>
</body></html>
"""


def _blocks(html: str) -> list[Block]:
    return html_to_blocks(html)[0]


def test_article_blocks_and_hints(tmp_path: Path) -> None:
    path = tmp_path / "tin.html"
    path.write_text(ARTICLE, encoding="utf-8")
    docs = parse_file(path)
    raw = docs[0]
    assert isinstance(raw, RawDocument)
    assert raw.fmt == "html"
    assert raw.title_hint == "Hội nghị quán triệt Nghị quyết 57 – Báo Điện tử"
    assert raw.metadata["encoding"] == "utf-8"
    assert list(raw.blocks) == [
        Block("Hội nghị quán triệt Nghị quyết số 57-NQ/TW", None, "heading"),
        Block("10/01/2025 08:30", None, ""),
        Block(
            'Sáng 10/1, tại Hà Nội, Bộ Chính trị tổ chức hội nghị toàn quốc "quán triệt" '
            "Nghị quyết về khoa học & công nghệ…",
            None,
            "",
        ),
        Block("Ba nhóm nhiệm vụ", None, "heading"),
        Block("- Hoàn thiện thể chế", None, ""),
        Block("- Tăng đầu tư cho nghiên cứu", None, ""),
        Block("- Phát triển hạ tầng số", None, ""),
        Block("STT | Nhiệm vụ | Thời hạn", None, "table"),
        Block("1 | Xây dựng đề án | 2025", None, "table"),
        Block("2 | Đào tạo nhân lực", None, "table"),
        Block("Kết luận hội nghị", None, "bold"),
        Block("Dòng một", None, ""),
        Block("dòng hai", None, ""),
        Block("Điều 1.", None, ""),
        Block("Điều 2.", None, ""),
    ]


def test_whole_chain_for_an_article(tmp_path: Path) -> None:
    raw = parse_html(tmp_path / "tin.html", ARTICLE.encode())[0]
    analysed = analyse(raw)
    assert analysed.header.issued == "2025-01-10"
    paragraphs = [analysed.text[s.start : s.end] for s in analysed.spans]
    assert "Dòng một dòng hai" in paragraphs
    assert all(s.page is None for s in analysed.spans)


def test_dropped_content_never_shows() -> None:
    text = " ".join(b.text for b in _blocks(ARTICLE))
    for dropped in ("không được đọc", "color", "Trang chủ", "ẩn", "JavaScript", "Mẫu", "Báo Điện tử"):
        assert dropped not in text


def test_layout_table_with_an_article_inside() -> None:
    body = "".join(f"<p>Đoạn văn số {i} nói về chuyển đổi số quốc gia và đổi mới sáng tạo.</p>" for i in range(40))
    html = f"<table><tr><td>Menu</td><td><h1>Tiêu đề bài</h1>{body}</td></tr></table>"
    blocks = _blocks(html)
    assert blocks[0] == Block("Menu", None, "")
    assert blocks[1] == Block("Tiêu đề bài", None, "heading")
    assert len(blocks) == 42 and all(b.style != "table" for b in blocks)


def test_nested_table_goes_inside_its_cell() -> None:
    html = (
        "<table><tr><td>Ngoài 1</td><td><table><tr><td>a</td><td>b</td><td>c</td></tr></table></td>"
        "<td>Ngoài 3</td></tr></table><p>Sau bảng</p>"
    )
    assert _blocks(html) == [
        Block("Ngoài 1", None, ""),
        Block("a | b | c", None, "table"),
        Block("Ngoài 3", None, ""),
        Block("Sau bảng", None, ""),
    ]


def test_unclosed_elements_are_flushed() -> None:
    assert _blocks("<div><p>Phần cuối không đóng thẻ<table><tr><td>x<td>y<td>z") == [
        Block("Phần cuối không đóng thẻ", None, ""),
        Block("x | y | z", None, "table"),
    ]


def test_deep_nesting_is_fast_and_does_not_crash(tmp_path: Path) -> None:
    depth = 200_000
    html = "<html><body>" + "<div>" * depth + "<p>Nội dung ở rất sâu</p>" + "</div>" * depth + "</body></html>"
    path = tmp_path / "sau.html"
    path.write_text(html, encoding="utf-8")
    started = time.monotonic()
    docs = parse_file(path)
    elapsed = time.monotonic() - started
    assert isinstance(docs[0], RawDocument)
    assert [b.text for b in docs[0].blocks] == ["Nội dung ở rất sâu"]
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_deep_unclosed_nesting_of_every_kind() -> None:
    html = "<b><i><li><h2><ul><table><tr><td><span>" * 20_000 + "chữ"
    blocks = _blocks(html)
    assert [b.text for b in blocks] == ["- chữ"]


def _cp1258(text: str) -> bytes:
    """Windows-1258 bytes: base letters precomposed, tone marks as combining characters."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
        out.append(base + "".join(c for c in decomposed if c in tones))
    return "".join(out).encode("cp1258")


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="windows-1258">',
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">',
    ],
)
def test_cp1258_declared_in_meta(tmp_path: Path, meta: str) -> None:
    text = "Nghị quyết về đột phá phát triển khoa học, công nghệ và chuyển đổi số quốc gia"
    data = b"<html><head>" + meta.encode() + b"<title>" + _cp1258("Văn kiện") + b"</title></head><body><p>"
    data += _cp1258(text) + b"</p></body></html>"
    raw = parse_html(tmp_path / "cp1258.html", data)[0]
    assert raw.metadata["encoding"] == "cp1258"
    assert raw.title_hint == "Văn kiện"
    assert [b.text for b in raw.blocks] == [text]


def test_encodings() -> None:
    text = "<p>Đổi mới sáng tạo</p>"
    assert decode_html(codecs.BOM_UTF8 + text.encode())[0].endswith(text)
    assert text in decode_html(text.encode("utf-16"))[0]
    # Labelled Latin-1 but written in UTF-8, as many pages are.
    mislabelled = ('<meta charset="iso-8859-1">' + text).encode()
    assert decode_html(mislabelled) == ('<meta charset="iso-8859-1">' + text, "utf-8")
    # An unknown label falls back to guessing.
    assert decode_html(('<meta charset="x-khong-co">' + text).encode())[1] == "utf-8"


def test_entities_and_character_references() -> None:
    blocks = _blocks("<p>Khoa h&#7885;c &amp; c&#xF4;ng ngh&#7879; &lt;m&#7899;i&gt; &copy;</p>")
    assert blocks == [Block("Khoa học & công nghệ <mới> ©", None, "")]


def test_page_without_text(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        parse_html(tmp_path / "x.html", b"<html><head><title>T</title><script>x()</script></head><body> </body></html>")
    assert caught.value.user_message == "Tệp HTML không có nội dung văn bản."


def test_binary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParseError):
        parse_html(tmp_path / "x.html", b"\x00\x01\x02binary\x00" * 100)


def test_site_footer_and_aside_dropped(tmp_path: Path) -> None:
    page = tmp_path / "tin.html"
    page.write_text(
        "<html><body><article><h1>Tỉnh ủy họp phiên thường kỳ</h1><p>Nội dung chính của bài.</p></article>"
        "<aside>Tin liên quan: giá vàng hôm nay</aside><footer>Bản quyền thuộc về báo điện tử</footer></body></html>",
        encoding="utf-8",
    )
    (doc,) = parse_file(page)
    texts = [b.text for b in doc.blocks]
    assert texts == ["Tỉnh ủy họp phiên thường kỳ", "Nội dung chính của bài."]
