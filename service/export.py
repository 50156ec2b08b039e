"""Answers and conversations as DOCX and PDF files a cadre can file or print.

Each answer keeps its citations as numbered footnotes (document title, number, date, section and paragraph id),
and every page carries the classification marking of the export: the highest level among the cited paragraphs.
The report is plain data (`Report`), resolved against the library by the router; this module only lays it out.

Both formats embed a TrueType font with Vietnamese letters (a subset), so they show and print the same on a
machine without it; one is looked for among the usual system fonts (`find_font`), or an operator names one
(`export_font`). Without one, PDF cannot be made, and DOCX names Times New Roman, the typeface of Vietnamese
administrative documents, which Word and LibreOffice (through its metric-compatible Liberation Serif) have.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import CLASSIFICATIONS

#: The marking printed at the top of every page, per classification.
MARKINGS = {"cong-khai": "CÔNG KHAI", "noi-bo": "NỘI BỘ", "mat": "MẬT", "toi-mat": "TỐI MẬT"}
assert set(MARKINGS) == set(CLASSIFICATIONS)
LEVEL_LABELS = {"cong-khai": "Công khai", "noi-bo": "Nội bộ", "mat": "Mật", "toi-mat": "Tối mật"}

DISCLAIMER = "Văn Kiện trả lời bằng cách trích dẫn văn bản; hãy đối chiếu với bản gốc trước khi sử dụng chính thức."

#: Letters a font must have to set Vietnamese (every base vowel with its marks, and đ).
VIETNAMESE_LETTERS = "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵĂÂĐÊÔƠƯỸ“”–…"

#: Fonts looked for when the operator names none: (regular, bold), the first whose regular file exists and has
#: every Vietnamese letter wins. Serif first: official documents are set in a serif face.
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf", "/usr/share/fonts/truetype/noto/NotoSerif-Bold.ttf"),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    ),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("C:/Windows/Fonts/times.ttf", "C:/Windows/Fonts/timesbd.ttf"),
    ("/Library/Fonts/Times New Roman.ttf", "/Library/Fonts/Times New Roman Bold.ttf"),
)

DOCX_FONT = "Times New Roman"
MARKER_RE = re.compile(r"\[(\d{1,3})\]")


class ExportUnavailable(Exception):
    """The export cannot be made on this server (no usable font); the message is for users, in Vietnamese."""


@dataclass(frozen=True, slots=True)
class Note:
    """One footnote: where a cited paragraph sits. `number` runs through the whole report."""

    number: int
    title: str
    doc_number: str | None
    issued: str | None
    section: str
    paragraph_id: str
    classification: str

    def text(self) -> str:
        meta = [
            f"số {self.doc_number}" if self.doc_number else "",
            f"ngày {vn_date(self.issued)}" if self.issued else "",
        ]
        head = self.title + (f" ({', '.join(m for m in meta if m)})" if any(meta) else "")
        parts = [head, f"mục {self.section}" if self.section else "", f"đoạn {self.paragraph_id}"]
        level = "" if self.classification == "cong-khai" else f" [{LEVEL_LABELS[self.classification]}]"
        return ", ".join(p for p in parts if p) + "." + level


@dataclass(frozen=True, slots=True)
class ExportTurn:
    """A question and its answer; the answer's markers are already the report's footnote numbers ("[3]")."""

    question: str
    answer: str
    notes: tuple[Note, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """What an export holds. `marking`: the highest classification among the cited paragraphs."""

    title: str
    marking: str
    exported_at: str
    exported_by: str
    turns: tuple[ExportTurn, ...]

    def intro(self) -> str:
        by = f" bởi {self.exported_by}" if self.exported_by else ""
        return f"Xuất từ Văn Kiện lúc {self.exported_at}{by}. {len(self.turns)} lượt hỏi đáp."


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """`text` without what a DOCX (XML 1.0) or a printed page cannot hold: control characters other than tab and
    line breaks, lone surrogates; "\\r\\n" and "\\r" become "\\n"."""
    return _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def vn_date(iso: str | None) -> str:
    """ "2024-12-22" -> "22/12/2024"; anything else unchanged."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", iso or "")
    return f"{m.group(3)}/{m.group(2)}/{m.group(1)}" if m else (iso or "")


