"""Wire schemas: the JSON the HTTP API accepts and returns (separate from the library's records).

Field names follow the CLI's JSON (`docs/DESIGN` contracts); response models allow extra fields so that a
field the library adds later passes through instead of being dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag import Filters

#: Hard caps checked by validation (422); the configurable question limit is checked by the routers (400).
MAX_TEXT = 20_000
MAX_HISTORY = 50


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests ----------------------------------------------------------------------------------------------------


class _In(BaseModel):
    """A request body: a field the API does not know is refused (422 naming it), never silently ignored: a
    misspelt filter ("docs" for "doc_ids") would otherwise search everything."""

    model_config = ConfigDict(extra="forbid")


class FiltersIn(_In):
    """Restrictions on which documents answer: types, issue dates (inclusive), document ids."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    types: list[str] = Field(default_factory=list, max_length=20, description="loại văn bản, ví dụ 'nghị quyết'")
    from_: str | None = Field(default=None, alias="from", max_length=10, description="ban hành từ ngày NNNN-TT-NN")
    to: str | None = Field(default=None, max_length=10, description="ban hành đến ngày NNNN-TT-NN")
    doc_ids: list[str] = Field(default_factory=list, max_length=100)

    def to_filters(self) -> Filters:
        return Filters(
            doc_types=tuple(self.types),
            issued_from=self.from_,  # "" is not a date: refused by the filter check, as the schema says
            issued_to=self.to,
            doc_ids=tuple(self.doc_ids),
        )


class HistoryTurn(_In):
    """An earlier turn of the conversation (oldest first)."""

    question: str = Field(max_length=MAX_TEXT)
    answer: str | None = Field(default=None, max_length=5 * MAX_TEXT)
    citations: list[dict[str, Any]] | None = Field(default=None, max_length=50)


class AskRequest(_In):
    question: str = Field(max_length=MAX_TEXT, examples=["Nghị quyết 57 đặt mục tiêu gì đến năm 2030?"])
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY)
    filters: FiltersIn | None = None
    k: int | None = Field(default=None, ge=1, le=20, description="số đoạn đưa cho bộ sinh câu trả lời")
    conversation_id: str | None = Field(
        default=None,
        max_length=64,
        description="lưu lượt hỏi đáp này vào cuộc hội thoại đã tạo (POST /api/v1/conversations); khi không gửi "
        "history, các lượt đã lưu của cuộc hội thoại được dùng làm ngữ cảnh",
    )

    def history_dicts(self, limit: int) -> list[dict[str, Any]]:
        turns = self.history[-limit:] if limit else []
        return [t.model_dump(exclude_none=True) for t in turns]


#: Bounds of one feedback record (a few tens of KB at most, where a request could once store ~175 KB).
FEEDBACK_QUESTION = 2000
FEEDBACK_ANSWER = 8000
FEEDBACK_COMMENT = 2000
FEEDBACK_IDS = 20
PARAGRAPH_ID_CHARS = 200


class FeedbackIn(_In):
    question: str = Field(max_length=FEEDBACK_QUESTION)
    answer: str = Field(max_length=FEEDBACK_ANSWER)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=FEEDBACK_COMMENT)
    paragraph_ids: list[Annotated[str, Field(max_length=PARAGRAPH_ID_CHARS)]] | None = Field(
        default=None, max_length=FEEDBACK_IDS
    )


#: Most turns one export holds (a saved conversation keeps at most 200).
MAX_EXPORT_TURNS = 200


class ExportCitationIn(_In):
    marker: int = Field(ge=1, le=999, description="số trích dẫn trong câu trả lời, [n]")
    paragraph_id: str = Field(max_length=PARAGRAPH_ID_CHARS)


class ExportTurnIn(_In):
    question: str = Field(max_length=MAX_TEXT)
    answer: str = Field(max_length=5 * MAX_TEXT, description="câu trả lời, với các dấu [n] trỏ tới trích dẫn")
    citations: list[ExportCitationIn] = Field(default_factory=list, max_length=50)


class ExportRequest(_In):
    """What to export: a saved conversation (`conversation_id`, optionally one `turn` of it, counted from 1), or
    turns sent as they are on screen. Citations are always looked up again in the library: the footnotes and the
    classification marking come from the documents themselves, never from the request."""

    format: Literal["docx", "pdf"]
    title: str = Field(default="", max_length=200)
    conversation_id: str | None = Field(default=None, max_length=64)
    turn: int | None = Field(default=None, ge=1, le=MAX_EXPORT_TURNS)
    turns: list[ExportTurnIn] = Field(default_factory=list, max_length=MAX_EXPORT_TURNS)


