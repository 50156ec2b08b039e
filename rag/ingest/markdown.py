"""Markdown files (.md): markup removed, headings, bold lines and table rows kept as style hints."""

from __future__ import annotations

import re
from pathlib import Path

from rag.ingest.common import make_raw, squash_spaces
from rag.ingest.decode import decode_text
from rag.types import Block, RawDocument

_HEADING_RE = re.compile(r"^(#{1,6})(?:\s+(.*))?$")
_RULE_RE = re.compile(r"^\s*([-*_=])(\s*\1){2,}\s*$")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
# Written so that no character is scanned twice from one start: a label holds no "[", a nested pair of
# parentheses in a URL holds no "(" (the earlier forms took quadratic time on a line of "[" or "[a](").
_IMAGE_RE = re.compile(r"!\[([^\[\]]*)\]\([^()]*\)")
_LINK_RE = re.compile(r"\[([^\[\]]+)\]\((?:[^()]|\([^()]*\))*\)")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_BULLET_RE = re.compile(r"^\s*[*+]\s+")
_QUOTE_RE = re.compile(r"^\s*(>\s?)+")
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<\"'])")
_BOLD_SPAN_RE = re.compile(r"(\*\*|__)(.+?)\1")
_UNDERSCORE_RE = re.compile(r"(?<![\w\\])_+|_+(?![\w])")
_STAR_RE = re.compile(r"(?<!\\)\*+")
_ESCAPED_PIPE = "\x00pipe\x00"


def _inline(text: str) -> str:
    """Strip inline markup, keeping the words."""
    text = _IMAGE_RE.sub(r"\1", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _AUTOLINK_RE.sub(r"\1", text)
    text = _TAG_RE.sub("", text)
    text = text.replace("`", "")
    text = _STAR_RE.sub("", text)
    text = _UNDERSCORE_RE.sub("", text)
    text = _ESCAPE_RE.sub(r"\1", text)
    return squash_spaces(text)


def _bold_share(line: str) -> float:
    """Share of a line's letters that sit inside **bold** spans."""
    if "**" not in line and "__" not in line:
        return 0.0
    letters = sum(map(str.isalnum, line))
    if not letters:
        return 0.0
    bold = sum(sum(map(str.isalnum, m.group(2))) for m in _BOLD_SPAN_RE.finditer(line))
    return bold / letters


def markdown_to_blocks(text: str, page: int | None = None) -> list[Block]:
    """Convert markdown text to blocks: one per line, markup stripped, style hints kept."""
    blocks: list[Block] = []
    in_fence = False
    for raw_line in text.split("\n"):
        if _FENCE_RE.match(raw_line):
            in_fence = not in_fence
            continue
        line = squash_spaces(raw_line)
        if not line:
            continue
        if in_fence:
            blocks.append(Block(line, page))
            continue
        line = _QUOTE_RE.sub("", line)
        if _TABLE_SEP_RE.match(line) and "-" in line and ("|" in line or line.count("-") >= 3):
            continue
        if _RULE_RE.match(line):
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            # A closing run of "#" is dropped ("## Title ##"); stripped, not matched, to stay linear.
            body = _inline((heading.group(2) or "").rstrip().rstrip("#").rstrip())
            if body:
                blocks.append(Block(body, page, "heading"))
            continue
        if line.startswith("|") or (line.endswith("|") and line.count("|") >= 2):
            protected = line.replace("\\|", _ESCAPED_PIPE)
            cells = [_inline(c.replace(_ESCAPED_PIPE, "|")) for c in protected.strip().strip("|").split("|")]
            cells = [c for c in cells if c]
            if cells:
                blocks.append(Block(" | ".join(cells), page, "table"))
            continue
        style = "bold" if _bold_share(line) >= 0.6 else ""
        line = _BULLET_RE.sub("- ", line)
        body = _inline(line)
        if body:
            blocks.append(Block(body, page, style))
    return blocks


def parse_md(path: Path, data: bytes) -> list[RawDocument]:
    """Read a markdown file."""
    text, encoding = decode_text(data)
    return [make_raw(path, data, "md", markdown_to_blocks(text), metadata={"encoding": encoding})]
