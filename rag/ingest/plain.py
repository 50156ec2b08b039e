"""Plain text files (.txt)."""

from __future__ import annotations

from pathlib import Path

from rag.ingest.common import make_raw, text_to_blocks
from rag.ingest.decode import decode_text
from rag.types import RawDocument


def parse_txt(path: Path, data: bytes) -> list[RawDocument]:
    """Read a plain-text file: one block per line."""
    text, encoding = decode_text(data)
    return [make_raw(path, data, "txt", text_to_blocks(text), metadata={"encoding": encoding})]