def highest(levels: Iterable[str]) -> str:
    """The highest classification among `levels` (the public level when there are none)."""
    return max(levels, key=CLASSIFICATIONS.index, default=CLASSIFICATIONS[0])


def renumber(answer: str, numbers: dict[int, int]) -> str:
    """The answer with each "[k]" replaced by its footnote number; a marker with no citation is dropped."""

    def swap(m: re.Match[str]) -> str:
        number = numbers.get(int(m.group(1)))
        return f"[{number}]" if number is not None else ""

    return MARKER_RE.sub(swap, answer)


def segments(line: str) -> list[str | int]:
    """A line as text pieces and footnote numbers, in order."""
    out: list[str | int] = []
    last = 0
    for m in MARKER_RE.finditer(line):
        text = line[last : m.start()].rstrip(" ") if m.start() > last else ""
        if text:
            out.append(text)
        out.append(int(m.group(1)))
        last = m.end()
    if line[last:]:
        out.append(line[last:])
    return out


def answer_lines(answer: str) -> list[tuple[bool, str]]:
    """(is a list item, text) for each non-empty line of an answer ("- " starts a list item)."""
    lines = []
    for raw in answer.splitlines():
        line = raw.strip()
        if line:
            lines.append((line.startswith("- "), line[2:] if line.startswith("- ") else line))
    return lines


