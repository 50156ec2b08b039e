"""Word files (.docx): body paragraphs and tables in reading order, with style hints.

The body is read straight from its XML (python-docx opens the package and gives the parts), so that
content controls, tracked insertions, hyperlinks and text boxes are all read in document order.
Section headers and footers, footnotes and comments are not part of the body and are left out.

Style hints: a paragraph style named "Heading …"/"Title" (or an outline level) gives "heading"; a
paragraph whose text runs are all bold (directly or through its styles) gives "bold"; a table row gives
one "table" block with its cells joined by " | ". Automatic numbering is rendered, because the marker
is not in the text: bullets as "- ", numbered levels as Word shows them ("1.", "a)", "II.").

Tables used for layout rather than data (the two-column header of an official document, the
signature block) are read cell by cell instead, one block per line: their cells hold several lines, or
the table opens the document, and a row of them joined by " | " would glue unrelated lines together.
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from rag.config import MAX_TEXT_CHARS
from rag.errors import ParseError
from rag.ingest.common import make_raw
from rag.text.roman import MAX_ROMAN, to_roman
from rag.types import Block, RawDocument

logger = logging.getLogger(__name__)

#: Largest accepted uncompressed size of word/document.xml, the main part (bytes).
MAX_DOCUMENT_XML_BYTES = 100 * 1024 * 1024
#: Largest accepted uncompressed size of all parts together (bytes); python-docx loads every part.
MAX_TOTAL_BYTES = 300 * 1024 * 1024
#: Largest accepted compression ratio of a part above `RATIO_CHECK_BYTES` (a decompression bomb).
MAX_RATIO = 200
#: Parts smaller than this are not checked for their ratio (small XML compresses well legitimately).
RATIO_CHECK_BYTES = 10 * 1024 * 1024
#: Most entries accepted in the zip container.
MAX_ENTRIES = 20_000
#: Tables nested deeper than this are read as plain text.
MAX_TABLE_DEPTH = 16
#: A row whose text is longer than this holds page content (a layout table), not data.
LAYOUT_ROW_CHARS = 1500

_BROKEN = "Tệp DOCX bị hỏng."
_BOMB = "Tệp DOCX quá lớn khi giải nén (có thể là tệp độc hại)."
_MAIN_PART = "word/document.xml"
_ROOT_RELS = "_rels/.rels"

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_P, _TBL, _TR, _TC, _R, _T = (f"{_W}{n}" for n in ("p", "tbl", "tr", "tc", "r", "t"))
_SDT, _SDT_CONTENT, _CUSTOM_XML = f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"
_TXBX = f"{_W}txbxContent"
_VAL = f"{_W}val"
# Subtrees of a paragraph that hold no displayed text of its own.
_SKIP_IN_PARAGRAPH = {
    f"{_W}pPr",
    f"{_W}rPr",
    f"{_W}del",
    f"{_W}moveFrom",
    f"{_W}instrText",
    f"{_W}footnoteReference",
    f"{_W}endnoteReference",
    f"{_W}commentReference",
    _MC_FALLBACK,
}
_CHAR_TEXT = {
    f"{_W}tab": " ",
    f"{_W}ptab": " ",
    f"{_W}br": "\n",
    f"{_W}cr": "\n",
    f"{_W}noBreakHyphen": "-",
    f"{_W}softHyphen": "",
}
_FALSE = {"0", "false", "off", "none"}


def _check_container(path: Path, data: bytes) -> None:
    """Refuse broken zip files and decompression bombs before python-docx reads every part."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ParseError(f"{path}: {len(infos)} zip entries", _BOMB)
            main_name = _main_part_name(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ParseError(f"{path}: not a zip container: {exc}", _BROKEN) from exc
    main = next((i for i in infos if i.filename == main_name), None)
    if main is None:
        raise ParseError(f"{path}: no main document part ({main_name}) in the package", _BROKEN)
    if main.file_size > MAX_DOCUMENT_XML_BYTES:
        raise ParseError(f"{path}: {main_name} is {main.file_size} bytes uncompressed", _BOMB)
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise ParseError(f"{path}: {total} bytes uncompressed in all", _BOMB)
    for info in infos:
        if info.file_size > RATIO_CHECK_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ParseError(
                f"{path}: {info.filename} expands {info.file_size / max(info.compress_size, 1):.0f} times",
                _BOMB,
            )


def _main_part_name(archive: zipfile.ZipFile) -> str:
    """The name of the main document part: word/document.xml, or what the package relationships say."""
    names = set(archive.namelist())
    if _MAIN_PART in names or _ROOT_RELS not in names:
        return _MAIN_PART
    info = archive.getinfo(_ROOT_RELS)
    if info.file_size > 1024 * 1024:
        return _MAIN_PART
    try:
        root = ElementTree.fromstring(archive.read(_ROOT_RELS))
    except ElementTree.ParseError:
        return _MAIN_PART
    for rel in root:
        if str(rel.get("Type", "")).endswith("/officeDocument"):
            return str(rel.get("Target", "")).lstrip("/") or _MAIN_PART
    return _MAIN_PART


def _on(element: Any) -> bool:
    """The value of an on/off property element (<w:b/>, <w:b w:val="0"/>)."""
    return str(element.get(_VAL, "1")).lower() not in _FALSE


@dataclass(slots=True)
class _Style:
    name: str = ""
    based_on: str | None = None
    bold: bool | None = None
    outline: int | None = None
    num: tuple[str, int | None] | None = None  # numId, ilvl


@dataclass(slots=True)
class _Level:
    fmt: str = "decimal"
    text: str = "%1."
    start: int = 1


@dataclass(slots=True)
class _Numbering:
    """Automatic numbering definitions and the counters that render them in reading order."""

    levels: dict[str, dict[int, _Level]] = field(default_factory=dict)  # abstractNumId -> ilvl -> level
    nums: dict[str, tuple[str, dict[int, int]]] = field(default_factory=dict)  # numId -> abstract, overrides
    counters: dict[str, dict[int, int]] = field(default_factory=dict)  # abstractNumId -> ilvl -> value
    started: set[str] = field(default_factory=set)  # numIds whose start overrides were applied

    def marker(self, num_id: str, ilvl: int) -> str | None:
        """The marker shown for the next paragraph of list `num_id` at level `ilvl` (None: no marker)."""
        found = self.nums.get(num_id)
        if found is None:
            return None
        abstract, overrides = found
        levels = self.levels.get(abstract, {})
        level = levels.get(ilvl)
        if level is None:
            return None
        if level.fmt == "bullet":
            return "-"
        if level.fmt == "none":
            return None
        counters = self.counters.setdefault(abstract, {})
        if num_id not in self.started:
            self.started.add(num_id)
            for lvl, start in overrides.items():
                counters[lvl] = start - 1
        counters[ilvl] = counters.get(ilvl, levels[ilvl].start - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]
        text = level.text
        for lvl in range(8, -1, -1):
            placeholder = f"%{lvl + 1}"
            if placeholder in text:
                shown = levels.get(lvl, _Level())
                value = counters.get(lvl, shown.start)
                text = text.replace(placeholder, _format_number(value, shown.fmt))
        return text.strip() or None


def _format_number(value: int, fmt: str) -> str:
    if fmt in ("lowerLetter", "upperLetter"):
        letters = ""
        n = max(value, 1)
        while n > 0:
            n, rem = divmod(n - 1, 26)
            letters = chr(ord("a") + rem) + letters
        return letters.upper() if fmt == "upperLetter" else letters
    if fmt in ("lowerRoman", "upperRoman") and 0 < value <= MAX_ROMAN:
        roman = to_roman(value)
        return roman.lower() if fmt == "lowerRoman" else roman
    if fmt == "decimalZero":
        return f"{value:02d}"
    return str(value)


def _num_pr(ppr: Any) -> tuple[str, int | None] | None:
    if ppr is None:
        return None
    num_pr = ppr.find(f"{_W}numPr")
    if num_pr is None:
        return None
    num_id = num_pr.find(f"{_W}numId")
    ilvl = num_pr.find(f"{_W}ilvl")
    level = None
    if ilvl is not None:
        try:
            level = int(ilvl.get(_VAL, "0"))
        except ValueError:
            level = 0
    return (str(num_id.get(_VAL, "0")) if num_id is not None else "", level)


def _outline(ppr: Any) -> int | None:
    if ppr is None:
        return None
    lvl = ppr.find(f"{_W}outlineLvl")
    if lvl is None:
        return None
    try:
        value = int(lvl.get(_VAL, "9"))
    except ValueError:
        return None
    return value if 0 <= value <= 8 else None


def _bold_of(rpr: Any) -> bool | None:
    if rpr is None:
        return None
    b = rpr.find(f"{_W}b")
    return None if b is None else _on(b)


class _Reader:
    """Turns the body XML of one document into blocks."""

    def __init__(self, styles_xml: Any, numbering_xml: Any) -> None:
        self.styles: dict[str, _Style] = {}
        self.default_paragraph_style: str | None = None
        self.default_bold = False
        self.numbering = _Numbering()
        if styles_xml is not None:
            self._read_styles(styles_xml)
        if numbering_xml is not None:
            self._read_numbering(numbering_xml)

    # -- definitions ---------------------------------------------------------------------------

    def _read_styles(self, root: Any) -> None:
        defaults = root.find(f"{_W}docDefaults/{_W}rPrDefault/{_W}rPr")
        self.default_bold = bool(_bold_of(defaults))
        for style in root.iter(f"{_W}style"):
            style_id = style.get(f"{_W}styleId")
            if not style_id:
                continue
            name = style.find(f"{_W}name")
            based = style.find(f"{_W}basedOn")
            ppr = style.find(f"{_W}pPr")
            self.styles[style_id] = _Style(
                name=str(name.get(_VAL, "")) if name is not None else "",
                based_on=str(based.get(_VAL)) if based is not None and based.get(_VAL) else None,
                bold=_bold_of(style.find(f"{_W}rPr")),
                outline=_outline(ppr),
                num=_num_pr(ppr),
            )
            if style.get(f"{_W}type") == "paragraph" and _on_attr(style.get(f"{_W}default")):
                self.default_paragraph_style = style_id

    def _read_numbering(self, root: Any) -> None:
        for abstract in root.iter(f"{_W}abstractNum"):
            abstract_id = str(abstract.get(f"{_W}abstractNumId", ""))
            levels: dict[int, _Level] = {}
            for lvl in abstract.iter(f"{_W}lvl"):
                level = _level(lvl)
                if level is not None:
                    levels[level[0]] = level[1]
            self.numbering.levels[abstract_id] = levels
        for num in root.iter(f"{_W}num"):
            num_id = str(num.get(f"{_W}numId", ""))
            ref = num.find(f"{_W}abstractNumId")
            if ref is None:
                continue
            overrides: dict[int, int] = {}
            for override in num.iter(f"{_W}lvlOverride"):
                start = override.find(f"{_W}startOverride")
                try:
                    if start is not None:
                        overrides[int(override.get(f"{_W}ilvl", "0"))] = int(start.get(_VAL, "1"))
                except ValueError:
                    continue
            self.numbering.nums[num_id] = (str(ref.get(_VAL, "")), overrides)

    def _style_chain(self, style_id: str | None) -> Iterator[_Style]:
        seen: set[str] = set()
        while style_id and style_id not in seen and style_id in self.styles:
            seen.add(style_id)
            style = self.styles[style_id]
            yield style
            style_id = style.based_on

    # -- body ----------------------------------------------------------------------------------

    def read_body(self, body: Any) -> list[Block]:
        return self._container(body, 0)

    def _children(self, element: Any) -> Iterator[Any]:
        """Block-level children, looking through content controls and custom XML wrappers."""
        stack = [iter(element)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                continue
            if child.tag == _SDT:
                content = child.find(_SDT_CONTENT)
                if content is not None:
                    stack.append(iter(content))
            elif child.tag == _CUSTOM_XML:
                stack.append(iter(child))
            else:
                yield child

    def _container(self, element: Any, depth: int) -> list[Block]:
        blocks: list[Block] = []
        for child in self._children(element):
            if child.tag == _P:
                blocks.extend(self._paragraph(child, depth))
            elif child.tag == _TBL:
                blocks.extend(self._table(child, depth, first=depth == 0 and not blocks))
        return blocks

    def _table(self, table: Any, depth: int, *, first: bool) -> list[Block]:
        if depth >= MAX_TABLE_DEPTH:
            text = " ".join(" ".join(str(t) for t in table.itertext()).split())
            return [Block(text)] if text else []
        rows: list[list[list[Block]]] = []
        for row in self._children(table):
            if row.tag != _TR:
                continue
            cells = [self._container(cell, depth + 1) for cell in self._children(row) if cell.tag == _TC]
            rows.append(cells)
        columns = max((len(cells) for cells in rows), default=0)
        out: list[Block] = []
        for cells in rows:
            multi_line = any(len(cell) > 1 for cell in cells)
            rich = any(b.style in ("table", "heading") for cell in cells for b in cell)
            long = sum(len(b.text) for cell in cells for b in cell) > LAYOUT_ROW_CHARS
            if rich or long or (columns <= 2 and (multi_line or first)):
                for cell in cells:
                    out.extend(cell)
                continue
            texts = [" ".join(b.text for b in cell).strip() for cell in cells]
            texts = [t for t in texts if t]
            if texts:
                out.append(Block(" | ".join(texts), None, "table"))
        return out

    def _paragraph(self, p: Any, depth: int) -> list[Block]:
        ppr = p.find(f"{_W}pPr")
        style_el = ppr.find(f"{_W}pStyle") if ppr is not None else None
        style_id = str(style_el.get(_VAL)) if style_el is not None else self.default_paragraph_style
        chain = list(self._style_chain(style_id))

        pieces: list[tuple[str, bool]] = []
        boxes: list[Any] = []
        self._runs(p, chain, pieces, boxes)
        text = "".join(t for t, _ in pieces)

        style = ""
        name = chain[0].name.casefold() if chain else ""
        outline = _outline(ppr)
        if outline is None:
            outline = next((s.outline for s in chain if s.outline is not None), None)
        if name.startswith(("heading", "title")) or outline is not None:
            style = "heading"
        else:
            visible = [bold for t, bold in pieces if t.strip()]
            if visible and all(visible):
                style = "bold"

        marker = self._marker(ppr, chain)
        lines = [" ".join(line.split()) for line in text.split("\n")]
        lines = [line for line in lines if line]
        blocks: list[Block] = []
        if lines:
            if marker:
                lines[0] = f"{marker} {lines[0]}"
            blocks = [Block(line, None, style) for line in lines]
        if depth < MAX_TABLE_DEPTH:
            for box in boxes:
                blocks.extend(self._container(box, depth + 1))
        return blocks

    def _marker(self, ppr: Any, chain: list[_Style]) -> str | None:
        direct = _num_pr(ppr)
        inherited = next((s.num for s in chain if s.num is not None), None)
        num_id = direct[0] if direct and direct[0] else (inherited[0] if inherited else "")
        ilvl = direct[1] if direct and direct[1] is not None else (inherited[1] if inherited else None)
        if not num_id or num_id == "0":
            return None
        return self.numbering.marker(num_id, ilvl or 0)

    def _run_bold(self, run: Any, chain: list[_Style]) -> bool:
        direct = _bold_of(run.find(f"{_W}rPr"))
        if direct is not None:
            return direct
        rpr = run.find(f"{_W}rPr")
        rstyle = rpr.find(f"{_W}rStyle") if rpr is not None else None
        if rstyle is not None:
            for style in self._style_chain(str(rstyle.get(_VAL))):
                if style.bold is not None:
                    return style.bold
        for style in chain:
            if style.bold is not None:
                return style.bold
        return self.default_bold

    def _runs(self, p: Any, chain: list[_Style], pieces: list[tuple[str, bool]], boxes: list[Any]) -> None:
        """Collect the displayed text of a paragraph with the boldness of each piece, in order."""
        stack = [(iter(p), False)]
        while stack:
            children, bold = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                continue
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP_IN_PARAGRAPH:
                continue
            if tag == _TXBX:
                boxes.append(child)
            elif tag == _T:
                pieces.append((child.text or "", bold))
            elif tag in _CHAR_TEXT:
                if tag == f"{_W}br" and child.get(f"{_W}type") == "page":
                    pieces.append(("\n", bold))
                else:
                    pieces.append((_CHAR_TEXT[tag], bold))
            elif tag == _R:
                stack.append((iter(child), self._run_bold(child, chain)))
            elif tag != _P:  # hyperlinks, smart tags, fields, insertions, drawings: look inside
                stack.append((iter(child), bold))


def _on_attr(value: str | None) -> bool:
    return value is not None and value.lower() not in _FALSE


def _level(lvl: Any) -> tuple[int, _Level] | None:
    try:
        ilvl = int(lvl.get(f"{_W}ilvl", "0"))
    except ValueError:
        return None
    level = _Level()
    fmt = lvl.find(f"{_W}numFmt")
    if fmt is not None:
        level.fmt = str(fmt.get(_VAL, "decimal"))
    text = lvl.find(f"{_W}lvlText")
    if text is not None:
        level.text = str(text.get(_VAL, ""))
    start = lvl.find(f"{_W}start")
    if start is not None:
        with contextlib.suppress(ValueError):
            level.start = int(start.get(_VAL, "1"))
    return ilvl, level


def _part_xml(document: Any, reltype: str) -> Any:
    """The XML root of a part related to the main document, or None when there is none."""
    try:
        part = document.part.part_related_by(reltype)
    except (KeyError, ValueError):
        return None
    element = getattr(part, "element", None)
    if element is not None:
        return element
    try:
        from docx.oxml.parser import parse_xml

        return parse_xml(part.blob)
    except Exception as exc:
        logger.debug("cannot read part %s: %r", reltype, exc)
        return None


def parse_docx(path: Path, data: bytes) -> list[RawDocument]:
    """Read a Word document: body paragraphs and table rows in order, headers and footers left out.

    Raises:
        ParseError: for a broken package ("Tệp DOCX bị hỏng."), a decompression bomb, or a document
            without text.
    """
    _check_container(path, data)
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT

    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
    except ParseError:
        raise
    except Exception as exc:  # python-docx and lxml raise many kinds on broken packages
        raise ParseError(f"{path}: cannot open as DOCX: {exc!r}", _BROKEN) from exc
    reader = _Reader(_part_xml(document, RT.STYLES), _part_xml(document, RT.NUMBERING))
    blocks = reader.read_body(body)
    if sum(len(b.text) for b in blocks) > MAX_TEXT_CHARS:
        raise ParseError(f"{path}: more than {MAX_TEXT_CHARS} characters of text", _BOMB)
    title: str | None = None
    try:
        title = document.core_properties.title or None
    except Exception as exc:
        logger.debug("%s: unreadable core properties: %r", path, exc)
    if not blocks:
        raise ParseError(f"{path}: no text in the document body", "Tệp DOCX không có nội dung văn bản.")
    return [make_raw(path, data, "docx", blocks, title_hint=title)]
