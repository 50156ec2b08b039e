"""Readable, deterministic document and paragraph ids."""

from __future__ import annotations

import re

from rag.text.doctypes import id_prefix
from rag.text.header import parse_number
from rag.text.normalize import fold
from rag.types import DEFAULT_CLASSIFICATION

MAX_DOC_ID = 80


def slug(text: str, max_words: int = 8) -> str:
    """ASCII slug of the first words of `text` ("Bí thư Thành ủy" -> "bi-thu-thanh-uy")."""
    words = re.findall(r"[a-z0-9]+", fold(text).lower())
    return "-".join(words[:max_words])


def base_doc_id(doc_type: str, number: str | None, issued: str | None, title: str) -> str:
    """The id a document gets when no other document holds it yet.

    From the số/ký hiệu when there is one: "57-NQ/TW" issued 2024 -> "nq-57-2024"; bodies other than
    the Party centre keep their suffix: "03/NQ-CP" -> "nq-03-cp-2025". Otherwise the type, the date and
    the first words of the title: "tin-2026-02-25-bi-thu-thanh-uy-ha-noi".
    """
    year = issued[:4] if issued else None
    if number:
        num, symbols = parse_number(number)
        parts = [fold(symbols[0]).lower() if symbols else id_prefix(doc_type), fold(num).lower()]
        parts += [fold(s).lower() for s in symbols[1:] if s.upper() != "TW"]
        if year:
            parts.append(year)
        doc_id = "-".join(p for p in parts if p)
    else:
        parts = [id_prefix(doc_type), issued or "khong-ngay", slug(title, 6) or "van-ban"]
        doc_id = "-".join(parts)
    doc_id = re.sub(r"[^a-z0-9-]+", "-", doc_id).strip("-")
    return doc_id[:MAX_DOC_ID].rstrip("-")


def doc_id_suffix(classification: str) -> str:
    """The namespace of a classification's document ids: "" for public documents, ".<level>" for the others
    ("nq-904-2026.mat"). Base ids never contain ".", so ids of different classifications never collide, and the id
    a document gets never depends on a document its uploader may not see (docs/security.md, "Side channels")."""
    return "" if classification == DEFAULT_CLASSIFICATION else f".{classification}"


def paragraph_id(doc_id: str, n: int) -> str:
    """ "<doc_id>/p<n>" with n zero-padded to four digits."""
    return f"{doc_id}/p{n:04d}"
