"""The small vocabulary of frozen records every stage takes and returns.

Data flows one way: parsers produce `RawDocument`s made of `Block`s; the text layer turns one into a
`SourceDoc` with its `Paragraph`s; retrieval returns `Hit`s; answering returns an `Answer` whose
`Citation`s point at paragraphs. Ids are readable and deterministic (`nq-57-2024/p0031`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Document classifications, from least to most restricted.
CLASSIFICATIONS: tuple[str, ...] = ("cong-khai", "noi-bo", "mat", "toi-mat")
DEFAULT_CLASSIFICATION = "cong-khai"


@dataclass(frozen=True, slots=True)
class DocType:
    """One document type and the ways documents and questions write it.

    The derived forms (header words, symbol lookups, folded names, regex alternations) are built from
    `DOC_TYPE_TABLE` by `rag.text.doctypes`; nothing else lists the types.

    Attributes:
        name: the type as stored, filtered on and shown (lower-case Vietnamese): "nghị quyết".
        prefix: ASCII abbreviation opening the ids of documents of this type ("nq-57-2024"); for a type
            with a `symbol` it is that symbol without diacritics, in lower case.
        symbol: the type's symbol in a số/ký hiệu, upper case ("NQ" in "57-NQ/TW", "CTR" for "CTr"); None
            when documents of this type carry no number of their own.
        heading: whether a header names the type on a line of its own ("NGHỊ QUYẾT").
        aliases: longer names of the same type ("chương trình hành động"); headers and questions use them.
        cited: whether questions and answers name documents of this type by number ("Kết luận số 210").
        abbreviated: whether questions write the bare symbol for the name ("NQ 57", "KL 210").
    """

    name: str
    prefix: str
    symbol: str | None = None
    heading: bool = True
    aliases: tuple[str, ...] = ()
    cited: bool = False
    abbreviated: bool = False


#: News articles, and documents whose header names no type: the types `analyse` falls back on.
NEWS_DOC_TYPE = "tin bài"
OTHER_DOC_TYPE = "văn bản"

#: The document-type vocabulary. The store codes types by their position here: add new types at the end.
DOC_TYPE_TABLE: tuple[DocType, ...] = (
    DocType("nghị quyết", "nq", "NQ", cited=True, abbreviated=True),
    DocType("kết luận", "kl", "KL", cited=True, abbreviated=True),
    DocType("chỉ thị", "ct", "CT", cited=True, abbreviated=True),
    DocType("chương trình", "ctr", "CTR", aliases=("chương trình hành động",), cited=True, abbreviated=True),
    DocType("kế hoạch", "kh", "KH", cited=True, abbreviated=True),
    DocType("quyết định", "qd", "QĐ", cited=True),
    DocType("quy định", "qdi", "QĐI", cited=True),
    DocType("hướng dẫn", "hd", "HD", cited=True),
    DocType("thông báo", "tb", "TB", cited=True),
    DocType("báo cáo", "bc", "BC"),
    DocType("công văn", "cv", "CV", cited=True),
    DocType("tờ trình", "ttr", "TTR"),
    DocType("đề án", "da", "ĐA"),
    DocType("phụ lục", "pl"),
    DocType(NEWS_DOC_TYPE, "tin", heading=False),
    DocType(OTHER_DOC_TYPE, "vb", heading=False),
)

#: Names of the document types (lower-case Vietnamese, as shown to users), in `DOC_TYPE_TABLE` order.
DOC_TYPES: tuple[str, ...] = tuple(t.name for t in DOC_TYPE_TABLE)

_EMPTY: Mapping[str, str] = MappingProxyType({})


def classification_rank(level: str) -> int:
    """Return the position of a classification level (0 = public).

    Raises:
        ValueError: if the level is not one of `CLASSIFICATIONS`.
    """
    try:
        return CLASSIFICATIONS.index(level)
    except ValueError:
        raise ValueError(f"unknown classification {level!r}; expected one of {CLASSIFICATIONS}") from None


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of text as a parser found it: a line of a PDF page, a DOCX paragraph, an HTML block.

    Attributes:
        text: the text, already NFC but otherwise as found.
        page: 1-based page number where the format has pages (PDF), else None.
        style: a hint from the source format: "heading" (markdown #, DOCX heading style, HTML h1-h6,
            a line wholly in bold), "table" (a table row), or "" for plain text.
    """

    text: str
    page: int | None = None
    style: str = ""