class KeyIn(_In):
    """A new API key (admin). The secret is returned once, in the answer, and never stored."""

    name: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", description="chữ Latinh không dấu, số, . _ @ -"
    )
    role: Literal["reader", "editor", "admin"]
    clearance: Literal["cong-khai", "noi-bo", "mat", "toi-mat"]


class ReviewIn(_In):
    """An evaluator's review of a rating: the answer the question should have had, or that it should have been
    refused (`answerable` false), so the complaint can become a regression case."""

    reviewed: bool = True
    expected: str = Field(default="", max_length=FEEDBACK_ANSWER, description="câu trả lời đúng lẽ ra phải có")
    answerable: bool = Field(default=True, description="false: tài liệu không trả lời được, hệ thống nên từ chối")
    note: str = Field(default="", max_length=FEEDBACK_COMMENT)


# -- responses ---------------------------------------------------------------------------------------------------


class SearchHitOut(_Out):
    rank: int
    score: float
    doc_id: str
    paragraph_id: str
    title: str
    section: str
    text: str
    number: str | None = None
    issued: str | None = None
    type: str | None = None
    page: int | None = None


class SearchResponse(_Out):
    query: str
    hits: list[SearchHitOut]


class CitationOut(_Out):
    marker: int
    doc_id: str
    paragraph_id: str
    title: str
    number: str | None = None
    issued: str | None = None
    section: str
    quote: str
    text: str
    quote_start: int | None = None
    page: int | None = None
    type: str | None = None
    issuer: str | None = None


class NearestOut(_Out):
    doc_id: str
    title: str
    number: str | None = None
    issued: str | None = None
    paragraph_id: str


class AskResponse(_Out):
    question: str
    answer: str
    abstained: bool
    citations: list[CitationOut]
    rewritten_question: str | None = None
    nearest: list[NearestOut] = Field(default_factory=list)


class DocumentOut(_Out):
    doc_id: str
    title: str
    number: str | None = None
    type: str
    issuer: str | None = None
    issued: str | None = None
    classification: str
    paragraphs: int


class DocumentList(_Out):
    documents: list[DocumentOut]


class Provenance(_Out):
    ingested_by: str = Field(description="Ai nạp: 'cli' (người vận hành) hoặc 'key:<mã khóa> (<tên khóa>)'")
    ingested_at: str | None = Field(None, description="Thời điểm nạp (UTC)")
    sha256: str = Field(description="Mã băm SHA-256 của tệp nguồn")


class DocumentDetail(DocumentOut):
    place: str | None = None
    summary: str | None = None
    provenance: Provenance | None = None
    warnings: list[str] = Field(default_factory=list, description="Cảnh báo, ví dụ số/ký hiệu trùng văn bản khác")
    paragraph_ids: list[str]


class UploadAccepted(_Out):
    job_id: str
    status: str
    filename: str


class IngestFileOut(_Out):
    path: str
    status: str
    reason: str = ""
    doc_id: str | None = None
    paragraphs: int = 0


class JobOut(_Out):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[IngestFileOut]
    error: str | None = None
    filename: str | None = None
    classification: str | None = None
    created: str | None = None
    finished: str | None = None


class JobList(_Out):
    jobs: list[JobOut]


class ParagraphOut(_Out):
    paragraph_id: str
    doc_id: str
    section: str
    page: int | None = None
    kind: str
    text: str
    start: int
    end: int


class ParagraphDocumentOut(_Out):
    doc_id: str
    title: str
    number: str | None = None
    type: str
    issuer: str | None = None
    issued: str | None = None
    provenance: Provenance | None = None
    warnings: list[str] = Field(default_factory=list)
    place: str | None = None
    classification: str


class DocumentText(_Out):
    doc_id: str
    total: int = Field(description="số đoạn của cả tài liệu")
    offset: int
    paragraphs: list[ParagraphOut]


class ParagraphContext(_Out):
    paragraph: ParagraphOut
    document: ParagraphDocumentOut
    before: list[ParagraphOut]
    after: list[ParagraphOut]


class FeedbackCreated(_Out):
    id: str


class KeyOut(_Out):
    key_id: str
    name: str
    role: str
    clearance: str
    prefix: str = Field(description="vài ký tự đầu của khóa, để nhận ra khóa; không bao giờ là cả khóa")
    created: str
    revoked: str | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="khóa bí mật, chỉ hiện một lần này")


