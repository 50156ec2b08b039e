"""HTML files (.html, .htm): block elements become blocks, with heading, list and table hints.

Parsing is event-driven (the standard library's `html.parser`), with no tree and no recursion, so
deeply nested or malformed pages cost time in proportion to their size and nothing more. Missing end
tags are tolerated the way browsers mostly do: a new cell closes the open cell, a new row the open row.

* Block elements (p, div, li, h1-h6, tr, br, section, article, blockquote, pre, ...) delimit blocks;
  inline elements (a, span, b, em, font, ...) do not.
* h1-h6 give style "heading"; a block wholly in <b>/<strong> gives "bold"; li items start with "- ".
* A table row gives one "table" block, its cells joined by " | ". Rows of layout tables (a cell
  holding a nested table, a heading or a whole article; two-column tables whose cells hold several
  lines, as in the header of an official document) are read cell by cell instead.
* script, style, noscript, template, the head (except <title>, the title hint), svg, iframe, object,
  canvas, form controls, nav and elements marked hidden are dropped.
* The encoding comes from a byte-order mark, else <meta charset> / http-equiv, else the same
  guessing as plain text (`rag.ingest.decode.decode_text`).
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from rag.config import MAX_TEXT_CHARS
from rag.errors import ParseError
from rag.ingest.common import make_raw
from rag.ingest.decode import decode_text
from rag.types import Block, RawDocument

logger = logging.getLogger(__name__)

#: How far into the file a <meta charset> is looked for (bytes).
META_SCAN_BYTES = 16384
#: A row whose text is longer than this holds page content (a layout table), not data.
LAYOUT_ROW_CHARS = 1500
#: Share of a block's letters inside <b>/<strong> from which the block is "bold".
BOLD_SHARE = 0.95

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "html",
        "legend",
        "main",
        "menu",
        "ol",
        "p",
        "section",
        "summary",
        "ul",
        "br",
        "option",
        "optgroup",
        "noframes",
        "frameset",
        "frame",
    ]
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "svg",
        "iframe",
        "object",
        "canvas",
        "select",
        "textarea",
        "button",
        "nav",
        "footer",  # site chrome: contact lines, copyright, links to other articles
        "aside",
    }
)
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_BOLD_TAGS = frozenset({"b", "strong"})
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_SINGLE_BYTE_LATIN = {"latin-1", "iso8859-1", "cp1252", "ascii"}
# Python codecs that decode bytes to text but are no character set a page can be written in.
_NOT_CHARSETS = {"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7"}


@dataclass(slots=True)
class _Table:
    """An open table: the row being read and the cell being read, each cell a list of lines."""

    first: bool
    row: list[list[tuple[str, str]]] | None = None
    cell: list[tuple[str, str]] | None = None


class _BlockCollector(HTMLParser):
    """Collects blocks from parser events."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title_parts: list[str] = []
        self._pieces: list[tuple[str, bool]] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._in_title = False
        self._heading = False
        self._bold = 0
        self._pre = 0
        self._bullet = False
        self._tables: list[_Table] = []

    # -- output --------------------------------------------------------------------------------

    def _destination(self) -> list[tuple[str, str]] | None:
        """The open cell that receives lines, or None for the document itself."""
        for table in reversed(self._tables):
            if table.cell is not None:
                return table.cell
        return None

    def _emit(self, text: str, style: str) -> None:
        cell = self._destination()
        if cell is not None:
            cell.append((text, style))
        else:
            self.blocks.append(Block(text, None, style))

    def _flush(self) -> None:
        if not self._pieces:
            return
        pieces, self._pieces = self._pieces, []
        text = " ".join("".join(t for t, _ in pieces).split())
        if not text:
            return
        style = ""
        if self._heading:
            style = "heading"
        else:
            letters = sum(ch.isalpha() for t, _ in pieces for ch in t)
            bold = sum(ch.isalpha() for t, b in pieces if b for ch in t)
            if letters and bold >= BOLD_SHARE * letters:
                style = "bold"
        if self._bullet:
            text = f"- {text}"
            self._bullet = False
        self._emit(text, style)

    # -- tables --------------------------------------------------------------------------------

    def _close_cell(self) -> None:
        table = self._tables[-1]
        if table.cell is not None:
            if table.row is None:
                table.row = []
            table.row.append(table.cell)
            table.cell = None

    def _close_row(self) -> None:
        self._close_cell()
        table = self._tables[-1]
        row, table.row = table.row, None
        if not row:
            return
        # The row goes where the table goes: an enclosing cell or the document.
        self._tables.pop()
        try:
            multi_line = any(len(cell) > 1 for cell in row)
            rich = any(style in ("table", "heading") for cell in row for _, style in cell)
            long = sum(len(text) for cell in row for text, _ in cell) > LAYOUT_ROW_CHARS
            if rich or long or (len(row) <= 2 and (multi_line or table.first)):
                for cell in row:
                    for text, style in cell:
                        self._emit(text, style)
                return
            texts = [" ".join(text for text, _ in cell) for cell in row]
            texts = [t for t in texts if t]
            if texts:
                self._emit(" | ".join(texts), "table")
        finally:
            self._tables.append(table)

    # -- events --------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            elif self._skip_tag == "head" and tag == "body":
                self._skip_tag = None
            elif tag == "title" and self._skip_tag == "head":
                self._in_title = True
            if self._skip_tag is not None:
                return
        if tag == "title":
            self._in_title = True
            return
        if tag not in _VOID_TAGS and (tag in _SKIP_TAGS or _hidden(attrs)):
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in _BOLD_TAGS:
            self._bold += 1
        elif tag in _HEADINGS:
            self._flush()
            self._heading = True
        elif tag == "li":
            self._flush()
            self._bullet = True
        elif tag == "table":
            self._flush()
            self._tables.append(_Table(first=not self._tables and not self.blocks))
        elif tag in ("td", "th") and self._tables:
            self._flush()
            self._close_cell()
            self._tables[-1].cell = []
        elif tag == "tr" and self._tables:
            self._flush()
            self._close_row()
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _BLOCK_TAGS or tag in ("td", "th", "tr"):
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == "title":
                self._in_title = False
            elif tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth <= 0:
                    self._skip_tag = None
            return
        if tag == "title":
            self._in_title = False
        elif tag in _BOLD_TAGS:
            self._bold = max(0, self._bold - 1)
        elif tag in _HEADINGS:
            self._flush()
            self._heading = False
        elif tag == "li":
            self._flush()
            self._bullet = False
        elif tag == "table" and self._tables:
            self._flush()
            self._close_row()
            self._tables.pop()
        elif tag in ("td", "th") and self._tables:
            self._flush()
            self._close_cell()
        elif tag == "tr" and self._tables:
            self._flush()
            self._close_row()
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in _BLOCK_TAGS or tag in ("td", "th", "tr"):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip_tag is not None:
            return
        bold = self._bold > 0
        if self._pre and "\n" in data:
            lines = data.split("\n")
            for line in lines[:-1]:
                self._pieces.append((line, bold))
                self._flush()
            self._pieces.append((lines[-1], bold))
            return
        self._pieces.append((data, bold))

    def finish(self) -> None:
        """Flush what unclosed elements still hold."""
        self.close()
        self._skip_tag = None
        self._flush()
        while self._tables:
            self._close_row()
            self._tables.pop()