@dataclass(frozen=True, slots=True)
class RawDocument:
    """What a parser returns for one document of a source file (a .jsonl file yields many).

    Attributes:
        source_key: identity of the document: the resolved file path, plus "#<record id>" for a
            record of a .jsonl file. Re-ingesting the same key replaces or keeps the document.
        path: the file the document came from.
        fmt: the parser that read it ("pdf", "docx", "md", ...).
        blocks: the text in reading order.
        sha256: fingerprint of the source bytes (or of the record), used to detect changes.
        title_hint: a title given by the container (jsonl `title`, HTML <title>, DOCX core title).
        metadata: other fields of the source kept as strings (jsonl extra fields, OCR notes).
        warnings: problems met while parsing that did not stop it (plain English, for logs/reports).
    """

    source_key: str
    path: str
    fmt: str
    blocks: tuple[Block, ...]
    sha256: str
    title_hint: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocHeader:
    """What the header of a Vietnamese administrative document says about it.

    All fields are None when the header does not say. `issued` is ISO `YYYY-MM-DD`.
    """

    issuer: str | None = None
    number: str | None = None
    place: str | None = None
    issued: str | None = None
    doc_type: str | None = None
    summary: str | None = None  # trích yếu
    headline: str | None = None  # for news articles


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A citable paragraph.

    Attributes:
        paragraph_id: "<doc_id>/p<n>" with n zero-padded to four digits.
        doc_id: the owning document.
        n: 0-based position in the document.
        text: the paragraph as displayed and quoted; equals `SourceDoc.text[start:end]`.
        section: the section path, e.g. "III > 2 > b)" ("" before the first heading).
        page: 1-based page where the paragraph starts, or None.
        start: character offset of the paragraph in the document text.
        end: end offset (exclusive).
        kind: "heading" for a heading line, "body" otherwise.
    """

    paragraph_id: str
    doc_id: str
    n: int
    text: str
    section: str
    page: int | None
    start: int
    end: int
    kind: str = "body"


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """A document as stored in the catalog.

    Attributes:
        doc_id: readable, stable id (from the số/ký hiệu when there is one: "nq-57-2024").
        source_key: identity of the source file or record (see `RawDocument.source_key`).
        path: the file it came from.
        fmt: parser name.
        sha256: fingerprint of the source.
        title: display title ("Nghị quyết về ..." or a news headline).
        doc_type: one of `DOC_TYPES`.
        number: số/ký hiệu ("57-NQ/TW") or None.
        issuer: issuing body ("Bộ Chính trị") or None.
        issued: ISO date or None.
        place: place of issue ("Hà Nội") or None.
        summary: trích yếu or None.
        classification: one of `CLASSIFICATIONS`.
        text: the whole normalised text; paragraph spans index into it.
        metadata: other fields kept from the source.
        ingested_by: who put it in the catalog: "cli" (an operator's `vankien ingest`) or the uploading API key,
            "key:<key id> (<key name>)" (provenance, docs/security.md).
        added_at: when it was committed (ISO, UTC; set by the catalog, None before).
    """

    doc_id: str
    source_key: str
    path: str
    fmt: str
    sha256: str
    title: str
    doc_type: str
    number: str | None
    issuer: str | None
    issued: str | None
    place: str | None
    summary: str | None
    classification: str
    text: str
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    ingested_by: str = "cli"
    added_at: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A catalog listing row: a document's metadata without its text."""

    doc_id: str
    title: str
    number: str | None
    doc_type: str
    issuer: str | None
    issued: str | None
    classification: str
    paragraphs: int
    path: str
    source_key: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome for one source file or record of an ingest run.

    `status` is one of "ok", "unchanged", "replaced", "rejected"; `reason` says why in plain words
    (Vietnamese, shown to users) when rejected, and may carry a note otherwise.
    """

    path: str
    status: str
    reason: str = ""
    doc_id: str | None = None
    paragraphs: int = 0


INGEST_STATUSES: tuple[str, ...] = ("ok", "unchanged", "replaced", "rejected")


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions applied inside retrieval, before ranking.

    Attributes:
        doc_types: keep only these document types (values of `DOC_TYPES`); empty = all.
        issued_from: ISO date; documents issued before it are excluded (undated ones too).
        issued_to: ISO date; documents issued after it are excluded (undated ones too).
        doc_ids: keep only these documents; empty = all.
    """

    doc_types: tuple[str, ...] = ()
    issued_from: str | None = None
    issued_to: str | None = None
    doc_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.doc_types or self.issued_from or self.issued_to or self.doc_ids)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an API key's owner or a local user. `clearance` is one of `CLASSIFICATIONS`; `key_id` is
    the permanent identity of the caller's API key (never reused; "" for callers without a key)."""

    name: str = "local"
    role: str = "reader"
    clearance: str = DEFAULT_CLASSIFICATION
    key_id: str = ""


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved paragraph with its document's citation fields.

    Attributes:
        rank: 1-based position in the result list.
        score: the retriever's score (higher is better; scales differ between retrievers).
        paragraph: the paragraph.
        title, number, issued, doc_type, issuer, classification: of the paragraph's document.
        headings: the texts of the section headings above the paragraph, outermost first, " > " between.
    """

    rank: int
    score: float
    paragraph: Paragraph
    title: str
    number: str | None
    issued: str | None
    doc_type: str
    issuer: str | None
    classification: str
    headings: str = ""

    @property
    def doc_id(self) -> str:
        return self.paragraph.doc_id

    @property
    def paragraph_id(self) -> str:
        return self.paragraph.paragraph_id


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered reference from an answer to the paragraph that supports it.

    `quote` is the supporting span, an exact substring of `paragraph.text` (so it can be highlighted);
    `quote_start` is its offset within the paragraph text.
    """

    marker: int
    hit: Hit
    quote: str
    quote_start: int


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer whose sentences carry [n] markers pointing at `citations`."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    rewritten_question: str | None = None
    nearest: tuple[Hit, ...] = ()