class KeyList(_Out):
    keys: list[KeyOut]


class ReviewOut(_Out):
    feedback_id: str
    reviewed: bool
    reviewer: str
    ts: str
    expected: str
    answerable: bool
    note: str


class FeedbackItem(_Out):
    id: str
    ts: str | None = None
    key: str | None = None
    rating: str | None = None
    question: str = ""
    answer: str = ""
    comment: str | None = None
    paragraphs: list[dict[str, Any]]
    review: ReviewOut | None = None


class FeedbackList(_Out):
    feedback: list[FeedbackItem]
    unreadable_lines: int = 0


class ConversationIn(_In):
    """A new conversation (the first question names it when no title is given)."""

    title: str = Field(default="", max_length=120)


class ConversationRename(_In):
    title: str = Field(min_length=1, max_length=120)


class ConversationOut(_Out):
    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int


class ConversationList(_Out):
    conversations: list[ConversationOut]


class ConversationTurnOut(_Out):
    question: str
    answer: AskResponse
    asked_at: str
    classification: str = Field(default="cong-khai", description="mức cao nhất của các đoạn câu trả lời này hiện ra")


class ConversationDetail(ConversationOut):
    """A conversation with its turns; `hidden` counts turns withheld because they show documents above the
    caller's current clearance."""

    messages: list[ConversationTurnOut]
    hidden: int


class SessionIn(_In):
    """Sign-in of the chat page with the key the unit issued."""

    key: str = Field(min_length=1, max_length=200)


class SessionOut(_Out):
    """Who the page acts as. `mode`: "public" (the local demo: no keys, no sign-in), "session" (signed in),
    "key" (the request itself carries a key), "none" (keys exist and the page is not signed in)."""

    mode: Literal["public", "session", "key", "none"]
    name: str | None = None
    role: str | None = None
    clearance: str | None = None
    expires_at: str | None = None
    max_question_chars: int | None = Field(default=None, description="câu hỏi dài nhất dịch vụ nhận (ký tự)")


class Health(_Out):
    status: str


class Ready(_Out):
    status: str
    documents: int | None = Field(
        None, description="Số tài liệu người gọi được xem (chỉ khi gửi khóa hợp lệ, hoặc ở chế độ thử cục bộ)"
    )
    pending_vectors: int | None = Field(
        None,
        description="Số đoạn người gọi được xem đã tìm được theo từ khóa nhưng còn chờ vectơ (như `documents`)",
    )
    vector_error: str | None = Field(None, description="Lý do việc nhúng vectơ nền dừng lại, nếu có")


class ErrorDetail(_Out):
    code: str
    message: str


class ErrorOut(_Out):
    error: ErrorDetail


# -- OpenAI-compatible chat completions --------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(max_length=32)
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text (text parts of a multi-part content joined by newlines)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class ChatCompletionRequest(BaseModel):
    """The OpenAI request. `model` must be one `GET /v1/models` lists; `max_tokens` (or `max_completion_tokens`)
    cuts the answer after that many words, with `finish_reason` "length" and only the citations still in the text;
    `stop` ends the answer before the first stop sequence (finish_reason "stop"); `user` names the tool's end user
    in the audit log; `temperature`, `top_p` and `n` are checked (only n = 1): answers are extracted from the
    documents, the same for every sampling setting, and an LLM answerer uses the service's configured settings.
    Other OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default="vankien", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=2 * MAX_HISTORY)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=1)
    stop: (
        Annotated[str, Field(max_length=100)]
        | Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=4)]
        | None
    ) = Field(
        default=None,
        description="tối đa 4 chuỗi; câu trả lời dừng ngay trước chuỗi đầu tiên gặp (finish_reason 'stop')",
    )
    user: str | None = Field(
        default=None, max_length=256, description="người dùng cuối của công cụ gọi API, ghi vào nhật ký kiểm toán"
    )

    def token_limit(self) -> int | None:
        """The most words the answer may have (None: no limit)."""
        return self.max_completion_tokens or self.max_tokens

    def stops(self) -> list[str]:
        """The stop sequences, as a list (OpenAI takes one string or up to four)."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatChoiceMessage(_Out):
    role: str
    content: str


class ChatChoice(_Out):
    index: int
    message: ChatChoiceMessage
    finish_reason: str


class ChatCompletion(_Out):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    citations: list[CitationOut]
    vankien: dict[str, Any]