def _hidden(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "hidden" or (name == "aria-hidden" and (value or "").lower() == "true"):
            return True
        if name == "style" and value and _HIDDEN_STYLE_RE.search(value):
            return True
    return False


def _declared_encoding(data: bytes) -> str | None:
    """The codec named by a <meta charset> or http-equiv Content-Type, when Python knows it."""
    m = _META_CHARSET_RE.search(data[:META_SCAN_BYTES])
    if not m:
        return None
    try:
        name = codecs.lookup(m.group(1).decode("ascii")).name
        b"<".decode(name)  # bytes-to-bytes codecs (base64, zlib, rot13 ...) are no character sets
    except (LookupError, UnicodeError):
        return None
    if name in _NOT_CHARSETS:
        return None
    if name.startswith(("utf-16", "utf-32")):
        # A page that could declare this in ASCII is not UTF-16 (WHATWG: read as UTF-8).
        return "utf-8"
    return name


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode an HTML file: byte-order mark, then <meta charset>, then the plain-text guess.

    Returns:
        The text and the name of the encoding used.

    Raises:
        ParseError: if the bytes are binary rather than text.
    """
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_text(data)
    declared = _declared_encoding(data)
    if declared:
        if declared in _SINGLE_BYTE_LATIN and not data.isascii():
            # Pages labelled Latin-1 are very often UTF-8 in fact; the other way round is rare.
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        try:
            return data.decode(declared), declared
        except UnicodeError:
            logger.debug("declared encoding %s does not fit the bytes; guessing", declared)
    return decode_text(data)


def html_to_blocks(text: str) -> tuple[list[Block], str | None]:
    """Convert HTML text to blocks; returns them and the <title> text (None when empty)."""
    collector = _BlockCollector()
    collector.feed(text)
    collector.finish()
    title = " ".join("".join(collector.title_parts).split()) or None
    return collector.blocks, title


def parse_html(path: Path, data: bytes) -> list[RawDocument]:
    """Read an HTML file.

    Raises:
        ParseError: for binary content, too much text, or a page without any text.
    """
    text, encoding = decode_html(data)
    if len(text) > MAX_TEXT_CHARS * 4:
        raise ParseError(f"{path}: {len(text)} characters of HTML", "Tệp HTML quá lớn để xử lý.")
    blocks, title = html_to_blocks(text)
    if sum(len(b.text) for b in blocks) > MAX_TEXT_CHARS:
        raise ParseError(f"{path}: more than {MAX_TEXT_CHARS} characters of text", "Tệp HTML quá lớn để xử lý.")
    if not blocks:
        raise ParseError(f"{path}: no text in the page", "Tệp HTML không có nội dung văn bản.")
    return [make_raw(path, data, "html", blocks, title_hint=title, metadata={"encoding": encoding})]