# -- fonts -------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def covers_vietnamese(path: Path) -> bool:
    """Whether the TrueType font at `path` has every Vietnamese letter (a font without them prints boxes). Cached:
    every export asks, and reading a font's character map takes a few milliseconds."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(str(path), lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # any unreadable or non-TrueType file: not usable, whatever the reason
        return False
    return all(ord(ch) in cmap for ch in VIETNAMESE_LETTERS)


def find_font(configured: Path | None = None) -> tuple[Path, Path]:
    """(regular, bold) TrueType files for PDF export. `configured`: the operator's regular font; its bold is a
    sibling named like it with "Bold" (else the regular face is used for bold too).

    Raises:
        ExportUnavailable: no candidate exists or has the Vietnamese letters.
    """
    if configured is not None:
        if not configured.is_file() or not covers_vietnamese(configured):
            raise ExportUnavailable(
                f"Phông chữ cấu hình cho xuất PDF ({configured.name}) không có hoặc thiếu chữ tiếng Việt; "
                "hãy báo quản trị viên kiểm tra thiết lập export_font."
            )
        return configured, next((p for p in _bold_siblings(configured) if p.is_file()), configured)
    for regular_name, bold_name in FONT_CANDIDATES:
        regular, bold = Path(regular_name), Path(bold_name)
        if regular.is_file() and covers_vietnamese(regular):
            return regular, bold if bold.is_file() else regular
    raise ExportUnavailable(
        "Máy chủ chưa có phông chữ tiếng Việt để xuất PDF; hãy tải bản DOCX, hoặc báo quản trị viên cài phông "
        "(ví dụ gói fonts-dejavu-core) hay chỉ định export_font."
    )


def _bold_siblings(regular: Path) -> list[Path]:
    stem = regular.stem
    names = [stem.replace("Regular", "Bold"), f"{stem}-Bold", f"{stem}bd", f"{stem} Bold"]
    return [regular.with_name(name + regular.suffix) for name in names if name != stem]


# -- DOCX --------------------------------------------------------------------------------------------------------

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_OBFUSCATED_FONT = "application/vnd.openxmlformats-officedocument.obfuscatedFont"


def to_docx(report: Report, fonts: tuple[Path, Path] | None = None) -> bytes:
    """The report as a Word document: marking in every page header, footnotes as real Word footnotes. With
    `fonts` (regular, bold TrueType files) their family is used and embedded (subset, obfuscated as Word does),
    so the file shows the same letters on a machine without it; without, it names Times New Roman."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import parse_xml
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    family = _family(fonts[0]) if fonts else DOCX_FONT
    for name in ("Normal", "Heading 1", "Heading 2", "List Bullet"):
        style: Any = document.styles[name]
        style.font.name = family
        rfonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            rfonts.set(docx.oxml.ns.qn(attr), family)
        if name == "Normal":
            style.font.size = Pt(13)

    marking = MARKINGS[report.marking]
    for section in document.sections:
        head = section.header.paragraphs[0]
        head.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = head.add_run(marking)
        run.bold = True
        run.font.color.rgb = RGBColor(0xA4, 0x16, 0x1A)
        foot = section.footer.paragraphs[0]
        foot.alignment = WD_ALIGN_PARAGRAPH.CENTER
        foot.add_run(DISCLAIMER + " Trang ").font.size = Pt(9)
        foot._p.append(parse_xml(f'<w:fldSimple xmlns:w="{_W}" w:instr="PAGE"><w:r><w:t>1</w:t></w:r></w:fldSimple>'))

    document.add_heading(report.title, level=1)
    document.add_paragraph(report.intro())
    notes: list[Note] = []
    for i, turn in enumerate(report.turns, 1):
        document.add_heading(f"Câu hỏi {i}", level=2)
        document.add_paragraph(turn.question)
        for is_item, line in answer_lines(turn.answer):
            paragraph = document.add_paragraph(style="List Bullet" if is_item else None)
            for piece in segments(line):
                if isinstance(piece, int):
                    paragraph._p.append(
                        parse_xml(
                            f'<w:r xmlns:w="{_W}"><w:rPr><w:vertAlign w:val="superscript"/></w:rPr>'
                            f'<w:footnoteReference w:id="{piece}"/></w:r>'
                        )
                    )
                else:
                    paragraph.add_run(piece)
        notes.extend(turn.notes)

    settings = document.settings.element
    if notes:
        part = Part(
            PackURI("/word/footnotes.xml"), _FOOTNOTES_TYPE, _footnotes_xml(notes, family), document.part.package
        )
        document.part.relate_to(part, RT.FOOTNOTES)
        # CT_Settings is a sequence: footnotePr comes before compat (Word refuses elements out of order)
        _insert_before(
            settings,
            parse_xml(f'<w:footnotePr xmlns:w="{_W}"><w:footnote w:id="-1"/><w:footnote w:id="0"/></w:footnotePr>'),
            "compat",
        )
    if fonts:
        text = "".join(p.text for p in document.paragraphs) + "".join(n.text() for n in notes)
        _embed_fonts(document, family, fonts, text + report.intro() + MARKINGS[report.marking] + DISCLAIMER)
        _insert_before(settings, parse_xml(f'<w:embedTrueTypeFonts xmlns:w="{_W}"/>'), "proofState")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _footnotes_xml(notes: Sequence[Note], family: str) -> bytes:
    from xml.sax.saxutils import escape, quoteattr

    name = quoteattr(family)
    font = f'<w:rFonts w:ascii={name} w:hAnsi={name} w:cs={name}/><w:sz w:val="20"/>'
    body = [
        f'<w:footnotes xmlns:w="{_W}">',
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>',
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
        "</w:footnote>",
    ]
    for note in notes:
        body.append(
            f'<w:footnote w:id="{note.number}"><w:p>'
            f'<w:r><w:rPr>{font}<w:vertAlign w:val="superscript"/></w:rPr><w:footnoteRef/></w:r>'
            f'<w:r><w:rPr>{font}</w:rPr><w:t xml:space="preserve"> {escape(note.text())}</w:t></w:r>'
            "</w:p></w:footnote>"
        )
    body.append("</w:footnotes>")
    return "".join(body).encode("utf-8")


