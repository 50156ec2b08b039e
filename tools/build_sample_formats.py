"""Regenerate the sample PDF, DOCX and HTML documents of corpus/ from their sources.

The sources are written by the Văn Kiện team in tools/samples/<name>.source.md, in a small
markdown subset:

* ``## text`` / ``### text``: section heading (I./II.) / sub-heading (1./2.);
* ``# text``: headline of a news article (HTML <h1>);
* ``**text**`` / ``*text*``: a line wholly in bold / italic;
* ``left || right``: a header line with two columns (issuing body | motto, number | place and date);
* ``- text``: bullet item; ``| a | b |``: table row (``|---|`` rows are skipped);
* anything else: a paragraph. Blank lines separate paragraphs.

Output is deterministic: creation dates and other metadata are fixed, and DOCX zip entries carry a
fixed timestamp, so running the script twice gives identical files.

Usage: .venv/bin/python -m tools.build_sample_formats [--out corpus]
"""

from __future__ import annotations

import argparse
import html
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tools" / "samples"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_ITALIC = FONT_DIR / "DejaVuSans-Oblique.ttf"
RUNNING_HEADER = "Văn Kiện – tài liệu mẫu"
AUTHOR = "Nhóm phát triển Văn Kiện (tài liệu mẫu)"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Line:
    """One logical line of a source file."""

    kind: str  # "h1", "h2", "h3", "bold", "italic", "columns", "bullet", "table", "para"
    text: str
    right: str = ""  # the right column of a "columns" line
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    source: str
    output: str
    title: str
    subject: str
    issued: datetime


TARGETS = (
    Target(
        "nq-71-2025-giao-duc-dao-tao.source.md",
        "nq-71-2025-giao-duc-dao-tao.pdf",
        "Nghị quyết số 71-NQ/TW về đột phá phát triển giáo dục và đào tạo (tài liệu mẫu)",
        "Tài liệu mẫu do nhóm phát triển Văn Kiện soạn để minh họa, không phải văn bản chính thức.",
        datetime(2025, 8, 22, 8, 0, 0, tzinfo=UTC),
    ),
    Target(
        "nq-66-2025-xay-dung-thi-hanh-phap-luat.source.md",
        "nq-66-2025-xay-dung-thi-hanh-phap-luat.docx",
        "Nghị quyết số 66-NQ/TW về đổi mới công tác xây dựng và thi hành pháp luật (tài liệu mẫu)",
        "Tài liệu mẫu do nhóm phát triển Văn Kiện soạn để minh họa, không phải văn bản chính thức.",
        datetime(2025, 4, 30, 8, 0, 0, tzinfo=UTC),
    ),
    Target(
        "tin-2025-09-16-hoi-nghi-toan-quoc-nq71-nq72.source.md",
        "tin-2025-09-16-hoi-nghi-toan-quoc-nq71-nq72.html",
        "Hội nghị toàn quốc quán triệt Nghị quyết 71 và Nghị quyết 72 của Bộ Chính trị",
        "Tài liệu mẫu do nhóm phát triển Văn Kiện soạn để minh họa, không phải văn bản chính thức.",
        datetime(2025, 9, 16, 11, 30, 0, tzinfo=UTC),
    ),
)

_BOLD_RE = re.compile(r"^\*\*(.+)\*\*$")
_ITALIC_RE = re.compile(r"^\*(.+)\*$")


def _strip_emphasis(text: str) -> str:
    text = text.strip()
    m = _BOLD_RE.match(text) or _ITALIC_RE.match(text)
    return m.group(1).strip() if m else text


