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
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
#: Most combining marks kept on one letter (Vietnamese needs two). Longer runs are cut: NFC normalisation takes
#: quadratic time in a run's length (three million marks on one letter never finish).
MAX_COMBINING_RUN = 8
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_COMBINING_RUN_RE = re.compile(f"([{_MARKS}]{{{MAX_COMBINING_RUN}}})[{_MARKS}]+")
# A run of letters longer than any word. Legacy-font detection scans such a run in quadratic time (a 20,000-letter
# run costs it seconds), and no run that long can be a Vietnamese syllable, so detection sees only its start.
_LONG_RUN_RE = re.compile(r"[^\W\d_]{65,}")


def squash_spaces(text: str) -> str:
    """Collapse runs of ASCII white space to one space and trim.

    Only ASCII: before legacy-font conversion, characters such as U+0085 or U+00A0 may be letters
    of a TCVN3/VNI text read as Latin-1, and `str.split()` would eat them.
    """
    return _ASCII_SPACES_RE.sub(" ", text).strip(" ")


def drop_surrogates(text: str) -> str:
    """Replace lone UTF-16 surrogates (JSON escapes like "\\ud800", broken PDF text maps) with U+FFFD.

    Such a string cannot be encoded as UTF-8, so the catalog could not store it.
    """
    if _SURROGATE_RE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def sanitize(text: str) -> str:
    """Text a parser found, made safe to process: no lone surrogates, no endless runs of combining marks."""
    text = drop_surrogates(text)
    if _COMBINING_RUN_RE.search(text) is not None:
        text = _COMBINING_RUN_RE.sub(r"\1", text)
    return text


def _detection_text(blocks: list[Block]) -> str:
    return _LONG_RUN_RE.sub(lambda m: m.group(0)[:64], "\n".join(b.text for b in blocks))


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
    meta = {sanitize(k): sanitize(v) for k, v in (metadata or {}).items()}
    blocks = [Block(sanitize(b.text), b.page, b.style) for b in blocks]
    # Legacy fonts are detected over the whole document: one short line says too little.
    legacy = detect_legacy(_detection_text(blocks))
    cleaned: list[Block] = []
    for block in blocks:
        text = block.text
        text = convert_legacy(text, legacy) if legacy else text
        text = " ".join(clean(text).split())
        if text:
            cleaned.append(Block(text, block.page, block.style))
    if legacy:
        meta["legacy_encoding"] = legacy
    if title_hint:
        title_hint = sanitize(title_hint)
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