def _insert_before(parent: Any, element: Any, tag: str) -> None:
    """Insert `element` before the first child named `tag` (w: namespace), or at the end when there is none."""
    follower = parent.find(f"{{{_W}}}{tag}")
    if follower is None:
        parent.append(element)
    else:
        follower.addprevious(element)


def _family(path: Path) -> str:
    """The family name of a TrueType font ("DejaVu Serif")."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        name = font["name"].getBestFamilyName()
    return str(name or path.stem)


def obfuscate(data: bytes, key: uuid.UUID) -> bytes:
    """A font obfuscated as ECMA-376 embeds it: the first 32 bytes XORed with the key GUID's 16 bytes, taken in
    reverse order of the GUID's written form. The same call undoes it."""
    mask = bytes.fromhex(key.hex)[::-1]
    head = bytes(b ^ mask[i % 16] for i, b in enumerate(data[:32]))
    return head + data[32:]


def _subset(path: Path, text: str) -> bytes:
    """The font cut to the letters of `text`, the Vietnamese alphabet and ASCII (a reader may still edit)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # one line per table it leaves out
    letters = text + VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper() + "".join(chr(c) for c in range(32, 127))
    with TTFont(str(path)) as font:
        options = subset.Options()
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=letters)
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
    return out.getvalue()


def _embed_fonts(document: Any, family: str, fonts: tuple[Path, Path], text: str) -> None:
    """Embed the regular and bold faces in the font table, as Word's "embed fonts in the file" does."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from lxml import etree

    table = document.part.part_related_by(RT.FONT_TABLE)
    root = etree.fromstring(table.blob)
    entry = etree.SubElement(root, f"{{{_W}}}font", {f"{{{_W}}}name": family})
    r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    faces = [("embedRegular", fonts[0])] + ([("embedBold", fonts[1])] if fonts[1] != fonts[0] else [])
    for n, (tag, path) in enumerate(faces, 1):
        key = uuid.uuid4()
        blob = obfuscate(_subset(path, text), key)
        part = Part(PackURI(f"/word/fonts/font{n}.odttf"), _OBFUSCATED_FONT, blob, document.part.package)
        rid = table.relate_to(part, RT.FONT)
        etree.SubElement(entry, f"{{{_W}}}{tag}", {f"{{{r}}}id": rid, f"{{{_W}}}fontKey": "{" + str(key).upper() + "}"})
    table._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


# -- PDF ---------------------------------------------------------------------------------------------------------

_PAGE_MARGIN = 20.0  # mm, left and right
_TOP = 22.0  # mm below the page top, under the marking
_BOTTOM = 18.0  # mm kept free for the page footer
_NOTE_SIZE = 8.5
_BODY_SIZE = 11.5
_LINE = 5.6  # mm per body line
_NOTE_LINE = 4.0


