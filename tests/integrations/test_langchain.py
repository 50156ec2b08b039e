"""The LangChain adapters in real LangChain chains over a tiny index written for the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from rag import Library
from rag.errors import InvalidRequest
from rag.index.embedders import make_embedder
from rag.integrations.langchain import VanKienEmbeddings, VanKienRetriever
from rag.types import Filters, Principal
from tests.samples import REPO_ROOT

NQ47 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 47-NQ/TW
Hà Nội, ngày 08 tháng 8 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển du lịch cộng đồng
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, mỗi tỉnh miền núi có ít nhất 10 làng du lịch cộng đồng đạt chuẩn.
II. NHIỆM VỤ
1. Bộ Văn hóa, Thể thao và Du lịch chủ trì xây dựng bộ tiêu chí làng du lịch cộng đồng.
"""
# A restricted document: only callers cleared for "mat" may see it.
MAT = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 48-TB/TW
Hà Nội, ngày 09 tháng 8 năm 2025
THÔNG BÁO
về kinh phí làng du lịch cộng đồng
Tài liệu thử nghiệm, không phải văn bản chính thức.
1. Ngân sách dành riêng 777 tỉ đồng cho làng du lịch cộng đồng ở biên giới.
"""
QUESTION = "Ai chủ trì xây dựng bộ tiêu chí làng du lịch cộng đồng?"
ANSWER_PARAGRAPH = "Bộ Văn hóa, Thể thao và Du lịch chủ trì xây dựng bộ tiêu chí làng du lịch cộng đồng."


class EchoChatModel(BaseChatModel):
    """A fake chat model that answers with the prompt it received (so a test can see what the chain sent)."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "\n".join(str(m.content) for m in messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(
        f"[{i}] {d.metadata['title']} ({d.metadata['number']}), {d.metadata['paragraph_id']}:\n{d.page_content}"
        for i, d in enumerate(docs, start=1)
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("langchain")
    public, secret = root / "public", root / "secret"
    public.mkdir()
    secret.mkdir()
    (public / "nq47.txt").write_text(NQ47, encoding="utf-8")
    (secret / "tb48.txt").write_text(MAT, encoding="utf-8")
    lib = Library(root / "ix")
    assert lib.ingest([public]).counts["ok"] == 1
    assert lib.ingest([secret], classification="mat").counts["ok"] == 1
    yield lib
    lib.close()


def test_retriever_in_a_chain(library: Library) -> None:
    retriever = VanKienRetriever.from_library(library, k=3, principal=Principal(clearance="cong-khai"))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Chỉ trả lời dựa trên các đoạn sau:\n{context}"), ("human", "{question}")]
    )
    chain = (
        {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()}
        | prompt
        | EchoChatModel()
        | StrOutputParser()
    )
    output = chain.invoke(QUESTION)
    assert ANSWER_PARAGRAPH in output and "[1] Nghị quyết" in output and "(47-NQ/TW)" in output
    assert output.rstrip().endswith(QUESTION)


def test_documents_carry_citation_metadata(library: Library) -> None:
    docs = VanKienRetriever(retriever=library, k=3, mode="lexical").invoke(QUESTION)
    top = docs[0]
    assert top.page_content.endswith(ANSWER_PARAGRAPH)
    assert top.id == top.metadata["paragraph_id"] and top.metadata["paragraph_id"].startswith("nq-47-2025/p")
    assert {
        "doc_id": "nq-47-2025",
        "title": top.metadata["title"],
        "number": "47-NQ/TW",
        "issued": "2025-08-08",
        "rank": 1,
    }.items() <= top.metadata.items()
    assert "phát triển du lịch cộng đồng" in top.metadata["title"].lower()
    assert top.metadata["section"] and isinstance(top.metadata["score"], float)
    assert [d.metadata["rank"] for d in docs] == list(range(1, len(docs) + 1))
    assert {"page", "section", "score"} <= set(top.metadata)


def test_restricted_documents_follow_the_principal(library: Library) -> None:
    query = "kinh phí làng du lịch cộng đồng ở biên giới"

    def doc_ids(principal: Principal | None) -> set[str]:
        docs = VanKienRetriever.from_library(library, k=10, principal=principal).invoke(query)
        return {d.metadata["doc_id"] for d in docs}

    public = doc_ids(Principal(clearance="cong-khai"))
    assert public == {"nq-47-2025"}
    assert "tb-48-2025.mat" in doc_ids(Principal(clearance="mat"))
    assert all(
        "777" not in d.page_content
        for d in VanKienRetriever.from_library(library, k=10, principal=Principal(clearance="noi-bo")).invoke(query)
    )


def test_filters_and_batch_and_async(library: Library) -> None:
    retriever = VanKienRetriever.from_library(library, k=5, filters=Filters(doc_ids=("nq-47-2025",)))
    batches = retriever.batch([QUESTION, "làng du lịch miền núi"])
    assert all(d.metadata["doc_id"] == "nq-47-2025" for docs in batches for d in docs) and all(batches)
    docs = asyncio.run(retriever.ainvoke(QUESTION))
    assert docs[0].page_content.endswith(ANSWER_PARAGRAPH)


def test_retriever_rejects_what_is_not_a_retriever() -> None:
    with pytest.raises(InvalidRequest):
        VanKienRetriever(retriever=object())


def test_embeddings_in_langchain_vector_store() -> None:
    vectorstores = pytest.importorskip("langchain_core.vectorstores")
    embeddings = VanKienEmbeddings(make_embedder("hash:64"))
    store = vectorstores.InMemoryVectorStore(embedding=embeddings)
    texts = [
        "Bộ Văn hóa, Thể thao và Du lịch chủ trì xây dựng bộ tiêu chí làng du lịch cộng đồng.",
        "Đến năm 2030, kinh tế số đạt tối thiểu 30% GDP.",
        "Người cao tuổi được khám sức khoẻ định kỳ miễn phí mỗi năm một lần.",
    ]
    store.add_texts(texts, metadatas=[{"i": i} for i in range(len(texts))])
    (found,) = store.similarity_search("kinh tế số đạt bao nhiêu phần trăm GDP", k=1)
    assert found.metadata["i"] == 1
    (found,) = store.similarity_search("khám sức khoẻ người cao tuổi", k=1)
    assert found.metadata["i"] == 2


def test_embeddings_shapes_match_the_embedder() -> None:
    embedder = make_embedder("hash:64")
    embeddings = VanKienEmbeddings("hash:64")
    rows = embeddings.embed_documents(["làng du lịch cộng đồng", "kinh tế số"])
    assert len(rows) == 2 and all(len(r) == 64 and all(isinstance(x, float) for x in r) for r in rows)
    query = embeddings.embed_query("làng du lịch")
    assert np.allclose(query, embedder.embed_query("làng du lịch")) and abs(np.linalg.norm(query) - 1) < 1e-5
    assert embeddings.embed_documents([]) == []


def test_adapter_module_is_not_imported_by_rag() -> None:
    import subprocess
    import sys

    code = "import sys, rag, rag.pipeline, rag.integrations; assert 'langchain_core' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