def read_source(path: Path) -> list[Line]:
    """Parse a source file into logical lines."""
    lines: list[Line] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if not text:
            continue
        if text.startswith("### "):
            lines.append(Line("h3", text[4:].strip()))
        elif text.startswith("## "):
            lines.append(Line("h2", text[3:].strip()))
        elif text.startswith("# "):
            lines.append(Line("h1", text[2:].strip()))
        elif " || " in text:
            left, right = text.split(" || ", 1)
            lines.append(Line("columns", left.strip(), right=right.strip()))
        elif text.startswith("|"):
            cells = tuple(c.strip() for c in text.strip("|").split("|"))
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                continue
            lines.append(Line("table", " | ".join(cells), cells=cells))
        elif text.startswith("- "):
            lines.append(Line("bullet", text[2:].strip()))
        elif _BOLD_RE.match(text):
            lines.append(Line("bold", _strip_emphasis(text)))
        elif _ITALIC_RE.match(text):
            lines.append(Line("italic", _strip_emphasis(text)))
        else:
            lines.append(Line("para", text))
    return lines


# --------------------------------------------------------------------------- PDF (fpdf2)


def build_pdf(target: Target, lines: list[Line], out: Path) -> None:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class SamplePDF(FPDF):
        def header(self) -> None:
            self.set_font("DejaVu", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 5, RUNNING_HEADER, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0, 0, 0)
            self.ln(4)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("DejaVu", "", 9)
            self.cell(0, 8, f"Trang {self.page_no()}/{{nb}}", align="C")

    pdf = SamplePDF(format="A4")
    pdf.set_creation_date(target.issued)
    pdf.set_producer("Văn Kiện build_sample_formats.py")
    pdf.set_creator("Văn Kiện build_sample_formats.py")
    pdf.set_title(target.title)
    pdf.set_subject(target.subject)
    pdf.set_author(AUTHOR)
    pdf.set_lang("vi")
    pdf.add_font("DejaVu", "", str(FONT_REGULAR))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.add_font("DejaVu", "I", str(FONT_ITALIC))
    pdf.set_margins(22, 18, 20)
    pdf.set_auto_page_break(True, margin=22)
    pdf.alias_nb_pages()
    pdf.add_page()

    def block(text: str, style: str = "", size: float = 11, align: str = "J", gap: float = 2.0) -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(0, 5.6, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    in_header = True
    for line in lines:
        if line.kind == "columns":
            half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
            left, right = _strip_emphasis(line.text), _strip_emphasis(line.right)
            left_style = "B" if line.text.startswith("**") else ""
            right_style = "B" if line.right.startswith("**") else ("I" if line.right.startswith("*") else "")
            pdf.set_font("DejaVu", left_style, 10.5)
            pdf.cell(half, 6, left, align="C")
            pdf.set_font("DejaVu", right_style, 10.5)
            pdf.cell(half, 6, right, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2)
        elif line.kind == "bold" and in_header:
            block(line.text, "B", 12 if line.text.isupper() else 11, align="C", gap=0.5)
        elif line.kind in ("h1", "h2"):
            in_header = False
            pdf.ln(2)
            block(line.text, "B", 11.5, align="L", gap=1.5)
        elif line.kind == "h3":
            block(line.text, "B", 11, align="L", gap=1.5)
        elif line.kind == "bold":
            block(line.text, "B", 11, align="L", gap=0.5)
        elif line.kind == "italic":
            pdf.ln(2)
            block(line.text, "I", 10, align="C", gap=3)
        elif line.kind == "bullet":
            block(f"- {line.text}", "", 11, gap=1.2)
        elif line.kind == "table":
            block(line.text, "", 10.5, align="L", gap=1.2)
        else:
            in_header = False
            block(line.text)
    pdf.output(str(out))


# --------------------------------------------------------------------------- DOCX (python-docx)


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with a fixed timestamp on every entry, keeping order and compression."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def build_docx(target: Target, lines: list[Line], out: Path) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(13)

    props = doc.core_properties
    props.title = target.title
    props.subject = target.subject
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.comments = target.subject
    props.keywords = "tài liệu mẫu; Văn Kiện"
    props.created = target.issued.replace(tzinfo=None)
    props.modified = target.issued.replace(tzinfo=None)
    props.last_printed = target.issued.replace(tzinfo=None)
    props.revision = 1

    table_rows: list[tuple[str, ...]] = []

    def flush_table() -> None:
        if not table_rows:
            return
        table = doc.add_table(rows=len(table_rows), cols=len(table_rows[0]))
        table.style = "Table Grid"
        for r, cells in enumerate(table_rows):
            for c, text in enumerate(cells):
                cell = table.cell(r, c)
                cell.text = text
                if r == 0:
                    for run in cell.paragraphs[0].runs:
                        run.bold = True
        table_rows.clear()

    for line in lines:
        if line.kind != "table":
            flush_table()
        if line.kind == "columns":
            # Issuing body / number on the left, motto / place and date on the right.
            for text, align in ((line.text, WD_ALIGN_PARAGRAPH.LEFT), (line.right, WD_ALIGN_PARAGRAPH.RIGHT)):
                p = doc.add_paragraph()
                p.alignment = align
                run = p.add_run(_strip_emphasis(text))
                run.bold = text.startswith("**")
                run.italic = text.startswith("*") and not text.startswith("**")
        elif line.kind == "h2":
            doc.add_heading(line.text, level=1)
        elif line.kind == "h3":
            doc.add_heading(line.text, level=2)
        elif line.kind == "h1":
            doc.add_heading(line.text, level=0)
        elif line.kind == "bold":
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run(line.text).bold = True
        elif line.kind == "italic":
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run(line.text).italic = True
        elif line.kind == "bullet":
            doc.add_paragraph(line.text, style="List Bullet")
        elif line.kind == "table":
            table_rows.append(line.cells)
        else:
            doc.add_paragraph(line.text)
    flush_table()

    buf = io.BytesIO()
    doc.save(buf)
    out.write_bytes(_fixed_zip(buf.getvalue()))


# --------------------------------------------------------------------------- HTML


def build_html(target: Target, lines: list[Line], out: Path) -> None:
    esc = html.escape
    body: list[str] = []
    in_list = False
    date_done = False
    for line in lines:
        if line.kind != "bullet" and in_list:
            body.append("</ul>")
            in_list = False
        if line.kind == "h1":
            body.append(f"<h1>{esc(line.text)}</h1>")
        elif line.kind in ("h2", "h3"):
            tag = "h2" if line.kind == "h2" else "h3"
            body.append(f"<{tag}>{esc(line.text)}</{tag}>")
        elif line.kind == "bullet":
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"  <li>{esc(line.text)}</li>")
        elif line.kind == "italic":
            body.append(f'<p class="ghi-chu"><em>{esc(line.text)}</em></p>')
        elif line.kind == "bold":
            body.append(f"<p><strong>{esc(line.text)}</strong></p>")
        elif not date_done and re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", line.text):
            body.append(f'<p class="ngay-dang">{esc(line.text)}</p>')
            date_done = True
        else:
            body.append(f"<p>{esc(line.text)}</p>")
    if in_list:
        body.append("</ul>")
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="vi">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{esc(target.title)}</title>",
            f'<meta name="description" content="{esc(target.subject)}">',
            f'<meta name="author" content="{esc(AUTHOR)}">',
            f'<meta name="date" content="{target.issued.strftime("%Y-%m-%d")}">',
            "</head>",
            "<body>",
            '<nav><a href="/">Trang chủ</a> | <a href="/thoi-su">Thời sự</a></nav>',
            "<article>",
            *body,
            "</article>",
            "<footer><p>Văn Kiện – tài liệu mẫu</p></footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
    out.write_text(page, encoding="utf-8", newline="\n")


BUILDERS = {".pdf": build_pdf, ".docx": build_docx, ".html": build_html}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "corpus", help="output folder (default: corpus/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for target in TARGETS:
        lines = read_source(SAMPLES / target.source)
        out = args.out / target.output
        BUILDERS[out.suffix](target, lines, out)
        print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