def to_pdf(report: Report, fonts: tuple[Path, Path]) -> bytes:
    """The report as PDF/A-like print: fonts embedded (subset), marking on every page, footnotes at the foot of
    the page where they are cited (a note never lands on another page than its marker's line)."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    marking = MARKINGS[report.marking]

    class _Pdf(FPDF):
        def header(self) -> None:
            self.set_y(9)
            self.set_font("body", "B", 11)
            self.set_text_color(0xA4, 0x16, 0x1A)
            self.cell(0, 6, marking, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0, 0, 0)
            self.set_y(_TOP)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("body", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, f"{DISCLAIMER}  Trang {self.page_no()}/{{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = _Pdf(format="A4")
    pdf.set_title(report.title)
    pdf.set_creator("Văn Kiện")
    pdf.set_margins(_PAGE_MARGIN, _TOP, _PAGE_MARGIN)
    pdf.add_font("body", "", str(fonts[0]))
    pdf.add_font("body", "B", str(fonts[1]))
    pdf.set_auto_page_break(False)
    pdf.alias_nb_pages()
    pdf.add_page()
    layout = _Layout(pdf)
    layout.block(report.title, size=16, bold=True, after=3)
    layout.block(report.intro(), size=9.5, after=4)
    for i, turn in enumerate(report.turns, 1):
        layout.block(f"Câu hỏi {i}: {turn.question}", bold=True, before=3, after=2)
        by_number = {note.number: note for note in turn.notes}
        for is_item, line in answer_lines(turn.answer):
            cited = [by_number[n] for n in (int(m) for m in MARKER_RE.findall(line)) if n in by_number]
            layout.block(("•  " if is_item else "") + line, notes=cited, indent=5 if is_item else 0, after=1.5)
    layout.flush_notes()
    return bytes(pdf.output())


class _Layout:
    """Places blocks of text top-down and keeps each block's footnotes at the foot of its page."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self.pending: list[Note] = []
        self.seen: set[int] = set()

    def _height(self, text: str, size: float, bold: bool, width: float, line: float) -> float:
        self.pdf.set_font("body", "B" if bold else "", size)
        return float(self.pdf.multi_cell(width, line, text, dry_run=True, output="HEIGHT"))

    def _notes_height(self, notes: Sequence[Note]) -> float:
        if not notes:
            return 0.0
        width = self.pdf.epw
        return 4.0 + sum(self._height(f"[{n.number}] {n.text()}", _NOTE_SIZE, False, width, _NOTE_LINE) for n in notes)

    def block(
        self,
        text: str,
        *,
        notes: Sequence[Note] = (),
        size: float = _BODY_SIZE,
        bold: bool = False,
        indent: float = 0,
        before: float = 0,
        after: float = 0,
    ) -> None:
        pdf = self.pdf
        new = [n for n in notes if n.number not in self.seen]
        width = pdf.epw - indent
        line = _LINE * size / _BODY_SIZE
        height = before + self._height(text, size, bold, width, line) + after
        bottom = pdf.h - _BOTTOM
        if pdf.get_y() + height > bottom - self._notes_height([*self.pending, *new]) and pdf.get_y() > _TOP + 1:
            self.flush_notes()
            pdf.add_page()
        pdf.set_y(pdf.get_y() + before)
        pdf.set_x(pdf.l_margin + indent)
        pdf.set_font("body", "B" if bold else "", size)
        # a block taller than a whole page may still break across pages: let fpdf2 do that one
        pdf.set_auto_page_break(True, _BOTTOM)
        pdf.multi_cell(width, line, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_auto_page_break(False)
        pdf.set_y(pdf.get_y() + after)
        self.pending.extend(new)
        self.seen.update(n.number for n in new)

    def flush_notes(self) -> None:
        """Write the pending footnotes at the foot of the current page, above the page footer."""
        if not self.pending:
            return
        pdf = self.pdf
        top = pdf.h - _BOTTOM - self._notes_height(self.pending)
        pdf.set_draw_color(120, 120, 120)
        pdf.line(pdf.l_margin, top + 1.5, pdf.l_margin + 50, top + 1.5)
        pdf.set_y(top + 3)
        pdf.set_font("body", "", _NOTE_SIZE)
        for note in self.pending:
            pdf.set_x(pdf.l_margin)
            pdf.multi_cell(
                pdf.epw, _NOTE_LINE, f"[{note.number}] {note.text()}", align="L", new_x="LMARGIN", new_y="NEXT"
            )
        self.pending = []


def export_name(report: Report, fmt: str) -> str:
    """A file name without spaces or marks: "van-kien-hoi-dap-20261203-1a2b3c.pdf"."""
    digits = re.sub(r"\D", "", report.exported_at)
    stamp = digits[4:8] + digits[2:4] + digits[:2] if len(digits) >= 8 else "ban-xuat"
    return f"van-kien-hoi-dap-{stamp}-{uuid.uuid4().hex[:6]}.{fmt}"
