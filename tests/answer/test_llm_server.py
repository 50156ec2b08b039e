"""The LLM generator through the real `ChatOpenAI` client against a scripted OpenAI-compatible server on
127.0.0.1 (tests/answer/openai_stub.py), and against a port where nothing listens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_openai")

from rag import Library, QAPipeline
from rag.answer.llm import DATA_CLOSE, DATA_OPEN, FallbackGenerator, LLMError, LLMUnavailable, make_llm_generator
from tests.answer.openai_stub import OpenAIStub
from tests.ports import free_port

NQ46 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 46-NQ/TW
Hà Nội, ngày 02 tháng 7 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển nông nghiệp sinh thái
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, 35% diện tích lúa được canh tác theo quy trình giảm phát thải.
2. Mỗi huyện xây dựng ít nhất một vùng nguyên liệu hữu cơ đạt chuẩn.
II. NHIỆM VỤ
1. Bộ Nông nghiệp và Môi trường chủ trì xây dựng bản đồ thổ nhưỡng số trong năm 2026.
"""
QUESTION = "Ai chủ trì xây dựng bản đồ thổ nhưỡng số?"
EXPECTED = "Bộ Nông nghiệp và Môi trường chủ trì xây dựng bản đồ thổ nhưỡng số trong năm 2026"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("llm-server")
    docs = root / "docs"
    docs.mkdir()
    (docs / "nq46.txt").write_text(NQ46, encoding="utf-8")
    lib = Library(root / "ix")
    assert lib.ingest([docs]).counts["ok"] == 1
    yield lib
    lib.close()


def _cite(phrase: str, sentence: str) -> Any:
    """A scripted model that cites the paragraph of the prompt containing `phrase`, as a faithful model would."""

    def reply(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        for block in user.split('<doan so="')[1:]:
            n, _, text = block.partition('">')
            if phrase in text:
                return f"{sentence} [{n}]."
        return "Không tìm thấy thông tin trong các văn bản được cung cấp."

    return reply


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # closed again: connections are refused


def test_answers_through_the_real_client(library: Library) -> None:
    with OpenAIStub(_cite("thổ nhưỡng", EXPECTED)) as stub:
        gen = make_llm_generator(stub.url, "qwen2.5-7b-instruct")
        answer = QAPipeline(library, generator=gen).ask(QUESTION)
    assert not answer.abstained and answer.text == EXPECTED + ". [1]"
    assert answer.citations[0].hit.paragraph_id.startswith("nq-46-2025/") and EXPECTED in answer.citations[0].quote
    (request,) = stub.requests
    assert request["model"] == "qwen2.5-7b-instruct" and request["temperature"] == 0 and not request.get("stream")
    system, user = request["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert DATA_OPEN in user["content"] and DATA_CLOSE in user["content"]
    assert user["content"].index("thổ nhưỡng số") < user["content"].index(DATA_CLOSE) < user["content"].index(QUESTION)


def test_streams_server_sent_events(library: Library) -> None:
    with OpenAIStub(_cite("thổ nhưỡng", EXPECTED)) as stub:
        # A bare host gets "/v1", where vLLM, llama.cpp and Ollama serve the API.
        gen = make_llm_generator(f"http://127.0.0.1:{stub.port}", "qwen2.5-7b-instruct")
        events = list(QAPipeline(library, generator=gen).ask_stream(QUESTION))
    assert stub.requests[-1]["stream"] is True
    deltas = [e.text for e in events if e.kind == "delta"]
    assert len(deltas) > 5 and "".join(deltas).startswith(EXPECTED)
    (final,) = [e.answer for e in events if e.kind == "answer"]
    assert final is not None and not final.abstained and final.text == EXPECTED + ". [1]"


def test_unsupported_server_answer_abstains(library: Library) -> None:
    with OpenAIStub(_cite("thổ nhưỡng", "Bộ Tài chính chủ trì lập quỹ hỗ trợ nông dân trồng cà phê")) as stub:
        answer = QAPipeline(library, generator=make_llm_generator(stub.url, "m")).ask(QUESTION)
    assert answer.abstained and answer.citations == ()


def test_dead_server_gives_the_vietnamese_connection_error(library: Library) -> None:
    gen = make_llm_generator(_dead_url(), "m", timeout=5, max_retries=0)
    qa = QAPipeline(library, generator=gen)
    with pytest.raises(LLMUnavailable) as info:
        qa.ask(QUESTION)
    assert info.value.user_message.startswith("Không kết nối được máy chủ mô hình ngôn ngữ")
    with pytest.raises(LLMUnavailable):
        list(qa.ask_stream(QUESTION))


def test_slow_server_times_out_as_unavailable(library: Library) -> None:
    with OpenAIStub("Trả lời muộn [1].", delay=1.5) as stub:
        gen = make_llm_generator(stub.url, "m", timeout=0.3, max_retries=0)
        with pytest.raises(LLMUnavailable):
            QAPipeline(library, generator=gen).ask(QUESTION)


def test_server_refusal_is_reported_with_its_status(library: Library) -> None:
    with OpenAIStub(status=404) as stub:
        gen = make_llm_generator(stub.url, "khong-co-mo-hinh", max_retries=0)
        with pytest.raises(LLMError) as info:
            QAPipeline(library, generator=gen).ask(QUESTION)
    assert not isinstance(info.value, LLMUnavailable) and "404" in info.value.user_message


def test_fallback_to_extractive_when_the_server_is_dead(library: Library) -> None:
    gen = FallbackGenerator(make_llm_generator(_dead_url(), "m", timeout=5, max_retries=0))
    qa = QAPipeline(library, generator=gen)
    answer = qa.ask(QUESTION)
    assert not answer.abstained and EXPECTED in answer.text and answer.citations
    events = list(qa.ask_stream(QUESTION))
    (final,) = [e.answer for e in events if e.kind == "answer"]
    assert final is not None and EXPECTED in final.text
