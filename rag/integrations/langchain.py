"""LangChain adapters: Văn Kiện search as a LangChain retriever, our embedders as LangChain embeddings.

Teams that build on LangChain use these in their own chains:

    from rag.integrations.langchain import VanKienRetriever
    retriever = VanKienRetriever.from_library(Library(Path("index")), k=5, principal=Principal(clearance="noi-bo"))
    chain = retriever | format_docs | prompt | chat_model

The retriever keeps every guarantee of `rag.retrieve.retrievers.Retriever`: filters and the caller's clearance
are applied inside the search, so a paragraph above the principal's clearance never reaches the chain.

This module imports langchain-core (the optional extra "llm"); `import rag` does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import MissingDependency

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, model_validator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "the LangChain adapters need langchain-core: pip install 'vankien[llm]'",
        "Chưa cài gói langchain-core cần cho bộ nối LangChain; hãy cài: pip install 'vankien[llm]'.",
    ) from exc

from rag.errors import InvalidRequest
from rag.index.embedders import Embedder, make_embedder
from rag.records import hit_to_dict
from rag.retrieve.retrievers import Retriever, make_retriever
from rag.types import Filters, Hit, Principal

if TYPE_CHECKING:
    from rag.pipeline import Library

__all__ = ["VanKienEmbeddings", "VanKienRetriever", "hit_to_document"]


def hit_to_document(hit: Hit) -> Document:
    """A LangChain `Document` for a retrieved paragraph: its text, and its citation fields (the search hit record of
    `rag.records.hit_to_dict`, without the text, plus the section headings) as metadata."""
    record = hit_to_dict(hit)
    text = record.pop("text")
    return Document(id=hit.paragraph_id, page_content=text, metadata={**record, "headings": hit.headings})


class VanKienRetriever(BaseRetriever):
    """Văn Kiện search behind LangChain's `BaseRetriever` (`invoke(query) -> list[Document]`).

    Attributes:
        retriever: a Văn Kiện `Retriever`, or a `Library` (then searched with `mode`).
        k: paragraphs returned per query (1..`rag.retrieve.query.MAX_K`).
        filters: document restrictions applied inside the search.
        principal: the caller; paragraphs above their clearance are never returned. None means no restriction,
            which is right only for local, single-user use.
        mode: "hybrid", "lexical" or "dense", used when `retriever` is a `Library`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int = 5
    filters: Filters | None = None
    principal: Principal | None = None
    mode: str = "hybrid"

    @model_validator(mode="after")
    def _resolve(self) -> VanKienRetriever:
        from rag.pipeline import Library

        if isinstance(self.retriever, Library):
            self.retriever = make_retriever(self.mode, self.retriever.store)
        elif not callable(getattr(self.retriever, "retrieve", None)):
            raise InvalidRequest(
                f"VanKienRetriever needs a Retriever or a Library, got {type(self.retriever).__name__}",
                "Bộ nối LangChain cần một bộ truy hồi hoặc một chỉ mục Văn Kiện.",
            )
        return self

    @classmethod
    def from_library(
        cls,
        library: Library,
        *,
        mode: str = "hybrid",
        k: int = 5,
        filters: Filters | None = None,
        principal: Principal | None = None,
        **kwargs: Any,
    ) -> VanKienRetriever:
        """A retriever searching `library` with `mode` ("hybrid", "lexical", "dense")."""
        return cls(
            retriever=make_retriever(mode, library.store),
            k=k,
            filters=filters,
            principal=principal,
            mode=mode,
            **kwargs,
        )

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        retriever: Retriever = self.retriever
        hits = retriever.retrieve(query, self.k, self.filters, self.principal)
        return [hit_to_document(h) for h in hits]


class VanKienEmbeddings(Embeddings):
    """One of our embedders behind LangChain's `Embeddings` interface.

    Args:
        embedder: an `Embedder`, or its name for `make_embedder` ("hash", "hash:256", "st:<model folder>").
    """

    def __init__(self, embedder: Embedder | str = "hash") -> None:
        self.embedder = make_embedder(embedder) if isinstance(embedder, str) else embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self.embedder.embed_documents(texts)
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]
