"""Helpers shared by the parsers: source identity, fingerprints, text to blocks."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rag.text.legacy import convert_legacy, detect_legacy
from rag.text.normalize import clean
from rag.types import Block, RawDocument

#: Tells whether a source (source_key, sha256) is already stored unchanged, so parsing can be skipped.
KnownSource = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A source the catalog already holds in this exact version; it was not parsed again."""

    source_key: str
    path: str


def source_key_for(path: Path) -> str:
    """Identity of a file: its resolved absolute path."""
    return str(path.resolve())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_ASCII_SPACES_RE = re.compile(r"[ \t\r\f\v]+")


def squash_spaces(text: str) -> str:
    """Collapse runs of ASCII white space to one space and trim.

    Only ASCII: before legacy-font conversion, characters such as U+0085 or U+00A0 may be letters
    of a TCVN3/VNI text read as Latin-1, and `str.split()` would eat them.
    """
    return _ASCII_SPACES_RE.sub(" ", text).strip(" ")


def text_to_blocks(text: str, page: int | None = None) -> list[Block]:
    """Split text into one block per non-empty line (leading/trailing spaces dropped)."""
    blocks: list[Block] = []
    for line in text.split("\n"):
        line = squash_spaces(line)
        if line:
            blocks.append(Block(line, page))
    return blocks


def make_raw(
    path: Path,
    data: bytes,
    fmt: str,
    blocks: Iterable[Block],
    *,
    title_hint: str | None = None,
    metadata: Mapping[str, str] | None = None,
    warnings: Iterable[str] = (),
    source_key: str | None = None,
    sha256: str | None = None,
) -> RawDocument:
    """Build a `RawDocument`, converting legacy fonts and cleaning every block's text."""
    meta = dict(metadata or {})
    blocks = list(blocks)
    # Legacy fonts are detected over the whole document: one short line says too little.
    legacy = detect_legacy("\n".join(b.text for b in blocks))
    cleaned: list[Block] = []
    for block in blocks:
        text = convert_legacy(block.text, legacy) if legacy else block.text
        text = " ".join(clean(text).split())
        if text:
            cleaned.append(Block(text, block.page, block.style))
    if legacy:
        meta["legacy_encoding"] = legacy
    if title_hint:
        title_hint = " ".join(clean(convert_legacy(title_hint, legacy) if legacy else title_hint).split())
    return RawDocument(
        source_key=source_key or source_key_for(path),
        path=str(path),
        fmt=fmt,
        blocks=tuple(cleaned),
        sha256=sha256 or sha256_hex(data),
        title_hint=title_hint or None,
        metadata=meta,
        warnings=tuple(warnings),
    )
